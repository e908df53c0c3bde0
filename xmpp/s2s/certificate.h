#pragma once
// What the owner's TLS handshake learned about the peer's certificate, and the RFC 6125 / RFC 7590
// check whether it names an XMPP server domain. No TLS library here: the owner extracts the names.

#include <string>
#include <string_view>
#include <vector>

namespace causeway::xmpp::s2s {

struct TlsInfo {
  // subjectAltName dNSName entries, as written in the certificate (may hold "*.example.com").
  std::vector<std::string> dns_names;
  // subjectAltName SRVName entries (RFC 4985), e.g. "_xmpp-server.example.com".
  std::vector<std::string> srv_names;
  // subjectAltName otherName id-on-xmppAddr entries (RFC 6120 §13.7.1.4).
  std::vector<std::string> xmpp_addrs;
  // The subject's last CN; used only when the certificate has none of the identifiers above.
  std::string common_name;
  // The chain verified against our trust anchors (and was within its validity period).
  bool chain_verified = false;
};

// True when the certificate presents `domain` as an XMPP server identity (RFC 6125 §6 with the
// XMPP rules of RFC 6120 §13.7.1.2 / RFC 7590): an SRV-ID for _xmpp-server, an XmppAddr, a DNS-ID
// (a wildcard only as the whole leftmost label, matching exactly one label), or — only when none
// of those are present — the CN as a DNS name. Comparison is ASCII case-insensitive; a trailing dot
// is ignored. The chain's verification is not part of this check (see CertificateAuthenticates).
bool CertificateNamesDomain(const TlsInfo& info, std::string_view domain);

// chain_verified && CertificateNamesDomain: enough for SASL EXTERNAL (XEP-0178).
bool CertificateAuthenticates(const TlsInfo& info, std::string_view domain);

}  // namespace causeway::xmpp::s2s
