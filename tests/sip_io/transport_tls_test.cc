#include "core/runtime/tls_context.h"
#include "gtest/gtest.h"
#include "tests/sip_io/transport_test_util.h"

namespace causeway::sip {
namespace {

using namespace testing;

class SipTransportTls : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pki_.ok()) << "openssl CLI failed"; }

  runtime::TlsContextPtr Server(bool require_client_cert) {
    runtime::TlsContextOptions o;
    o.certificate_chain_file = pki_.Path("server.pem");
    o.private_key_file = pki_.Path("server.key");
    o.ca_file = pki_.Path("ca.pem");
    o.verify_peer = true;
    o.require_peer_certificate = require_client_cert;
    auto ctx = runtime::MakeTlsServerContext(o);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return ctx.ok() ? *ctx : nullptr;
  }
  runtime::TlsContextPtr Client(bool with_cert, const std::string& ca = "ca.pem") {
    runtime::TlsContextOptions o;
    if (with_cert) {
      o.certificate_chain_file = pki_.Path("client.pem");
      o.private_key_file = pki_.Path("client.key");
    }
    o.ca_file = pki_.Path(ca);
    auto ctx = runtime::MakeTlsClientContext(o);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return ctx.ok() ? *ctx : nullptr;
  }
  SipTransportOptions TlsListener(bool require_client_cert) {
    SipTransportOptions o = LoopbackOptions({TransportKind::kTls});
    o.tls_server = Server(require_client_cert);
    return o;
  }

  TestPki pki_;
};

TEST_F(SipTransportTls, ServerReceivesAndAnswersOverTls) {
  TransportHarness h;
  ASSERT_TRUE(h.Open(TlsListener(false)).ok());
  EXPECT_TRUE(h.transport().Supports(TransportKind::kTls));
  TlsClient client(pki_.Path("ca.pem"), "", "");
  ASSERT_TRUE(client.Connect(h.Bound(TransportKind::kTls)));
  ASSERT_TRUE(client.Write("\r\n\r\n" + Options("tls-1", "TLS")));
  ASSERT_TRUE(h.user().WaitMessages(1));
  Received r = h.user().messages()[0];
  EXPECT_EQ(r.info.kind, TransportKind::kTls);
  EXPECT_FALSE(r.info.tls_peer_verified);  // no client certificate
  EXPECT_EQ(r.identity, "");
  h.Send({TransportKind::kTls, r.info.source, r.info.connection, ""},
         "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", 1);
  ReadResult got = client.ReadUntil(
      [](const std::string& d) { return d.find("Content-Length: 0\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(got.data, "\r\nSIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");  // pong, then answer
}

TEST_F(SipTransportTls, MutualTlsAcceptsAClientCertificate) {
  TransportHarness h;
  ASSERT_TRUE(h.Open(TlsListener(true)).ok());
  TlsClient client(pki_.Path("ca.pem"), pki_.Path("client.pem"), pki_.Path("client.key"));
  ASSERT_TRUE(client.Connect(h.Bound(TransportKind::kTls)));
  ASSERT_TRUE(client.Write(Options("mtls", "TLS")));
  ASSERT_TRUE(h.user().WaitMessages(1));
  Received r = h.user().messages()[0];
  EXPECT_TRUE(r.info.tls_peer_verified);
  EXPECT_EQ(r.identity, "client.example");
}

TEST_F(SipTransportTls, MutualTlsRejectsAClientWithoutCertificate) {
  TransportHarness h;
  ASSERT_TRUE(h.Open(TlsListener(true)).ok());
  TlsClient client(pki_.Path("ca.pem"), "", "");
  // TLS 1.3 lets the client finish its side first; the server's alert arrives on the next read.
  bool connected = client.Connect(h.Bound(TransportKind::kTls));
  if (connected) {
    client.Write(Options("no-cert", "TLS"));
    EXPECT_TRUE(client.ReadUntil([](const std::string&) { return false; }).eof);
  }
  for (int i = 0; i < 300 && h.Counter(&TransportCounters::tls_handshake_failures) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(h.Counter(&TransportCounters::tls_handshake_failures), 1u);
  EXPECT_TRUE(h.user().messages().empty());
  EXPECT_EQ(h.Connections(), 0u);
}

TEST_F(SipTransportTls, OutboundVerifiesTheServerNameAndPresentsAClientCert) {
  TransportHarness server;
  ASSERT_TRUE(server.Open(TlsListener(true)).ok());
  SipTransportOptions o = LoopbackOptions({TransportKind::kTls});
  o.tls_server = Server(false);
  o.tls_client = Client(true);
  TransportHarness h;
  ASSERT_TRUE(h.Open(o).ok());
  NetAddress to = server.Bound(TransportKind::kTls);
  h.Send({TransportKind::kTls, to, 0, "localhost"}, Options("out-tls", "TLS"), 1);
  ASSERT_TRUE(server.user().WaitMessages(1));
  Received r = server.user().messages()[0];
  EXPECT_TRUE(r.info.tls_peer_verified);
  EXPECT_EQ(r.identity, "client.example");
  // The server answers on the same connection; the client sees a verified peer.
  server.Send({TransportKind::kTls, r.info.source, r.info.connection, ""},
              "SIP/2.0 200 OK\r\nVia: SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bK-out-tls\r\n"
              "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: out-tls\r\n"
              "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
              2);
  ASSERT_TRUE(h.user().WaitMessages(1));
  Received answer = h.user().messages()[0];
  EXPECT_EQ(answer.status, 200);
  EXPECT_TRUE(answer.info.tls_peer_verified);
  EXPECT_EQ(answer.identity, "localhost");
  EXPECT_TRUE(h.user().failures().empty());
  EXPECT_EQ(h.Counter(&TransportCounters::connections_opened), 1u);
}

TEST_F(SipTransportTls, OutboundWrongNameOrUntrustedCaFails) {
  TransportHarness server;
  ASSERT_TRUE(server.Open(TlsListener(false)).ok());
  NetAddress to = server.Bound(TransportKind::kTls);

  SipTransportOptions o;
  o.tls_client = Client(false);
  TransportHarness h;
  ASSERT_TRUE(h.Open(o).ok());
  h.Send({TransportKind::kTls, to, 0, "wrong.example"}, Options("wrong", "TLS"), 7);
  ASSERT_TRUE(h.user().WaitFailures(1));
  Failure f = h.user().failures()[0];
  EXPECT_EQ(f.token, 7u);
  EXPECT_NE(std::string(f.error.message()).find("TLS handshake"), std::string::npos) << f.error;

  SipTransportOptions other;
  other.tls_client = Client(false, "other-ca.pem");
  TransportHarness h2;
  ASSERT_TRUE(h2.Open(other).ok());
  h2.Send({TransportKind::kTls, to, 0, "localhost"}, Options("untrusted", "TLS"), 8);
  ASSERT_TRUE(h2.user().WaitFailures(1));
  EXPECT_EQ(h2.user().failures()[0].token, 8u);
  EXPECT_TRUE(server.user().messages().empty());

  // Without a name there is no check (sip/stack/transport.h): the same CA mismatch passes.
  h2.Send({TransportKind::kTls, to, 0, ""}, Options("unchecked", "TLS"), 9);
  ASSERT_TRUE(server.user().WaitMessages(1));
  EXPECT_EQ(server.user().messages()[0].call_id, "unchecked");
}

TEST_F(SipTransportTls, HandshakeTimeoutClosesSilentClients) {
  SipTransportOptions o = TlsListener(false);
  o.tls_handshake_timeout = std::chrono::milliseconds(200);
  TransportHarness h;
  ASSERT_TRUE(h.Open(o).ok());
  Fd c = TcpConnect(h.Bound(TransportKind::kTls));  // TCP only, never says hello
  EXPECT_TRUE(ReadUntil(c.get(), [](const std::string&) { return false; }).eof);
  EXPECT_EQ(h.Counter(&TransportCounters::tls_handshake_failures), 1u);
}

}  // namespace
}  // namespace causeway::sip
