#include "sip/io/resolver_uri.h"

#include <string>

#include <gtest/gtest.h>

namespace causeway::sip {
namespace {

absl::StatusOr<SipTarget> FromText(const std::string& text) {
  absl::StatusOr<Uri> uri = Uri::Parse(text);
  if (!uri.ok()) return uri.status();
  return SipTargetFromUri(*uri);
}

TEST(ResolverUriTest, PlainSipUri) {
  absl::StatusOr<SipTarget> t = FromText("sip:alice@example.com");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "example.com");
  EXPECT_FALSE(t->port.has_value());
  EXPECT_FALSE(t->transport.has_value());
  EXPECT_FALSE(t->secure);
}

TEST(ResolverUriTest, SipsPortAndTransport) {
  absl::StatusOr<SipTarget> t = FromText("sips:bob@Example.COM:5071;transport=TCP");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "Example.COM");
  EXPECT_EQ(t->port, 5071);
  EXPECT_EQ(t->transport, TransportKind::kTcp);
  EXPECT_TRUE(t->secure);
}

TEST(ResolverUriTest, Ipv6ReferenceKeepsBrackets) {
  absl::StatusOr<SipTarget> t = FromText("sip:[2001:db8::10]:5062;transport=udp");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "[2001:db8::10]");
  EXPECT_EQ(t->port, 5062);
  EXPECT_EQ(t->transport, TransportKind::kUdp);
}

TEST(ResolverUriTest, MaddrReplacesHost) {
  absl::StatusOr<SipTarget> t = FromText("sip:carol@example.com;maddr=192.0.2.7;lr");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->host, "192.0.2.7");
  absl::StatusOr<SipTarget> escaped = FromText("sip:example.com;maddr=proxy%2Eexample.net");
  ASSERT_TRUE(escaped.ok()) << escaped.status();
  EXPECT_EQ(escaped->host, "proxy.example.net");
  EXPECT_FALSE(FromText("sip:example.com;maddr=a%20b").ok());
}

TEST(ResolverUriTest, RejectsWhatCannotBeResolved) {
  absl::StatusOr<SipTarget> tel = FromText("tel:+15551234567");
  EXPECT_TRUE(absl::IsInvalidArgument(tel.status())) << tel.status();
  absl::StatusOr<SipTarget> ws = FromText("sip:example.com;transport=ws");
  EXPECT_TRUE(absl::IsFailedPrecondition(ws.status())) << ws.status();
  absl::StatusOr<SipTarget> sctp = FromText("sip:example.com;transport=sctp");
  EXPECT_TRUE(absl::IsFailedPrecondition(sctp.status())) << sctp.status();
}

}  // namespace
}  // namespace causeway::sip
