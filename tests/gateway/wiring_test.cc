// Built when gateway/wiring.cc is, i.e. when core/runtime and sip/io exist (CMakeLists.txt).
#ifdef CAUSEWAY_GATEWAY_WIRING

#include "gateway/wiring.h"

#include <openssl/ssl.h>

#include "gtest/gtest.h"

namespace causeway::gateway {
namespace {

GatewayConfig Parse(std::string_view toml) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(toml, "wiring.toml");
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : DefaultConfig();
}

TEST(Wiring, TransportOptionsFollowTheConfig) {
  GatewayConfig c = Parse(R"(
[sip]
udp = ["127.0.0.1:5070", "[::1]:5070"]
tcp = ["127.0.0.1:5070"]
tls = ["127.0.0.1:5071"]
advertised_host = "192.0.2.10"
max_message_bytes = 32768
max_headers = 50
max_header_line = 4096
tcp_idle_timeout_s = 90
max_connections = 500
max_connections_per_peer = 7
)");
  sip::SipTransportOptions o = MakeSipTransportOptions(c);
  ASSERT_EQ(o.listen.size(), 4u);
  EXPECT_EQ(o.listen[0].kind, sip::TransportKind::kUdp);
  EXPECT_EQ(o.listen[1].address.ToString(), "[::1]:5070");
  EXPECT_EQ(o.listen[2].kind, sip::TransportKind::kTcp);
  EXPECT_EQ(o.listen[3].kind, sip::TransportKind::kTls);
  EXPECT_EQ(o.listen[3].address.ToString(), "127.0.0.1:5071");
  ASSERT_TRUE(o.listen[3].advertised.has_value());
  EXPECT_EQ(o.listen[3].advertised->ToString(), "192.0.2.10:5071");  // the listener's port
  EXPECT_EQ(o.limits.max_message_bytes, 32768u);
  EXPECT_EQ(o.limits.max_headers, 50u);
  EXPECT_EQ(o.limits.max_header_line, 4096u);
  EXPECT_EQ(o.idle_timeout_inbound, std::chrono::seconds(90));
  EXPECT_EQ(o.max_connections, 500u);
  EXPECT_EQ(o.max_connections_per_ip, 7u);
  EXPECT_EQ(o.tls_server, nullptr);  // created by the caller, once
}

TEST(Wiring, HostNameAdvertisedHostGoesToLocalHostsOnly) {
  GatewayConfig c =
      Parse("[sip]\nadvertised_host = \"Edge.Example.com\"\ndomains = [\"example.com\"]\n");
  sip::SipTransportOptions t = MakeSipTransportOptions(c);
  for (const sip::ListenConfig& l : t.listen) EXPECT_FALSE(l.advertised.has_value());
  sip::SipServerOptions s = MakeSipServerOptions(c);
  EXPECT_EQ(s.domains, (std::vector<std::string>{"example.com"}));
  EXPECT_EQ(s.local_hosts, (std::vector<std::string>{"edge.example.com"}));
}

TEST(Wiring, ServerOptionsFollowTheConfig) {
  GatewayConfig c = Parse(R"(
[sip]
t1_ms = 250
t2_ms = 2000
t4_ms = 3000
min_expires = 30
default_expires = 600
max_expires = 1200
max_forwards = 20
advertised_host = "2001:db8::1"
)");
  sip::SipServerOptions s = MakeSipServerOptions(c);
  EXPECT_EQ(s.timers.t1, std::chrono::milliseconds(250));
  EXPECT_EQ(s.timers.t2, std::chrono::milliseconds(2000));
  EXPECT_EQ(s.timers.t4, std::chrono::milliseconds(3000));
  EXPECT_EQ(s.registrar.min_expires, std::chrono::seconds(30));
  EXPECT_EQ(s.registrar.default_expires, std::chrono::seconds(600));
  EXPECT_EQ(s.registrar.max_expires, std::chrono::seconds(1200));
  EXPECT_EQ(s.proxy.default_max_forwards, 20);
  EXPECT_EQ(s.local_hosts, (std::vector<std::string>{"2001:db8::1", "[2001:db8::1]"}));
  EXPECT_TRUE(s.domains.empty());  // accept any
}

TEST(Wiring, TlsAndRuntimeOptions) {
  GatewayConfig c =
      Parse("[general]\nworkers = 3\n[tls]\nca = \"/etc/ca.pem\"\nverify_clients = true\n");
  CertificateInfo cert;
  cert.certificate_path = "/state/cert.pem";
  cert.key_path = "/state/key.pem";
  runtime::TlsContextOptions server = MakeTlsServerOptions(c, cert);
  EXPECT_EQ(server.certificate_chain_file, "/state/cert.pem");
  EXPECT_EQ(server.private_key_file, "/state/key.pem");
  EXPECT_EQ(server.ca_file, "/etc/ca.pem");
  EXPECT_TRUE(server.verify_peer);
  EXPECT_TRUE(server.require_peer_certificate);
  runtime::TlsContextOptions client = MakeTlsClientOptions(c, cert);
  EXPECT_TRUE(client.verify_peer);
  EXPECT_FALSE(client.require_peer_certificate);
  EXPECT_EQ(MakeRuntimeOptions(c).workers, 3u);

  GatewayConfig plain = DefaultConfig();
  runtime::TlsContextOptions open = MakeTlsServerOptions(plain, cert);
  EXPECT_FALSE(open.verify_peer);  // no client certificate requested without verify_clients
  EXPECT_FALSE(open.require_peer_certificate);
  EXPECT_EQ(MakeRuntimeOptions(plain).workers, 0u);  // 0 = one per core, resolved by the runtime
  EXPECT_EQ(open.min_version, TLS1_2_VERSION);
  EXPECT_EQ(MakeTlsClientOptions(plain, cert).min_version, TLS1_2_VERSION);

  GatewayConfig strict = Parse("[tls]\nmin_version = \"1.3\"\n");
  EXPECT_EQ(MakeTlsServerOptions(strict, cert).min_version, TLS1_3_VERSION);
  EXPECT_EQ(MakeTlsClientOptions(strict, cert).min_version, TLS1_3_VERSION);
}

}  // namespace
}  // namespace causeway::gateway

#endif
