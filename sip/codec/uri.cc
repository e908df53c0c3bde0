#include "sip/codec/uri.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

using scan::IsAlnum;
using scan::IsAlpha;
using scan::IsDigit;
using scan::IsHex;

absl::Status Bad(std::string_view what) { return SipError(400, what); }

// RFC 3261 §25.1 mark / unreserved.
bool IsUnreserved(char c) {
  if (IsAlnum(c)) return true;
  switch (c) {
    case '-':
    case '_':
    case '.':
    case '!':
    case '~':
    case '*':
    case '\'':
    case '(':
    case ')':
      return true;
    default:
      return false;
  }
}

// Checks that every byte is unreserved, one of `extra`, or a valid %HH escape.
bool ValidEscapedRun(std::string_view s, std::string_view extra) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return false;
      if (!IsHex(s[i + 1]) || !IsHex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (IsUnreserved(c) || extra.find(c) != std::string_view::npos) continue;
    return false;
  }
  return true;
}

bool ValidHostname(std::string_view host) {
  if (host.empty()) return false;
  for (char c : host) {
    if (!IsAlnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

bool ValidIpv6Reference(std::string_view host) {
  // "[" IPv6address "]": hex digits, ':' and an optional dotted IPv4 tail.
  if (host.size() < 4 || host.front() != '[' || host.back() != ']') return false;
  size_t colons = 0;
  for (char c : host.substr(1, host.size() - 2)) {
    if (c == ':') {
      ++colons;
    } else if (!IsHex(c) && c != '.') {
      return false;
    }
  }
  return colons >= 2;
}

absl::StatusOr<uint16_t> ParsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return Bad("bad port");
  std::optional<uint64_t> value = scan::ParseDecimal(text, 65535);
  if (!value) return Bad("bad port");
  return static_cast<uint16_t>(*value);
}

// ";a=b;c" (no whitespace allowed inside URIs).
absl::Status ParseUriParams(std::string_view text, UriParams* out, bool tel) {
  // RFC 3261 paramchar: param-unreserved "[]/:&+$" / unreserved / escaped.
  // RFC 3966 pvalue: paramchar = param-unreserved / unreserved / pct-encoded with "[]/:&+$".
  constexpr std::string_view kParamExtra = "[]/:&+$";
  size_t pos = 0;
  while (pos < text.size()) {
    if (text[pos] != ';') return Bad("bad URI parameter");
    size_t end = text.find(';', pos + 1);
    if (end == std::string_view::npos) end = text.size();
    std::string_view param = text.substr(pos + 1, end - pos - 1);
    UriParam p;
    size_t eq = param.find('=');
    p.name = param.substr(0, eq);
    if (eq != std::string_view::npos) {
      p.value = param.substr(eq + 1);
      p.has_value = true;
      if (p.value.empty() && !tel) return Bad("empty URI parameter value");
    }
    if (p.name.empty() || !ValidEscapedRun(p.name, kParamExtra) ||
        !ValidEscapedRun(p.value, kParamExtra)) {
      return Bad("bad URI parameter");
    }
    out->push_back(p);
    pos = end;
  }
  return absl::OkStatus();
}

absl::Status ParseUriHeaders(std::string_view text, UriHeaders* out) {
  // hname/hvalue: hnv-unreserved "[]/?:+$" / unreserved / escaped.
  constexpr std::string_view kExtra = "[]/?:+$";
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('&', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view header = text.substr(pos, end - pos);
    size_t eq = header.find('=');
    if (eq == std::string_view::npos) return Bad("URI header without '='");
    UriHeader h{header.substr(0, eq), header.substr(eq + 1)};
    if (h.name.empty() || !ValidEscapedRun(h.name, kExtra) || !ValidEscapedRun(h.value, kExtra)) {
      return Bad("bad URI header");
    }
    out->push_back(h);
    pos = end + 1;
  }
  return absl::OkStatus();
}

bool IsPhoneSeparator(char c) { return c == '-' || c == '.' || c == '(' || c == ')'; }

}  // namespace

absl::StatusOr<Uri> Uri::Parse(std::string_view text) {
  Uri uri;
  uri.text_ = text;
  size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) return Bad("URI without scheme");
  std::string_view scheme = text.substr(0, colon);
  // RFC 3986 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (!IsAlpha(scheme[0])) return Bad("bad URI scheme");
  for (char c : scheme) {
    if (!IsAlnum(c) && c != '+' && c != '-' && c != '.') return Bad("bad URI scheme");
  }
  // No whitespace, controls, or the delimiters that end a URI in a header (RFC 3986 §2).
  static constexpr std::array<bool, 256> kIllegal = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c <= 0x20; ++c) t[c] = true;
    t[0x7f] = t['<'] = t['>'] = t['"'] = true;
    return t;
  }();
  for (char c : text) {
    if (kIllegal[static_cast<unsigned char>(c)]) return Bad("illegal character in URI");
  }
  uri.scheme_text_ = scheme;
  std::string_view rest = text.substr(colon + 1);
  if (absl::EqualsIgnoreCase(ToAbsl(scheme), "sip")) {
    uri.scheme_ = UriScheme::kSip;
  } else if (absl::EqualsIgnoreCase(ToAbsl(scheme), "sips")) {
    uri.scheme_ = UriScheme::kSips;
  } else if (absl::EqualsIgnoreCase(ToAbsl(scheme), "tel")) {
    uri.scheme_ = UriScheme::kTel;
  } else {
    if (rest.empty()) return Bad("empty URI");
    uri.scheme_ = UriScheme::kOther;
    uri.opaque_ = rest;
    return uri;
  }

  if (uri.scheme_ == UriScheme::kTel) {
    // RFC 3966: telephone-subscriber = global-number / local-number, then ;params.
    size_t semi = rest.find(';');
    std::string_view number = rest.substr(0, semi);
    if (number.empty()) return Bad("empty tel number");
    bool global = number[0] == '+';
    bool has_digit = false;
    for (size_t i = global ? 1 : 0; i < number.size(); ++i) {
      char c = number[i];
      if (IsDigit(c) || (!global && (IsHex(c) || c == '*' || c == '#'))) {
        has_digit = true;
      } else if (!IsPhoneSeparator(c)) {
        return Bad("bad tel number");
      }
    }
    if (!has_digit) return Bad("tel number without digits");
    uri.user_ = number;
    uri.has_user_ = true;
    if (semi != std::string_view::npos) {
      absl::Status status = ParseUriParams(rest.substr(semi), &uri.params_, /*tel=*/true);
      if (!status.ok()) return status;
    }
    if (!global && !uri.HasParam("phone-context")) {
      return Bad("local tel number without phone-context");
    }
    return uri;
  }

  // sip / sips: [userinfo "@"] hostport uri-parameters [headers]
  size_t at = rest.find('@');
  if (at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    size_t pw = userinfo.find(':');
    uri.user_ = userinfo.substr(0, pw);
    uri.has_user_ = true;
    // user-unreserved "&=+$,;?/"; password adds "&=+$,".
    if (!ValidEscapedRun(uri.user_, "&=+$,;?/")) return Bad("bad URI user");
    if (pw != std::string_view::npos) {
      uri.password_ = userinfo.substr(pw + 1);
      uri.has_password_ = true;
      if (!ValidEscapedRun(uri.password_, "&=+$,")) return Bad("bad URI password");
    }
    rest = rest.substr(at + 1);
  }
  size_t host_end = 0;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos) return Bad("unterminated IPv6 reference");
    host_end = close + 1;
    uri.host_ = rest.substr(0, host_end);
    if (!ValidIpv6Reference(uri.host_)) return Bad("bad IPv6 reference");
  } else {
    host_end = rest.find_first_of(":;?");
    if (host_end == std::string_view::npos) host_end = rest.size();
    uri.host_ = rest.substr(0, host_end);
    if (!ValidHostname(uri.host_)) return Bad("bad URI host");
  }
  rest = rest.substr(host_end);
  if (!rest.empty() && rest[0] == ':') {
    size_t port_end = rest.find_first_of(";?");
    if (port_end == std::string_view::npos) port_end = rest.size();
    absl::StatusOr<uint16_t> port = ParsePort(rest.substr(1, port_end - 1));
    if (!port.ok()) return port.status();
    uri.port_ = *port;
    rest = rest.substr(port_end);
  }
  size_t question = rest.find('?');
  std::string_view params = rest.substr(0, question);
  if (!params.empty()) {
    absl::Status status = ParseUriParams(params, &uri.params_, /*tel=*/false);
    if (!status.ok()) return status;
  }
  if (question != std::string_view::npos) {
    absl::Status status = ParseUriHeaders(rest.substr(question + 1), &uri.headers_);
    if (!status.ok()) return status;
  }
  return uri;
}

std::optional<std::string_view> Uri::Param(std::string_view name) const {
  for (const UriParam& p : params_) {
    if (scan::EqualsNoCase(p.name, name)) return p.value;
  }
  return std::nullopt;
}

std::string Uri::ToString() const {
  std::string out;
  out.reserve(text_.size());
  switch (scheme_) {
    case UriScheme::kSip:
      out = "sip";
      break;
    case UriScheme::kSips:
      out = "sips";
      break;
    case UriScheme::kTel:
      out = "tel";
      break;
    case UriScheme::kOther:
      out = absl::AsciiStrToLower(ToAbsl(scheme_text_));
      break;
  }
  out.append(text_.substr(scheme_text_.size()));
  return out;
}

std::string UnescapeUri(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && IsHex(text[i + 1]) && IsHex(text[i + 2])) {
      out.push_back(
          static_cast<char>(scan::HexValue(text[i + 1]) * 16 + scan::HexValue(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

namespace {

bool EqualUnescapedIgnoreCase(std::string_view a, std::string_view b) {
  std::string ua = UnescapeUri(a);
  std::string ub = UnescapeUri(b);
  return absl::EqualsIgnoreCase(ua, ub);
}

std::optional<std::string_view> FindUriParam(const UriParams& params, std::string_view name) {
  for (const UriParam& p : params) {
    if (EqualUnescapedIgnoreCase(p.name, name)) return p.value;
  }
  return std::nullopt;
}

std::string TelDigits(std::string_view number) {
  std::string out;
  for (char c : number) {
    if (!IsPhoneSeparator(c)) out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

bool SipEquivalent(const Uri& a, const Uri& b) {
  if (a.scheme() != b.scheme()) return false;
  // User and password: case-sensitive after unescaping.
  if (a.has_user() != b.has_user() || UnescapeUri(a.user()) != UnescapeUri(b.user())) return false;
  if (a.has_password() != b.has_password() ||
      UnescapeUri(a.password()) != UnescapeUri(b.password())) {
    return false;
  }
  if (!absl::EqualsIgnoreCase(ToAbsl(a.host()), ToAbsl(b.host()))) return false;
  if (a.port() != b.port()) return false;  // an explicit 5060 differs from none (§19.1.4)
  // transport/user/ttl/method/maddr: present in one means it must match in the other.
  static constexpr std::string_view kStrict[] = {"transport", "user", "ttl", "method", "maddr"};
  for (std::string_view name : kStrict) {
    std::optional<std::string_view> pa = FindUriParam(a.params(), name);
    std::optional<std::string_view> pb = FindUriParam(b.params(), name);
    if (pa.has_value() != pb.has_value()) return false;
    if (pa && !EqualUnescapedIgnoreCase(*pa, *pb)) return false;
  }
  // Other parameters are compared only when both carry them.
  for (const UriParam& p : a.params()) {
    std::optional<std::string_view> other = FindUriParam(b.params(), UnescapeUri(p.name));
    if (other && !EqualUnescapedIgnoreCase(p.value, *other)) return false;
  }
  // Headers are never ignored: the same set on both sides.
  if (a.headers().size() != b.headers().size()) return false;
  for (const UriHeader& h : a.headers()) {
    bool found = false;
    for (const UriHeader& g : b.headers()) {
      if (EqualUnescapedIgnoreCase(h.name, g.name) &&
          UnescapeUri(h.value) == UnescapeUri(g.value)) {
        found = true;
        break;
      }
    }
    if (!found) return false;
  }
  return true;
}

bool TelEquivalent(const Uri& a, const Uri& b) {
  // RFC 3966 §4: numbers compare without visual separators; parameters as a set.
  if (TelDigits(a.user()) != TelDigits(b.user())) return false;
  if (a.params().size() != b.params().size()) return false;
  for (const UriParam& p : a.params()) {
    std::optional<std::string_view> other = FindUriParam(b.params(), p.name);
    if (!other) return false;
    bool context = absl::EqualsIgnoreCase(ToAbsl(p.name), "phone-context");
    std::string_view va = p.value;
    std::string_view vb = *other;
    if (context || absl::EqualsIgnoreCase(ToAbsl(p.name), "isub")) {
      if (TelDigits(va) != TelDigits(vb) && !EqualUnescapedIgnoreCase(va, vb)) return false;
    } else if (!EqualUnescapedIgnoreCase(va, vb)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool UriEquivalent(const Uri& a, const Uri& b) {
  if (a.scheme() != b.scheme()) return false;
  switch (a.scheme()) {
    case UriScheme::kSip:
    case UriScheme::kSips:
      return SipEquivalent(a, b);
    case UriScheme::kTel:
      return TelEquivalent(a, b);
    case UriScheme::kOther:
      return absl::EqualsIgnoreCase(ToAbsl(a.scheme_text()), ToAbsl(b.scheme_text())) &&
             a.opaque() == b.opaque();
  }
  return false;
}

}  // namespace causeway::sip
