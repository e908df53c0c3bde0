#include "gateway/config.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "gateway/names.h"
#include "gateway/wiring.h"
#include "media/turn/peer_policy.h"
#include "sip/lync/client_policy.h"

// toml++ is the one place that may throw (parse errors); it is caught right at the call.
#include <toml++/toml.h>

namespace causeway::gateway {
namespace {

// Larger config files are a mistake, not a config.
constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxArrayEntries = 256;

using Strings = std::vector<std::string>;
using Value = std::variant<int64_t, bool, std::string, Strings>;

// Validates a value of the right TOML type and stores it; returns "" or an error message.
using Setter = std::string (*)(const Value&, GatewayConfig&);
using Getter = Value (*)(const GatewayConfig&);

struct Option {
  std::string_view section;
  std::string_view key;
  std::string_view doc;
  Value default_value;
  Setter set;
  Getter get;
  int64_t min = 0;  // integers only
  int64_t max = 0;
};

struct Section {
  std::string_view name;
  std::string_view doc;
};

constexpr Section kSections[] = {
    {"general", "Process-wide settings."},
    {"sip", "SIP listeners, served domains, parser limits and RFC 3261 timers."},
    {"tls", "TLS certificate and policy for the SIP TLS listeners (and outgoing TLS)."},
    {"dns", "DNS resolution for RFC 3263 (NAPTR/SRV/A/AAAA) lookups."},
    {"lync", "The Lync front end: what Lync-dialect clients (Lync, Skype for Business, SIPE) are "
             "told at sign-in."},
    {"xmpp", "The XMPP edge: federation with XMPP servers (server-to-server, RFC 6120) so Lync and "
             "XMPP users see each other's presence and chat."},
    {"metrics", "The HTTP endpoint for monitoring: GET /metrics (Prometheus text format), /health "
                "and /ready."},
    {"turn", "The STUN/TURN media relay (RFC 8489/8656, and the MS-TURN dialect of Lync clients): "
             "off when udp, tcp and tls are all empty."},
};

std::string_view TypeName(const Value& v) {
  switch (v.index()) {
    case 0:
      return "integer";
    case 1:
      return "boolean";
    case 2:
      return "string";
    default:
      return "array of strings";
  }
}

// --- generic field accessors: S is the section member, F the field in it ---

template <auto S, auto F>
std::string SetInt(const Value& v, GatewayConfig& c) {
  using T = std::remove_reference_t<decltype((c.*S).*F)>;
  (c.*S).*F = static_cast<T>(std::get<int64_t>(v));  // range-checked against the table before
  return "";
}
template <auto S, auto F>
Value GetInt(const GatewayConfig& c) {
  return static_cast<int64_t>((c.*S).*F);
}
template <auto S, auto F>
std::string SetBool(const Value& v, GatewayConfig& c) {
  (c.*S).*F = std::get<bool>(v);
  return "";
}
template <auto S, auto F>
Value GetBool(const GatewayConfig& c) {
  return (c.*S).*F;
}

// A file path: any non-empty text without NUL; empty allowed where `empty_ok`.
template <auto S, auto F, bool empty_ok>
std::string SetPath(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty() && !empty_ok) return "must not be empty";
  if (s.find('\0') != std::string::npos) return "contains a NUL character";
  (c.*S).*F = s;
  return "";
}
template <auto S, auto F>
Value GetString(const GatewayConfig& c) {
  return (c.*S).*F;
}

// A list of "ip:port" / "[v6]:port" (port defaults to `default_port`); no duplicates, no port 0.
template <auto S, auto F, uint16_t default_port>
std::string SetAddresses(const Value& v, GatewayConfig& c) {
  std::vector<NetAddress> out;
  for (const std::string& text : std::get<Strings>(v)) {
    std::optional<NetAddress> a = NetAddress::Parse(text, default_port);
    if (!a) {
      return absl::StrCat("\"", ToAbsl(text),
                          "\" is not an IP address with optional port (e.g. 127.0.0.1:",
                          default_port, " or [::1]:", default_port, ")");
    }
    if (a->port() == 0) return absl::StrCat("\"", ToAbsl(text), "\": port 0 is not allowed");
    if (std::find(out.begin(), out.end(), *a) != out.end()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is listed twice");
    }
    out.push_back(*a);
  }
  (c.*S).*F = std::move(out);
  return "";
}
template <auto S, auto F>
Value GetAddresses(const GatewayConfig& c) {
  Strings out;
  for (const NetAddress& a : (c.*S).*F) out.push_back(a.ToString());
  return out;
}

// --- special fields ---

std::string SetServerName(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (!s.empty() && !IsValidHostname(s)) return absl::StrCat("\"", ToAbsl(s), "\" is not a host name");
  c.lync.server_name = absl::AsciiStrToLower(ToAbsl(s));
  return "";
}

// lync.blocked_clients: every rule must parse (sip/lync/client_policy.h).
std::string SetBlockedClients(const Value& v, GatewayConfig& c) {
  const Strings& rules = std::get<Strings>(v);
  absl::StatusOr<sip::lync::ClientPolicy> policy = sip::lync::ClientPolicy::Create(rules);
  if (!policy.ok()) return std::string(policy.status().message());
  c.lync.blocked_clients = rules;
  return "";
}
Value GetBlockedClients(const GatewayConfig& c) { return c.lync.blocked_clients; }

// sip.digest_algorithms: known names, no repeats, at least one.
std::string SetDigestAlgorithms(const Value& v, GatewayConfig& c) {
  const Strings& names = std::get<Strings>(v);
  if (names.empty()) return "needs at least one algorithm (\"SHA-256\", \"MD5\")";
  std::vector<sip::DigestAlgorithm> algorithms;
  for (const std::string& name : names) {
    sip::DigestAlgorithm alg;
    if (!sip::ParseDigestAlgorithm(name, &alg)) {
      return absl::StrCat("\"", ToAbsl(name), "\" is not one of SHA-256, MD5");
    }
    if (std::find(algorithms.begin(), algorithms.end(), alg) != algorithms.end()) {
      return absl::StrCat("\"", ToAbsl(name), "\" is listed twice");
    }
    algorithms.push_back(alg);
  }
  c.sip.digest_algorithms = std::move(algorithms);
  return "";
}
Value GetDigestAlgorithms(const GatewayConfig& c) {
  Strings names;
  for (sip::DigestAlgorithm alg : c.sip.digest_algorithms) {
    names.emplace_back(sip::DigestAlgorithmName(alg));
  }
  return names;
}

std::string SetLogLevel(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (!log::ParseLevel(s, &c.general.log_level)) {
    return absl::StrCat("\"", ToAbsl(s), "\" is not one of debug, info, warn, error");
  }
  return "";
}
Value GetLogLevel(const GatewayConfig& c) {
  return std::string(log::LevelName(c.general.log_level));
}

std::string SetDomains(const Value& v, GatewayConfig& c) {
  Strings out;
  for (const std::string& text : std::get<Strings>(v)) {
    std::string domain = ToLowerAscii(text);
    if (!IsValidHostname(domain) && !NetAddress::Parse(domain)) {
      return absl::StrCat("\"", ToAbsl(text), "\" is not a domain name");
    }
    if (std::find(out.begin(), out.end(), domain) != out.end()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is listed twice");
    }
    out.push_back(std::move(domain));
  }
  c.sip.domains = std::move(out);
  return "";
}
Value GetDomains(const GatewayConfig& c) { return c.sip.domains; }

std::string SetAdvertisedHost(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty()) {
    c.sip.advertised_host.clear();
    return "";
  }
  std::optional<std::string> host = NormalizeHost(s);
  if (!host) {
    return absl::StrCat("\"", ToAbsl(s), "\" is not a host name or IP address (no port)");
  }
  c.sip.advertised_host = *host;
  return "";
}
Value GetAdvertisedHost(const GatewayConfig& c) { return c.sip.advertised_host; }

std::string SetTlsVersion(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s == "1.2") {
    c.tls.min_version = TlsVersion::k1_2;
  } else if (s == "1.3") {
    c.tls.min_version = TlsVersion::k1_3;
  } else {
    return absl::StrCat("\"", ToAbsl(s), "\" is not one of 1.2, 1.3");
  }
  return "";
}
Value GetTlsVersion(const GatewayConfig& c) {
  return std::string(TlsVersionName(c.tls.min_version));
}

std::string SetXmppMode(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s == "off") {
    c.xmpp.mode = XmppMode::kOff;
  } else if (s == "s2s") {
    c.xmpp.mode = XmppMode::kS2s;
  } else if (s == "component") {
    c.xmpp.mode = XmppMode::kComponent;
  } else {
    return absl::StrCat("\"", ToAbsl(s), "\" is not one of off, s2s, component");
  }
  return "";
}
Value GetXmppMode(const GatewayConfig& c) { return std::string(XmppModeName(c.xmpp.mode)); }

// A DNS domain name, lower-cased; "" when it is not one.
std::string DomainName(std::string_view text) {
  std::string domain = ToLowerAscii(text);
  return IsValidHostname(domain) ? domain : std::string();
}

// metrics.listen: "ip:port" (port defaults to 9464, 0 refused) or "" (off).
std::string SetMetricsListen(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty()) {
    c.metrics.listen.reset();
    return "";
  }
  std::optional<NetAddress> a = NetAddress::Parse(s, 9464);
  if (!a) {
    return absl::StrCat("\"", ToAbsl(s),
                        "\" is not an IP address with optional port (e.g. 127.0.0.1:9464), or \"\" "
                        "for off");
  }
  if (a->port() == 0) return absl::StrCat("\"", ToAbsl(s), "\": port 0 is not allowed");
  c.metrics.listen = *a;
  return "";
}
Value GetMetricsListen(const GatewayConfig& c) {
  return c.metrics.listen ? c.metrics.listen->ToString() : std::string();
}

// xmpp.domains: "sip_domain=xmpp_domain" or "domain" (the same name on both sides).
std::string SetXmppDomains(const Value& v, GatewayConfig& c) {
  std::vector<XmppDomainPair> out;
  for (const std::string& text : std::get<Strings>(v)) {
    size_t eq = text.find('=');
    std::string_view whole = text;
    XmppDomainPair pair;
    pair.sip_domain = DomainName(whole.substr(0, eq));
    pair.xmpp_domain = eq == std::string::npos ? pair.sip_domain : DomainName(whole.substr(eq + 1));
    if (pair.sip_domain.empty() || pair.xmpp_domain.empty()) {
      return absl::StrCat("\"", ToAbsl(text),
                          "\" is not a domain or a sip_domain=xmpp_domain pair (e.g. "
                          "\"corp.example=xmpp.corp.example\")");
    }
    for (const XmppDomainPair& seen : out) {
      if (seen.sip_domain == pair.sip_domain || seen.xmpp_domain == pair.xmpp_domain) {
        return absl::StrCat("\"", ToAbsl(text), "\" names a domain listed before");
      }
    }
    out.push_back(std::move(pair));
  }
  c.xmpp.domains = std::move(out);
  return "";
}
Value GetXmppDomains(const GatewayConfig& c) {
  Strings out;
  for (const XmppDomainPair& pair : c.xmpp.domains) {
    out.push_back(pair.sip_domain == pair.xmpp_domain
                      ? pair.sip_domain
                      : absl::StrCat(ToAbsl(pair.sip_domain), "=", ToAbsl(pair.xmpp_domain)));
  }
  return out;
}

std::string SetFederation(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s == "open") {
    c.xmpp.open_federation = true;
  } else if (s == "allow-list") {
    c.xmpp.open_federation = false;
  } else {
    return absl::StrCat("\"", ToAbsl(s), "\" is not one of open, allow-list");
  }
  return "";
}
Value GetFederation(const GatewayConfig& c) {
  return std::string(c.xmpp.open_federation ? "open" : "allow-list");
}

// A list of DNS domain names, lower-cased, no repeats.
template <auto F>
std::string SetDomainList(const Value& v, GatewayConfig& c) {
  Strings out;
  for (const std::string& text : std::get<Strings>(v)) {
    std::string domain = DomainName(text);
    if (domain.empty()) return absl::StrCat("\"", ToAbsl(text), "\" is not a domain name");
    if (std::find(out.begin(), out.end(), domain) != out.end()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is listed twice");
    }
    out.push_back(std::move(domain));
  }
  c.xmpp.*F = std::move(out);
  return "";
}
template <auto F>
Value GetDomainList(const GatewayConfig& c) {
  return c.xmpp.*F;
}

// xmpp.static_routes: "domain=ip:port" (port defaults to 5269); a domain may repeat (failover).
std::string SetStaticRoutes(const Value& v, GatewayConfig& c) {
  std::vector<XmppStaticRoute> out;
  for (const std::string& text : std::get<Strings>(v)) {
    size_t eq = text.find('=');
    std::string_view whole = text;
    std::string domain = eq == std::string::npos ? std::string() : DomainName(whole.substr(0, eq));
    std::optional<NetAddress> address;
    if (!domain.empty()) address = NetAddress::Parse(whole.substr(eq + 1), 5269);
    if (!address || address->port() == 0) {
      return absl::StrCat("\"", ToAbsl(text),
                          "\" is not domain=ip:port (e.g. \"xmpp.example=192.0.2.1:5269\")");
    }
    XmppStaticRoute route{std::move(domain), *address};
    if (std::find(out.begin(), out.end(), route) != out.end()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is listed twice");
    }
    out.push_back(std::move(route));
  }
  c.xmpp.static_routes = std::move(out);
  return "";
}
Value GetStaticRoutes(const GatewayConfig& c) {
  Strings out;
  for (const XmppStaticRoute& route : c.xmpp.static_routes) {
    out.push_back(absl::StrCat(ToAbsl(route.domain), "=", ToAbsl(route.address.ToString())));
  }
  return out;
}

// xmpp.resource: any resourcepart without control characters (RFC 7622 §3.4), "" = bare JID.
std::string SetResource(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.size() > 1023) return "longer than 1023 bytes";
  for (char ch : s) {
    unsigned char u = static_cast<unsigned char>(ch);
    if (u < 0x20 || u == 0x7f) return "contains a control character";
  }
  c.xmpp.resource = s;
  return "";
}

// xmpp.component_host: a host name or IP address without port.
std::string SetComponentHost(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  std::optional<std::string> host = NormalizeHost(s);
  if (!host) return absl::StrCat("\"", ToAbsl(s), "\" is not a host name or IP address (no port)");
  c.xmpp.component_host = *host;
  return "";
}

// xmpp.component_domain: "" (unset) or a domain name.
std::string SetComponentDomain(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  std::string domain = DomainName(s);
  if (!s.empty() && domain.empty()) {
    return absl::StrCat("\"", ToAbsl(s), "\" is not a domain name");
  }
  c.xmpp.component_domain = std::move(domain);
  return "";
}

// turn.relay_addresses: IPs without ports, no duplicates.
std::string SetRelayAddresses(const Value& v, GatewayConfig& c) {
  std::vector<NetAddress> out;
  for (const std::string& text : std::get<Strings>(v)) {
    std::optional<NetAddress> a = NetAddress::Parse(text);
    if (!a || a->port() != 0 || a->is_unspecified()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is not a specific IP address (no port)");
    }
    if (std::find(out.begin(), out.end(), *a) != out.end()) {
      return absl::StrCat("\"", ToAbsl(text), "\" is listed twice");
    }
    out.push_back(*a);
  }
  c.turn.relay_addresses = std::move(out);
  return "";
}
Value GetRelayAddresses(const GatewayConfig& c) {
  Strings out;
  for (const NetAddress& a : c.turn.relay_addresses) out.push_back(a.HostString());
  return out;
}

// turn.public_host: "" or a host name / IP address without port.
std::string SetTurnPublicHost(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.empty()) {
    c.turn.public_host.clear();
    return "";
  }
  std::optional<std::string> host = NormalizeHost(s);
  if (!host) return absl::StrCat("\"", ToAbsl(s), "\" is not a host name or IP address (no port)");
  c.turn.public_host = *host;
  return "";
}

// turn.realm: "" or printable ASCII without quotes (it travels in REALM, RFC 8489 §14.9).
std::string SetTurnRealm(const Value& v, GatewayConfig& c) {
  const std::string& s = std::get<std::string>(v);
  if (s.size() > 127) return "longer than 127 characters";
  for (char ch : s) {
    if (ch < 0x21 || ch > 0x7E || ch == '"' || ch == '\\') {
      return absl::StrCat("\"", ToAbsl(s), "\": use printable ASCII without spaces or quotes");
    }
  }
  c.turn.realm = s;
  return "";
}

// turn.users: "name:password", names unique, neither part empty; a name may not look like the
// secret scheme's "<expiry>:<user>".
std::string SetTurnUsers(const Value& v, GatewayConfig& c) {
  const Strings& entries = std::get<Strings>(v);
  std::vector<std::string> names;
  for (const std::string& entry : entries) {
    const size_t colon = entry.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == entry.size()) {
      return "entries are \"name:password\" with neither part empty";
    }
    const std::string name = entry.substr(0, colon);
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
          return ch >= '0' && ch <= '9';
        })) {
      return absl::StrCat("\"", ToAbsl(name), "\": an all-digit name would read as an expiry");
    }
    if (std::find(names.begin(), names.end(), name) != names.end()) {
      return absl::StrCat("\"", ToAbsl(name), "\" is listed twice");
    }
    names.push_back(name);
  }
  c.turn.users = entries;
  return "";
}
Value GetTurnUsers(const GatewayConfig& c) { return c.turn.users; }

// turn.allow_peers: CIDR ranges (media/turn/peer_policy.h syntax).
std::string SetAllowPeers(const Value& v, GatewayConfig& c) {
  const Strings& ranges = std::get<Strings>(v);
  for (const std::string& text : ranges) {
    absl::StatusOr<turn::CidrRange> range = turn::CidrRange::Parse(text);
    if (!range.ok()) return std::string(range.status().message());
  }
  c.turn.allow_peers = ranges;
  return "";
}
Value GetAllowPeers(const GatewayConfig& c) { return c.turn.allow_peers; }

using G = GeneralConfig;
using P = SipConfig;
using T = TlsConfig;
using D = DnsConfig;
using L = LyncConfig;
using X = XmppConfig;
constexpr auto kGeneral = &GatewayConfig::general;
constexpr auto kSip = &GatewayConfig::sip;
constexpr auto kTls = &GatewayConfig::tls;
constexpr auto kDns = &GatewayConfig::dns;
constexpr auto kLync = &GatewayConfig::lync;
constexpr auto kXmpp = &GatewayConfig::xmpp;
using U = TurnConfig;
constexpr auto kTurn = &GatewayConfig::turn;

template <auto S, auto F>
Option IntOption(std::string_view section, std::string_view key, int64_t def, int64_t min,
                 int64_t max, std::string_view doc) {
  return Option{section, key, doc, Value(def), &SetInt<S, F>, &GetInt<S, F>, min, max};
}

// The one source of truth: order here is the order in --print-config and the docs.
const std::vector<Option>& Options() {
  static const std::vector<Option>* const options = new std::vector<Option>{
      // [general]
      {"general", "state_dir",
       "Directory for generated certificates and runtime state; created 0700; relative to the "
       "working directory.",
       Value(std::string("causeway-state")), &SetPath<kGeneral, &G::state_dir, false>,
       &GetString<kGeneral, &G::state_dir>},
      {"general", "log_level", "Lowest level logged: debug, info, warn or error.",
       Value(std::string("info")), &SetLogLevel, &GetLogLevel},
      IntOption<kGeneral, &G::workers>(
          "general", "workers", 0, 0, 256,
          "Worker threads (one event loop each); 0 = one per CPU core."),
      IntOption<kGeneral, &G::shutdown_timeout_s>(
          "general", "shutdown_timeout_s", 10, 0, 3600,
          "On SIGTERM/SIGINT: seconds to let in-flight transactions finish before stopping."),
      // [sip]
      {"sip", "domains",
       "Served SIP domains (requests for others are proxied or refused); empty = accept any "
       "domain (development only).",
       Value(Strings{}), &SetDomains, &GetDomains},
      {"sip", "udp",
       "UDP listen addresses, \"ip:port\" or \"[ipv6]:port\" (port defaults to 5060).",
       Value(Strings{"127.0.0.1:5060"}), &SetAddresses<kSip, &P::udp, 5060>,
       &GetAddresses<kSip, &P::udp>},
      {"sip", "tcp", "TCP listen addresses (port defaults to 5060).",
       Value(Strings{"127.0.0.1:5060"}), &SetAddresses<kSip, &P::tcp, 5060>,
       &GetAddresses<kSip, &P::tcp>},
      {"sip", "tls", "TLS listen addresses (port defaults to 5061).",
       Value(Strings{"127.0.0.1:5061"}), &SetAddresses<kSip, &P::tls, 5061>,
       &GetAddresses<kSip, &P::tls>},
      {"sip", "advertised_host",
       "Host put in Via and Record-Route (a public name or address); empty = the listen address.",
       Value(std::string()), &SetAdvertisedHost, &GetAdvertisedHost},
      IntOption<kSip, &P::max_message_bytes>(
          "sip", "max_message_bytes", 65535, 1024, 4194304,
          "Largest SIP message accepted (headers + body), bytes."),
      IntOption<kSip, &P::max_headers>("sip", "max_headers", 100, 10, 1000,
                                       "Most header fields accepted in one message."),
      IntOption<kSip, &P::max_header_line>("sip", "max_header_line", 8192, 256, 65535,
                                           "Longest header field (after unfolding), bytes."),
      IntOption<kSip, &P::tcp_idle_timeout_s>("sip", "tcp_idle_timeout_s", 300, 1, 86400,
                                              "Close TCP/TLS connections idle this long, seconds."),
      IntOption<kSip, &P::max_connections>("sip", "max_connections", 10000, 1, 1000000,
                                           "Most open TCP/TLS connections in total."),
      IntOption<kSip, &P::max_connections_per_peer>(
          "sip", "max_connections_per_peer", 32, 1, 1000000,
          "Most open TCP/TLS connections from one peer IP address."),
      IntOption<kSip, &P::t1_ms>("sip", "t1_ms", 500, 1, 60000,
                                 "RFC 3261 T1: round-trip estimate, milliseconds."),
      IntOption<kSip, &P::t2_ms>("sip", "t2_ms", 4000, 1, 600000,
                                 "RFC 3261 T2: longest non-INVITE retransmit interval, ms."),
      IntOption<kSip, &P::t4_ms>("sip", "t4_ms", 5000, 1, 600000,
                                 "RFC 3261 T4: how long a message may linger in the network, ms."),
      IntOption<kSip, &P::min_expires>(
          "sip", "min_expires", 60, 1, 86400,
          "Shortest registration accepted (shorter gets 423), seconds."),
      IntOption<kSip, &P::default_expires>(
          "sip", "default_expires", 3600, 1, 604800,
          "Registration lifetime when the REGISTER asks for none, seconds."),
      IntOption<kSip, &P::max_expires>("sip", "max_expires", 7200, 1, 604800,
                                       "Longest registration granted (longer is cut), seconds."),
      IntOption<kSip, &P::max_forwards>("sip", "max_forwards", 70, 1, 255,
                                        "Max-Forwards put in requests we originate."),
      {"sip", "digest_algorithms",
       "Digest algorithms offered (one challenge each, in order) and accepted: \"SHA-256\", "
       "\"MD5\"; [\"MD5\"] for phones that read only the first challenge.",
       Value(Strings{"SHA-256", "MD5"}), &SetDigestAlgorithms, &GetDigestAlgorithms},
      // [tls]
      {"tls", "certificate",
       "PEM certificate (chain) file; empty together with key = a self-signed pair generated in "
       "state_dir.",
       Value(std::string()), &SetPath<kTls, &T::certificate, true>,
       &GetString<kTls, &T::certificate>},
      {"tls", "key", "PEM private key file (unencrypted) matching the certificate.",
       Value(std::string()), &SetPath<kTls, &T::key, true>, &GetString<kTls, &T::key>},
      {"tls", "ca", "PEM bundle of CAs trusted for peer and client certificates; empty = none.",
       Value(std::string()), &SetPath<kTls, &T::ca, true>, &GetString<kTls, &T::ca>},
      {"tls", "verify_clients", "Mutual TLS: require a client certificate signed by a CA in ca.",
       Value(false), &SetBool<kTls, &T::verify_clients>, &GetBool<kTls, &T::verify_clients>},
      {"tls", "min_version", "Lowest TLS version accepted: \"1.2\" or \"1.3\".",
       Value(std::string("1.2")), &SetTlsVersion, &GetTlsVersion},
      // [dns]
      {"dns", "servers",
       "DNS servers, \"ip\" or \"ip:port\" (port defaults to 53); empty = /etc/resolv.conf.",
       Value(Strings{}), &SetAddresses<kDns, &D::servers, 53>, &GetAddresses<kDns, &D::servers>},
      IntOption<kDns, &D::timeout_ms>("dns", "timeout_ms", 2000, 1, 60000,
                                      "Time to wait for one DNS answer, milliseconds."),
      IntOption<kDns, &D::tries>("dns", "tries", 3, 1, 10,
                                 "Attempts per DNS query (per server) before giving up."),
      // [lync]
      IntOption<kLync, &L::keep_alive_s>(
          "lync", "keep_alive_s", 300, 30, 3600,
          "Keep-alive interval clients are told to use on their connection (ms-keep-alive), "
          "seconds."),
      {"lync", "server_name",
       "Name clients connect to (MS-SIPAE targetname and NTLM server name); empty = the first "
       "DNS name of the TLS certificate.",
       Value(std::string()), &SetServerName, &GetString<kLync, &L::server_name>},
      {"lync", "blocked_clients",
       "Client version policy on REGISTER User-Agent, first match decides: \"UCCAPI/15.0\" blocks "
       "UCCAPI below 15.0, \"allow OC/>=16.0\" allows, \"*\" blocks all.",
       Value(Strings{}), &SetBlockedClients, &GetBlockedClients},
      // [xmpp]
      {"xmpp", "mode",
       "\"off\", \"s2s\" (federate directly with XMPP servers) or \"component\" (XEP-0114 "
       "under a local XMPP server).",
       Value(std::string("off")), &SetXmppMode, &GetXmppMode},
      {"xmpp", "listen", "s2s listen addresses, \"ip:port\" (port defaults to 5269).",
       Value(Strings{"127.0.0.1:5269"}), &SetAddresses<kXmpp, &X::listen, 5269>,
       &GetAddresses<kXmpp, &X::listen>},
      {"xmpp", "domains",
       "Local domains as \"sip_domain=xmpp_domain\" or \"domain\" (same both sides); empty = "
       "every sip.domains entry.",
       Value(Strings{}), &SetXmppDomains, &GetXmppDomains},
      {"xmpp", "federation",
       "Remote XMPP domains reachable: \"open\" (any) or \"allow-list\" (federated_domains).",
       Value(std::string("allow-list")), &SetFederation, &GetFederation},
      {"xmpp", "federated_domains", "Remote XMPP domains allowed when federation = \"allow-list\".",
       Value(Strings{}), &SetDomainList<&X::federated_domains>,
       &GetDomainList<&X::federated_domains>},
      {"xmpp", "blocked_domains",
       "Remote XMPP domains always refused, even when federated or with open federation.",
       Value(Strings{}), &SetDomainList<&X::blocked_domains>, &GetDomainList<&X::blocked_domains>},
      {"xmpp", "dialback_secret",
       "XEP-0185 dialback key secret; empty = a random one per start (fine for one process).",
       Value(std::string()), &SetPath<kXmpp, &X::dialback_secret, true>,
       &GetString<kXmpp, &X::dialback_secret>},
      {"xmpp", "require_tls",
       "Refuse s2s streams without TLS (RFC 6120 5.3.1); the certificate is the [tls] one.",
       Value(true), &SetBool<kXmpp, &X::require_tls>, &GetBool<kXmpp, &X::require_tls>},
      {"xmpp", "static_routes",
       "Remote domains reached at fixed addresses instead of DNS SRV: \"domain=ip:port\".",
       Value(Strings{}), &SetStaticRoutes, &GetStaticRoutes},
      {"xmpp", "resource", "JID resource Lync users send from (\"\" = their bare JID).",
       Value(std::string("lync")), &SetResource, &GetString<kXmpp, &X::resource>},
      IntOption<kXmpp, &X::receipt_wait_ms>(
          "xmpp", "receipt_wait_ms", 5000, 0, 120000,
          "How long a SIP MESSAGE to XMPP waits for a receipt or error before 202, ms."),
      IntOption<kXmpp, &X::max_queued_per_domain>(
          "xmpp", "max_queued_per_domain", 1000, 1, 1000000,
          "Stanzas held for one remote domain while its stream comes up."),
      IntOption<kXmpp, &X::idle_timeout_s>("xmpp", "idle_timeout_s", 600, 10, 86400,
                                           "Close s2s streams idle this long, seconds."),
      IntOption<kXmpp, &X::retry_queued_for_s>(
          "xmpp", "retry_queued_for_s", 0, 0, 3600,
          "After a failed connect, keep stanzas younger than this for the retry; 0 = bounce."),
      {"xmpp", "component_host", "Component mode: the XMPP server's host.",
       Value(std::string("127.0.0.1")), &SetComponentHost, &GetString<kXmpp, &X::component_host>},
      IntOption<kXmpp, &X::component_port>("xmpp", "component_port", 5347, 1, 65535,
                                           "Component mode: the XMPP server's component port."),
      {"xmpp", "component_secret", "Component mode: the shared secret (XEP-0114 handshake).",
       Value(std::string()), &SetPath<kXmpp, &X::component_secret, true>,
       &GetString<kXmpp, &X::component_secret>},
      {"xmpp", "component_domain", "Component mode: the component's JID domain.",
       Value(std::string()), &SetComponentDomain, &GetString<kXmpp, &X::component_domain>},
      // [metrics]
      {"metrics", "listen",
       "Address of the metrics endpoint, \"ip:port\" (port defaults to 9464); \"\" = off. Keep it "
       "on loopback or a management network: it is plain HTTP without authentication.",
       Value(std::string("127.0.0.1:9464")), &SetMetricsListen, &GetMetricsListen},
      // [turn]
      {"turn", "udp", "STUN/TURN UDP listen addresses (port defaults to 3478); [] = none.",
       Value(Strings{"127.0.0.1:3478"}), &SetAddresses<kTurn, &U::udp, 3478>,
       &GetAddresses<kTurn, &U::udp>},
      {"turn", "tcp", "STUN/TURN TCP listen addresses (port defaults to 3478); [] = none.",
       Value(Strings{"127.0.0.1:3478"}), &SetAddresses<kTurn, &U::tcp, 3478>,
       &GetAddresses<kTurn, &U::tcp>},
      {"turn", "tls",
       "STUN/TURN over TLS listen addresses (port defaults to 5349; the [tls] certificate); "
       "[] = none.",
       Value(Strings{}), &SetAddresses<kTurn, &U::tls, 5349>, &GetAddresses<kTurn, &U::tls>},
      {"turn", "relay_addresses",
       "IP addresses relayed ports are opened on (one per family); [] = the listen addresses' IPs.",
       Value(Strings{}), &SetRelayAddresses, &GetRelayAddresses},
      {"turn", "public_host",
       "Host name or IP clients are told to reach the relay at (MRAS, `causeway turn "
       "credentials`); \"\" = the first listen address.",
       Value(std::string()), &SetTurnPublicHost, &GetString<kTurn, &U::public_host>},
      IntOption<kTurn, &U::port_min>("turn", "port_min", 49152, 1024, 65535,
                                     "Lowest relayed port."),
      IntOption<kTurn, &U::port_max>("turn", "port_max", 65535, 1024, 65535,
                                     "Highest relayed port."),
      {"turn", "realm",
       "REALM of the long-term credentials; \"\" = the first sip.domains entry, else "
       "\"causeway\".",
       Value(std::string()), &SetTurnRealm, &GetString<kTurn, &U::realm>},
      {"turn", "secret",
       "Shared secret of time-limited credentials (username \"<expiry>:<user>\", password "
       "base64(HMAC-SHA1(secret, username)), as coturn's use-auth-secret); \"\" = generated "
       "once in state_dir/turn-secret.",
       Value(std::string()), &SetPath<kTurn, &U::secret, true>, &GetString<kTurn, &U::secret>},
      {"turn", "users", "Static long-term users, \"name:password\".", Value(Strings{}),
       &SetTurnUsers, &GetTurnUsers},
      {"turn", "allow_peers",
       "Peer address ranges relayed to despite the default deny list (loopback, private, "
       "link-local, multicast, the relay's own addresses...), e.g. [\"127.0.0.0/8\"].",
       Value(Strings{}), &SetAllowPeers, &GetAllowPeers},
      IntOption<kTurn, &U::credential_ttl_s>(
          "turn", "credential_ttl_s", 28800, 60, 604800,
          "Lifetime of the credentials handed out (MRAS answers, `causeway turn credentials`), "
          "seconds."),
      IntOption<kTurn, &U::max_allocations>("turn", "max_allocations", 10000, 1, 1000000,
                                            "Most allocations in the relay; over it: 508."),
      IntOption<kTurn, &U::max_allocations_per_user>(
          "turn", "max_allocations_per_user", 32, 1, 1000000,
          "Most allocations one user holds at once; over it: 486."),
      IntOption<kTurn, &U::max_allocations_per_ip>(
          "turn", "max_allocations_per_ip", 64, 1, 1000000,
          "Most allocations from one client IP address at once; over it: 486."),
      IntOption<kTurn, &U::default_lifetime_s>(
          "turn", "default_lifetime_s", 600, 60, 3600,
          "Allocation lifetime when the client asks less or nothing (RFC 8656: 600), seconds."),
      IntOption<kTurn, &U::max_lifetime_s>("turn", "max_lifetime_s", 3600, 60, 86400,
                                           "Longest allocation lifetime granted, seconds."),
      IntOption<kTurn, &U::nonce_lifetime_s>(
          "turn", "nonce_lifetime_s", 600, 10, 86400,
          "How long a NONCE stays valid before requests get 438 and a fresh one, seconds."),
  };
  return *options;
}

const Option* FindOption(std::string_view section, std::string_view key) {
  for (const Option& o : Options()) {
    if (o.section == section && o.key == key) return &o;
  }
  return nullptr;
}

bool IsKnownSection(std::string_view name) {
  for (const Section& s : kSections) {
    if (s.name == name) return true;
  }
  return false;
}

// Stores `value` into `config` after the range check; "" or the error text.
std::string Apply(const Option& option, const Value& value, GatewayConfig& config) {
  if (const int64_t* i = std::get_if<int64_t>(&value)) {
    if (*i < option.min || *i > option.max) {
      return absl::StrCat(*i, " is out of range [", option.min, ", ", option.max, "]");
    }
  }
  return option.set(value, config);
}

// [xmpp] rules across options; only when the edge is on.
std::string CheckXmpp(const GatewayConfig& c) {
  const XmppConfig& x = c.xmpp;
  if (x.mode == XmppMode::kOff) return "";
  if (x.mode == XmppMode::kComponent) {
    if (x.component_secret.empty()) return "xmpp.component_secret: must be set in component mode";
    if (x.component_domain.empty()) return "xmpp.component_domain: must be set in component mode";
  }
  if (x.mode == XmppMode::kS2s && x.listen.empty()) {
    return "xmpp.listen: needs at least one address in s2s mode";
  }
  if (x.domains.empty() && c.sip.domains.empty()) {
    return "xmpp.domains: must be set when sip.domains is empty (any domain)";
  }
  absl::StatusOr<mappings::DomainMap> map = MakeDomainMap(c);
  if (!map.ok()) return absl::StrCat("xmpp.domains: ", map.status().message());
  return "";
}

// [turn] rules across options.
std::string CheckTurn(const GatewayConfig& c) {
  const TurnConfig& t = c.turn;
  if (t.port_min > t.port_max) {
    return absl::StrCat("turn.port_max: ", t.port_max, " is less than turn.port_min (", t.port_min,
                        ")");
  }
  if (t.default_lifetime_s > t.max_lifetime_s) {
    return absl::StrCat("turn.max_lifetime_s: ", t.max_lifetime_s,
                        " is less than turn.default_lifetime_s (", t.default_lifetime_s, ")");
  }
  for (const NetAddress& a : t.tls) {
    if (std::find(t.tcp.begin(), t.tcp.end(), a) != t.tcp.end()) {
      return absl::StrCat("turn.tls: ", a.ToString(), " is also a turn.tcp listen address");
    }
  }
  for (const NetAddress& a : t.tcp) {
    for (const auto* sip : {&c.sip.tcp, &c.sip.tls}) {
      if (std::find(sip->begin(), sip->end(), a) != sip->end()) {
        return absl::StrCat("turn.tcp: ", a.ToString(), " is also a SIP listen address");
      }
    }
  }
  for (const NetAddress& a : t.udp) {
    if (std::find(c.sip.udp.begin(), c.sip.udp.end(), a) != c.sip.udp.end()) {
      return absl::StrCat("turn.udp: ", a.ToString(), " is also a sip.udp listen address");
    }
  }
  return "";
}

// Cross-option rules that no single option can check.
std::string CheckConsistency(const GatewayConfig& c) {
  const SipConfig& s = c.sip;
  if (s.udp.empty() && s.tcp.empty() && s.tls.empty()) {
    return "sip: no listeners (sip.udp, sip.tcp and sip.tls are all empty)";
  }
  for (const NetAddress& a : s.tls) {
    if (std::find(s.tcp.begin(), s.tcp.end(), a) != s.tcp.end()) {
      return absl::StrCat("sip.tls: ", a.ToString(), " is also a sip.tcp listen address");
    }
  }
  if (s.t2_ms < s.t1_ms) {
    return absl::StrCat("sip.t2_ms: ", s.t2_ms, " is less than sip.t1_ms (", s.t1_ms, ")");
  }
  if (s.max_header_line > s.max_message_bytes) {
    return absl::StrCat("sip.max_header_line: ", s.max_header_line,
                        " is more than sip.max_message_bytes (", s.max_message_bytes, ")");
  }
  if (s.max_connections_per_peer > s.max_connections) {
    return absl::StrCat("sip.max_connections_per_peer: ", s.max_connections_per_peer,
                        " is more than sip.max_connections (", s.max_connections, ")");
  }
  if (s.min_expires > s.default_expires) {
    return absl::StrCat("sip.default_expires: ", s.default_expires,
                        " is less than sip.min_expires (", s.min_expires, ")");
  }
  if (s.default_expires > s.max_expires) {
    return absl::StrCat("sip.max_expires: ", s.max_expires, " is less than sip.default_expires (",
                        s.default_expires, ")");
  }
  if (c.tls.certificate.empty() != c.tls.key.empty()) {
    return c.tls.key.empty() ? "tls.key: must be set when tls.certificate is set"
                             : "tls.certificate: must be set when tls.key is set";
  }
  if (c.tls.verify_clients && c.tls.ca.empty()) {
    return "tls.verify_clients: requires tls.ca (the CAs client certificates must chain to)";
  }
  if (c.metrics.listen) {
    const NetAddress& m = *c.metrics.listen;
    for (const auto* stream : {&s.tcp, &s.tls}) {
      if (std::find(stream->begin(), stream->end(), m) != stream->end()) {
        return absl::StrCat("metrics.listen: ", m.ToString(), " is also a sip.",
                            stream == &s.tcp ? "tcp" : "tls", " listen address");
      }
    }
  }
  if (std::string turn = CheckTurn(c); !turn.empty()) return turn;
  return CheckXmpp(c);
}

GatewayConfig ApplyDefaults() {
  GatewayConfig c;
  for (const Option& o : Options()) {
    std::string error = Apply(o, o.default_value, c);
    // A bad default is a programming error caught by the round-trip test.
    if (!error.empty()) {
      log::Error("config", "invalid built-in default",
                 {{"key", absl::StrCat(ToAbsl(o.section), ".", ToAbsl(o.key))}, {"error", error}});
    }
  }
  return c;
}

// The node converted to the option's type, or an error message.
std::variant<Value, std::string> Convert(const Option& option, const toml::node& node) {
  switch (option.default_value.index()) {
    case 0:
      if (const auto* v = node.as_integer()) return Value(v->get());
      return std::string("expected an integer");
    case 1:
      if (const auto* v = node.as_boolean()) return Value(v->get());
      return std::string("expected a boolean (true or false)");
    case 2:
      if (const auto* v = node.as_string()) return Value(v->get());
      return std::string("expected a string");
    default: {
      const toml::array* array = node.as_array();
      if (array == nullptr) return std::string("expected an array of strings");
      if (array->size() > kMaxArrayEntries) {
        return absl::StrCat("more than ", kMaxArrayEntries, " entries");
      }
      Strings out;
      for (const toml::node& element : *array) {
        const auto* s = element.as_string();
        if (s == nullptr) return std::string("expected an array of strings");
        out.push_back(s->get());
      }
      return Value(std::move(out));
    }
  }
}

absl::Status Error(std::string_view source, std::string_view where, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(source), ": ", ToAbsl(where), ": ", ToAbsl(what)));
}

void AppendTomlString(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\r':
        out.append("\\r");
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\u%04x", c);
          out.append(hex);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void AppendTomlValue(std::string& out, const Value& v) {
  switch (v.index()) {
    case 0:
      out.append(std::to_string(std::get<int64_t>(v)));
      break;
    case 1:
      out.append(std::get<bool>(v) ? "true" : "false");
      break;
    case 2:
      AppendTomlString(out, std::get<std::string>(v));
      break;
    default: {
      out.push_back('[');
      const Strings& list = std::get<Strings>(v);
      for (size_t i = 0; i < list.size(); ++i) {
        if (i > 0) out.append(", ");
        AppendTomlString(out, list[i]);
      }
      out.push_back(']');
    }
  }
}

// `value_of` gives each option's value: the default or the one in a config.
template <typename ValueOf>
std::string RenderToml(std::string_view header, ValueOf value_of) {
  std::string out(header);
  for (const Section& section : kSections) {
    out.append("\n# ").append(section.doc).append("\n[").append(section.name).append("]\n");
    for (const Option& o : Options()) {
      if (o.section != section.name) continue;
      out.append("# ").append(o.doc);
      if (o.default_value.index() == 0) {
        out.append(absl::StrCat(" [", o.min, "..", o.max, "]"));
      }
      out.append("\n").append(o.key).append(" = ");
      AppendTomlValue(out, value_of(o));
      out.push_back('\n');
    }
  }
  return out;
}

}  // namespace

std::string_view XmppModeName(XmppMode mode) {
  switch (mode) {
    case XmppMode::kS2s:
      return "s2s";
    case XmppMode::kComponent:
      return "component";
    case XmppMode::kOff:
      break;
  }
  return "off";
}

std::string_view TlsVersionName(TlsVersion version) {
  return version == TlsVersion::k1_3 ? "1.3" : "1.2";
}

GatewayConfig DefaultConfig() {
  static const GatewayConfig* const defaults = new GatewayConfig(ApplyDefaults());
  return *defaults;
}

absl::StatusOr<GatewayConfig> ParseConfig(std::string_view toml_text,
                                          std::string_view source_name) {
  if (toml_text.size() > kMaxConfigBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(source_name), ": larger than ", kMaxConfigBytes, " bytes"));
  }
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& e) {
    const toml::source_position& at = e.source().begin;
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source_name), ":", at.line, ":",
                                                   at.column, ": ", ToAbsl(e.description())));
  }
  GatewayConfig config = DefaultConfig();
  for (const auto& [section_key, section_node] : root) {
    std::string_view section = section_key.str();
    if (!IsKnownSection(section)) return Error(source_name, section, "unknown section");
    const toml::table* table = section_node.as_table();
    if (table == nullptr) return Error(source_name, section, "expected a table ([section])");
    for (const auto& [key_node, node] : *table) {
      std::string_view key = key_node.str();
      std::string where = absl::StrCat(ToAbsl(section), ".", ToAbsl(key));
      const Option* option = FindOption(section, key);
      if (option == nullptr) return Error(source_name, where, "unknown key");
      std::variant<Value, std::string> converted = Convert(*option, node);
      if (const std::string* error = std::get_if<std::string>(&converted)) {
        return Error(source_name, where, *error);
      }
      std::string error = Apply(*option, std::get<Value>(converted), config);
      if (!error.empty()) return Error(source_name, where, error);
    }
  }
  if (std::string error = CheckConsistency(config); !error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(ToAbsl(source_name), ": ", error));
  }
  return config;
}

absl::StatusOr<GatewayConfig> LoadConfigFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(path), ": cannot read: ", std::strerror(errno)));
  }
  std::string text;
  char buf[16384];
  bool too_big = false;
  while (size_t n = std::fread(buf, 1, sizeof buf, file)) {
    text.append(buf, n);
    if (text.size() > kMaxConfigBytes) {
      too_big = true;
      break;
    }
  }
  bool read_error = std::ferror(file) != 0;
  int saved_errno = errno;
  std::fclose(file);
  if (read_error) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(path), ": cannot read: ", std::strerror(saved_errno)));
  }
  if (too_big) {
    return absl::InvalidArgumentError(
        absl::StrCat(ToAbsl(path), ": larger than ", kMaxConfigBytes, " bytes"));
  }
  return ParseConfig(text, path);
}

std::string DefaultConfigToml() {
  return RenderToml(
      "# Causeway configuration: every option with its default value.\n"
      "# Unknown keys, wrong types and out-of-range values are errors.\n",
      [](const Option& o) { return o.default_value; });
}

std::string ConfigToToml(const GatewayConfig& config) {
  return RenderToml("# Causeway configuration (effective values).\n",
                    [&config](const Option& o) { return o.get(config); });
}

int EffectiveWorkers(const GeneralConfig& general) {
  if (general.workers > 0) return general.workers;
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

std::vector<OptionInfo> ListOptions() {
  std::vector<OptionInfo> out;
  for (const Option& o : Options()) {
    out.push_back({o.section, o.key, TypeName(o.default_value), o.doc});
  }
  return out;
}

}  // namespace causeway::gateway
