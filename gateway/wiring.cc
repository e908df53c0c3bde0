#include "gateway/wiring.h"

#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <chrono>
#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"

namespace causeway::gateway {
namespace {

int MinTlsProtocol(const GatewayConfig& config) {
  return config.tls.min_version == TlsVersion::k1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
}

// sip.advertised_host as an address, if it is an IP literal ("[v6]" form is accepted).
std::optional<NetAddress> AdvertisedAddress(const SipConfig& sip, uint16_t port) {
  if (sip.advertised_host.empty()) return std::nullopt;
  std::optional<NetAddress> a = NetAddress::Parse(sip.advertised_host);
  if (!a) return std::nullopt;
  a->set_port(port);
  return a;
}

void AddListeners(const SipConfig& sip, const std::vector<NetAddress>& addresses,
                  sip::TransportKind kind, sip::SipTransportOptions& out) {
  for (const NetAddress& address : addresses) {
    sip::ListenConfig listen;
    listen.kind = kind;
    listen.address = address;
    listen.advertised = AdvertisedAddress(sip, address.port());
    out.listen.push_back(listen);
  }
}

// The Digest nonce key every worker's SecurityLayer shares (a nonce issued by one worker must
// verify on another): 32 random bytes, drawn once per process on first use.
const std::string& ProcessDigestSecret() {
  static const std::string secret = [] {
    std::string s(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(s.size())) != 1) {
      s.clear();  // each layer then draws its own: nonces only verify on the issuing worker
    }
    return s;
  }();
  return secret;
}

// The dialback secret when xmpp.dialback_secret is empty: 32 random bytes, hex, drawn once per
// process (keys issued by one worker's streams verify on another's).
const std::string& ProcessDialbackSecret() {
  static const std::string secret = [] {
    std::string raw(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(raw.size())) !=
        1) {
      return std::string();  // dialback off: SASL EXTERNAL only
    }
    return absl::BytesToHexString(raw);
  }();
  return secret;
}

}  // namespace

runtime::RuntimeOptions MakeRuntimeOptions(const GatewayConfig& config) {
  runtime::RuntimeOptions options;
  options.workers = static_cast<size_t>(config.general.workers);
  return options;
}

runtime::TlsContextOptions MakeTlsServerOptions(const GatewayConfig& config,
                                                const CertificateInfo& certificate) {
  runtime::TlsContextOptions options;
  options.certificate_chain_file = certificate.certificate_path;
  options.private_key_file = certificate.key_path;
  options.ca_file = config.tls.ca;
  options.verify_peer = config.tls.verify_clients;
  options.require_peer_certificate = config.tls.verify_clients;
  options.min_version = MinTlsProtocol(config);
  return options;
}

runtime::TlsContextOptions MakeTlsClientOptions(const GatewayConfig& config,
                                                const CertificateInfo& certificate) {
  runtime::TlsContextOptions options;
  options.certificate_chain_file = certificate.certificate_path;
  options.private_key_file = certificate.key_path;
  options.ca_file = config.tls.ca;
  options.verify_peer = true;
  options.min_version = MinTlsProtocol(config);
  return options;
}

sip::SipTransportOptions MakeSipTransportOptions(const GatewayConfig& config) {
  const SipConfig& sip = config.sip;
  sip::SipTransportOptions options;
  AddListeners(sip, sip.udp, sip::TransportKind::kUdp, options);
  AddListeners(sip, sip.tcp, sip::TransportKind::kTcp, options);
  AddListeners(sip, sip.tls, sip::TransportKind::kTls, options);
  options.limits.max_message_bytes = sip.max_message_bytes;
  options.limits.max_headers = sip.max_headers;
  options.limits.max_header_line = sip.max_header_line;
  options.idle_timeout_inbound = std::chrono::seconds(sip.tcp_idle_timeout_s);
  options.idle_timeout_outbound = std::chrono::seconds(sip.tcp_idle_timeout_s);
  options.max_connections = sip.max_connections;
  options.max_connections_per_ip = sip.max_connections_per_peer;
  return options;
}

sip::SipServerOptions MakeSipServerOptions(const GatewayConfig& config) {
  const SipConfig& sip = config.sip;
  sip::SipServerOptions options;
  options.domains = sip.domains;
  if (!sip.advertised_host.empty()) {
    std::string host = sip.advertised_host;
    // local_hosts compare against URI hosts; keep both the bracketed and the bare v6 form.
    if (host.front() == '[') options.local_hosts.push_back(host.substr(1, host.size() - 2));
    options.local_hosts.push_back(host);
  }
  options.registrar.default_expires = std::chrono::seconds(sip.default_expires);
  options.registrar.min_expires = std::chrono::seconds(sip.min_expires);
  options.registrar.max_expires = std::chrono::seconds(sip.max_expires);
  options.proxy.default_max_forwards = static_cast<int>(sip.max_forwards);
  options.timers.t1 = std::chrono::milliseconds(sip.t1_ms);
  options.timers.t2 = std::chrono::milliseconds(sip.t2_ms);
  options.timers.t4 = std::chrono::milliseconds(sip.t4_ms);
  return options;
}

std::string LyncServerName(const GatewayConfig& config, const CertificateInfo& certificate) {
  if (!config.lync.server_name.empty()) return config.lync.server_name;
  for (const std::string& san : certificate.subject_alt_names) {
    if (san.rfind("DNS:", 0) == 0 && san.size() > 4) return san.substr(4);
  }
  return "localhost";
}

sip::lync::SecurityLayerOptions MakeSecurityLayerOptions(const GatewayConfig& config,
                                                         const CertificateInfo& certificate,
                                                         const std::vector<std::string>& domains) {
  sip::lync::SecurityLayerOptions options;
  const std::string server = LyncServerName(config, certificate);
  options.sipae.targetname = server;
  options.digest_secret = ProcessDigestSecret();
  options.digest_algorithms = config.sip.digest_algorithms;
  auto first_label = [](std::string_view name) {
    return absl::AsciiStrToUpper(ToAbsl(name.substr(0, name.find('.'))));
  };
  std::string domain = config.sip.domains.empty()
                           ? (domains.empty() ? std::string() : domains.front())
                           : config.sip.domains.front();
  if (domain.empty() && server.find('.') != std::string::npos) {
    domain = server.substr(server.find('.') + 1);
  }
  options.sipae.names.netbios_computer = first_label(server);
  options.sipae.names.dns_computer = server;
  if (!domain.empty()) {
    options.sipae.names.netbios_domain = first_label(domain);
    options.sipae.names.dns_domain = domain;
    options.sipae.names.dns_tree = domain;
  }
  return options;
}

absl::StatusOr<mappings::DomainMap> MakeDomainMap(const GatewayConfig& config) {
  const XmppConfig& xmpp = config.xmpp;
  mappings::DomainMapConfig map;
  if (xmpp.mode == XmppMode::kComponent && xmpp.domains.empty() && config.sip.domains.size() == 1) {
    map.local.push_back({config.sip.domains.front(), xmpp.component_domain});
  } else if (xmpp.mode == XmppMode::kComponent &&
             (xmpp.domains.size() != 1 ||
              xmpp.domains.front().xmpp_domain != xmpp.component_domain)) {
    return absl::InvalidArgumentError(
        absl::StrCat("component mode serves one XMPP domain: expected one pair \"<sip domain>=",
                     ToAbsl(xmpp.component_domain), "\""));
  } else if (xmpp.domains.empty()) {
    for (const std::string& domain : config.sip.domains) map.local.push_back({domain, domain});
  } else {
    for (const XmppDomainPair& pair : xmpp.domains) {
      map.local.push_back({pair.sip_domain, pair.xmpp_domain});
    }
  }
  map.open_federation = xmpp.open_federation;
  map.federated_domains = xmpp.federated_domains;
  map.blocked_domains = xmpp.blocked_domains;  // overrides both the allow list and open federation
  return mappings::DomainMap::Create(map);
}

std::vector<std::string> LocalXmppDomains(const GatewayConfig& config) {
  std::vector<std::string> out;
  if (config.xmpp.mode == XmppMode::kComponent) return {config.xmpp.component_domain};
  if (config.xmpp.domains.empty()) return config.sip.domains;
  for (const XmppDomainPair& pair : config.xmpp.domains) out.push_back(pair.xmpp_domain);
  return out;
}

xmpp::component::ComponentConfig MakeComponentConfig(const GatewayConfig& config) {
  const XmppConfig& xmpp = config.xmpp;
  xmpp::component::ComponentConfig options;
  options.host = xmpp.component_host;
  options.port = static_cast<uint16_t>(xmpp.component_port);
  options.domain = xmpp.component_domain;
  options.secret = xmpp.component_secret;
  options.max_queued = xmpp.max_queued_per_domain;
  options.retry_queued_for = std::chrono::seconds(xmpp.retry_queued_for_s);
  return options;
}

xmpp::io::S2sServiceConfig MakeS2sServiceConfig(const GatewayConfig& config,
                                                const std::vector<std::string>& local_domains) {
  const XmppConfig& xmpp = config.xmpp;
  xmpp::io::S2sServiceConfig options;
  options.local_domains = local_domains;
  options.listen = xmpp.listen;
  options.dialback_secret =
      xmpp.dialback_secret.empty() ? ProcessDialbackSecret() : xmpp.dialback_secret;
  options.stream.require_tls = xmpp.require_tls;
  options.max_queued_per_domain = xmpp.max_queued_per_domain;
  options.idle_timeout = std::chrono::seconds(xmpp.idle_timeout_s);
  options.retry_queued_for = std::chrono::seconds(xmpp.retry_queued_for_s);
  std::string servers;
  for (const NetAddress& server : config.dns.servers) {
    if (!servers.empty()) servers += ",";
    servers += server.ToString();  // the config gives every server a port (53 by default)
  }
  options.dns.dns.channel.servers = servers;
  options.dns.dns.channel.timeout = std::chrono::milliseconds(config.dns.timeout_ms);
  options.dns.dns.channel.tries = static_cast<int>(config.dns.tries);
  for (const XmppStaticRoute& route : xmpp.static_routes) {
    // Keyed as the s2s layer meets the domain: in JIDs, with U-labels (RFC 7622 §3.2).
    absl::StatusOr<xmpp::Jid> domain = xmpp::Jid::Make("", route.domain);
    options.static_routes[domain.ok() ? domain->domain() : route.domain].push_back(route.address);
  }
  return options;
}

std::vector<xmpp::io::S2sDomainTlsOptions> MakeS2sTlsOptions(
    const GatewayConfig& config, const CertificateInfo& certificate,
    const std::vector<std::string>& local_domains) {
  std::vector<xmpp::io::S2sDomainTlsOptions> out;
  for (const std::string& domain : local_domains) {
    xmpp::io::S2sDomainTlsOptions options;
    options.domain = domain;
    options.tls.certificate_chain_file = certificate.certificate_path;
    options.tls.private_key_file = certificate.key_path;
    options.tls.ca_file = config.tls.ca;
    options.tls.min_version = MinTlsProtocol(config);
    out.push_back(std::move(options));
  }
  return out;
}

}  // namespace causeway::gateway
