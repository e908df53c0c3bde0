#include "xmpp/s2s/certificate.h"

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"

namespace causeway::xmpp::s2s {
namespace {

std::string_view WithoutTrailingDot(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return name;
}

bool NamesEqual(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(ToAbsl(WithoutTrailingDot(a)), ToAbsl(WithoutTrailingDot(b)));
}

// RFC 6125 §6.4.3: "*" only as the complete leftmost label, covering exactly one label, and never
// matching a bare registered domain ("*.example.com" does not match "example.com").
bool DnsIdMatches(std::string_view presented, std::string_view domain) {
  presented = WithoutTrailingDot(presented);
  domain = WithoutTrailingDot(domain);
  if (presented.empty()) return false;
  if (!absl::StartsWith(ToAbsl(presented), "*.")) return NamesEqual(presented, domain);
  std::string_view suffix = presented.substr(1);  // ".example.com"
  if (suffix.find('*') != std::string_view::npos) return false;
  // At least two labels after the wildcard: "*.com" is never accepted.
  if (suffix.find('.', 1) == std::string_view::npos) return false;
  size_t first_dot = domain.find('.');
  if (first_dot == std::string_view::npos || first_dot == 0) return false;
  return NamesEqual(domain.substr(first_dot), suffix);
}

}  // namespace

bool CertificateNamesDomain(const TlsInfo& info, std::string_view domain) {
  if (domain.empty()) return false;
  // JIDs hold U-labels (RFC 7622 §3.2); DNS-IDs, SRV-IDs and the CN hold A-labels (RFC 6125
  // §6.4.2), the XmppAddr the JID form (RFC 6120 §13.7.1.4).
  absl::StatusOr<std::string> a_labels = DomainpartToAscii(domain);
  if (!a_labels.ok()) return false;
  const std::string_view jid_domain = domain;
  domain = *a_labels;
  for (const std::string& srv : info.srv_names) {
    constexpr std::string_view kService = "_xmpp-server.";
    if (srv.size() > kService.size() && absl::StartsWithIgnoreCase(ToAbsl(srv), ToAbsl(kService)) &&
        NamesEqual(std::string_view(srv).substr(kService.size()), domain)) {
      return true;
    }
  }
  for (const std::string& addr : info.xmpp_addrs) {
    if (NamesEqual(addr, jid_domain)) return true;
  }
  for (const std::string& dns : info.dns_names) {
    if (DnsIdMatches(dns, domain)) return true;
  }
  // RFC 6125 §6.4.4: the CN only when no subjectAltName identifier of a supported type exists.
  if (info.dns_names.empty() && info.srv_names.empty() && info.xmpp_addrs.empty()) {
    return DnsIdMatches(info.common_name, domain);
  }
  return false;
}

bool CertificateAuthenticates(const TlsInfo& info, std::string_view domain) {
  return info.chain_verified && CertificateNamesDomain(info, domain);
}

}  // namespace causeway::xmpp::s2s
