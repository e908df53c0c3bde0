#include "mappings/address_map.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "xmpp/codec/jid.h"

namespace causeway::mappings {
namespace {

// RFC 7622 §3.3: a localpart is 1 to 1023 octets.
constexpr size_t kMaxNodeBytes = 1023;

// The escape sequence of each character XEP-0106 escapes (the backslash only conditionally).
std::string_view EscapeOf(char c) {
  switch (c) {
    case ' ':
      return "\\20";
    case '"':
      return "\\22";
    case '&':
      return "\\26";
    case '\'':
      return "\\27";
    case '/':
      return "\\2f";
    case ':':
      return "\\3a";
    case '<':
      return "\\3c";
    case '>':
      return "\\3e";
    case '@':
      return "\\40";
    case '\\':
      return "\\5c";
    default:
      return {};
  }
}

// The character "\hh" at the start of `text` stands for, or 0 when it is not one of the ten
// sequences (lower-case hex only).
char UnescapedAt(std::string_view text) {
  if (text.size() < 3 || text[0] != '\\') return 0;
  const std::string_view hex = text.substr(1, 2);
  if (hex == "20") return ' ';
  if (hex == "22") return '"';
  if (hex == "26") return '&';
  if (hex == "27") return '\'';
  if (hex == "2f") return '/';
  if (hex == "3a") return ':';
  if (hex == "3c") return '<';
  if (hex == "3e") return '>';
  if (hex == "40") return '@';
  if (hex == "5c") return '\\';
  return 0;
}

bool HasControl(std::string_view text) {
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

// RFC 3966 global-number-digits: "+" then digits and visual separators, at least one digit.
bool IsTelephoneNumber(std::string_view user) {
  if (user.size() < 2 || user[0] != '+') return false;
  bool digit = false;
  for (const char c : user.substr(1)) {
    if (absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      digit = true;
    } else if (c != '-' && c != '.' && c != '(' && c != ')') {
      return false;
    }
  }
  return digit;
}

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// `text` lower-cased, copying only when it has an upper-case letter (the usual input is already
// lower-case: AddressFromSipUri lower-cases domains).
std::string_view LowerView(std::string_view text, std::string* storage) {
  for (const char c : text) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) {
      *storage = absl::AsciiStrToLower(ToAbsl(text));
      return *storage;
    }
  }
  return text;
}

absl::Status CheckDomainName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty domain name");
  const bool ip_literal = name.front() == '[' && name.back() == ']';
  for (const char c : name) {
    const auto u = static_cast<unsigned char>(c);
    const bool bad = u <= 0x20 || u == 0x7f || c == '@' || c == '/' || c == '\\' || c == '"' ||
                     c == '\'' || c == '<' || c == '>' || c == '&' || (c == ':' && !ip_literal);
    if (bad) return absl::InvalidArgumentError(absl::StrCat("bad domain name: ", ToAbsl(name)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EscapeJidNode(std::string_view unescaped) {
  std::string out;
  out.reserve(unescaped.size() + 8);
  for (size_t i = 0; i < unescaped.size(); ++i) {
    const char c = unescaped[i];
    // A backslash is escaped only where it would otherwise read as one of the ten sequences.
    if (c == '\\' && UnescapedAt(unescaped.substr(i)) == 0) {
      out.push_back(c);
      continue;
    }
    const std::string_view escape = EscapeOf(c);
    if (escape.empty()) {
      out.push_back(c);
    } else {
      out.append(escape);
    }
  }
  if (out.starts_with("\\20") || out.ends_with("\\20")) {
    return absl::InvalidArgumentError("a JID node may not start or end with a space (\\20)");
  }
  return out;
}

std::string UnescapeJidNode(std::string_view escaped) {
  std::string out;
  out.reserve(escaped.size());
  for (size_t i = 0; i < escaped.size(); ++i) {
    const char c = UnescapedAt(escaped.substr(i));
    if (c != 0) {
      out.push_back(c);
      i += 2;
    } else {
      out.push_back(escaped[i]);
    }
  }
  return out;
}

namespace {

// A configured remote domain in every form it can be met in: as written (lower-cased), as XMPP
// addresses carry it (U-labels, RFC 7622 §3.2) and as DNS and SIP hosts do (A-labels).
std::vector<std::string> DomainForms(std::string_view domain) {
  std::vector<std::string> forms = {absl::AsciiStrToLower(ToAbsl(domain))};
  if (absl::StatusOr<xmpp::Jid> jid = xmpp::Jid::Make("", domain); jid.ok()) {
    forms.push_back(jid->domain());
    if (absl::StatusOr<std::string> ascii = xmpp::DomainpartToAscii(jid->domain()); ascii.ok()) {
      forms.push_back(absl::AsciiStrToLower(*ascii));
    }
  }
  return forms;
}

// A local XMPP domain as JIDs carry it (U-labels); as written when it is no JID domainpart.
std::string XmppDomainForm(std::string_view domain) {
  absl::StatusOr<xmpp::Jid> jid = xmpp::Jid::Make("", domain);
  return jid.ok() ? jid->domain() : absl::AsciiStrToLower(ToAbsl(domain));
}

}  // namespace

absl::StatusOr<DomainMap> DomainMap::Create(const DomainMapConfig& config) {
  DomainMap map;
  map.open_federation_ = config.open_federation;
  for (const DomainPair& pair : config.local) {
    if (absl::Status s = CheckDomainName(pair.sip_domain); !s.ok()) return s;
    if (absl::Status s = CheckDomainName(pair.xmpp_domain); !s.ok()) return s;
    std::string sip = absl::AsciiStrToLower(ToAbsl(pair.sip_domain));
    std::string xmpp = XmppDomainForm(pair.xmpp_domain);
    if (!map.sip_to_xmpp_.emplace(sip, xmpp).second) {
      return absl::InvalidArgumentError(absl::StrCat("SIP domain listed twice: ", sip));
    }
    if (!map.xmpp_to_sip_.emplace(xmpp, sip).second) {
      return absl::InvalidArgumentError(absl::StrCat("XMPP domain listed twice: ", xmpp));
    }
  }
  for (const std::string& remote : config.federated_domains) {
    if (absl::Status s = CheckDomainName(remote); !s.ok()) return s;
    for (std::string& form : DomainForms(remote)) {
      if (map.sip_to_xmpp_.contains(form) || map.xmpp_to_sip_.contains(form)) {
        return absl::InvalidArgumentError(absl::StrCat("federated domain is local: ", form));
      }
      map.federated_.insert(std::move(form));
    }
  }
  for (const std::string& blocked : config.blocked_domains) {
    if (absl::Status s = CheckDomainName(blocked); !s.ok()) return s;
    for (std::string& form : DomainForms(blocked)) {
      if (map.sip_to_xmpp_.contains(form) || map.xmpp_to_sip_.contains(form)) {
        return absl::InvalidArgumentError(absl::StrCat("blocked domain is local: ", form));
      }
      map.blocked_.insert(std::move(form));
    }
  }
  return map;
}

bool DomainMap::IsAllowedRemote(std::string_view lower_domain) const {
  const absl::string_view key = ToAbsl(lower_domain);
  if (sip_to_xmpp_.contains(key) || xmpp_to_sip_.contains(key)) return false;
  if (!CheckDomainName(lower_domain).ok()) return false;
  if (blocked_.contains(key)) return false;
  return open_federation_ || federated_.contains(key);
}

absl::StatusOr<std::string> DomainMap::XmppDomainFor(std::string_view sip_domain) const {
  std::string storage;
  const std::string_view lower = LowerView(sip_domain, &storage);
  if (auto it = sip_to_xmpp_.find(ToAbsl(lower)); it != sip_to_xmpp_.end()) return it->second;
  if (IsAllowedRemote(lower)) return std::string(lower);
  return absl::NotFoundError(absl::StrCat("no XMPP domain for SIP domain ", ToAbsl(lower)));
}

absl::StatusOr<std::string> DomainMap::SipDomainFor(std::string_view xmpp_domain) const {
  std::string storage;
  const std::string_view lower = LowerView(xmpp_domain, &storage);
  if (auto it = xmpp_to_sip_.find(ToAbsl(lower)); it != xmpp_to_sip_.end()) return it->second;
  if (IsAllowedRemote(lower)) return std::string(lower);
  return absl::NotFoundError(absl::StrCat("no SIP domain for XMPP domain ", ToAbsl(lower)));
}

bool DomainMap::IsLocalSipDomain(std::string_view domain) const {
  std::string storage;
  return sip_to_xmpp_.contains(ToAbsl(LowerView(domain, &storage)));
}

bool DomainMap::IsLocalXmppDomain(std::string_view domain) const {
  std::string storage;
  return xmpp_to_sip_.contains(ToAbsl(LowerView(domain, &storage)));
}

absl::StatusOr<Address> XmppAddressFromSip(const Address& sip, const DomainMap& domains) {
  if (sip.network != Network::kSip) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a SIP address (", ToAbsl(NetworkName(sip.network)), ")"));
  }
  if (sip.user.empty()) return absl::InvalidArgumentError("SIP address without a user part");
  if (IsTelephoneNumber(sip.user)) {
    return absl::InvalidArgumentError("telephone numbers are not mapped to JIDs");
  }
  if (HasControl(sip.user)) return absl::InvalidArgumentError("control character in user part");
  absl::StatusOr<std::string> domain = domains.XmppDomainFor(sip.domain);
  if (!domain.ok()) return domain.status();
  // Lower-case before escaping: folding afterwards could turn a literal "\5C" into an escape.
  std::string storage;
  absl::StatusOr<std::string> node = EscapeJidNode(LowerView(sip.user, &storage));
  if (!node.ok()) return node.status();
  if (node->size() > kMaxNodeBytes) return absl::InvalidArgumentError("JID node too long");
  return Address{Network::kXmpp, *std::move(node), *std::move(domain), ""};
}

absl::StatusOr<Address> SipAddressFromXmpp(const Address& xmpp, const DomainMap& domains) {
  if (xmpp.network != Network::kXmpp) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an XMPP address (", ToAbsl(NetworkName(xmpp.network)), ")"));
  }
  if (xmpp.user.empty()) return absl::InvalidArgumentError("JID without a node");
  std::string user = UnescapeJidNode(xmpp.user);
  if (HasControl(user)) return absl::InvalidArgumentError("control character in JID node");
  if (IsSpace(user.front()) || IsSpace(user.back())) {
    return absl::InvalidArgumentError("JID node starts or ends with white space");
  }
  if (IsTelephoneNumber(user)) {
    return absl::InvalidArgumentError("telephone numbers are not mapped from JIDs");
  }
  absl::StatusOr<std::string> domain = domains.SipDomainFor(xmpp.domain);
  if (!domain.ok()) return domain.status();
  return Address{Network::kSip, std::move(user), *std::move(domain), ""};
}

}  // namespace causeway::mappings
