#pragma once
// The gateway's configuration: one TOML file, validated into a typed struct before anything starts.
// Every option (section, key, type, default, range, one-line doc) is defined once, in the option
// table in config.cc; the defaults, the parser and `causeway --print-config` all come from it.
//
// Errors are one line that names the file and the key, e.g.
//   "causeway.toml: sip.t1_ms: expected an integer"
// so the daemon can print them as they are and exit 2.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/log.h"
#include "core/net_address.h"
#include "sip/stack/digest_auth.h"

namespace causeway::gateway {

enum class TlsVersion : uint8_t { k1_2, k1_3 };
std::string_view TlsVersionName(TlsVersion version);  // "1.2" | "1.3"

struct GeneralConfig {
  std::string state_dir;  // as written; relative paths resolve against the working directory
  log::Level log_level = log::Level::kInfo;
  int workers = 0;  // 0 = one per core; see EffectiveWorkers()
  int shutdown_timeout_s = 0;
};

struct SipConfig {
  // Served domains, lower-cased. Empty = accept requests for any domain (development default).
  std::vector<std::string> domains;
  std::vector<NetAddress> udp;
  std::vector<NetAddress> tcp;
  std::vector<NetAddress> tls;
  std::string advertised_host;  // empty = the listen address of the transport
  uint32_t max_message_bytes = 0;
  uint32_t max_headers = 0;
  uint32_t max_header_line = 0;
  uint32_t tcp_idle_timeout_s = 0;
  uint32_t max_connections = 0;
  uint32_t max_connections_per_peer = 0;
  uint32_t t1_ms = 0;
  uint32_t t2_ms = 0;
  uint32_t t4_ms = 0;
  uint32_t min_expires = 0;
  uint32_t default_expires = 0;
  uint32_t max_expires = 0;
  uint32_t max_forwards = 0;
  // Digest algorithms offered to standard SIP UAs, strongest first (sip/stack/digest_auth.h).
  std::vector<sip::DigestAlgorithm> digest_algorithms;
};

struct TlsConfig {
  std::string certificate;  // empty (with key empty) = self-signed pair managed in state_dir
  std::string key;
  std::string ca;  // PEM bundle trusted for client/peer certificates; empty = none
  bool verify_clients = false;
  TlsVersion min_version = TlsVersion::k1_2;
};

struct DnsConfig {
  std::vector<NetAddress> servers;  // empty = the system resolver configuration (resolv.conf)
  uint32_t timeout_ms = 0;
  uint32_t tries = 0;
};

// The Lync front end (MS-SIPREGE / MS-SIPAE behaviour towards Lync-dialect clients).
struct LyncConfig {
  uint32_t keep_alive_s = 0;  // ms-keep-alive timeout given to clients
  std::string server_name;    // MS-SIPAE targetname; empty = the TLS certificate's first DNS name
  // Client version policy rules (sip/lync/client_policy.h syntax), checked in order on every
  // REGISTER's User-Agent; validated at load, kept as written.
  std::vector<std::string> blocked_clients;
};

// The XMPP edge (federation with XMPP servers such as Prosody). Lists are validated and kept in
// the canonical form they print back as.
enum class XmppMode : uint8_t { kOff, kS2s, kComponent };
std::string_view XmppModeName(XmppMode mode);  // "off" | "s2s" | "component"

// sip.domains-side name and the JID domain its users have ({"lync.test", "lync.test"} = identity).
struct XmppDomainPair {
  std::string sip_domain;
  std::string xmpp_domain;
  friend bool operator==(const XmppDomainPair&, const XmppDomainPair&) = default;
};

// A remote XMPP domain reached at a fixed address instead of through DNS SRV.
struct XmppStaticRoute {
  std::string domain;
  NetAddress address;
  friend bool operator==(const XmppStaticRoute&, const XmppStaticRoute&) = default;
};

struct XmppConfig {
  XmppMode mode = XmppMode::kOff;
  std::vector<NetAddress> listen;
  std::vector<XmppDomainPair> domains;  // empty = identity pairs for every served SIP domain
  bool open_federation = false;         // federation = "open" | "allow-list"
  std::vector<std::string> federated_domains;
  std::vector<std::string> blocked_domains;
  std::string dialback_secret;  // empty = random per start
  bool require_tls = true;
  std::vector<XmppStaticRoute> static_routes;  // in failover order per domain
  std::string resource;
  uint32_t receipt_wait_ms = 0;
  uint32_t max_queued_per_domain = 0;
  uint32_t idle_timeout_s = 0;
  uint32_t retry_queued_for_s = 0;
  std::string component_host;
  uint32_t component_port = 0;
  std::string component_secret;
  std::string component_domain;
};

// The HTTP metrics endpoint (gateway/metrics_http.h): /metrics, /health, /ready.
struct MetricsConfig {
  std::optional<NetAddress> listen;  // nullopt = off (listen = "")
};

// The TURN/STUN relay (media/turn, media/io): listeners, relayed ports, credentials, limits.
// Off when every listen list is empty.
struct TurnConfig {
  std::vector<NetAddress> udp;  // client-facing listeners
  std::vector<NetAddress> tcp;
  std::vector<NetAddress> tls;
  // Addresses relayed sockets bind to (port 0); empty = the IPs of the listen addresses.
  std::vector<NetAddress> relay_addresses;
  // The address clients are told to reach (MRAS answers, `turn credentials` URIs); empty = the
  // first listen address.
  std::string public_host;
  uint32_t port_min = 0;
  uint32_t port_max = 0;
  std::string realm;   // empty = the first sip.domains entry, else "causeway"
  std::string secret;  // empty = generated once in state_dir (turn-secret)
  std::vector<std::string> users;        // static "name:password" (validated)
  std::vector<std::string> allow_peers;  // CIDR ranges opened (validated)
  uint32_t credential_ttl_s = 0;  // lifetime of issued credentials (MRAS, CLI default)
  uint32_t max_allocations = 0;
  uint32_t max_allocations_per_user = 0;
  uint32_t max_allocations_per_ip = 0;
  uint32_t default_lifetime_s = 0;
  uint32_t max_lifetime_s = 0;
  uint32_t nonce_lifetime_s = 0;

  bool enabled() const { return !udp.empty() || !tcp.empty() || !tls.empty(); }
};

// Always obtain one from DefaultConfig() or LoadConfig*(): the member initializers above are only
// zero values, the real defaults live in the option table.
struct GatewayConfig {
  GeneralConfig general;
  SipConfig sip;
  TlsConfig tls;
  DnsConfig dns;
  LyncConfig lync;
  XmppConfig xmpp;
  MetricsConfig metrics;
  TurnConfig turn;
};

// The embedded defaults (what `causeway` with no --config runs with).
GatewayConfig DefaultConfig();

// Parses TOML text. `source_name` prefixes every error ("causeway.toml: ...").
absl::StatusOr<GatewayConfig> ParseConfig(std::string_view toml_text, std::string_view source_name);

// Reads and parses a file; errors name the path as given.
absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path);

// The complete default configuration as TOML with a comment per option.
std::string DefaultConfigToml();
// Any configuration as TOML in the same layout (the effective configuration, for --print-config
// together with --config). ParseConfig(ConfigToToml(c)) yields `c` again.
std::string ConfigToToml(const GatewayConfig& config);

// general.workers resolved: 0 -> std::thread::hardware_concurrency() (at least 1).
int EffectiveWorkers(const GeneralConfig& general);

// One option of the table, exposed for documentation and tests.
struct OptionInfo {
  std::string_view section;
  std::string_view key;
  std::string_view type;  // "integer" | "boolean" | "string" | "array of strings"
  std::string_view doc;
};
std::vector<OptionInfo> ListOptions();

}  // namespace causeway::gateway
