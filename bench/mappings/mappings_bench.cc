// Throughput of the Lync <-> XMPP mappings: addresses (domain map + XEP-0106 escaping), presence
// (MS-PRES numbers, <show/>/<status/>), errors, and whole stanzas <-> bus events. Items/s is
// translations per second on one core.

#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "mappings/address_map.h"
#include "mappings/error_map.h"
#include "mappings/presence_map.h"
#include "mappings/xmpp_stanza_map.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stanza.h"

namespace causeway::mappings {
namespace {

DomainMap LabMap() {
  DomainMapConfig config;
  config.local = {{"lync.test", "lync.test"}, {"corp.example", "xmpp.corp.example"}};
  config.open_federation = true;
  return *DomainMap::Create(config);
}

// A mix of plain users, a mapped domain, a remote domain and users that need escaping.
std::vector<Address> SipAddresses() {
  return {
      {Network::kSip, "alice", "lync.test", "urn:uuid:2b9c0e5d-1c3a-5f6e-9a8b-7c6d5e4f3a2b"},
      {Network::kSip, "bob.smith", "corp.example", ""},
      {Network::kSip, "carol", "xmpp.test", ""},
      {Network::kSip, "o'hara", "lync.test", ""},
      {Network::kSip, "at&t guy", "corp.example", ""},
      {Network::kSip, "Dave.Jones", "lync.test", ""},
  };
}

void BM_XmppAddressFromSip(benchmark::State& state) {
  const DomainMap map = LabMap();
  const std::vector<Address> in = SipAddresses();
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<Address> out = XmppAddressFromSip(in[i], map);
    benchmark::DoNotOptimize(out);
    if (++i == in.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XmppAddressFromSip);

void BM_SipAddressFromXmpp(benchmark::State& state) {
  const DomainMap map = LabMap();
  std::vector<Address> in;
  for (const Address& a : SipAddresses()) in.push_back(*XmppAddressFromSip(a, map));
  in[0].resource = "laptop";
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<Address> out = SipAddressFromXmpp(in[i], map);
    benchmark::DoNotOptimize(out);
    if (++i == in.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SipAddressFromXmpp);

void BM_AvailabilityFromMsPres(benchmark::State& state) {
  const uint32_t values[] = {3500, 5000, 6500, 7500, 9500, 12500, 15500, 18500, 0, 6900};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(AvailabilityFromMsPres(values[i]));
    if (++i == std::size(values)) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AvailabilityFromMsPres);

std::vector<PresenceEvent> LyncEvents() {
  std::vector<PresenceEvent> events;
  const Availability all[] = {Availability::kAvailable,    Availability::kIdle,
                              Availability::kBusy,         Availability::kBusyIdle,
                              Availability::kDoNotDisturb, Availability::kBeRightBack,
                              Availability::kAway,         Availability::kOffline};
  for (Availability a : all) {
    PresenceEvent e;
    e.from = Address{Network::kSip, "alice", "lync.test", ""};
    e.availability = a;
    if (a == Availability::kBusy) e.activity = "in-a-meeting";
    if (a == Availability::kAway) e.note = "Out until Monday";
    events.push_back(std::move(e));
  }
  return events;
}

void BM_XmppPresenceFromEvent(benchmark::State& state) {
  const std::vector<PresenceEvent> in = LyncEvents();
  size_t i = 0;
  for (auto _ : state) {
    XmppPresence out = XmppPresenceFromEvent(in[i]);
    benchmark::DoNotOptimize(out);
    if (++i == in.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XmppPresenceFromEvent);

void BM_PresenceEventFromXmpp(benchmark::State& state) {
  const Address from{Network::kXmpp, "bob", "xmpp.test", "phone"};
  const std::vector<XmppPresence> in = {
      {true, "", "", 5},   {true, "away", "lunch", 0},
      {true, "xa", "", 0}, {true, "dnd", "In a meeting", 0},
      {false, "", "", 0},
  };
  size_t i = 0;
  for (auto _ : state) {
    PresenceEvent out = PresenceEventFromXmpp(from, in[i]);
    benchmark::DoNotOptimize(out);
    if (++i == in.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PresenceEventFromXmpp);

// One presence change of a Lync user on its way to an XMPP watcher: address + presence.
void BM_LyncPresenceToXmpp(benchmark::State& state) {
  const DomainMap map = LabMap();
  const std::vector<PresenceEvent> in = LyncEvents();
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<Address> from = XmppAddressFromSip(in[i].from, map);
    XmppPresence out = XmppPresenceFromEvent(in[i]);
    benchmark::DoNotOptimize(from);
    benchmark::DoNotOptimize(out);
    if (++i == in.size()) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LyncPresenceToXmpp);

void BM_FailureReasonFromXmppCondition(benchmark::State& state) {
  const std::string_view conditions[] = {"service-unavailable", "item-not-found",
                                         "remote-server-timeout", "unexpected-request"};
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(FailureReasonFromXmppCondition(conditions[i]));
    if (++i == std::size(conditions)) i = 0;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_FailureReasonFromXmppCondition);

// ---- stanzas <-> events (xmpp_stanza_map.h) ----

// A small chat message as a federated XMPP client sends it (Conversations-like: body, chat state,
// receipt request), built as the stream parser would hand it over.
xmpp::Element SmallChat() {
  xmpp::Element m = xmpp::MakeStanza(xmpp::StanzaKind::kMessage, "jabber:server", "chat",
                                     "alice@lync.test", "bob@xmpp.test/phone", "5b1e-77a0");
  m.AddChild("jabber:server", "body").SetText("Lunch at noon?");
  m.AddChild("http://jabber.org/protocol/chatstates", "active");
  m.AddChild("urn:xmpp:receipts", "request");
  return m;
}

void BM_EventsFromXmppStanza_SmallChat(benchmark::State& state) {
  const DomainMap map = LabMap();
  const xmpp::Element stanza = SmallChat();
  for (auto _ : state) {
    XmppInbound out = EventsFromXmppStanza(stanza, map);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventsFromXmppStanza_SmallChat);

InstantMessageEvent LyncIm() {
  InstantMessageEvent im;
  im.message_id = "3a9f0c2e1b;1";
  im.conversation_id = "3a9f0c2e1b";
  im.from = Address{Network::kSip, "alice", "lync.test", "urn:uuid:2b9c0e5d"};
  im.to = Address{Network::kXmpp, "bob", "xmpp.test", ""};
  im.body = "Lunch at noon?";
  im.receipt_requested = true;
  return im;
}

const XmppOutboundContext kOutbound{"jabber:server", "lync"};

void BM_XmppStanzaFromEvent_Im(benchmark::State& state) {
  const DomainMap map = LabMap();
  const InstantMessageEvent im = LyncIm();
  for (auto _ : state) {
    absl::StatusOr<xmpp::Element> out = XmppStanzaFromEvent(im, map, kOutbound);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XmppStanzaFromEvent_Im);

// The same with a text/html alternative: one XML parse and sanitation per message.
void BM_XmppStanzaFromEvent_ImWithHtml(benchmark::State& state) {
  const DomainMap map = LabMap();
  InstantMessageEvent im = LyncIm();
  im.alternatives = {{"text/html", "<span style='color:#000000'>Lunch at <b>noon</b>?</span>"}};
  for (auto _ : state) {
    absl::StatusOr<xmpp::Element> out = XmppStanzaFromEvent(im, map, kOutbound);
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XmppStanzaFromEvent_ImWithHtml);

// Event -> stanza -> bytes: what one Lync IM costs before the socket.
void BM_XmppStanzaFromEvent_ImToXml(benchmark::State& state) {
  const DomainMap map = LabMap();
  const InstantMessageEvent im = LyncIm();
  const xmpp::XmlScope scope{"jabber:server"};
  for (auto _ : state) {
    std::string xml = xmpp::ToXml(*XmppStanzaFromEvent(im, map, kOutbound), scope);
    benchmark::DoNotOptimize(xml);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_XmppStanzaFromEvent_ImToXml);

}  // namespace
}  // namespace causeway::mappings

BENCHMARK_MAIN();
