// Dialback keys (XEP-0185) and the certificate name check (RFC 6125 as RFC 6120/7590 use it).

#include <set>

#include "gtest/gtest.h"
#include "xmpp/s2s/certificate.h"
#include "xmpp/s2s/dialback.h"

namespace causeway::xmpp::s2s {
namespace {

TEST(DialbackKeyTest, Xep0185ExampleKey) {
  // XEP-0185 §3: secret 's3cr3tf0rd14lb4ck', receiving example.net, originating example.com,
  // stream id D60000229F.
  EXPECT_EQ(DialbackKey("s3cr3tf0rd14lb4ck", "example.net", "example.com", "D60000229F"),
            "008c689ff366b50c63d69a3e2d2c0e0e1f8404b0118eb688a0102c87cb691bdc");
}

TEST(DialbackKeyTest, EveryInputChangesTheKey) {
  const std::string base = DialbackKey("secret", "xmpp.test", "lync.test", "id1");
  EXPECT_EQ(base.size(), 64u);
  EXPECT_NE(base, DialbackKey("secret2", "xmpp.test", "lync.test", "id1"));
  EXPECT_NE(base, DialbackKey("secret", "lync.test", "xmpp.test", "id1"));  // direction matters
  EXPECT_NE(base, DialbackKey("secret", "xmpp.test", "lync.test", "id2"));
  EXPECT_EQ(base, DialbackKey("secret", "xmpp.test", "lync.test", "id1"));
}

TEST(DialbackKeyTest, KeysCompare) {
  EXPECT_TRUE(DialbackKeysEqual("abc", "abc"));
  EXPECT_FALSE(DialbackKeysEqual("abc", "abd"));
  EXPECT_FALSE(DialbackKeysEqual("abc", "abcd"));
  EXPECT_FALSE(DialbackKeysEqual("", "a"));
}

TEST(DialbackKeyTest, StreamIdsAreRandomHex) {
  std::set<std::string> ids;
  for (int i = 0; i < 100; ++i) {
    std::string id = RandomStreamId();
    EXPECT_EQ(id.size(), 32u);
    EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos) << id;
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 100u);
}

TlsInfo WithDns(std::vector<std::string> names) {
  TlsInfo info;
  info.dns_names = std::move(names);
  info.chain_verified = true;
  return info;
}

TEST(CertificateTest, DnsIdExactAndCaseInsensitive) {
  EXPECT_TRUE(CertificateNamesDomain(WithDns({"xmpp.test"}), "xmpp.test"));
  EXPECT_TRUE(CertificateNamesDomain(WithDns({"XMPP.Test."}), "xmpp.test"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"xmpp.test"}), "lync.test"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"xmpp.test"}), "sub.xmpp.test"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"xmpp.test"}), ""));
}

TEST(CertificateTest, AnInternationalDomainIsMatchedInItsALabelForm) {
  // JIDs carry U-labels, certificates' DNS-IDs A-labels (RFC 6125 §6.4.2).
  const std::string u_label = "\xC3\xA4\xC3\xB6\xC3\xBC.example";  // "äöü.example"
  EXPECT_TRUE(CertificateNamesDomain(WithDns({"xn--4ca0bs.example"}), u_label));
  EXPECT_TRUE(CertificateNamesDomain(WithDns({"*.xn--4ca0bs.example"}),
                                     "chat." + u_label));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"xn--4ca0bs.example"}), "aou.example"));
}

TEST(CertificateTest, WildcardCoversExactlyOneLeftmostLabel) {
  TlsInfo info = WithDns({"*.example.com"});
  EXPECT_TRUE(CertificateNamesDomain(info, "chat.example.com"));
  EXPECT_FALSE(CertificateNamesDomain(info, "example.com"));
  EXPECT_FALSE(CertificateNamesDomain(info, "a.chat.example.com"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"*.com"}), "example.com"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"c*.example.com"}), "chat.example.com"));
  EXPECT_FALSE(CertificateNamesDomain(WithDns({"chat.*.com"}), "chat.example.com"));
}

TEST(CertificateTest, SrvIdAndXmppAddr) {
  TlsInfo info;
  info.srv_names = {"_xmpp-client.xmpp.test", "_xmpp-server.lync.test"};
  EXPECT_TRUE(CertificateNamesDomain(info, "lync.test"));
  EXPECT_FALSE(CertificateNamesDomain(info, "xmpp.test"));  // a client SRV-ID is not a server's
  TlsInfo addr;
  addr.xmpp_addrs = {"xmpp.test"};
  EXPECT_TRUE(CertificateNamesDomain(addr, "xmpp.test"));
}

TEST(CertificateTest, CommonNameOnlyWithoutSubjectAltNames) {
  TlsInfo cn_only;
  cn_only.common_name = "xmpp.test";
  EXPECT_TRUE(CertificateNamesDomain(cn_only, "xmpp.test"));
  TlsInfo with_san = cn_only;
  with_san.dns_names = {"other.test"};
  EXPECT_FALSE(CertificateNamesDomain(with_san, "xmpp.test"));
}

TEST(CertificateTest, AuthenticationNeedsAVerifiedChain) {
  TlsInfo info = WithDns({"xmpp.test"});
  EXPECT_TRUE(CertificateAuthenticates(info, "xmpp.test"));
  info.chain_verified = false;
  EXPECT_TRUE(CertificateNamesDomain(info, "xmpp.test"));
  EXPECT_FALSE(CertificateAuthenticates(info, "xmpp.test"));
}

}  // namespace
}  // namespace causeway::xmpp::s2s
