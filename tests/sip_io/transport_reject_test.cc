#include "sip/io/transport_reject.h"

#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

constexpr std::string_view kHead =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n"
    "v: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n"
    "f: <sip:alice@example.com>;tag=88\r\n"
    "To: <sip:bob@example.com>\r\n"
    "i: abc@192.0.2.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "X-Junk: ignored\r\n"
    "\r\n";

TEST(TransportReject, EchoesRoutingHeadersAndAddsToTag) {
  auto r = BuildRejectResponse(kHead, 400, "Bad CSeq");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rfind("SIP/2.0 400 Bad CSeq\r\n", 0), 0u) << *r;
  EXPECT_NE(r->find("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776\r\n"
                    "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK1\r\n"),
            std::string::npos)
      << *r;
  EXPECT_NE(r->find("From: <sip:alice@example.com>;tag=88\r\n"), std::string::npos);
  EXPECT_NE(r->find("To: <sip:bob@example.com>;tag=cw"), std::string::npos);
  EXPECT_NE(r->find("Call-ID: abc@192.0.2.1\r\n"), std::string::npos);
  EXPECT_NE(r->find("CSeq: 1 INVITE\r\n"), std::string::npos);
  EXPECT_EQ(r->find("X-Junk"), std::string::npos);
  EXPECT_TRUE(r->ends_with("Content-Length: 0\r\n\r\n"));
}

TEST(TransportReject, KeepsExistingToTag) {
  std::string raw = "BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\n"
                    "To: <sip:b@c>;TAG=42\r\n\r\n";
  auto r = BuildRejectResponse(raw, 400, "x");
  ASSERT_TRUE(r);
  EXPECT_NE(r->find("To: <sip:b@c>;TAG=42\r\n"), std::string::npos) << *r;
}

TEST(TransportReject, NeverAnswersResponsesAcksOrViaLessRequests) {
  EXPECT_FALSE(BuildRejectResponse("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("ACK sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("OPTIONS sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\n\r\n", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("\r\n\r\n", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("garbage", 400, ""));
  EXPECT_FALSE(BuildRejectResponse("INV<>ITE sip:a SIP/2.0\r\nVia: x\r\n\r\n", 400, ""));
  // A Via after the end of the header section (in the body) does not count.
  EXPECT_FALSE(BuildRejectResponse("MESSAGE sip:a SIP/2.0\r\n\r\nVia: x\r\n", 400, ""));
  EXPECT_FALSE(BuildRejectResponse(kHead, 200, "not an error code"));
}

TEST(TransportReject, ReasonCannotInjectHeaders) {
  auto r = BuildRejectResponse(kHead, 400, "bad\r\nX-Evil: 1\x01");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rfind("SIP/2.0 400 badX-Evil: 1\r\n", 0), 0u) << *r;
  auto empty = BuildRejectResponse(kHead, 400, "\r\n");
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->rfind("SIP/2.0 400 Bad Request\r\n", 0), 0u);
  EXPECT_EQ(CleanReasonPhrase(std::string(300, 'a')).size(), 120u);
}

TEST(TransportReject, HandlesLeadingCrlfBareLfAndFolding) {
  std::string raw = "\r\n\r\nOPTIONS sip:a@b SIP/2.0\n"
                    "Via: SIP/2.0/UDP h:5060\n"
                    " ;branch=z9hG4bKfold\n"
                    "CSeq: 9 OPTIONS\n\n";
  auto r = BuildRejectResponse(raw, 513, "too big");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->rfind("SIP/2.0 513 too big\r\n", 0), 0u) << *r;
  EXPECT_NE(r->find("Via: SIP/2.0/UDP h:5060 ;branch=z9hG4bKfold\r\n"), std::string::npos) << *r;
  EXPECT_NE(r->find("CSeq: 9 OPTIONS\r\n"), std::string::npos);
}

TEST(TransportReject, BoundsEchoedVias) {
  std::string raw = "OPTIONS sip:a@b SIP/2.0\r\n";
  for (int i = 0; i < 100; ++i) raw += "Via: SIP/2.0/UDP h" + std::to_string(i) + "\r\n";
  raw += "Via: SIP/2.0/UDP " + std::string(5000, 'x') + "\r\n\r\n";
  auto r = BuildRejectResponse(raw, 400, "");
  ASSERT_TRUE(r);
  size_t vias = 0;
  for (size_t p = r->find("Via: "); p != std::string::npos; p = r->find("Via: ", p + 1)) ++vias;
  EXPECT_EQ(vias, kRejectMaxEchoedVias);
  EXPECT_LT(r->size(), 4000u);
}

}  // namespace
}  // namespace causeway::sip
