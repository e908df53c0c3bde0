#include "gateway/xmpp_edge.h"

#include <openssl/sha.h>

#include <algorithm>
#include <tuple>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "mappings/error_map.h"
#include "mappings/xmpp_stanza_map.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"

namespace causeway::gateway {
namespace {

constexpr std::string_view kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kNsDiscoItems = "http://jabber.org/protocol/disco#items";
constexpr std::string_view kNsPing = "urn:xmpp:ping";
constexpr std::string_view kNsCaps = "http://jabber.org/protocol/caps";

// The `to` an event travels towards; nullptr for a broadcast presence (no single destination).
template <typename E>
const Address* DestinationOf(const E& event) {
  return &event.to;
}
const Address* DestinationOf(const PresenceEvent& event) { return event.to ? &*event.to : nullptr; }

Address XmppAddressOf(const xmpp::Jid& jid) {
  return Address{Network::kXmpp, jid.node(), jid.domain(), jid.resource()};
}

}  // namespace

// ---- XEP-0115 ----

std::string CapsVerification(std::vector<DiscoIdentity> identities,
                             std::vector<std::string> features) {
  // §5.1 steps 2-3 and 6-7: identities sorted by category, type, xml:lang (then name, so equal
  // triples order deterministically), "category/type/lang/name<"; features sorted, "feature<".
  // Byte-wise comparison is the i;octet collation the XEP requires.
  std::sort(identities.begin(), identities.end(),
            [](const DiscoIdentity& a, const DiscoIdentity& b) {
              return std::tie(a.category, a.type, a.lang, a.name) <
                     std::tie(b.category, b.type, b.lang, b.name);
            });
  std::sort(features.begin(), features.end());
  std::string s;
  for (const DiscoIdentity& id : identities) {
    absl::StrAppend(&s, ToAbsl(id.category), "/", ToAbsl(id.type), "/", ToAbsl(id.lang), "/",
                    ToAbsl(id.name), "<");
  }
  for (const std::string& feature : features) absl::StrAppend(&s, ToAbsl(feature), "<");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

const std::vector<DiscoIdentity>& EdgeIdentities() {
  static const std::vector<DiscoIdentity>* const identities = new std::vector<DiscoIdentity>{
      {"gateway", "simple", "", "Causeway"},
      {"server", "im", "", "Causeway"},
  };
  return *identities;
}

const std::vector<std::string>& EdgeFeatures() {
  static const std::vector<std::string>* const features = new std::vector<std::string>{
      std::string(kNsCaps),
      std::string(kNsDiscoInfo),
      std::string(kNsDiscoItems),
      "http://jabber.org/protocol/chatstates",
      "http://jabber.org/protocol/xhtml-im",
      std::string(kNsPing),
      "urn:xmpp:receipts",
  };
  return *features;
}

const std::string& EdgeCapsVersion() {
  static const std::string* const ver =
      new std::string(CapsVerification(EdgeIdentities(), EdgeFeatures()));
  return *ver;
}

// ---- XmppEdge ----

XmppEdge::XmppEdge(Bus& bus, std::shared_ptr<const XmppEdgeOptions> options)
    : bus_(bus), options_(std::move(options)) {}

XmppEdge::~XmppEdge() { *alive_ = false; }

absl::StatusOr<std::unique_ptr<XmppEdge>> XmppEdge::Create(
    runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options) {
  if (options == nullptr || options->s2s == nullptr || options->domains == nullptr) {
    return absl::InvalidArgumentError("xmpp edge: s2s config and domain map are required");
  }
  std::unique_ptr<XmppEdge> edge(new XmppEdge(bus, std::move(options)));
  XmppEdge* self = edge.get();
  auto service = xmpp::io::S2sService::Create(
      worker.io_context(), edge->options_->s2s,
      {.on_stanza = [self](xmpp::Element stanza,
                           const xmpp::s2s::DomainPair&) { self->OnStanza(std::move(stanza)); },
       .on_undeliverable =
           [self](xmpp::Element stanza, xmpp::StanzaErrorCondition condition) {
             self->OnUndeliverable(stanza, condition, xmpp::StanzaErrorName(condition));
           }});
  if (!service.ok()) return service.status();
  edge->service_ = *std::move(service);
  edge->listen_ = edge->service_->listen_addresses();
  edge->SubscribeAll(static_cast<const mappings::XmppBusEvent*>(nullptr));
  worker.AddStopHook([self, alive = std::weak_ptr<bool>(edge->alive_)] {
    if (!alive.expired()) self->Stop();
  });
  return edge;
}

const xmpp::io::S2sStats* XmppEdge::s2s_stats() const {
  return service_ ? &service_->stats() : nullptr;
}

template <typename... E>
void XmppEdge::SubscribeAll(const std::variant<E...>*) {
  (subscriptions_.push_back(bus_.Subscribe<E>([this](const E& event) { OnBusEvent(event); })), ...);
}

void XmppEdge::Stop() {
  if (stopped_) return;
  stopped_ = true;
  if (!service_) return;
  std::vector<xmpp::Element> unsent = service_->Shutdown();
  // Destroyed here, on the worker's thread while its io_context exists: the edge itself may be
  // destroyed later by the main thread, after the runtime is gone.
  service_.reset();
  for (const xmpp::Element& stanza : unsent) {
    OnUndeliverable(stanza, xmpp::StanzaErrorCondition::kServiceUnavailable,
                    "the XMPP edge is shutting down");
  }
  log::Info("xmpp", "edge stopped",
            {{"handed_back", static_cast<int64_t>(unsent.size())},
             {"stanzas_in", stats_.stanzas_in},
             {"stanzas_out", stats_.stanzas_out}});
}

bool XmppEdge::IsBlocked(std::string_view domain) const {
  const std::vector<std::string>& blocked = options_->blocked_domains;
  return std::find(blocked.begin(), blocked.end(), domain) != blocked.end();
}

void XmppEdge::PublishFailure(DeliveryFailureEvent failure) {
  ++stats_.failures_published;
  absl::Status published = bus_.Publish(failure);
  if (!published.ok()) {
    log::Warn("xmpp", "delivery failure not published",
              {{"message_id", failure.message_id}, {"why", FromAbsl(published.message())}});
  }
}

template <typename E>
void XmppEdge::OnBusEvent(const E& event) {
  const Address* to = DestinationOf(event);
  if (to == nullptr || to->network != Network::kXmpp) return;  // another adapter's
  constexpr bool kIsMessage = std::is_same_v<E, InstantMessageEvent>;
  auto fail = [&](DeliveryFailureReason reason, std::string_view text) {
    if constexpr (kIsMessage) {
      PublishFailure(
          DeliveryFailureEvent{event.message_id, event.to, event.from, reason, std::string(text)});
    } else {
      log::Debug("xmpp", "event not sent", {{"to", to->ToString()}, {"why", text}});
    }
  };
  if (!service_) {
    fail(DeliveryFailureReason::kUnavailable, "the XMPP edge is stopped");
    return;
  }
  if (IsBlocked(to->domain)) {
    ++stats_.refused_domain;
    fail(DeliveryFailureReason::kRejected, "the XMPP domain is blocked");
    return;
  }
  absl::StatusOr<xmpp::Element> stanza = mappings::XmppStanzaFromEvent(
      event, *options_->domains, {xmpp::kNsServer, options_->resource});
  if (!stanza.ok()) {
    ++stats_.mapping_failures;
    fail(absl::IsNotFound(stanza.status()) ? DeliveryFailureReason::kNotFound
                                           : DeliveryFailureReason::kRejected,
         FromAbsl(stanza.status().message()));
    return;
  }
  if constexpr (std::is_same_v<E, PresenceEvent>) {
    // XEP-0115 §4: caps ride on available presence (no type attribute) only.
    if (xmpp::StanzaType(*stanza).empty()) {
      stanza->AddChild(kNsCaps, "c")
          .SetAttr("hash", "sha-1")
          .SetAttr("node", kCapsNode)
          .SetAttr("ver", EdgeCapsVersion());
    }
  }
  ++stats_.stanzas_out;
  absl::Status sent = service_->Send(*std::move(stanza));
  // InvalidArgument: the stanza was dropped without on_undeliverable (its addresses are not a
  // local -> remote pair); every other refusal already went through on_undeliverable.
  if (absl::IsInvalidArgument(sent)) {
    fail(DeliveryFailureReason::kInternal, FromAbsl(sent.message()));
  }
}

void XmppEdge::Send(xmpp::Element stanza) {
  if (!service_) return;
  absl::Status sent = service_->Send(std::move(stanza));
  if (absl::IsInvalidArgument(sent)) {
    log::Warn("xmpp", "reply not sent", {{"why", FromAbsl(sent.message())}});
  }
}

void XmppEdge::Bounce(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                      std::string_view text) {
  if (xmpp::StanzaType(stanza) == "error") return;  // RFC 6120 §8.3.1: never answer an error
  absl::StatusOr<xmpp::Element> reply = xmpp::MakeStanzaErrorReply(stanza, condition, text);
  if (!reply.ok()) return;
  ++stats_.errors_bounced;
  Send(*std::move(reply));
}

void XmppEdge::OnStanza(xmpp::Element stanza) {
  ++stats_.stanzas_in;
  // S2sService authenticated the sender's domain; a domain we do not federate with (blocked, or
  // outside the DomainMap's policy) gets nothing from us, disco and ping included.
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  if (from.ok() &&
      (IsBlocked(from->domain()) || !options_->domains->SipDomainFor(from->domain()).ok())) {
    ++stats_.refused_domain;
    if (xmpp::KindOf(stanza) == xmpp::StanzaKind::kIq) ++stats_.iq_refused;
    Bounce(stanza, xmpp::StanzaErrorCondition::kItemNotFound, "domain not federated");
    return;
  }
  if (xmpp::KindOf(stanza) == xmpp::StanzaKind::kIq) {
    OnIq(stanza);
    return;
  }
  mappings::XmppInbound inbound = mappings::EventsFromXmppStanza(stanza, *options_->domains);
  if (inbound.error) {
    log::Debug("xmpp", "stanza refused",
               {{"from", xmpp::StanzaFrom(stanza)},
                {"to", xmpp::StanzaTo(stanza)},
                {"condition", xmpp::StanzaErrorName(*inbound.error)},
                {"why", inbound.error_text}});
    Bounce(stanza, *inbound.error, inbound.error_text);
    return;
  }
  for (const mappings::XmppBusEvent& event : inbound.events) {
    ++stats_.events_published;
    absl::Status published = std::visit([this](const auto& e) { return bus_.Publish(e); }, event);
    if (!published.ok()) {
      log::Warn("xmpp", "event not published", {{"why", FromAbsl(published.message())}});
    }
  }
}

void XmppEdge::OnIq(const xmpp::Element& iq) {
  std::string_view type = xmpp::StanzaType(iq);
  if (type != "get" && type != "set") return;  // result / error: nothing we asked for
  const xmpp::Element* payload = iq.children().empty() ? nullptr : &iq.children().front();
  xmpp::Element result =
      xmpp::MakeStanza(xmpp::StanzaKind::kIq, xmpp::kNsServer, "result", xmpp::StanzaFrom(iq),
                       xmpp::StanzaTo(iq), xmpp::StanzaId(iq));
  if (type == "get" && payload != nullptr && payload->Is(kNsDiscoInfo, "query")) {
    // XEP-0115 §6.2: a query to node#ver must give the hashed answer; other nodes we have none.
    std::optional<std::string_view> node = payload->Attr("node");
    if (node && *node != absl::StrCat(ToAbsl(kCapsNode), "#", ToAbsl(EdgeCapsVersion()))) {
      ++stats_.iq_refused;
      Bounce(iq, xmpp::StanzaErrorCondition::kItemNotFound, {});
      return;
    }
    xmpp::Element& query = result.AddChild(kNsDiscoInfo, "query");
    if (node) query.SetAttr("node", *node);
    for (const DiscoIdentity& id : EdgeIdentities()) {
      xmpp::Element& identity = query.AddChild(kNsDiscoInfo, "identity");
      identity.SetAttr("category", id.category).SetAttr("type", id.type);
      if (!id.lang.empty()) identity.SetAttrNs(xmpp::kNsXml, "lang", id.lang);
      if (!id.name.empty()) identity.SetAttr("name", id.name);
    }
    for (const std::string& feature : EdgeFeatures()) {
      query.AddChild(kNsDiscoInfo, "feature").SetAttr("var", feature);
    }
  } else if (type == "get" && payload != nullptr && payload->Is(kNsDiscoItems, "query")) {
    xmpp::Element& query = result.AddChild(kNsDiscoItems, "query");  // no items
    if (std::optional<std::string_view> node = payload->Attr("node")) query.SetAttr("node", *node);
  } else if (type == "get" && payload != nullptr && payload->Is(kNsPing, "ping")) {
    // XEP-0199 §6/§7: an empty result.
  } else {
    ++stats_.iq_refused;
    Bounce(iq, xmpp::StanzaErrorCondition::kServiceUnavailable, {});
    return;
  }
  ++stats_.iq_answered;
  Send(std::move(result));
}

void XmppEdge::OnUndeliverable(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                               std::string_view why) {
  // Only instant messages have a sender waiting for an answer; receipts, chat states, presence
  // and error replies that cannot be delivered are logged.
  bool is_im = xmpp::KindOf(stanza) == xmpp::StanzaKind::kMessage &&
               xmpp::StanzaType(stanza) != "error" &&
               stanza.FindChild(stanza.ns(), "body") != nullptr;
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  absl::StatusOr<xmpp::Jid> to = xmpp::StanzaToJid(stanza);
  absl::StatusOr<Address> sender =
      from.ok() ? mappings::SipAddressFromXmpp(XmppAddressOf(*from), *options_->domains)
                : absl::StatusOr<Address>(from.status());
  if (!is_im || !to.ok() || !sender.ok()) {
    ++stats_.undeliverable_other;
    log::Info("xmpp", "stanza not delivered",
              {{"kind", xmpp::StanzaKindName(xmpp::KindOf(stanza))},
               {"from", xmpp::StanzaFrom(stanza)},
               {"to", xmpp::StanzaTo(stanza)},
               {"condition", xmpp::StanzaErrorName(condition)}});
    return;
  }
  DeliveryFailureEvent failure;
  failure.message_id = std::string(xmpp::StanzaId(stanza));
  failure.from = XmppAddressOf(*to);
  failure.to = *std::move(sender);
  failure.reason = condition == xmpp::StanzaErrorCondition::kServiceUnavailable
                       ? DeliveryFailureReason::kUnavailable
                       : mappings::FailureReasonFromXmppCondition(condition);
  failure.text = std::string(why);
  log::Info("xmpp", "message not delivered",
            {{"message_id", failure.message_id},
             {"to", failure.from.ToString()},
             {"condition", xmpp::StanzaErrorName(condition)}});
  PublishFailure(std::move(failure));
}

}  // namespace causeway::gateway
