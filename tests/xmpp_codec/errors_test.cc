// Stream and stanza error catalogs, the elements built for them, and the status payloads.

#include "xmpp/codec/errors.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "tests/xmpp_codec/recorder.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/serializer.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::xmpp {
namespace {

TEST(ErrorsTest, StreamConditionsMatchRfc6120) {
  // RFC 6120 §4.9.3.1 .. §4.9.3.25.
  const std::vector<std::string_view> rfc = {"bad-format",
                                             "bad-namespace-prefix",
                                             "conflict",
                                             "connection-timeout",
                                             "host-gone",
                                             "host-unknown",
                                             "improper-addressing",
                                             "internal-server-error",
                                             "invalid-from",
                                             "invalid-namespace",
                                             "invalid-xml",
                                             "not-authorized",
                                             "not-well-formed",
                                             "policy-violation",
                                             "remote-connection-failed",
                                             "reset",
                                             "resource-constraint",
                                             "restricted-xml",
                                             "see-other-host",
                                             "system-shutdown",
                                             "undefined-condition",
                                             "unsupported-encoding",
                                             "unsupported-feature",
                                             "unsupported-stanza-type",
                                             "unsupported-version"};
  ASSERT_EQ(rfc.size(), static_cast<size_t>(kStreamErrorConditionCount));
  for (int i = 0; i < kStreamErrorConditionCount; ++i) {
    auto condition = static_cast<StreamErrorCondition>(i);
    EXPECT_EQ(StreamErrorName(condition), rfc[i]);
    EXPECT_EQ(ParseStreamErrorCondition(rfc[i]), condition);
  }
  EXPECT_EQ(ParseStreamErrorCondition("xml-not-well-formed"), std::nullopt);  // RFC 3920 only
  EXPECT_EQ(ParseStreamErrorCondition(""), std::nullopt);
}

TEST(ErrorsTest, StanzaConditionsAndDefaultTypesMatchRfc6120) {
  // RFC 6120 §8.3.3.1 .. §8.3.3.22 with the type each section's example uses.
  const std::vector<std::pair<std::string_view, std::string_view>> rfc = {
      {"bad-request", "modify"},
      {"conflict", "cancel"},
      {"feature-not-implemented", "cancel"},
      {"forbidden", "auth"},
      {"gone", "cancel"},
      {"internal-server-error", "cancel"},
      {"item-not-found", "cancel"},
      {"jid-malformed", "modify"},
      {"not-acceptable", "modify"},
      {"not-allowed", "cancel"},
      {"not-authorized", "auth"},
      {"policy-violation", "modify"},
      {"recipient-unavailable", "wait"},
      {"redirect", "modify"},
      {"registration-required", "auth"},
      {"remote-server-not-found", "cancel"},
      {"remote-server-timeout", "wait"},
      {"resource-constraint", "wait"},
      {"service-unavailable", "cancel"},
      {"subscription-required", "auth"},
      {"undefined-condition", "modify"},
      {"unexpected-request", "wait"}};
  ASSERT_EQ(rfc.size(), static_cast<size_t>(kStanzaErrorConditionCount));
  for (int i = 0; i < kStanzaErrorConditionCount; ++i) {
    auto condition = static_cast<StanzaErrorCondition>(i);
    EXPECT_EQ(StanzaErrorName(condition), rfc[i].first);
    EXPECT_EQ(ParseStanzaErrorCondition(rfc[i].first), condition);
    EXPECT_EQ(StanzaErrorTypeName(DefaultErrorType(condition)), rfc[i].second) << rfc[i].first;
  }
  for (std::string_view type : {"auth", "cancel", "continue", "modify", "wait"}) {
    ASSERT_TRUE(ParseStanzaErrorType(type).has_value());
    EXPECT_EQ(StanzaErrorTypeName(*ParseStanzaErrorType(type)), type);
  }
  EXPECT_EQ(ParseStanzaErrorType("fatal"), std::nullopt);
}

TEST(ErrorsTest, StreamErrorElement) {
  StreamHeader h;
  h.content_ns = kNsServer;
  Element e = MakeStreamError(StreamErrorCondition::kPolicyViolation, "stanza too big");
  EXPECT_EQ(ToXml(e, StreamScope(h)),
            "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>stanza too big</text>"
            "</stream:error>");
}

TEST(ErrorsTest, ErrorReplySwapsAddressesAndKeepsTheId) {
  Element iq = MakeStanza(StanzaKind::kIq, kNsServer, "get", "lync.test", "xmpp.test", "q1");
  iq.AddChild("http://jabber.org/protocol/disco#items", "query");
  absl::StatusOr<Element> reply =
      MakeStanzaErrorReply(iq, StanzaErrorCondition::kServiceUnavailable, "no such service");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(ToXml(*reply, {kNsServer}),
            "<iq type='error' id='q1' to='xmpp.test' from='lync.test'>"
            "<error type='cancel'>"
            "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
            "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such service</text>"
            "</error></iq>");
  std::optional<ReceivedStanzaError> read = ReadStanzaError(*reply);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->condition, StanzaErrorCondition::kServiceUnavailable);
  EXPECT_EQ(read->type, StanzaErrorType::kCancel);
  EXPECT_EQ(read->text, "no such service");
  // An explicit type wins over the default.
  Element msg = MakeStanza(StanzaKind::kMessage, kNsClient, "chat", "a@b", "c@d");
  absl::StatusOr<Element> wait =
      MakeStanzaErrorReply(msg, StanzaErrorCondition::kItemNotFound, {}, StanzaErrorType::kWait);
  ASSERT_TRUE(wait.ok());
  EXPECT_EQ(ReadStanzaError(*wait)->type, StanzaErrorType::kWait);
  EXPECT_EQ(wait->Attr("id"), std::nullopt);  // no id to copy
  EXPECT_EQ(StanzaTo(*wait), "c@d");
}

TEST(ErrorsTest, ErrorsAndNonStanzasAreNeverAnswered) {
  Element error_stanza = MakeStanza(StanzaKind::kMessage, kNsClient, "error", "a@b", "c@d");
  absl::StatusOr<Element> reply =
      MakeStanzaErrorReply(error_stanza, StanzaErrorCondition::kBadRequest);
  EXPECT_EQ(reply.status().code(), absl::StatusCode::kFailedPrecondition);
  Element features(kNsStreams, "features");
  EXPECT_EQ(MakeStanzaErrorReply(features, StanzaErrorCondition::kBadRequest).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ErrorsTest, ReadsAnErrorFromTheWire) {
  testing::Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser
                  .Feed(std::string(testing::kClientHeader) +
                        "<message type='error' from='x@y'><error type='cancel'>"
                        "<gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:x@z</gone>"
                        "</error></message>")
                  .ok());
  ASSERT_EQ(r.stanzas.size(), 1u);
  std::optional<ReceivedStanzaError> e = ReadStanzaError(r.stanzas[0]);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->condition, StanzaErrorCondition::kGone);
  EXPECT_EQ(e->type, StanzaErrorType::kCancel);
  Element built = MakeStanzaError(StanzaErrorCondition::kGone, kNsClient, {}, {}, "xmpp:x@z");
  EXPECT_EQ(*r.stanzas[0].FindChild(kNsClient, "error"), built);
  EXPECT_EQ(ReadStanzaError(MakeStanza(StanzaKind::kMessage, kNsClient, "chat")), std::nullopt);
}

TEST(ErrorsTest, StatusPayloads) {
  absl::Status s = StreamError(StreamErrorCondition::kRestrictedXml, "comment");
  EXPECT_EQ(StreamErrorOf(s), StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(StanzaErrorOf(s), std::nullopt);
  EXPECT_EQ(StreamErrorOf(StreamError(StreamErrorCondition::kPolicyViolation, "")).value(),
            StreamErrorCondition::kPolicyViolation);
  EXPECT_EQ(StreamError(StreamErrorCondition::kPolicyViolation, "").code(),
            absl::StatusCode::kResourceExhausted);
  absl::Status t = StanzaError(StanzaErrorCondition::kItemNotFound, "no user");
  EXPECT_EQ(StanzaErrorOf(t), StanzaErrorCondition::kItemNotFound);
  EXPECT_EQ(t.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StreamErrorOf(absl::InvalidArgumentError("plain")), std::nullopt);
}

TEST(StanzaTest, Kinds) {
  EXPECT_EQ(KindOf(Element(kNsClient, "message")), StanzaKind::kMessage);
  EXPECT_EQ(KindOf(Element(kNsServer, "presence")), StanzaKind::kPresence);
  EXPECT_EQ(KindOf(Element(kNsComponentAccept, "iq")), StanzaKind::kIq);
  EXPECT_EQ(KindOf(Element("urn:other", "message")), StanzaKind::kNone);
  EXPECT_EQ(KindOf(Element(kNsClient, "body")), StanzaKind::kNone);
  Element m = MakeStanza(StanzaKind::kMessage, kNsClient, "chat", "bad@@jid", "c@d");
  EXPECT_EQ(StanzaErrorOf(StanzaToJid(m).status()), StanzaErrorCondition::kJidMalformed);
  EXPECT_EQ(StanzaFromJid(m)->ToString(), "c@d");
  EXPECT_EQ(StanzaFromJid(Element(kNsClient, "message")).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace causeway::xmpp
