#pragma once
// TLS context factory. Contexts are built once on the main thread from files and handed to workers
// as shared_ptr (asio::ssl::context is safe to share for handshakes once configured).

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include "absl/status/statusor.h"

typedef struct ssl_st SSL;

namespace causeway::runtime {

// Mozilla "intermediate" TLS 1.2 suites plus the CBC-SHA384/256 ECDHE suites older Schannel
// (Lync 2013 / Windows 2012) offers. TLS 1.3 suites are OpenSSL's defaults.
inline constexpr std::string_view kDefaultTlsCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256";

struct TlsContextOptions {
  // PEM chain (leaf first) and key. Required for a server; optional for a client (mutual TLS).
  std::string certificate_chain_file;
  std::string private_key_file;
  // PEM bundle of trusted CAs. Empty = the system default trust store.
  std::string ca_file;
  // Client: verify the server chain. Server: request a client certificate and verify it if sent.
  bool verify_peer = true;
  // Server only (mutual TLS): fail the handshake when the client sends no certificate.
  bool require_peer_certificate = false;
  std::string ciphers = std::string(kDefaultTlsCiphers);
  // Lowest protocol version accepted: TLS1_2_VERSION or TLS1_3_VERSION (never below 1.2).
  int min_version = 0x0303;  // TLS1_2_VERSION; the value avoids pulling OpenSSL into this header
};

using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// Errors name the file: "cannot read certificate /x/y.pem: No such file or directory".
absl::StatusOr<TlsContextPtr> MakeTlsServerContext(const TlsContextOptions& options);
absl::StatusOr<TlsContextPtr> MakeTlsClientContext(const TlsContextOptions& options);

// The verified peer's identity after a handshake: the first subjectAltName DNS (or URI) entry,
// else the subject CN. Empty when there is no peer certificate or it did not verify.
std::string TlsVerifiedPeerIdentity(SSL* ssl);

}  // namespace causeway::runtime
