// core/runtime TLS context factory.
#include <fstream>

#include "core/runtime/tls_context.h"
#include "gtest/gtest.h"
#include "tests/sip_io/transport_test_util.h"

namespace causeway::runtime {
namespace {

using sip::testing::TestPki;

std::string Message(const absl::Status& s) { return std::string(s.message()); }

TEST(TlsContext, ServerLoadsChainKeyAndCa) {
  TestPki pki;
  ASSERT_TRUE(pki.ok());
  TlsContextOptions o;
  o.certificate_chain_file = pki.Path("server.pem");
  o.private_key_file = pki.Path("server.key");
  o.ca_file = pki.Path("ca.pem");
  o.require_peer_certificate = true;
  auto ctx = MakeTlsServerContext(o);
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx)->native_handle()), TLS1_2_VERSION);
  EXPECT_EQ(SSL_CTX_get_verify_mode((*ctx)->native_handle()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
  o.verify_peer = false;
  auto plain = MakeTlsServerContext(o);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(SSL_CTX_get_verify_mode((*plain)->native_handle()), SSL_VERIFY_NONE);
  o.min_version = TLS1_3_VERSION;
  auto strict = MakeTlsServerContext(o);
  ASSERT_TRUE(strict.ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*strict)->native_handle()), TLS1_3_VERSION);
  o.min_version = TLS1_VERSION;  // below the floor: still 1.2
  auto floor = MakeTlsServerContext(o);
  ASSERT_TRUE(floor.ok());
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*floor)->native_handle()), TLS1_2_VERSION);
}

TEST(TlsContext, ErrorsNameTheFile) {
  TestPki pki;
  ASSERT_TRUE(pki.ok());
  TlsContextOptions o;
  o.certificate_chain_file = "/nonexistent/cw/server.pem";
  o.private_key_file = pki.Path("server.key");
  auto missing = MakeTlsServerContext(o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(Message(missing.status()),
            "cannot read certificate /nonexistent/cw/server.pem: No such file or directory");

  std::string garbage = pki.Path("garbage.pem");
  std::ofstream(garbage) << "not a certificate\n";
  o.certificate_chain_file = garbage;
  auto bad = MakeTlsServerContext(o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(Message(bad.status()).rfind("cannot read certificate " + garbage + ": ", 0), 0u)
      << bad.status();

  o.certificate_chain_file = pki.Path("server.pem");
  o.private_key_file = pki.Path("missing.key");
  auto no_key = MakeTlsServerContext(o);
  ASSERT_FALSE(no_key.ok());
  EXPECT_NE(Message(no_key.status()).find("cannot read private key " + pki.Path("missing.key")),
            std::string::npos);

  o.private_key_file = pki.Path("client.key");  // valid key, wrong certificate
  auto mismatch = MakeTlsServerContext(o);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(Message(mismatch.status()).find("does not match certificate"), std::string::npos);

  o.private_key_file = pki.Path("server.key");
  o.ca_file = pki.Path("nope-ca.pem");
  auto no_ca = MakeTlsServerContext(o);
  ASSERT_FALSE(no_ca.ok());
  EXPECT_NE(Message(no_ca.status()).find("cannot read CA file " + pki.Path("nope-ca.pem")),
            std::string::npos);

  o.ca_file.clear();
  o.ciphers = "NO-SUCH-CIPHER";
  EXPECT_FALSE(MakeTlsServerContext(o).ok());
}

TEST(TlsContext, ServerNeedsACertificateClientDoesNot) {
  TlsContextOptions o;
  EXPECT_FALSE(MakeTlsServerContext(o).ok());
  TestPki pki;
  ASSERT_TRUE(pki.ok());
  o.ca_file = pki.Path("ca.pem");
  auto client = MakeTlsClientContext(o);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(SSL_CTX_get_verify_mode((*client)->native_handle()), SSL_VERIFY_PEER);
}

TEST(TlsContext, PeerIdentityOfNothingIsEmpty) { EXPECT_EQ(TlsVerifiedPeerIdentity(nullptr), ""); }

}  // namespace
}  // namespace causeway::runtime
