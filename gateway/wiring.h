#pragma once
// Translates the validated GatewayConfig into the option structs of the runtime, the SIP
// transports and the SIP server, so the composition root's services only build objects.
// Pure functions: nothing is started or opened here.

#include "core/runtime/runtime.h"
#include "core/runtime/tls_context.h"
#include "gateway/certificates.h"
#include "gateway/config.h"
#include "sip/io/transport_options.h"
#include "sip/lync/security_layer.h"
#include "sip/stack/sip_server.h"

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

}  // namespace causeway::gateway
