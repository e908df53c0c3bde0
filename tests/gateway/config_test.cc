#include "gateway/config.h"

#include <set>
#include <string>
#include <vector>

#include "gateway/names.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

std::string ErrorOf(std::string_view toml) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(toml, "causeway.toml");
  if (c.ok()) return "ok";
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST(Config, DefaultsMatchTheDocumentedValues) {
  GatewayConfig c = DefaultConfig();
  EXPECT_EQ(c.general.state_dir, "causeway-state");
  EXPECT_EQ(c.general.log_level, log::Level::kInfo);
  EXPECT_EQ(c.general.workers, 0);
  EXPECT_EQ(c.general.shutdown_timeout_s, 10);
  EXPECT_TRUE(c.sip.domains.empty());
  ASSERT_EQ(c.sip.udp.size(), 1u);
  EXPECT_EQ(c.sip.udp[0].ToString(), "127.0.0.1:5060");
  ASSERT_EQ(c.sip.tcp.size(), 1u);
  EXPECT_EQ(c.sip.tcp[0].ToString(), "127.0.0.1:5060");
  ASSERT_EQ(c.sip.tls.size(), 1u);
  EXPECT_EQ(c.sip.tls[0].ToString(), "127.0.0.1:5061");
  EXPECT_EQ(c.sip.advertised_host, "");
  EXPECT_EQ(c.sip.max_message_bytes, 65535u);
  EXPECT_EQ(c.sip.max_headers, 100u);
  EXPECT_EQ(c.sip.max_header_line, 8192u);
  EXPECT_EQ(c.sip.tcp_idle_timeout_s, 300u);
  EXPECT_EQ(c.sip.max_connections, 10000u);
  EXPECT_EQ(c.sip.max_connections_per_peer, 32u);
  EXPECT_EQ(c.sip.t1_ms, 500u);
  EXPECT_EQ(c.sip.t2_ms, 4000u);
  EXPECT_EQ(c.sip.t4_ms, 5000u);
  EXPECT_EQ(c.sip.min_expires, 60u);
  EXPECT_EQ(c.sip.default_expires, 3600u);
  EXPECT_EQ(c.sip.max_expires, 7200u);
  EXPECT_EQ(c.sip.max_forwards, 70u);
  EXPECT_EQ(c.tls.certificate, "");
  EXPECT_EQ(c.tls.key, "");
  EXPECT_EQ(c.tls.ca, "");
  EXPECT_FALSE(c.tls.verify_clients);
  EXPECT_EQ(c.tls.min_version, TlsVersion::k1_2);
  EXPECT_TRUE(c.dns.servers.empty());
  EXPECT_EQ(c.dns.timeout_ms, 2000u);
  EXPECT_EQ(c.dns.tries, 3u);
  EXPECT_EQ(c.lync.keep_alive_s, 300u);
  EXPECT_EQ(c.lync.server_name, "");
  // [xmpp]: off by default — binary_test starts the daemon with default ports, and the integration
  // tests run several daemons at once; none of them may fight over 5269.
  EXPECT_EQ(c.xmpp.mode, XmppMode::kOff);
  ASSERT_EQ(c.xmpp.listen.size(), 1u);
  EXPECT_EQ(c.xmpp.listen[0].ToString(), "127.0.0.1:5269");
  EXPECT_TRUE(c.xmpp.domains.empty());
  EXPECT_FALSE(c.xmpp.open_federation);
  EXPECT_TRUE(c.xmpp.federated_domains.empty());
  EXPECT_TRUE(c.xmpp.blocked_domains.empty());
  EXPECT_EQ(c.xmpp.dialback_secret, "");
  EXPECT_TRUE(c.xmpp.require_tls);
  EXPECT_TRUE(c.xmpp.static_routes.empty());
  EXPECT_EQ(c.xmpp.resource, "lync");
  EXPECT_EQ(c.xmpp.receipt_wait_ms, 5000u);
  EXPECT_EQ(c.xmpp.max_queued_per_domain, 1000u);
  EXPECT_EQ(c.xmpp.idle_timeout_s, 600u);
  EXPECT_EQ(c.xmpp.retry_queued_for_s, 0u);
  EXPECT_EQ(c.xmpp.component_host, "127.0.0.1");
  EXPECT_EQ(c.xmpp.component_port, 5347u);
  EXPECT_EQ(c.xmpp.component_secret, "");
  EXPECT_EQ(c.xmpp.component_domain, "");
}

TEST(Config, XmppSectionParsesAndRoundTrips) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(R"(
[sip]
domains = ["lync.test", "corp.example"]
[xmpp]
mode = "s2s"
listen = ["0.0.0.0", "[::1]:5270"]
domains = ["Lync.Test", "corp.example=XMPP.corp.example"]
federation = "open"
blocked_domains = ["spam.example"]
dialback_secret = "s3cret"
require_tls = false
static_routes = ["xmpp.test=127.0.0.1:5299", "xmpp.test=[::1]", "other.test=10.0.0.2:5269"]
resource = "Lync Gateway"
receipt_wait_ms = 0
)",
                                                "x.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  const XmppConfig& x = c->xmpp;
  EXPECT_EQ(x.mode, XmppMode::kS2s);
  ASSERT_EQ(x.listen.size(), 2u);
  EXPECT_EQ(x.listen[0].ToString(), "0.0.0.0:5269");
  EXPECT_EQ(x.listen[1].ToString(), "[::1]:5270");
  EXPECT_EQ(x.domains, (std::vector<XmppDomainPair>{{"lync.test", "lync.test"},
                                                    {"corp.example", "xmpp.corp.example"}}));
  EXPECT_TRUE(x.open_federation);
  EXPECT_EQ(x.blocked_domains, (std::vector<std::string>{"spam.example"}));
  EXPECT_FALSE(x.require_tls);
  ASSERT_EQ(x.static_routes.size(), 3u);
  EXPECT_EQ(x.static_routes[0].domain, "xmpp.test");
  EXPECT_EQ(x.static_routes[0].address.ToString(), "127.0.0.1:5299");
  EXPECT_EQ(x.static_routes[1].address.ToString(), "[::1]:5269");  // default port
  EXPECT_EQ(x.resource, "Lync Gateway");
  EXPECT_EQ(x.receipt_wait_ms, 0u);

  std::string printed = ConfigToToml(*c);
  EXPECT_NE(printed.find("domains = [\"lync.test\", \"corp.example=xmpp.corp.example\"]"),
            std::string::npos)
      << printed;
  EXPECT_NE(printed.find("static_routes = [\"xmpp.test=127.0.0.1:5299\", \"xmpp.test=[::1]:5269\""),
            std::string::npos)
      << printed;
  absl::StatusOr<GatewayConfig> again = ParseConfig(printed, "again.toml");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
  EXPECT_EQ(ConfigToToml(*again), printed);
  EXPECT_EQ(again->xmpp.domains, x.domains);
  EXPECT_EQ(again->xmpp.static_routes, x.static_routes);
}

TEST(Config, XmppErrorsNameTheKey) {
  const struct {
    const char* toml;
    const char* message;
  } cases[] = {
      {"[xmpp]\nmode = \"client\"",
       "causeway.toml: xmpp.mode: \"client\" is not one of off, s2s, component"},
      {"[xmpp]\ndomains = [\"lync.test=\"]",
       "causeway.toml: xmpp.domains: \"lync.test=\" is not a domain or a sip_domain=xmpp_domain "
       "pair (e.g. \"corp.example=xmpp.corp.example\")"},
      {"[xmpp]\ndomains = [\"a b=c\"]",
       "causeway.toml: xmpp.domains: \"a b=c\" is not a domain or a sip_domain=xmpp_domain pair "
       "(e.g. \"corp.example=xmpp.corp.example\")"},
      {"[xmpp]\ndomains = [\"a.test\", \"a.test=b.test\"]",
       "causeway.toml: xmpp.domains: \"a.test=b.test\" names a domain listed before"},
      {"[xmpp]\nstatic_routes = [\"xmpp.test\"]",
       "causeway.toml: xmpp.static_routes: \"xmpp.test\" is not domain=ip:port (e.g. "
       "\"xmpp.example=192.0.2.1:5269\")"},
      {"[xmpp]\nstatic_routes = [\"xmpp.test=prosody.local:5269\"]",
       "causeway.toml: xmpp.static_routes: \"xmpp.test=prosody.local:5269\" is not "
       "domain=ip:port (e.g. \"xmpp.example=192.0.2.1:5269\")"},
      {"[xmpp]\nfederation = \"closed\"",
       "causeway.toml: xmpp.federation: \"closed\" is not one of open, allow-list"},
      {"[xmpp]\nfederated_domains = [\"x..y\"]",
       "causeway.toml: xmpp.federated_domains: \"x..y\" is not a domain name"},
      {"[xmpp]\nresource = \"a\\nb\"",
       "causeway.toml: xmpp.resource: contains a control character"},
      {"[xmpp]\nlisten = [\"127.0.0.1:0\"]",
       "causeway.toml: xmpp.listen: \"127.0.0.1:0\": port 0 is not allowed"},
      // Rules across options, checked only when the edge is on.
      {"[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"component\"",
       "causeway.toml: xmpp.component_secret: must be set in component mode"},
      {"[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"component\"\ncomponent_secret = \"s\"",
       "causeway.toml: xmpp.component_domain: must be set in component mode"},
      {"[xmpp]\nmode = \"s2s\"",
       "causeway.toml: xmpp.domains: must be set when sip.domains is empty (any domain)"},
      {"[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"s2s\"\nlisten = []",
       "causeway.toml: xmpp.listen: needs at least one address in s2s mode"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ErrorOf(c.toml), c.message) << c.toml;
  }
  // A federated domain that is one of ours is refused by the DomainMap, under xmpp.domains.
  std::string error = ErrorOf(
      "[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"s2s\"\nfederated_domains = "
      "[\"lync.test\"]");
  EXPECT_EQ(error.rfind("causeway.toml: xmpp.domains: ", 0), 0u) << error;
  // Blocked and federated at once is blocked (mappings/address_map.h), not an error; a blocked
  // domain that is local is.
  EXPECT_EQ(ErrorOf("[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"s2s\"\n"
                    "federated_domains = [\"x.test\"]\nblocked_domains = [\"x.test\"]"),
            "ok");
  error = ErrorOf("[sip]\ndomains = [\"lync.test\"]\n[xmpp]\nmode = \"s2s\"\n"
                  "blocked_domains = [\"lync.test\"]");
  EXPECT_EQ(error.rfind("causeway.toml: xmpp.domains: ", 0), 0u) << error;
  // The same options with the edge off are only checked one by one.
  EXPECT_EQ(ErrorOf("[xmpp]\nmode = \"off\"\ncomponent_secret = \"\""), "ok");
}

TEST(Config, LyncServerNameIsAHostName) {
  absl::StatusOr<GatewayConfig> ok =
      ParseConfig("[lync]\nserver_name = \"FE01.Example.Test\"\nkeep_alive_s = 60\n", "c.toml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->lync.server_name, "fe01.example.test");
  EXPECT_EQ(ok->lync.keep_alive_s, 60u);
  absl::StatusOr<GatewayConfig> bad = ParseConfig("[lync]\nserver_name = \"not a host\"\n", "c.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "c.toml: lync.server_name: \"not a host\" is not a host name");
  EXPECT_FALSE(ParseConfig("[lync]\nkeep_alive_s = 5\n", "c.toml").ok());
}

TEST(Config, LyncBlockedClientsAreValidatedRules) {
  EXPECT_TRUE(DefaultConfig().lync.blocked_clients.empty());
  absl::StatusOr<GatewayConfig> ok = ParseConfig(
      "[lync]\nblocked_clients = [\"UCCAPI/15.0\", \"allow OC/>=16.0\", \"*\"]\n", "c.toml");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->lync.blocked_clients,
            (std::vector<std::string>{"UCCAPI/15.0", "allow OC/>=16.0", "*"}));
  // Round trip through --print-config.
  absl::StatusOr<GatewayConfig> again = ParseConfig(ConfigToToml(*ok), "again.toml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->lync.blocked_clients, ok->lync.blocked_clients);

  absl::StatusOr<GatewayConfig> bad =
      ParseConfig("[lync]\nblocked_clients = [\"UCCAPI/15.0\", \"OC/four\"]\n", "c.toml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().substr(0, 41), "c.toml: lync.blocked_clients: \"OC/four\": ")
      << bad.status().message();
  EXPECT_FALSE(ParseConfig("[lync]\nblocked_clients = \"UCCAPI/15.0\"\n", "c.toml").ok());
  EXPECT_FALSE(ParseConfig("[lync]\nblocked_clients = [\"deny UCCAPI\"]\n", "c.toml").ok());
}

TEST(Config, DigestAlgorithmsAreAnOrderedListOfKnownNames) {
  using sip::DigestAlgorithm;
  EXPECT_EQ(DefaultConfig().sip.digest_algorithms,
            (std::vector<DigestAlgorithm>{DigestAlgorithm::kSha256, DigestAlgorithm::kMd5}));
  absl::StatusOr<GatewayConfig> md5 = ParseConfig("[sip]\ndigest_algorithms = [\"md5\"]\n", "c.toml");
  ASSERT_TRUE(md5.ok()) << md5.status();
  EXPECT_EQ(md5->sip.digest_algorithms, std::vector<DigestAlgorithm>{DigestAlgorithm::kMd5});
  absl::StatusOr<GatewayConfig> again = ParseConfig(ConfigToToml(*md5), "again.toml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->sip.digest_algorithms, md5->sip.digest_algorithms);

  absl::StatusOr<GatewayConfig> unknown =
      ParseConfig("[sip]\ndigest_algorithms = [\"SHA-512\"]\n", "c.toml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(),
            "c.toml: sip.digest_algorithms: \"SHA-512\" is not one of SHA-256, MD5");
  EXPECT_FALSE(ParseConfig("[sip]\ndigest_algorithms = []\n", "c.toml").ok());
  EXPECT_FALSE(ParseConfig("[sip]\ndigest_algorithms = [\"MD5\", \"md5\"]\n", "c.toml").ok());
}

TEST(Config, EmptyDocumentIsTheDefaults) {
  absl::StatusOr<GatewayConfig> c = ParseConfig("", "empty.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ConfigToToml(*c), ConfigToToml(DefaultConfig()));
  // Empty sections too.
  c = ParseConfig("[general]\n[sip]\n[tls]\n[dns]\n", "sections.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(ConfigToToml(*c), ConfigToToml(DefaultConfig()));
}

TEST(Config, PrintedDefaultsParseBackToTheDefaults) {
  std::string text = DefaultConfigToml();
  absl::StatusOr<GatewayConfig> c = ParseConfig(text, "printed.toml");
  ASSERT_TRUE(c.ok()) << c.status() << "\n" << text;
  EXPECT_EQ(ConfigToToml(*c), ConfigToToml(DefaultConfig()));
  // Every option appears, each right after its one-line comment.
  for (const OptionInfo& o : ListOptions()) {
    std::string line = std::string(o.key) + " = ";
    // Keys repeat across sections (sip.domains, xmpp.domains): look after the section header.
    size_t section = text.find("\n[" + std::string(o.section) + "]\n");
    ASSERT_NE(section, std::string::npos) << o.section;
    size_t at = text.find("\n" + line, section);
    ASSERT_NE(at, std::string::npos) << o.section << "." << o.key;
    size_t comment = text.rfind("\n# ", at - 1);
    ASSERT_NE(comment, std::string::npos);
    EXPECT_EQ(text.find('\n', comment + 1), at) << o.key << " has no comment line";
    EXPECT_NE(text.substr(comment, at - comment).find(o.doc), std::string::npos) << o.key;
  }
  EXPECT_NE(text.find("state_dir = \"causeway-state\""), std::string::npos);
  EXPECT_NE(text.find("udp = [\"127.0.0.1:5060\"]"), std::string::npos);
  EXPECT_NE(text.find("t1_ms = 500"), std::string::npos);
  EXPECT_NE(text.find("verify_clients = false"), std::string::npos);
}

TEST(Config, EffectiveConfigRoundTrips) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(R"(
[general]
state_dir = "/var/lib/causeway \"q\""
log_level = "debug"
workers = 4
[sip]
domains = ["Example.COM", "10.0.0.1"]
udp = ["0.0.0.0:5060", "[::]:5070"]
tcp = ["[2001:db8::1]"]
tls = []
advertised_host = "SIP.Example.com"
t1_ms = 250
t2_ms = 250
[tls]
ca = "/etc/ssl/ca.pem"
verify_clients = true
min_version = "1.3"
[dns]
servers = ["127.0.0.53", "[::1]:5353"]
)",
                                                "custom.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->general.log_level, log::Level::kDebug);
  EXPECT_EQ(c->general.workers, 4);
  EXPECT_EQ(EffectiveWorkers(c->general), 4);
  EXPECT_EQ(c->sip.domains, (std::vector<std::string>{"example.com", "10.0.0.1"}));
  ASSERT_EQ(c->sip.udp.size(), 2u);
  EXPECT_EQ(c->sip.udp[1].ToString(), "[::]:5070");
  ASSERT_EQ(c->sip.tcp.size(), 1u);
  EXPECT_EQ(c->sip.tcp[0].ToString(), "[2001:db8::1]:5060");  // default port
  EXPECT_TRUE(c->sip.tls.empty());
  EXPECT_EQ(c->sip.advertised_host, "sip.example.com");
  EXPECT_EQ(c->tls.min_version, TlsVersion::k1_3);
  ASSERT_EQ(c->dns.servers.size(), 2u);
  EXPECT_EQ(c->dns.servers[0].ToString(), "127.0.0.53:53");
  EXPECT_EQ(c->dns.servers[1].ToString(), "[::1]:5353");

  std::string printed = ConfigToToml(*c);
  absl::StatusOr<GatewayConfig> again = ParseConfig(printed, "again.toml");
  ASSERT_TRUE(again.ok()) << again.status() << "\n" << printed;
  EXPECT_EQ(ConfigToToml(*again), printed);
  EXPECT_EQ(again->general.state_dir, "/var/lib/causeway \"q\"");
}

TEST(Config, WorkersZeroMeansOnePerCore) {
  GeneralConfig g = DefaultConfig().general;
  EXPECT_GE(EffectiveWorkers(g), 1);
}

TEST(Config, AdvertisedHostForms) {
  auto host = [](std::string_view value) -> std::string {
    absl::StatusOr<GatewayConfig> c = ParseConfig(
        std::string("[sip]\nadvertised_host = \"") + std::string(value) + "\"\n", "h.toml");
    return c.ok() ? c->sip.advertised_host : "error";
  };
  EXPECT_EQ(host("203.0.113.7"), "203.0.113.7");
  EXPECT_EQ(host("2001:db8::7"), "[2001:db8::7]");
  EXPECT_EQ(host("[2001:db8::7]"), "[2001:db8::7]");
  EXPECT_EQ(host("Edge.Example.org"), "edge.example.org");
  EXPECT_EQ(host("edge.example.org:5061"), "error");
  EXPECT_EQ(host("[::1]:5061"), "error");
  EXPECT_EQ(host("bad_host"), "error");
  EXPECT_EQ(host("-a.example"), "error");
}

struct ErrorCase {
  const char* toml;
  const char* message;
};

TEST(Config, EveryErrorNamesFileAndKey) {
  const ErrorCase cases[] = {
      {"[sip]\nt1_ms = \"500\"", "causeway.toml: sip.t1_ms: expected an integer"},
      {"[sip]\nt1_ms = 1.5", "causeway.toml: sip.t1_ms: expected an integer"},
      {"[sip]\nt1_ms = 0", "causeway.toml: sip.t1_ms: 0 is out of range [1, 60000]"},
      {"[sip]\nt1_ms = -5", "causeway.toml: sip.t1_ms: -5 is out of range [1, 60000]"},
      {"[sip]\nmax_forwards = 9223372036854775807",
       "causeway.toml: sip.max_forwards: 9223372036854775807 is out of range [1, 255]"},
      {"[general]\nworkers = 257", "causeway.toml: general.workers: 257 is out of range [0, 256]"},
      {"[sip]\nt11_ms = 5", "causeway.toml: sip.t11_ms: unknown key"},
      {"[sip.extra]\nx = 1", "causeway.toml: sip.extra: unknown key"},
      {"[bogus]\nx = 1", "causeway.toml: bogus: unknown section"},
      {"top = 1", "causeway.toml: top: unknown section"},
      {"sip = 1", "causeway.toml: sip: expected a table ([section])"},
      {"[tls]\nverify_clients = \"yes\"",
       "causeway.toml: tls.verify_clients: expected a boolean (true or false)"},
      {"[general]\nstate_dir = 5", "causeway.toml: general.state_dir: expected a string"},
      {"[general]\nstate_dir = \"\"", "causeway.toml: general.state_dir: must not be empty"},
      {"[general]\nlog_level = \"loud\"",
       "causeway.toml: general.log_level: \"loud\" is not one of debug, info, warn, error"},
      {"[sip]\nudp = \"127.0.0.1:5060\"", "causeway.toml: sip.udp: expected an array of strings"},
      {"[sip]\nudp = [5060]", "causeway.toml: sip.udp: expected an array of strings"},
      {"[sip]\nudp = [\"localhost:5060\"]",
       "causeway.toml: sip.udp: \"localhost:5060\" is not an IP address with optional port (e.g. "
       "127.0.0.1:5060 or [::1]:5060)"},
      {"[sip]\ntcp = [\"127.0.0.1:70000\"]",
       "causeway.toml: sip.tcp: \"127.0.0.1:70000\" is not an IP address with optional port (e.g. "
       "127.0.0.1:5060 or [::1]:5060)"},
      {"[sip]\ntls = [\"127.0.0.1:0\"]",
       "causeway.toml: sip.tls: \"127.0.0.1:0\": port 0 is not allowed"},
      {"[sip]\nudp = [\"127.0.0.1\", \"127.0.0.1:5060\"]",
       "causeway.toml: sip.udp: \"127.0.0.1:5060\" is listed twice"},
      {"[sip]\ndomains = [\"exa mple.com\"]",
       "causeway.toml: sip.domains: \"exa mple.com\" is not a domain name"},
      {"[sip]\ndomains = [\"a.example\", \"A.EXAMPLE\"]",
       "causeway.toml: sip.domains: \"A.EXAMPLE\" is listed twice"},
      {"[sip]\nadvertised_host = \"h:1\"",
       "causeway.toml: sip.advertised_host: \"h:1\" is not a host name or IP address (no port)"},
      {"[tls]\nmin_version = \"1.1\"",
       "causeway.toml: tls.min_version: \"1.1\" is not one of 1.2, 1.3"},
      {"[dns]\nservers = [\"8.8.8.8:0\"]",
       "causeway.toml: dns.servers: \"8.8.8.8:0\": port 0 is not allowed"},
      {"[dns]\ntries = 0", "causeway.toml: dns.tries: 0 is out of range [1, 10]"},
      // Rules across options.
      {"[sip]\nudp = []\ntcp = []\ntls = []",
       "causeway.toml: sip: no listeners (sip.udp, sip.tcp and sip.tls are all empty)"},
      {"[sip]\ntcp = [\"127.0.0.1:5061\"]",
       "causeway.toml: sip.tls: 127.0.0.1:5061 is also a sip.tcp listen address"},
      {"[sip]\nt1_ms = 5000", "causeway.toml: sip.t2_ms: 4000 is less than sip.t1_ms (5000)"},
      {"[sip]\nmax_message_bytes = 2000",
       "causeway.toml: sip.max_header_line: 8192 is more than sip.max_message_bytes (2000)"},
      {"[sip]\nmax_connections = 10",
       "causeway.toml: sip.max_connections_per_peer: 32 is more than sip.max_connections (10)"},
      {"[sip]\nmin_expires = 4000",
       "causeway.toml: sip.default_expires: 3600 is less than sip.min_expires (4000)"},
      {"[sip]\nmax_expires = 600",
       "causeway.toml: sip.max_expires: 600 is less than sip.default_expires (3600)"},
      {"[tls]\ncertificate = \"/c.pem\"",
       "causeway.toml: tls.key: must be set when tls.certificate is set"},
      {"[tls]\nkey = \"/k.pem\"",
       "causeway.toml: tls.certificate: must be set when tls.key is set"},
      {"[tls]\nverify_clients = true",
       "causeway.toml: tls.verify_clients: requires tls.ca (the CAs client certificates must "
       "chain to)"},
  };
  for (const ErrorCase& c : cases) {
    EXPECT_EQ(ErrorOf(c.toml), c.message) << c.toml;
  }
}

TEST(Config, SyntaxErrorsCarryLineAndColumn) {
  std::string error = ErrorOf("[sip]\nt1_ms = 500\nt2_ms = = 4\n");
  EXPECT_EQ(error.rfind("causeway.toml:3:", 0), 0u) << error;
  error = ErrorOf("[sip]\nt1_ms = 1\nt1_ms = 2\n");  // duplicate key
  EXPECT_EQ(error.rfind("causeway.toml:3:", 0), 0u) << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
}

TEST(Config, ArraysAreBounded) {
  std::string toml = "[sip]\ndomains = [";
  for (int i = 0; i < 300; ++i) toml += "\"d" + std::to_string(i) + ".example\",";
  toml += "]\n";
  EXPECT_EQ(ErrorOf(toml), "causeway.toml: sip.domains: more than 256 entries");
}

TEST(Config, LoadFileErrorsNameThePath) {
  testing::ScratchDir dir;
  std::string missing = dir / "missing.toml";
  absl::StatusOr<GatewayConfig> c = LoadConfigFile(missing);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), missing + ": cannot read: No such file or directory");

  std::string good = dir / "good.toml";
  testing::WriteFile(good, "[sip]\nmax_forwards = 20\n");
  c = LoadConfigFile(good);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sip.max_forwards, 20u);

  std::string bad = dir / "bad.toml";
  testing::WriteFile(bad, "[sip]\nmax_forwards = true\n");
  c = LoadConfigFile(bad);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(), bad + ": sip.max_forwards: expected an integer");

  c = LoadConfigFile(dir.path());  // a directory is not a config
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(std::string(c.status().message()).rfind(dir.path() + ": cannot read", 0), 0u)
      << c.status();
}

TEST(Config, OptionTableIsComplete) {
  std::set<std::string> seen;
  for (const OptionInfo& o : ListOptions()) {
    std::string name = std::string(o.section) + "." + std::string(o.key);
    EXPECT_TRUE(seen.insert(name).second) << name << " defined twice";
    EXPECT_FALSE(o.doc.empty()) << name;
    EXPECT_LT(o.doc.size() + o.key.size(), 200u) << name << ": keep docs to one line";
  }
  EXPECT_EQ(seen.size(), 71u);
}

TEST(Names, Hostnames) {
  EXPECT_TRUE(IsValidHostname("localhost"));
  EXPECT_TRUE(IsValidHostname("a-b.example.com"));
  EXPECT_TRUE(IsValidHostname("xn--bcher-kva.example"));
  EXPECT_FALSE(IsValidHostname(""));
  EXPECT_FALSE(IsValidHostname("a..b"));
  EXPECT_FALSE(IsValidHostname("a.b."));
  EXPECT_FALSE(IsValidHostname("-a.b"));
  EXPECT_FALSE(IsValidHostname("a-.b"));
  EXPECT_FALSE(IsValidHostname("a_b.c"));
  EXPECT_FALSE(IsValidHostname("1.2.3"));
  EXPECT_FALSE(IsValidHostname(std::string(64, 'a') + ".example"));
  EXPECT_TRUE(IsValidHostname(std::string(63, 'a') + ".example"));
  std::string long_name;
  for (int i = 0; i < 64; ++i) long_name += "abc.";
  long_name += "x";
  EXPECT_FALSE(IsValidHostname(long_name));
}

}  // namespace
}  // namespace causeway::gateway
