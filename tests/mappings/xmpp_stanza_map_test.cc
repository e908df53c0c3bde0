#include "mappings/xmpp_stanza_map.h"

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::mappings {
namespace {

using Condition = xmpp::StanzaErrorCondition;

constexpr std::string_view kServer = "jabber:server";
const XmppOutboundContext kContext{kServer, "lync"};

// Stanzas are written as a peer server would send them and parsed by the codec, so the tests see
// what the adapter sees (namespaces resolved, xml:lang as a namespaced attribute).
class Collector : public xmpp::StreamHandler {
 public:
  void OnStreamOpen(const xmpp::StreamHeader&) override {}
  void OnStanza(xmpp::Element& stanza) override { stanzas.push_back(std::move(stanza)); }
  void OnStreamClose() override {}
  std::vector<xmpp::Element> stanzas;
};

xmpp::Element Parse(std::string_view xml) {
  Collector collector;
  xmpp::StreamParser parser(collector);
  const absl::Status status =
      parser.Feed(std::string("<stream:stream xmlns='jabber:server' "
                              "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>") +
                  std::string(xml));
  EXPECT_TRUE(status.ok()) << status << " in " << xml;
  EXPECT_EQ(collector.stanzas.size(), 1u) << xml;
  return collector.stanzas.empty() ? xmpp::Element() : std::move(collector.stanzas.front());
}

std::string Xml(const xmpp::Element& element) {
  return xmpp::ToXml(element, xmpp::XmlScope{kServer});
}

DomainMapConfig LabConfig() {
  DomainMapConfig c;
  c.local = {{"lync.test", "lync.test"}, {"corp.example", "xmpp.corp.example"}};
  c.open_federation = true;
  c.blocked_domains = {"spam.test"};
  return c;
}
DomainMap Lab() { return *DomainMap::Create(LabConfig()); }

// The XMPP server on the other side, for round trips: it serves xmpp.test and federates with us.
DomainMap Peer() {
  DomainMapConfig c;
  c.local = {{"xmpp.test", "xmpp.test"}};
  c.federated_domains = {"lync.test"};
  return *DomainMap::Create(c);
}

Address Sip(std::string user, std::string domain, std::string resource = "") {
  return Address{Network::kSip, std::move(user), std::move(domain), std::move(resource)};
}
Address Xmpp(std::string user, std::string domain, std::string resource = "") {
  return Address{Network::kXmpp, std::move(user), std::move(domain), std::move(resource)};
}

template <typename T>
T Only(const XmppInbound& in) {
  EXPECT_FALSE(in.error.has_value()) << xmpp::StanzaErrorName(*in.error) << ": " << in.error_text;
  EXPECT_EQ(in.events.size(), 1u);
  static const T kEmpty{};
  if (in.events.size() != 1 || !std::holds_alternative<T>(in.events[0])) {
    ADD_FAILURE() << "not the expected event type";
    return kEmpty;
  }
  return std::get<T>(in.events[0]);
}

XmppInbound In(std::string_view xml, const DomainMap& map = Lab()) {
  return EventsFromXmppStanza(Parse(xml), map);
}

void ExpectRefused(std::string_view xml, Condition condition, const DomainMap& map = Lab()) {
  const XmppInbound in = In(xml, map);
  EXPECT_TRUE(in.events.empty()) << xml;
  ASSERT_TRUE(in.error.has_value()) << xml;
  EXPECT_EQ(*in.error, condition) << xmpp::StanzaErrorName(*in.error) << " for " << xml;
  EXPECT_FALSE(in.error_text.empty());
}

void ExpectIgnored(std::string_view xml, const DomainMap& map = Lab()) {
  const XmppInbound in = In(xml, map);
  EXPECT_TRUE(in.events.empty()) << xml;
  EXPECT_FALSE(in.error.has_value()) << xml;
}

// ---------------------------------------------------------------- inbound messages

TEST(InboundMessage, AChatMessageWithEverythingBecomesAnImAndItsChatState) {
  const XmppInbound in =
      In("<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' id='m1'>"
         "<body>Hi &amp; bye</body><thread>t-42</thread>"
         "<active xmlns='http://jabber.org/protocol/chatstates'/>"
         "<request xmlns='urn:xmpp:receipts'/>"
         "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
         "xmlns='http://www.w3.org/1999/xhtml'>"
         "<p>Hi <strong>&amp;</strong> bye</p></body></html></message>");
  ASSERT_FALSE(in.error.has_value()) << in.error_text;
  ASSERT_EQ(in.events.size(), 2u);
  const auto& im = std::get<InstantMessageEvent>(in.events[0]);
  EXPECT_EQ(im.message_id, "m1");
  EXPECT_EQ(im.conversation_id, "t-42");
  EXPECT_EQ(im.from, Xmpp("bob", "xmpp.test", "phone"));
  EXPECT_EQ(im.to, Sip("alice", "lync.test"));
  EXPECT_EQ(im.content_type, "text/plain");
  EXPECT_EQ(im.body, "Hi & bye");
  ASSERT_EQ(im.alternatives.size(), 1u);
  EXPECT_EQ(im.alternatives[0],
            (AlternativeBody{"text/html", "<p>Hi <strong>&amp;</strong> bye</p>"}));
  EXPECT_TRUE(im.receipt_requested);
  const auto& state = std::get<ChatStateEvent>(in.events[1]);
  EXPECT_EQ(state.state, ChatState::kActive);
  EXPECT_EQ(state.conversation_id, "t-42");
  EXPECT_EQ(state.from, im.from);
  EXPECT_EQ(state.to, im.to);
}

TEST(InboundMessage, DelayedDeliveryKeepsTheTimeTheSenderSentIt) {
  // XEP-0203 (XEP-0082 DateTime, with fractions or an offset) and the older XEP-0091 form.
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"<delay xmlns='urn:xmpp:delay' from='xmpp.test' stamp='2002-09-10T23:08:25Z'/>",
       "2002-09-10T23:08:25+00:00"},
      {"<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25.120Z'/>",
       "2002-09-10T23:08:25.12+00:00"},
      {"<delay xmlns='urn:xmpp:delay' stamp='2002-09-11T01:08:25+02:00'/>",
       "2002-09-10T23:08:25+00:00"},
      {"<x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/>", "2002-09-10T23:08:25+00:00"},
  };
  for (const auto& [delay, expected] : cases) {
    const XmppInbound in =
        In("<message from='bob@xmpp.test' to='alice@lync.test' type='chat' id='d1'><body>old"
           "</body>" +
           std::string(delay) + "</message>");
    ASSERT_EQ(in.events.size(), 1u) << delay;
    const auto& im = std::get<InstantMessageEvent>(in.events[0]);
    EXPECT_TRUE(im.delayed) << delay;
    EXPECT_EQ(absl::FormatTime(absl::RFC3339_full, absl::FromChrono(im.timestamp),
                               absl::UTCTimeZone()),
              expected)
        << delay;
  }
  // A stamp that does not parse: delivered all the same, as a message of now.
  const auto before = std::chrono::system_clock::now();
  const XmppInbound in =
      In("<message from='bob@xmpp.test' to='alice@lync.test' type='chat'><body>x</body>"
         "<delay xmlns='urn:xmpp:delay' stamp='yesterday'/></message>");
  ASSERT_EQ(in.events.size(), 1u);
  const auto& im = std::get<InstantMessageEvent>(in.events[0]);
  EXPECT_FALSE(im.delayed);
  EXPECT_GE(im.timestamp, before);
}

TEST(InboundMessage, NormalHeadlineAbsentAndUnknownTypesAreImsToo) {
  for (std::string_view type : {" type='normal'", " type='headline'", "", " type='whatever'"}) {
    const XmppInbound in = In(std::string("<message from='bob@xmpp.test' to='alice@lync.test'") +
                              std::string(type) + " id='x'><body>hello</body></message>");
    EXPECT_EQ(Only<InstantMessageEvent>(in).body, "hello") << type;
  }
}

TEST(InboundMessage, WithoutThreadTheConversationIsThePairOfBareJids) {
  const auto& a = Only<InstantMessageEvent>(
      In("<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat'>"
         "<body>1</body></message>"));
  const auto& typing = Only<ChatStateEvent>(
      In("<message from='bob@xmpp.test/laptop' to='alice@lync.test/lync' type='chat'>"
         "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"));
  const auto& other = Only<InstantMessageEvent>(
      In("<message from='carol@xmpp.test/phone' to='alice@lync.test' type='chat'>"
         "<body>2</body></message>"));
  EXPECT_FALSE(a.conversation_id.empty());
  EXPECT_EQ(a.conversation_id, typing.conversation_id);  // stable across resources
  EXPECT_NE(a.conversation_id, other.conversation_id);
  EXPECT_EQ(typing.state, ChatState::kComposing);
}

TEST(InboundMessage, GroupchatIsNotCarried) {
  // RFC 6121 §8.5.2.1.1: a server returns service-unavailable for groupchat to a user.
  ExpectRefused(
      "<message from='room@muc.xmpp.test/bob' to='alice@lync.test' type='groupchat'>"
      "<body>hi all</body></message>",
      Condition::kServiceUnavailable);
}

TEST(InboundMessage, AReceiptAloneBecomesADeliveryReceipt) {
  const auto& receipt = Only<DeliveryReceiptEvent>(
      In("<message from='bob@xmpp.test/phone' to='alice@lync.test/lync' id='r9'>"
         "<received xmlns='urn:xmpp:receipts' id='sip-call-1;1'/></message>"));
  EXPECT_EQ(receipt.message_id, "sip-call-1;1");
  EXPECT_EQ(receipt.from, Xmpp("bob", "xmpp.test", "phone"));
  EXPECT_EQ(receipt.to, Sip("alice", "lync.test"));
  // XEP-0184 before 1.1: no id on <received/>, the message's own id is the original's.
  const auto& old = Only<DeliveryReceiptEvent>(
      In("<message from='bob@xmpp.test/phone' to='alice@lync.test' id='orig'>"
         "<received xmlns='urn:xmpp:receipts'/></message>"));
  EXPECT_EQ(old.message_id, "orig");
  // Neither: nothing to refer to, and an extension-only message is ignored, not bounced.
  ExpectIgnored(
      "<message from='bob@xmpp.test' to='alice@lync.test'>"
      "<received xmlns='urn:xmpp:receipts'/></message>");
}

TEST(InboundMessage, AReceiptRequestWithoutAnIdIsNotHonoured) {
  const auto& im = Only<InstantMessageEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test' type='chat'><body>x</body>"
         "<request xmlns='urn:xmpp:receipts'/></message>"));
  EXPECT_FALSE(im.receipt_requested);
  const auto& plain = Only<InstantMessageEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test' id='i'><body>x</body></message>"));
  EXPECT_FALSE(plain.receipt_requested);
}

TEST(InboundMessage, EveryChatStateIsRead) {
  const std::pair<std::string_view, ChatState> states[] = {{"active", ChatState::kActive},
                                                           {"composing", ChatState::kComposing},
                                                           {"paused", ChatState::kPaused},
                                                           {"inactive", ChatState::kInactive},
                                                           {"gone", ChatState::kGone}};
  for (const auto& [name, state] : states) {
    const auto& event = Only<ChatStateEvent>(
        In(std::string("<message from='bob@xmpp.test/a' to='alice@lync.test' type='chat'><") +
           std::string(name) + " xmlns='http://jabber.org/protocol/chatstates'/></message>"));
    EXPECT_EQ(event.state, state) << name;
  }
}

TEST(InboundMessage, TheBodyInTheStanzasLanguageIsChosen) {
  const auto& im = Only<InstantMessageEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test' xml:lang='de'>"
         "<body xml:lang='en'>Hello</body><body>Hallo</body></message>"));
  EXPECT_EQ(im.body, "Hallo");
}

TEST(InboundMessage, AnErrorBecomesADeliveryFailureForTheOriginalSender) {
  const auto& failure = Only<DeliveryFailureEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test/lync' type='error' id='call;7'>"
         "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
         "</error></message>"));
  EXPECT_EQ(failure.message_id, "call;7");
  EXPECT_EQ(failure.from, Xmpp("bob", "xmpp.test"));
  EXPECT_EQ(failure.to, Sip("alice", "lync.test"));
  EXPECT_EQ(failure.reason, DeliveryFailureReason::kNotFound);

  const auto& unavailable = Only<DeliveryFailureEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test' type='error' id='m2'>"
         "<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
         "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>offline</text></error></message>"));
  EXPECT_EQ(unavailable.reason, DeliveryFailureReason::kUnavailable);
  EXPECT_EQ(unavailable.text, "offline");

  const auto& unknown = Only<DeliveryFailureEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test' type='error' id='m3'>"
         "<error type='cancel'><payment-required xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
         "</error></message>"));
  EXPECT_EQ(unknown.reason, DeliveryFailureReason::kInternal);
}

TEST(InboundMessage, AnErrorStanzaIsNeverAnsweredWithAnError) {
  // RFC 6120 §8.3.1: whatever is wrong with it, an error is not bounced (no error loops).
  for (std::string_view xml : {
           "<message from='bob@xmpp.test' to='alice@lync.test' type='error'>"
           "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
           "</error></message>",                                   // no id
           "<message to='alice@lync.test' type='error' id='a'/>",  // no from, no <error/>
           "<message from='bob@xmpp.test' to='alice@elsewhere.test' type='error' id='a'/>",
           "<message from='bob@xmpp.test' to='+15551234@lync.test' type='error' id='a'/>",
           "<message from='bob@spam.test' to='lync.test' type='error' id='a'/>",
           "<presence from='bob@xmpp.test' to='alice@lync.test' type='error'/>",
           "<presence from='bob@xmpp.test' to='nobody@elsewhere.test' type='error'/>",
           "<iq from='bob@xmpp.test' to='alice@lync.test' type='error' id='q'/>",
           "<iq from='bob@xmpp.test' to='alice@lync.test' type='result' id='q'/>",
       }) {
    EXPECT_FALSE(In(xml).error.has_value()) << xml;
  }
}

TEST(InboundMessage, UnmappableAddressesAreRefused) {
  // Malformed or missing from/to.
  ExpectRefused("<message to='alice@lync.test'><body>x</body></message>", Condition::kJidMalformed);
  ExpectRefused("<message from='bob@xmpp.test'><body>x</body></message>", Condition::kJidMalformed);
  ExpectRefused("<message from='b&lt;b@xmpp.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kJidMalformed);
  // Not one of our domains, or the domain itself.
  ExpectRefused("<message from='bob@xmpp.test' to='alice@elsewhere.test'><body>x</body></message>",
                Condition::kItemNotFound);
  ExpectRefused("<message from='bob@xmpp.test' to='lync.test'><body>x</body></message>",
                Condition::kServiceUnavailable);
  // A telephone number is no user here (RFC 6121 §8.5.1: answered like an absent user).
  ExpectRefused("<message from='bob@xmpp.test' to='+15551234@lync.test'><body>x</body></message>",
                Condition::kServiceUnavailable);
  // Senders the SIP side could not name, or may not hear from.
  ExpectRefused("<message from='xmpp.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kNotAcceptable);
  ExpectRefused("<message from='+15551234@xmpp.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kNotAcceptable);
  ExpectRefused("<message from='mallory@spam.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kForbidden);
  ExpectRefused("<message from='eve@lync.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kForbidden);
  DomainMapConfig allow_list = LabConfig();
  allow_list.open_federation = false;
  allow_list.federated_domains = {"xmpp.test"};
  const DomainMap closed = *DomainMap::Create(allow_list);
  ExpectRefused("<message from='bob@jabber.test' to='alice@lync.test'><body>x</body></message>",
                Condition::kForbidden, closed);
  EXPECT_EQ(
      Only<InstantMessageEvent>(
          In("<message from='bob@xmpp.test' to='alice@lync.test'><body>x</body></message>", closed))
          .body,
      "x");
}

TEST(InboundMessage, EscapedNodesMapToTheSipUserAndTheMappedDomain) {
  const auto& im = Only<InstantMessageEvent>(
      In("<message from='o\\27hara@xmpp.test/x' to='d\\27artagnan@xmpp.corp.example'>"
         "<body>x</body></message>"));
  EXPECT_EQ(im.to, Sip("d'artagnan", "corp.example"));
  EXPECT_EQ(im.from, Xmpp("o\\27hara", "xmpp.test", "x"));  // kept in XMPP form
}

TEST(InboundMessage, AMessageWithNothingWeCarry) {
  ExpectRefused("<message from='bob@xmpp.test' to='alice@lync.test' type='chat'/>",
                Condition::kBadRequest);
  ExpectRefused(
      "<message from='bob@xmpp.test' to='alice@lync.test'><body/><subject>s</subject></message>",
      Condition::kBadRequest);
  // Unknown extensions (chat markers, carbons, ...) are ignored rather than bounced.
  ExpectIgnored(
      "<message from='bob@xmpp.test' to='alice@lync.test' id='d'>"
      "<displayed xmlns='urn:xmpp:chat-markers:0' id='m1'/></message>");
  // Next to a body they change nothing.
  EXPECT_EQ(Only<InstantMessageEvent>(
                In("<message from='bob@xmpp.test' to='alice@lync.test'><body>x</body>"
                   "<markable xmlns='urn:xmpp:chat-markers:0'/><foo xmlns='urn:x'><body>no</body>"
                   "</foo></message>"))
                .body,
            "x");
}

TEST(InboundMessage, XhtmlIsSanitizedBeforeItReachesLync) {
  const auto& im = Only<InstantMessageEvent>(
      In("<message from='bob@xmpp.test' to='alice@lync.test'><body>x</body>"
         "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
         "xmlns='http://www.w3.org/1999/xhtml'>"
         "<p onclick='steal()' style='color:red'>a<script>alert(1)</script>b</p>"
         "<a href='javascript:alert(1)'>c</a><a href='https://x.test/'>d</a>"
         "<blink>e</blink><style>p{}</style><img src='data:x' alt='f'/></body></html></message>"));
  ASSERT_EQ(im.alternatives.size(), 1u);
  EXPECT_EQ(im.alternatives[0].body,
            "<p style='color:red'>ab</p><a>c</a><a href='https://x.test/'>d</a>e<img alt='f'/>");
}

TEST(InboundMessage, ABodyThatIsNotUtf8IsRefused) {
  // The parser never hands over such text; an element built in memory might.
  xmpp::Element m = Parse("<message from='bob@xmpp.test' to='alice@lync.test'><body/></message>");
  m.FindChild(kServer, "body")->SetText("caf\xC3");
  const XmppInbound in = EventsFromXmppStanza(m, Lab());
  EXPECT_TRUE(in.events.empty());
  ASSERT_TRUE(in.error.has_value());
  EXPECT_EQ(*in.error, Condition::kBadRequest);
}

TEST(InboundMessage, IqsAreNotCarried) {
  ExpectRefused(
      "<iq from='bob@xmpp.test/a' to='alice@lync.test' type='get' id='v'>"
      "<query xmlns='jabber:iq:version'/></iq>",
      Condition::kFeatureNotImplemented);
}

// ---------------------------------------------------------------- inbound presence

TEST(InboundPresence, AvailableAndUnavailableGoThroughThePresenceTable) {
  const auto& away = Only<PresenceEvent>(
      In("<presence from='bob@xmpp.test/phone' to='alice@lync.test'><show>xa</show>"
         "<status>Gone fishing</status><priority>5</priority></presence>"));
  EXPECT_EQ(away.from, Xmpp("bob", "xmpp.test"));
  EXPECT_EQ(away.device, "phone");
  ASSERT_TRUE(away.to.has_value());
  EXPECT_EQ(*away.to, Sip("alice", "lync.test"));
  EXPECT_EQ(away.availability, Availability::kAway);
  EXPECT_EQ(away.note, "Gone fishing");

  const auto& online =
      Only<PresenceEvent>(In("<presence from='bob@xmpp.test/phone' to='alice@lync.test'/>"));
  EXPECT_EQ(online.availability, Availability::kAvailable);
  const auto& offline = Only<PresenceEvent>(
      In("<presence from='bob@xmpp.test/phone' to='alice@lync.test' type='unavailable'/>"));
  EXPECT_EQ(offline.availability, Availability::kOffline);
}

TEST(InboundPresence, ProbesAndSubscriptionsAreBetweenBareAddresses) {
  const auto& probe = Only<PresenceProbeEvent>(
      In("<presence from='bob@xmpp.test' to='alice@lync.test' type='probe'/>"));
  EXPECT_EQ(probe.from, Xmpp("bob", "xmpp.test"));
  EXPECT_EQ(probe.to, Sip("alice", "lync.test"));

  const auto& subscribe = Only<SubscriptionEvent>(
      In("<presence from='bob@xmpp.test/phone' to='alice@lync.test' type='subscribe'>"
         "<nick xmlns='http://jabber.org/protocol/nick'>Bobby</nick></presence>"));
  EXPECT_EQ(subscribe.action, SubscriptionAction::kSubscribe);
  EXPECT_EQ(subscribe.from, Xmpp("bob", "xmpp.test"));
  EXPECT_EQ(subscribe.to, Sip("alice", "lync.test"));
  EXPECT_EQ(subscribe.display_name, "Bobby");

  const std::pair<std::string_view, SubscriptionAction> others[] = {
      {"subscribed", SubscriptionAction::kSubscribed},
      {"unsubscribe", SubscriptionAction::kUnsubscribe},
      {"unsubscribed", SubscriptionAction::kUnsubscribed}};
  for (const auto& [type, action] : others) {
    const auto& event = Only<SubscriptionEvent>(
        In(std::string("<presence from='bob@xmpp.test' to='alice@lync.test' type='") +
           std::string(type) + "'/>"));
    EXPECT_EQ(event.action, action) << type;
  }
}

TEST(InboundPresence, PresenceIsNeverBounced) {
  ExpectIgnored("<presence from='bob@xmpp.test' to='+15551234@lync.test'/>");
  ExpectIgnored("<presence from='bob@xmpp.test' to='alice@elsewhere.test' type='subscribe'/>");
  ExpectIgnored("<presence from='mallory@spam.test' to='alice@lync.test' type='subscribe'/>");
  ExpectIgnored("<presence to='alice@lync.test' type='probe'/>");
  ExpectIgnored("<presence from='bob@xmpp.test' to='alice@lync.test' type='bogus'/>");
}

// ---------------------------------------------------------------- outbound

InstantMessageEvent AliceToBob() {
  InstantMessageEvent im;
  im.message_id = "call-1;1";
  im.conversation_id = "call-1";
  im.from = Sip("alice", "lync.test", "urn:uuid:0123");
  im.to = Xmpp("bob", "xmpp.test");
  im.body = "Hi <bob>";
  im.receipt_requested = true;
  return im;
}

TEST(OutboundIm, AChatMessageWithThreadActiveStateAndReceiptRequest) {
  absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(AliceToBob(), Lab(), kContext);
  ASSERT_TRUE(stanza.ok()) << stanza.status();
  EXPECT_EQ(Xml(*stanza),
            "<message from='alice@lync.test/lync' to='bob@xmpp.test' type='chat' id='call-1;1'>"
            "<body>Hi &lt;bob&gt;</body><thread>call-1</thread>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
            "<request xmlns='urn:xmpp:receipts'/></message>");
  InstantMessageEvent no_receipt = AliceToBob();
  no_receipt.receipt_requested = false;
  no_receipt.conversation_id.clear();
  const std::string xml = Xml(*XmppStanzaFromEvent(no_receipt, Lab(), kContext));
  EXPECT_EQ(xml.find("urn:xmpp:receipts"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<thread"), std::string::npos) << xml;
}

TEST(OutboundIm, WellFormedHtmlBecomesXhtmlImAndTheRestStaysBodyOnly) {
  InstantMessageEvent im = AliceToBob();
  im.receipt_requested = false;
  im.alternatives = {{"text/html", "Hi <b>bob</b>&nbsp;<br/>"}};
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(im, Lab(), kContext)),
            "<message from='alice@lync.test/lync' to='bob@xmpp.test' type='chat' id='call-1;1'>"
            "<body>Hi &lt;bob&gt;</body><thread>call-1</thread>"
            "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
            "<body xmlns='http://www.w3.org/1999/xhtml'>Hi bob\xC2\xA0<br/></body></html>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/></message>");
  // HTML that is not XML on its own (unclosed <br>, an entity XML does not know, a fragment that
  // closes the wrapper or opens a second one) is dropped: the body still goes.
  for (std::string_view html :
       {"a<br>b", "&copy; 2026",
        "a</body><body xmlns='"
        "http://www.w3.org/1999/xhtml'>b",
        "x</body></stream:stream>", "<?xml version='1.0'?><p/>", "<p>\xC3</p>"}) {
    im.alternatives = {{"text/html", std::string(html)}};
    absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(im, Lab(), kContext);
    ASSERT_TRUE(stanza.ok()) << html;
    EXPECT_EQ(stanza->FindChild("http://jabber.org/protocol/xhtml-im", "html"), nullptr) << html;
    EXPECT_EQ(stanza->ChildText(kServer, "body"), "Hi <bob>") << html;
  }
}

TEST(OutboundIm, ScriptsStylesAndEventAttributesNeverLeave) {
  InstantMessageEvent im = AliceToBob();
  im.receipt_requested = false;
  im.conversation_id.clear();
  im.alternatives = {
      {"text/html",
       "<html><head><style>p{color:red}</style><script>x()</script></head><body>"
       "<p onmouseover='x()' ONCLICK='y()' style='color:blue'>ok</p>"
       "<span style='background:url(http://track.test/)'>s</span>"
       "<a href=' JaVa&#9;script:x()'>j</a><a href='xmpp:bob@xmpp.test' target='_blank'>k</a>"
       "<iframe src='https://x.test'>i</iframe><svg xmlns='http://www.w3.org/2000/svg'>"
       "<script>z()</script></svg></body></html>"}};
  const std::string xml = Xml(*XmppStanzaFromEvent(im, Lab(), kContext));
  EXPECT_NE(xml.find("<body xmlns='http://www.w3.org/1999/xhtml'><p style='color:blue'>ok</p>"
                     "<span>s</span><a>j</a><a href='xmpp:bob@xmpp.test'>k</a></body>"),
            std::string::npos)
      << xml;
  for (std::string_view banned : {"script", "style>", "on", "url(", "iframe", "svg", "target"}) {
    const size_t html = xml.find("xhtml-im");
    EXPECT_EQ(xml.find(banned, html + 20), std::string::npos) << banned << " in " << xml;
  }
}

TEST(OutboundIm, UpperCaseHtmlNamesAreReadAsXhtml) {
  InstantMessageEvent im = AliceToBob();
  im.alternatives = {{"text/html", "<P STYLE='color:red' OnClick='x()'>a<BR/>b</P>"}};
  const std::string xml = Xml(*XmppStanzaFromEvent(im, Lab(), kContext));
  EXPECT_NE(xml.find("<body xmlns='http://www.w3.org/1999/xhtml'><p style='color:red'>a<br/>b</p>"
                     "</body>"),
            std::string::npos)
      << xml;
}

TEST(OutboundIm, AnHtmlOnlyMessageGetsAPlainTextBody) {
  InstantMessageEvent im = AliceToBob();
  im.content_type = "text/html; charset=UTF-8";
  im.body = "<p>Line <i>one</i></p><p>two<br/>three</p>";
  absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(im, Lab(), kContext);
  ASSERT_TRUE(stanza.ok()) << stanza.status();
  EXPECT_EQ(stanza->ChildText(kServer, "body"), "Line one\ntwo\nthree");
  EXPECT_NE(stanza->FindChild("http://jabber.org/protocol/xhtml-im", "html"), nullptr);
  im.body = "<p>not closed";
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im.content_type = "text/rtf";
  im.body = "{\\rtf1 hi}";
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im.alternatives = {{"text/plain", "hi"}};
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext)->ChildText(kServer, "body"), "hi");
}

TEST(OutboundIm, BodiesAreUtf8WithoutXmlIllegalCharacters) {
  InstantMessageEvent im = AliceToBob();
  im.body = std::string(
      "a\x01"
      "b\x0b"
      "c\td\xEF\xBF\xBE"
      "e\xC3\xA9");
  absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(im, Lab(), kContext);
  ASSERT_TRUE(stanza.ok());
  EXPECT_EQ(stanza->ChildText(kServer, "body"), "abc\tde\xC3\xA9");
  im.body = "bad \xC3(";
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im.body = std::string("\x01\x02", 2);  // nothing left
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Outbound, TelephoneNumbersNeverBecomeJids) {
  InstantMessageEvent im = AliceToBob();
  im.from = Sip("+15551234", "lync.test");
  EXPECT_FALSE(XmppStanzaFromEvent(im, Lab(), kContext).ok());
  im.from = Address{Network::kPstn, "+15551234", "lync.test", ""};
  EXPECT_FALSE(XmppStanzaFromEvent(im, Lab(), kContext).ok());
  SubscriptionEvent sub{Sip("+1-(555)-1234", "lync.test"), Xmpp("bob", "xmpp.test"),
                        SubscriptionAction::kSubscribe, "+15551234"};
  EXPECT_FALSE(XmppStanzaFromEvent(sub, Lab(), kContext).ok());
  PresenceEvent presence;
  presence.from = Sip("+15551234", "lync.test");
  presence.to = Xmpp("bob", "xmpp.test");
  EXPECT_FALSE(XmppStanzaFromEvent(presence, Lab(), kContext).ok());
  // A PSTN destination is no XMPP address either.
  im = AliceToBob();
  im.to = Address{Network::kPstn, "+15551234", "lync.test", ""};
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Outbound, OnlyLocalSendersAndReachableRemoteRecipients) {
  InstantMessageEvent im = AliceToBob();
  im.to = Xmpp("mallory", "spam.test");  // blocked
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(), absl::StatusCode::kNotFound);
  im.to = Xmpp("carol", "lync.test");  // ours: would loop back
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(), absl::StatusCode::kNotFound);
  im.to = Sip("bob", "xmpp.test");  // not in the destination network's form
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im.to = Xmpp("", "xmpp.test");
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im = AliceToBob();
  im.from = Sip("carol", "partner.test");  // a federated SIP domain: not ours to speak for
  EXPECT_EQ(XmppStanzaFromEvent(im, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
  im = AliceToBob();
  im.from = Sip("O'Hara", "corp.example");
  im.to = Xmpp("bob", "xmpp.test", "phone");
  absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(im, Lab(), kContext);
  ASSERT_TRUE(stanza.ok());
  EXPECT_EQ(stanza->AttrOr("from", ""), "o\\27hara@xmpp.corp.example/lync");
  EXPECT_EQ(stanza->AttrOr("to", ""), "bob@xmpp.test/phone");
}

TEST(Outbound, ChatStatesAreStandaloneNotifications) {
  ChatStateEvent typing{"call-1", Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test", "phone"),
                        ChatState::kComposing};
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(typing, Lab(), kContext)),
            "<message from='alice@lync.test/lync' to='bob@xmpp.test/phone' type='chat'>"
            "<composing xmlns='http://jabber.org/protocol/chatstates'/>"
            "<thread>call-1</thread></message>");
}

TEST(Outbound, AReceiptNamesTheOriginalMessage) {
  DeliveryReceiptEvent receipt{"m1", Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test", "phone")};
  absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(receipt, Lab(), kContext);
  ASSERT_TRUE(stanza.ok());
  EXPECT_EQ(stanza->AttrOr("to", ""), "bob@xmpp.test/phone");
  EXPECT_NE(stanza->AttrOr("id", "m1"), "m1");  // a message of its own
  const xmpp::Element* received = stanza->FindChild("urn:xmpp:receipts", "received");
  ASSERT_NE(received, nullptr);
  EXPECT_EQ(received->AttrOr("id", ""), "m1");
  EXPECT_EQ(stanza->FindChild(kServer, "body"), nullptr);
  receipt.message_id.clear();
  EXPECT_FALSE(XmppStanzaFromEvent(receipt, Lab(), kContext).ok());
}

TEST(Outbound, AFailureIsAnErrorWithTheOriginalIdFromTheBareJid) {
  const std::pair<DeliveryFailureReason, std::string_view> rows[] = {
      {DeliveryFailureReason::kNotFound, "item-not-found"},
      {DeliveryFailureReason::kUnavailable, "service-unavailable"},
      {DeliveryFailureReason::kTimeout, "remote-server-timeout"}};
  for (const auto& [reason, condition] : rows) {
    DeliveryFailureEvent failure{"m1", Sip("alice", "lync.test", "urn:uuid:1"),
                                 Xmpp("bob", "xmpp.test", "phone"), reason, "SIP 480"};
    absl::StatusOr<xmpp::Element> stanza = XmppStanzaFromEvent(failure, Lab(), kContext);
    ASSERT_TRUE(stanza.ok());
    EXPECT_EQ(stanza->AttrOr("type", ""), "error");
    EXPECT_EQ(stanza->AttrOr("id", ""), "m1");
    EXPECT_EQ(stanza->AttrOr("from", ""), "alice@lync.test");
    EXPECT_EQ(stanza->AttrOr("to", ""), "bob@xmpp.test/phone");
    const std::optional<xmpp::ReceivedStanzaError> error = xmpp::ReadStanzaError(*stanza);
    ASSERT_TRUE(error && error->condition);
    EXPECT_EQ(xmpp::StanzaErrorName(*error->condition), condition);
    EXPECT_EQ(error->text, "SIP 480");
  }
}

TEST(Outbound, DirectedPresenceOnly) {
  PresenceEvent busy;
  busy.from = Sip("alice", "lync.test");
  busy.to = Xmpp("bob", "xmpp.test");
  busy.availability = Availability::kBusy;
  busy.activity = "in-a-meeting";
  busy.device = "urn:uuid:secret-endpoint";
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(busy, Lab(), kContext)),
            "<presence from='alice@lync.test/lync' to='bob@xmpp.test'><show>dnd</show>"
            "<status>In a meeting</status><priority>20</priority></presence>");
  PresenceEvent offline = busy;
  offline.availability = Availability::kOffline;
  offline.activity.clear();
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(offline, Lab(), kContext)),
            "<presence from='alice@lync.test/lync' to='bob@xmpp.test' type='unavailable'/>");
  busy.to.reset();
  EXPECT_EQ(XmppStanzaFromEvent(busy, Lab(), kContext).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Outbound, ProbesAndSubscriptionsAreBareWithANickOnlyOnSubscribe) {
  PresenceProbeEvent probe{Sip("alice", "lync.test", "urn:uuid:1"), Xmpp("bob", "xmpp.test", "x")};
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(probe, Lab(), kContext)),
            "<presence from='alice@lync.test' to='bob@xmpp.test' type='probe'/>");
  SubscriptionEvent sub{Sip("alice", "lync.test", "urn:uuid:1"), Xmpp("bob", "xmpp.test", "x"),
                        SubscriptionAction::kSubscribe, "Alice Liddell"};
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(sub, Lab(), kContext)),
            "<presence from='alice@lync.test' to='bob@xmpp.test' type='subscribe'>"
            "<nick xmlns='http://jabber.org/protocol/nick'>Alice Liddell</nick></presence>");
  sub.action = SubscriptionAction::kSubscribed;
  EXPECT_EQ(Xml(*XmppStanzaFromEvent(sub, Lab(), kContext)),
            "<presence from='alice@lync.test' to='bob@xmpp.test' type='subscribed'/>");
}

// ---------------------------------------------------------------- both ways

// What we send, read by the XMPP server on the other side with the same function.
XmppInbound AtPeer(const xmpp::Element& stanza) {
  return EventsFromXmppStanza(Parse(Xml(stanza)), Peer());
}

TEST(RoundTrip, AnImArrivesAsSentWithItsIdsAndMarkup) {
  InstantMessageEvent im = AliceToBob();
  im.alternatives = {{"text/html", "<p>Hi <em>bob</em></p>"}};
  const XmppInbound in = AtPeer(*XmppStanzaFromEvent(im, Lab(), kContext));
  ASSERT_EQ(in.events.size(), 2u);  // the IM and its <active/>
  const auto& back = std::get<InstantMessageEvent>(in.events[0]);
  EXPECT_EQ(back.message_id, im.message_id);
  EXPECT_EQ(back.conversation_id, im.conversation_id);
  EXPECT_EQ(back.body, im.body);
  EXPECT_EQ(back.alternatives, im.alternatives);
  EXPECT_TRUE(back.receipt_requested);
  EXPECT_EQ(back.from, Xmpp("alice", "lync.test", "lync"));
  EXPECT_EQ(back.to, Sip("bob", "xmpp.test"));
  EXPECT_EQ(std::get<ChatStateEvent>(in.events[1]).state, ChatState::kActive);
}

TEST(RoundTrip, ReceiptsFailuresPresenceAndSubscriptionsArriveAsSent) {
  const auto& receipt = Only<DeliveryReceiptEvent>(AtPeer(*XmppStanzaFromEvent(
      DeliveryReceiptEvent{"m1", Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test")}, Lab(),
      kContext)));
  EXPECT_EQ(receipt.message_id, "m1");

  for (DeliveryFailureReason reason :
       {DeliveryFailureReason::kNotFound, DeliveryFailureReason::kUnavailable,
        DeliveryFailureReason::kTimeout, DeliveryFailureReason::kRejected,
        DeliveryFailureReason::kInternal}) {
    const auto& failure = Only<DeliveryFailureEvent>(AtPeer(*XmppStanzaFromEvent(
        DeliveryFailureEvent{"m2", Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test"), reason, ""},
        Lab(), kContext)));
    EXPECT_EQ(failure.reason, reason) << DeliveryFailureReasonName(reason);
    EXPECT_EQ(failure.message_id, "m2");
  }

  PresenceEvent brb;
  brb.from = Sip("alice", "lync.test");
  brb.to = Xmpp("bob", "xmpp.test");
  brb.availability = Availability::kBeRightBack;
  brb.note = "5 min";
  const auto& presence = Only<PresenceEvent>(AtPeer(*XmppStanzaFromEvent(brb, Lab(), kContext)));
  EXPECT_EQ(presence.availability, Availability::kBeRightBack);
  EXPECT_EQ(presence.note, "5 min");
  EXPECT_EQ(presence.device, "lync");

  for (SubscriptionAction action :
       {SubscriptionAction::kSubscribe, SubscriptionAction::kSubscribed,
        SubscriptionAction::kUnsubscribe, SubscriptionAction::kUnsubscribed}) {
    const auto& sub = Only<SubscriptionEvent>(AtPeer(*XmppStanzaFromEvent(
        SubscriptionEvent{Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test"), action, "Alice"},
        Lab(), kContext)));
    EXPECT_EQ(sub.action, action);
    EXPECT_EQ(sub.display_name, action == SubscriptionAction::kSubscribe ? "Alice" : "");
  }
  const auto& typing = Only<ChatStateEvent>(AtPeer(*XmppStanzaFromEvent(
      ChatStateEvent{"c", Sip("alice", "lync.test"), Xmpp("bob", "xmpp.test"), ChatState::kPaused},
      Lab(), kContext)));
  EXPECT_EQ(typing.state, ChatState::kPaused);
  EXPECT_EQ(typing.conversation_id, "c");
}

}  // namespace
}  // namespace causeway::mappings
