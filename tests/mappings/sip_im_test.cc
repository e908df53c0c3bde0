#include "mappings/sip_im.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "absl/time/time.h"
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
  absl::StatusOr<InstantMessageEvent> e =
      ImFromSipMessage(Message("text/plain; charset=UTF-8", "Caf\xC3\xA9 <&>"));
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
  absl::StatusOr<InstantMessageEvent> e =
      ImFromSipMessage(Message("text/plain", "x", "sip:bob@example.test;gr=urn:uuid:1234"));
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
  EXPECT_FALSE(ImFromSipMessage(Message("multipart/alternative; boundary=b1", "--b1\r\n")).ok());
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

TEST(SipIm, IsComposingStates) {
  // RFC 3994 §6 example, with a namespace prefix on the state for good measure.
  absl::StatusOr<ChatState> active = ChatStateFromIsComposing(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<isComposing xmlns=\"urn:ietf:params:xml:ns:im-iscomposing\"\n"
      "  xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
      "  <state> active </state>\n  <contenttype>text/plain</contenttype>\n"
      "  <refresh>90</refresh>\n</isComposing>");
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_EQ(*active, ChatState::kComposing);
  absl::StatusOr<ChatState> idle = ChatStateFromIsComposing(
      "<ic:isComposing xmlns:ic=\"urn:ietf:params:xml:ns:im-iscomposing\"><ic:state>idle"
      "</ic:state><ic:lastactive>2003-01-27T10:43:00Z</ic:lastactive></ic:isComposing>");
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(*idle, ChatState::kPaused);
  EXPECT_FALSE(ChatStateFromIsComposing("<isComposing><state>busy</state></isComposing>").ok());
  EXPECT_FALSE(ChatStateFromIsComposing("<other><state>active</state></other>").ok());
  EXPECT_FALSE(ChatStateFromIsComposing("<isComposing><refresh>9</refresh></isComposing>").ok());
  EXPECT_FALSE(ChatStateFromIsComposing("").ok());
}

TEST(SipIm, IsComposingBodiesReadBack) {
  for (ChatState state : {ChatState::kComposing, ChatState::kPaused}) {
    absl::StatusOr<std::string> body = IsComposingBody(state);
    ASSERT_TRUE(body.ok());
    absl::StatusOr<ChatState> back = ChatStateFromIsComposing(*body);
    ASSERT_TRUE(back.ok()) << *body;
    EXPECT_EQ(*back, state);
  }
  EXPECT_NE(IsComposingBody(ChatState::kComposing)->find("<refresh>60</refresh>"),
            std::string::npos);
  EXPECT_EQ(IsComposingBody(ChatState::kPaused)->find("refresh"), std::string::npos);
  EXPECT_FALSE(IsComposingBody(ChatState::kActive).ok());
  EXPECT_FALSE(IsComposingBody(ChatState::kGone).ok());
}

TEST(SipIm, KeyboardActivity) {
  // What Lync and pidgin-sipe send in an INFO inside the IM session.
  absl::StatusOr<ChatState> typing = ChatStateFromKeyboardActivity(
      "<?xml version=\"1.0\"?><KeyboardActivity> <status status=\"type\" /></KeyboardActivity>");
  ASSERT_TRUE(typing.ok()) << typing.status();
  EXPECT_EQ(*typing, ChatState::kComposing);
  absl::StatusOr<ChatState> idle =
      ChatStateFromKeyboardActivity("<KeyboardActivity><status status='idle'/></KeyboardActivity>");
  ASSERT_TRUE(idle.ok()) << idle.status();
  EXPECT_EQ(*idle, ChatState::kPaused);
  EXPECT_FALSE(
      ChatStateFromKeyboardActivity("<KeyboardActivity><status other=\"type\"/></KeyboardActivity>")
          .ok());
  EXPECT_FALSE(ChatStateFromKeyboardActivity("<KeyboardActivity/>").ok());
  EXPECT_FALSE(ChatStateFromKeyboardActivity("<status status=\"type\"/>").ok());
}

sip::SipMessage Invite(std::string_view sdp) {
  auto m = sip::SipMessage::Parse(absl::StrCat(
      "INVITE sip:bob@xmpp.test SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bK5\r\n"
      "From: <sip:alice@example.test>;tag=a1\r\nTo: <sip:bob@xmpp.test>\r\n"
      "Call-ID: session-5\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
      "Content-Type: application/sdp\r\nContent-Length: ",
      sdp.size(), "\r\n\r\n", ToAbsl(sdp)));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

TEST(SipIm, ImSessionOffersAndAnswer) {
  EXPECT_TRUE(
      IsImSessionOffer(Invite("v=0\r\no=- 0 0 IN IP4 10.0.0.1\r\ns=session\r\n"
                              "c=IN IP4 10.0.0.1\r\nt=0 0\r\nm=message 5060 sip null\r\n"
                              "a=accept-types:text/plain text/html\r\n")));
  EXPECT_TRUE(IsImSessionOffer(Invite("v=0\nm=message 5060 sip sip:bob@xmpp.test\n")));
  EXPECT_FALSE(IsImSessionOffer(Invite("v=0\r\nm=audio 49170 RTP/AVP 0\r\n")));
  EXPECT_FALSE(IsImSessionOffer(Invite("v=0\r\nm=message 7394 TCP/MSRP *\r\n")));  // MSRP
  const std::string answer = ImSessionAnswerSdp("192.0.2.7");
  EXPECT_NE(answer.find("c=IN IP4 192.0.2.7\r\n"), std::string::npos);
  EXPECT_NE(answer.find("m=message 5060 sip null\r\n"), std::string::npos);
  EXPECT_NE(answer.find("a=accept-types:text/plain text/html multipart/alternative"),
            std::string::npos);
  EXPECT_NE(ImSessionAnswerSdp("[2001:db8::1]").find("c=IN IP6 2001:db8::1\r\n"),
            std::string::npos);
  // Our own answer is an offer-shaped SDP too (the check reads the m= line).
  EXPECT_TRUE(IsImSessionOffer(Invite(answer)));
}

OutgoingRequestIds Ids() {
  OutgoingRequestIds ids;
  ids.call_id = "out-1@gw";
  ids.from_tag = "ft1";
  ids.cseq = 3;
  ids.via = "SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKout1";
  return ids;
}

TEST(SipIm, PagerMessageFromPlainIm) {
  InstantMessageEvent im;
  im.from = Address{Network::kXmpp, "bob", "xmpp.test", "phone"};
  im.to = Address{Network::kSip, "alice smith", "lync.test", ""};
  im.body = "hello \xC3\xA9";
  absl::StatusOr<sip::SipMessage> m =
      PagerMessageFromIm(im, Address{Network::kSip, "bob", "xmpp.test", ""}, Ids());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->method(), sip::Method::kMessage);
  EXPECT_EQ(m->request_uri_text(), "sip:alice%20smith@lync.test");
  EXPECT_EQ(m->from().uri.text(), "sip:bob@xmpp.test");
  EXPECT_EQ(m->from_tag(), "ft1");
  EXPECT_TRUE(m->to_tag().empty());
  EXPECT_EQ(m->call_id(), "out-1@gw");
  EXPECT_EQ(m->cseq(), 3u);
  EXPECT_EQ(m->vias().front().branch, "z9hG4bKout1");
  EXPECT_EQ(m->body(), "hello \xC3\xA9");
  ASSERT_NE(m->FindHeader("Content-Type"), nullptr);
  EXPECT_EQ(m->FindHeader("Content-Type")->value, "text/plain; charset=UTF-8");
  // What comes back in is what went out.
  absl::StatusOr<InstantMessageEvent> back = ImFromSipMessage(*m);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->body, im.body);
  EXPECT_EQ(back->to.user, "alice smith");
}

TEST(SipIm, DelayedImCarriesItsSendTimeInADateHeader) {
  InstantMessageEvent im;
  im.from = Address{Network::kXmpp, "bob", "xmpp.test", "phone"};
  im.to = Address{Network::kSip, "alice", "lync.test", ""};
  im.body = "sent while you were away";
  absl::Time sent;
  std::string error;
  ASSERT_TRUE(absl::ParseTime(absl::RFC3339_full, "2002-09-10T23:08:25Z", &sent, &error)) << error;
  im.timestamp = absl::ToChronoTime(sent);
  const Address from{Network::kSip, "bob", "xmpp.test", ""};
  absl::StatusOr<sip::SipMessage> live = PagerMessageFromIm(im, from, Ids());
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->FindHeader("Date"), nullptr);  // not delayed: no Date
  im.delayed = true;
  absl::StatusOr<sip::SipMessage> m = PagerMessageFromIm(im, from, Ids());
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_NE(m->FindHeader("Date"), nullptr);
  EXPECT_EQ(m->FindHeader("Date")->value, "Tue, 10 Sep 2002 23:08:25 GMT");  // RFC 1123
}

TEST(SipIm, PagerMessageWithHtmlIsMultipartAlternative) {
  InstantMessageEvent im;
  im.to = Address{Network::kSip, "alice", "lync.test", ""};
  im.body = "--causeway-alternative is in the text";
  im.alternatives.push_back(AlternativeBody{"text/html", "<b>bold</b>"});
  absl::StatusOr<sip::SipMessage> m =
      PagerMessageFromIm(im, Address{Network::kSip, "bob", "xmpp.test", ""}, Ids());
  ASSERT_TRUE(m.ok()) << m.status();
  absl::StatusOr<InstantMessageEvent> back = ImFromSipMessage(*m);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->content_type, "text/plain");
  EXPECT_EQ(back->body, im.body);
  ASSERT_EQ(back->alternatives.size(), 1u);
  EXPECT_EQ(back->alternatives[0], im.alternatives[0]);

  InstantMessageEvent html_only;
  html_only.to = im.to;
  html_only.content_type = "text/html";
  html_only.body = "<i>x</i>";
  absl::StatusOr<sip::SipMessage> h =
      PagerMessageFromIm(html_only, Address{Network::kSip, "bob", "xmpp.test", ""}, Ids());
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->FindHeader("Content-Type")->value, "text/html; charset=UTF-8");
}

TEST(SipIm, PagerMessageRefusals) {
  InstantMessageEvent im;
  im.to = Address{Network::kSip, "alice", "lync.test", ""};
  const Address from{Network::kSip, "bob", "xmpp.test", ""};
  im.content_type = "application/octet-stream";
  EXPECT_FALSE(PagerMessageFromIm(im, from, Ids()).ok());
  im.content_type = "text/plain";
  im.body.assign(70 * 1024, 'x');
  EXPECT_EQ(PagerMessageFromIm(im, from, Ids()).status().code(), absl::StatusCode::kOutOfRange);
  im.body = "x";
  EXPECT_FALSE(PagerMessageFromIm(im, Address{Network::kXmpp, "bob", "xmpp.test", ""}, Ids()).ok());
}

}  // namespace
}  // namespace causeway::mappings
