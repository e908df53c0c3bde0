#pragma once
// Translates the validated GatewayConfig into the option structs of the runtime, the SIP
// transports and the SIP server, so the composition root's services only build objects.
// Pure functions: nothing is started or opened here.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/runtime/runtime.h"
#include "core/runtime/tls_context.h"
#include "gateway/certificates.h"
#include "gateway/config.h"
#include "mappings/address_map.h"
#include "sip/io/transport_options.h"
#include "sip/lync/security_layer.h"
#include "sip/stack/sip_server.h"
#include "xmpp/component/component_connection.h"
#include "xmpp/io/s2s_service.h"
#include "xmpp/io/s2s_tls.h"

namespace causeway::gateway {

// general.workers (0 = one per core, resolved by the runtime).
runtime::RuntimeOptions MakeRuntimeOptions(const GatewayConfig& config);

// The TLS listeners' identity: the prepared certificate; tls.ca and tls.verify_clients for mutual
// TLS (a client certificate is only requested when verify_clients is set).
runtime::TlsContextOptions MakeTlsServerOptions(const GatewayConfig& config,
                                                const CertificateInfo& certificate);
// Outgoing TLS: verify servers against tls.ca (or the system store when empty) and present our
// certificate to peers that ask (server-to-server mutual TLS).
runtime::TlsContextOptions MakeTlsClientOptions(const GatewayConfig& config,
                                                const CertificateInfo& certificate);

// Listeners (udp, tcp, tls), parser limits, idle timeout and connection caps. The TLS contexts and
// the shared ConnectionLimiter are left for the caller to create once and share. An IP-literal
// sip.advertised_host becomes each listener's advertised address (with the listener's port); a
// host name cannot be expressed in ListenConfig and is left to MakeSipServerOptions.
sip::SipTransportOptions MakeSipTransportOptions(const GatewayConfig& config);

// Served domains, registrar expiries, Max-Forwards and RFC 3261 timers. sip.advertised_host (name
// or address) is added to local_hosts so requests addressed to it are ours.
sip::SipServerOptions MakeSipServerOptions(const GatewayConfig& config);

// MS-SIPAE: the targetname clients sign in to (lync.server_name, else the certificate's first DNS
// name, else "localhost") and the NTLM server names derived from it and the first served domain.
std::string LyncServerName(const GatewayConfig& config, const CertificateInfo& certificate);
sip::lync::SecurityLayerOptions MakeSecurityLayerOptions(const GatewayConfig& config,
                                                         const CertificateInfo& certificate,
                                                         const std::vector<std::string>& domains);

// ---- [xmpp] ----

// The local {sip, xmpp} domain pairs (xmpp.domains, else an identity pair per sip.domains entry)
// and the federation policy, xmpp.blocked_domains included (blocked beats federated and open
// federation), so the SIP side never routes a blocked domain to XMPP. InvalidArgument from
// DomainMap::Create (a malformed or repeated name, a federated or blocked domain that is local).
// In component mode the one local XMPP domain is xmpp.component_domain (the server routes only
// that domain to us): xmpp.domains must be one pair naming it, or empty with one sip.domains
// entry, which is then paired with it.
absl::StatusOr<mappings::DomainMap> MakeDomainMap(const GatewayConfig& config);

// The JID domains the XMPP edge serves (the xmpp side of MakeDomainMap's local pairs), in order.
std::vector<std::string> LocalXmppDomains(const GatewayConfig& config);

// Component mode: the XMPP server's component listener, the component domain and secret; queued
// stanzas wait xmpp.retry_queued_for_s for the link and at most xmpp.max_queued_per_domain of
// them are held (the component is one stream, i.e. one "domain").
xmpp::component::ComponentConfig MakeComponentConfig(const GatewayConfig& config);

// Listeners, limits, timeouts, static routes and the dialback secret of the s2s service for
// `local_domains`; `tls` is left null for the caller to fill from MakeS2sTlsOptions (loading
// the files is not pure). An empty xmpp.dialback_secret becomes a random one drawn once per
// process, so every worker's service shares it.
xmpp::io::S2sServiceConfig MakeS2sServiceConfig(const GatewayConfig& config,
                                                const std::vector<std::string>& local_domains);

// The s2s certificate of every local XMPP domain is the gateway's TLS certificate; peers are
// verified against tls.ca (empty = the system store), TLS at least tls.min_version.
std::vector<xmpp::io::S2sDomainTlsOptions> MakeS2sTlsOptions(
    const GatewayConfig& config, const CertificateInfo& certificate,
    const std::vector<std::string>& local_domains);

}  // namespace causeway::gateway
