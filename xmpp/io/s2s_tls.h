#pragma once
// TLS material of the s2s service: per local domain a server context (its certificate, the CA
// bundle that verifies peers' client certificates) and a client context (the same certificate,
// presented for SASL EXTERNAL, and the CA bundle that verifies receiving servers). Built once on
// the main thread and shared by every worker's S2sService as an immutable snapshot.
//
// Inbound handshakes start on the first domain's server context and switch to the domain the
// client names with SNI (RFC 6066), which is how an initiating server asks for our certificate
// for `to` (RFC 6120 §13.7.2.1). Peer certificates are requested but optional on both sides:
// the handshake succeeds whatever the chain, and PeerTlsInfo says whether it verified, so the
// stream machine can fall back to dialback instead of failing the connection.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/runtime/tls_context.h"
#include "xmpp/s2s/certificate.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace causeway::xmpp::io {

struct S2sDomainTlsOptions {
  std::string domain;
  // Certificate chain + key for the domain, CA bundle for peers (empty = system store).
  runtime::TlsContextOptions tls;
};

class S2sTls {
 public:
  static absl::StatusOr<std::shared_ptr<const S2sTls>> Create(
      const std::vector<S2sDomainTlsOptions>& domains);
  ~S2sTls();
  S2sTls(const S2sTls&) = delete;
  S2sTls& operator=(const S2sTls&) = delete;

  // The context inbound handshakes start with (SNI switches it); nullptr without domains.
  const runtime::TlsContextPtr& server_context() const { return default_server_; }
  // The client context presenting `local_domain`'s certificate; nullptr when unknown.
  runtime::TlsContextPtr client_context(std::string_view local_domain) const;
  runtime::TlsContextPtr server_context(std::string_view local_domain) const;
  bool empty() const { return domains_.empty(); }

 private:
  struct Domain {
    runtime::TlsContextPtr server;
    runtime::TlsContextPtr client;
  };
  S2sTls() = default;
  static int OnServerName(SSL* ssl, int* alert, void* arg);

  absl::flat_hash_map<std::string, Domain> domains_;
  runtime::TlsContextPtr default_server_;
};

// What the finished handshake learned about the peer's certificate (RFC 6120 §13.7.1.4 names:
// SAN dNSName, SRVName, XmppAddr; the subject CN), and whether its chain verified.
s2s::TlsInfo PeerTlsInfo(SSL* ssl);

}  // namespace causeway::xmpp::io
