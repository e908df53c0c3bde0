#include "xmpp/io/s2s_tls.h"

#include <openssl/objects.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"

namespace causeway::xmpp::io {
namespace {

// id-on-xmppAddr (RFC 6120 §13.7.1.4) and id-on-dnsSRV (RFC 4985).
constexpr char kOidXmppAddr[] = "1.3.6.1.5.5.7.8.5";
constexpr char kOidDnsSrv[] = "1.3.6.1.5.5.7.8.7";

std::string Asn1String(const ASN1_STRING* s) {
  if (s == nullptr) return {};
  const unsigned char* data = ASN1_STRING_get0_data(s);
  int len = ASN1_STRING_length(s);
  if (data == nullptr || len <= 0) return {};
  return std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(len));
}

bool OidIs(const ASN1_OBJECT* oid, const char* dotted) {
  char text[80];
  if (OBJ_obj2txt(text, sizeof(text), oid, /*no_name=*/1) <= 0) return false;
  return std::string_view(text) == dotted;
}

// otherName values are UTF8String (XmppAddr) or IA5String (SRVName).
std::string OtherNameValue(const OTHERNAME* other) {
  if (other == nullptr || other->value == nullptr) return {};
  const ASN1_TYPE* value = other->value;
  if (value->type == V_ASN1_UTF8STRING || value->type == V_ASN1_IA5STRING) {
    return Asn1String(value->value.asn1_string);
  }
  return {};
}

// Domains are keyed by their A-label form, which SNI carries (RFC 6066 §3); JIDs hold U-labels.
std::string TlsKey(std::string_view domain) {
  absl::StatusOr<std::string> a_labels = DomainpartToAscii(domain);
  return absl::AsciiStrToLower(ToAbsl(a_labels.ok() ? std::string_view(*a_labels) : domain));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const S2sTls>> S2sTls::Create(
    const std::vector<S2sDomainTlsOptions>& domains) {
  std::shared_ptr<S2sTls> tls(new S2sTls());
  for (const S2sDomainTlsOptions& d : domains) {
    std::string name = TlsKey(d.domain);
    if (name.empty()) return absl::InvalidArgumentError("s2s TLS: empty domain");
    if (tls->domains_.contains(name)) {
      return absl::InvalidArgumentError(absl::StrCat("s2s TLS: domain ", name, " given twice"));
    }
    runtime::TlsContextOptions server_options = d.tls;
    server_options.verify_peer = true;  // request a client certificate (optional, see header)
    server_options.require_peer_certificate = false;
    absl::StatusOr<runtime::TlsContextPtr> server = runtime::MakeTlsServerContext(server_options);
    if (!server.ok()) {
      return absl::Status(server.status().code(),
                          absl::StrCat(name, ": ", server.status().message()));
    }
    runtime::TlsContextOptions client_options = d.tls;
    client_options.verify_peer = true;
    absl::StatusOr<runtime::TlsContextPtr> client = runtime::MakeTlsClientContext(client_options);
    if (!client.ok()) {
      return absl::Status(client.status().code(),
                          absl::StrCat(name, ": ", client.status().message()));
    }
    SSL_CTX_set_tlsext_servername_callback((*server)->native_handle(), &S2sTls::OnServerName);
    SSL_CTX_set_tlsext_servername_arg((*server)->native_handle(), tls.get());
    if (!tls->default_server_) tls->default_server_ = *server;
    tls->domains_.emplace(std::move(name), Domain{*std::move(server), *std::move(client)});
  }
  return std::shared_ptr<const S2sTls>(std::move(tls));
}

S2sTls::~S2sTls() {
  // The contexts may outlive this object in a handshake still holding them: drop the callback.
  for (auto& [name, d] : domains_) {
    SSL_CTX_set_tlsext_servername_callback(d.server->native_handle(), nullptr);
    SSL_CTX_set_tlsext_servername_arg(d.server->native_handle(), nullptr);
  }
}

int S2sTls::OnServerName(SSL* ssl, int* /*alert*/, void* arg) {
  const auto* tls = static_cast<const S2sTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (tls == nullptr || name == nullptr) return SSL_TLSEXT_ERR_OK;  // keep the default
  auto it = tls->domains_.find(absl::AsciiStrToLower(name));
  if (it != tls->domains_.end() && SSL_get_SSL_CTX(ssl) != it->second.server->native_handle()) {
    SSL_set_SSL_CTX(ssl, it->second.server->native_handle());
  }
  return SSL_TLSEXT_ERR_OK;
}

runtime::TlsContextPtr S2sTls::client_context(std::string_view local_domain) const {
  auto it = domains_.find(TlsKey(local_domain));
  return it == domains_.end() ? nullptr : it->second.client;
}

runtime::TlsContextPtr S2sTls::server_context(std::string_view local_domain) const {
  auto it = domains_.find(TlsKey(local_domain));
  return it == domains_.end() ? nullptr : it->second.server;
}

s2s::TlsInfo PeerTlsInfo(SSL* ssl) {
  s2s::TlsInfo info;
  if (ssl == nullptr) return info;
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr) return info;
  info.chain_verified = SSL_get_verify_result(ssl) == X509_V_OK;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names != nullptr) {
    const int count = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < count; ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
      if (name->type == GEN_DNS) {
        info.dns_names.push_back(Asn1String(name->d.dNSName));
      } else if (name->type == GEN_OTHERNAME && name->d.otherName != nullptr) {
        if (OidIs(name->d.otherName->type_id, kOidXmppAddr)) {
          info.xmpp_addrs.push_back(OtherNameValue(name->d.otherName));
        } else if (OidIs(name->d.otherName->type_id, kOidDnsSrv)) {
          info.srv_names.push_back(OtherNameValue(name->d.otherName));
        }
      }
    }
    GENERAL_NAMES_free(names);
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  for (int index = -1;;) {  // the last CN
    int next = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, index) : -1;
    if (next < 0) break;
    index = next;
    info.common_name = Asn1String(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  }
  X509_free(cert);
  return info;
}

}  // namespace causeway::xmpp::io
