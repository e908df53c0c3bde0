#include "core/runtime/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::runtime {
namespace {

namespace ssl = boost::asio::ssl;

// fopen first so a missing/unreadable file yields errno text rather than OpenSSL's "system lib".
absl::Status CheckReadable(std::string_view what, const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", ToAbsl(what), " ", path, ": ", std::strerror(errno)));
  }
  std::fclose(f);
  return absl::OkStatus();
}

absl::Status LoadError(std::string_view what, const std::string& path,
                       const boost::system::error_code& ec) {
  return absl::InvalidArgumentError(
      absl::StrCat("cannot read ", ToAbsl(what), " ", path, ": ", ec.message()));
}

absl::Status Configure(ssl::context& ctx, const TlsContextOptions& options, bool server) {
  boost::system::error_code ec;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                      ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                      ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                      ssl::context::single_dh_use,
                  ec);
  if (ec) return absl::InternalError(absl::StrCat("TLS options: ", ec.message()));
  SSL_CTX* native = ctx.native_handle();
  const int min_version = std::max(options.min_version, TLS1_2_VERSION);
  if (SSL_CTX_set_min_proto_version(native, min_version) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("TLS: cannot set minimum version 0x",
                                                   absl::Hex(min_version)));
  }
  // Renegotiation is an old DoS vector and nothing in SIP needs it.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!options.ciphers.empty() && SSL_CTX_set_cipher_list(native, options.ciphers.c_str()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("TLS: no usable cipher in \"", options.ciphers, "\""));
  }

  if (!options.certificate_chain_file.empty()) {
    if (absl::Status s = CheckReadable("certificate", options.certificate_chain_file); !s.ok()) {
      return s;
    }
    ctx.use_certificate_chain_file(options.certificate_chain_file, ec);
    if (ec) return LoadError("certificate", options.certificate_chain_file, ec);
    const std::string& key_file = options.private_key_file.empty()
                                      ? options.certificate_chain_file
                                      : options.private_key_file;
    if (absl::Status s = CheckReadable("private key", key_file); !s.ok()) return s;
    ctx.use_private_key_file(key_file, ssl::context::pem, ec);
    if (ec && ec.category() == boost::asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
      return absl::InvalidArgumentError(absl::StrCat("private key ", key_file,
                                                     " does not match certificate ",
                                                     options.certificate_chain_file));
    }
    if (ec) return LoadError("private key", key_file, ec);
    if (SSL_CTX_check_private_key(native) != 1) {
      ERR_clear_error();
      return absl::InvalidArgumentError(absl::StrCat("private key ", key_file,
                                                     " does not match certificate ",
                                                     options.certificate_chain_file));
    }
  } else if (server) {
    return absl::InvalidArgumentError("TLS server: certificate_chain_file is required");
  }

  if (!options.ca_file.empty()) {
    if (absl::Status s = CheckReadable("CA file", options.ca_file); !s.ok()) return s;
    ctx.load_verify_file(options.ca_file, ec);
    if (ec) return LoadError("CA file", options.ca_file, ec);
    if (server) {
      // Tells clients which CAs we accept, so they pick the right certificate.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str());
      if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);
      ERR_clear_error();
    }
  } else if (options.verify_peer) {
    ctx.set_default_verify_paths(ec);
    if (ec) return absl::InternalError(absl::StrCat("TLS default CA paths: ", ec.message()));
  }

  ssl::verify_mode mode = ssl::verify_none;
  if (options.verify_peer) {
    mode = ssl::verify_peer;
    if (server && options.require_peer_certificate) mode |= ssl::verify_fail_if_no_peer_cert;
  }
  ctx.set_verify_mode(mode, ec);
  if (ec) return absl::InternalError(absl::StrCat("TLS verify mode: ", ec.message()));
  if (server) {
    // Needed for session resumption when client certificates are verified.
    static constexpr unsigned char kSessionContext[] = "causeway";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<TlsContextPtr> Make(const TlsContextOptions& options, bool server) {
  auto ctx = std::make_shared<ssl::context>(server ? ssl::context::tls_server
                                                   : ssl::context::tls_client);
  if (absl::Status s = Configure(*ctx, options, server); !s.ok()) return s;
  return ctx;
}

std::string Asn1ToString(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
}

}  // namespace

absl::StatusOr<TlsContextPtr> MakeTlsServerContext(const TlsContextOptions& options) {
  return Make(options, /*server=*/true);
}

absl::StatusOr<TlsContextPtr> MakeTlsClientContext(const TlsContextOptions& options) {
  return Make(options, /*server=*/false);
}

std::string TlsVerifiedPeerIdentity(SSL* ssl) {
  if (ssl == nullptr) return {};
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr) return {};
  std::string identity;
  if (SSL_get_verify_result(ssl) == X509_V_OK) {
    auto* names = static_cast<GENERAL_NAMES*>(
        X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
    if (names != nullptr) {
      int count = sk_GENERAL_NAME_num(names);
      for (int i = 0; i < count && identity.empty(); ++i) {
        const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) identity = Asn1ToString(name->d.dNSName);
        else if (name->type == GEN_URI) identity = Asn1ToString(name->d.uniformResourceIdentifier);
      }
      GENERAL_NAMES_free(names);
    }
    if (identity.empty()) {
      X509_NAME* subject = X509_get_subject_name(cert);
      int index = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
      if (index >= 0) {
        identity = Asn1ToString(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
      }
    }
  }
  X509_free(cert);
  return identity;
}

}  // namespace causeway::runtime
