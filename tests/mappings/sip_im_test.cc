#include "mappings/sip_im.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "gtest/gtest.h"

namespace causeway::mappings {
namespace {

sip::SipMessage Message(std::string_view content_type, std::string_view body,
                        std::string_view to = "sip:bob@example.test") {
  std::string text = absl::StrCat(
      "MESSAGE ", ToAbsl(to), " SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK1\r\n",
      "From: \"Alice\" <sip:alice@Example.Test>;tag=a1\r\nTo: <", ToAbsl(to), ">\r\n",
      "Call-ID: im-session-1\r\nCSeq: 7 MESSAGE\r\nMax-Forwards: 70\r\n");
  if (!content_type.empty()) absl::StrAppend(&text, "Content-Type: ", ToAbsl(content_type), "\r\n");
  absl::StrAppend(&text, "Content-Length: ", body.size(), "\r\n\r\n", ToAbsl(body));
  auto m = sip::SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

TEST(SipIm, PlainTextMessage) {
  absl::StatusOr<InstantMessageEvent> e = ImFromSipMessage(Message("text/plain; charset=UTF-8",
                                                                   "Caf\xC3\xA9 <&>"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->from, (Address{Network::kSip, "alice", "example.test", ""}));
  EXPECT_EQ(e->to, (Address{Network::kSip, "bob", "example.test", ""}));
  EXPECT_EQ(e->content_type, "text/plain");
  EXPECT_EQ(e->body, "Caf\xC3\xA9 <&>");
  EXPECT_EQ(e->conversation_id, "im-session-1");
  EXPECT_EQ(e->message_id, "im-session-1/7");
  EXPECT_TRUE(e->alternatives.empty());
}

TEST(SipIm, MultipartAlternativeKeepsPlainAsBodyAndHtmlAsAlternative) {
  const std::string body =
      "--b1\r\nContent-Type: text/html\r\n\r\n<b>hi</b>\r\n"
      "--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
  absl::StatusOr<InstantMessageEvent> e =
      ImFromSipMessage(Message("multipart/alternative; boundary=b1", body));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->content_type, "text/plain");
  EXPECT_EQ(e->body, "hi");
  ASSERT_EQ(e->alternatives.size(), 1u);
  EXPECT_EQ(e->alternatives[0].content_type, "text/html");
  EXPECT_EQ(e->alternatives[0].body, "<b>hi</b>");
}

TEST(SipIm, GruuBecomesTheResourceAndTelIsPstn) {
  absl::StatusOr<InstantMessageEvent> e = ImFromSipMessage(
      Message("text/plain", "x", "sip:bob@example.test;gr=urn:uuid:1234"));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->to.resource, "urn:uuid:1234");
  absl::StatusOr<sip::Uri> tel = sip::Uri::Parse("tel:+15551234567");
  ASSERT_TRUE(tel.ok());
  absl::StatusOr<Address> a = AddressFromSipUri(*tel);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->network, Network::kPstn);
  EXPECT_EQ(a->user, "+15551234567");
}

TEST(SipIm, NonTextBodiesAreNotMessages) {
  EXPECT_FALSE(ImFromSipMessage(Message("application/im-iscomposing+xml", "<x/>")).ok());
  EXPECT_FALSE(
      ImFromSipMessage(Message("multipart/alternative; boundary=b1", "--b1\r\n")).ok());
}

TEST(SipIm, FirstMessageOfALyncSessionRidesInTheInvite) {
  auto invite = sip::SipMessage::Parse(
      "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK2\r\n"
      "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: session-2\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
      "ms-text-format: text/plain; charset=UTF-8;msgr=WAAtAE0A;ms-body=aGVsbG8gYm9i\r\n"
      "Content-Type: application/sdp\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(invite.ok()) << invite.status();
  absl::StatusOr<InstantMessageEvent> e = ImFromSipMessage(*invite);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->body, "hello bob");
  EXPECT_EQ(e->content_type, "text/plain");
  EXPECT_EQ(e->conversation_id, "session-2");
  // Base64 padding survives the header parameter syntax.
  auto padded = sip::SipMessage::Parse(
      "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK4\r\n"
      "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: session-4\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
      "ms-text-format: text/plain; charset=UTF-8;ms-body=aGk=\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(padded.ok());
  absl::StatusOr<InstantMessageEvent> hi = ImFromSipMessage(*padded);
  ASSERT_TRUE(hi.ok()) << hi.status();
  EXPECT_EQ(hi->body, "hi");
  // An INVITE without a first message (a call, or an IM session opened empty) is no IM.
  auto call = sip::SipMessage::Parse(
      "INVITE sip:bob@example.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK3\r\n"
      "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: call-3\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(call.ok());
  EXPECT_FALSE(ImFromSipMessage(*call).ok());
}

TEST(SipIm, FailureReasons) {
  EXPECT_EQ(FailureReasonFromSipCode(404), DeliveryFailureReason::kNotFound);
  EXPECT_EQ(FailureReasonFromSipCode(480), DeliveryFailureReason::kUnavailable);
  EXPECT_EQ(FailureReasonFromSipCode(408), DeliveryFailureReason::kTimeout);
  EXPECT_EQ(FailureReasonFromSipCode(403), DeliveryFailureReason::kRejected);
  EXPECT_EQ(FailureReasonFromSipCode(413), DeliveryFailureReason::kTooLarge);
  EXPECT_EQ(FailureReasonFromSipCode(500), DeliveryFailureReason::kInternal);
}

}  // namespace
}  // namespace causeway::mappings
