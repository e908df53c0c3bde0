#pragma once
// SIP/SIPS URIs (RFC 3261 §19.1), tel URIs (RFC 3966) and opaque absolute URIs of other schemes.
//
// Lifetime: a Uri holds std::string_views into the text it was parsed from. That text must outlive
// the Uri. Uris handed out by SipMessage point into the message's own stable storage and live as
// long as the message (moving the message keeps them valid; Clone() re-parses its own).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "sip/codec/small_vector.h"

namespace causeway::sip {

enum class UriScheme : uint8_t { kSip, kSips, kTel, kOther };

// One ";name[=value]" URI parameter, as written (still %-escaped).
struct UriParam {
  std::string_view name;
  std::string_view value;  // empty when has_value is false
  bool has_value = false;
};

// One "name=value" URI header (the part after '?'), as written (still %-escaped).
struct UriHeader {
  std::string_view name;
  std::string_view value;
};

using UriParams = SmallVector<UriParam, 3>;
using UriHeaders = SmallVector<UriHeader, 1>;

class Uri {
 public:
  Uri() = default;

  // Parses one URI with no surrounding whitespace or angle brackets. sip:/sips: and tel: are parsed
  // into parts; any other RFC 3986 scheme ("scheme:opaque") is kept whole as kOther so that unknown
  // schemes can be answered with 416 by the stack rather than 400 by the parser.
  static absl::StatusOr<Uri> Parse(std::string_view text);

  UriScheme scheme() const { return scheme_; }
  std::string_view scheme_text() const { return scheme_text_; }  // as written ("SIP" stays "SIP")
  bool is_sip() const { return scheme_ == UriScheme::kSip || scheme_ == UriScheme::kSips; }

  // sip/sips: userinfo parts (raw, %-escaped); tel: user() is the telephone-subscriber number
  // without its parameters (e.g. "+1-201-555-0123" or "7042").
  std::string_view user() const { return user_; }
  bool has_user() const { return has_user_; }
  std::string_view password() const { return password_; }
  bool has_password() const { return has_password_; }
  // Host as written; IPv6 references keep their brackets ("[2001:db8::10]"). Empty for tel.
  std::string_view host() const { return host_; }
  bool is_ipv6_reference() const { return !host_.empty() && host_.front() == '['; }
  std::optional<uint16_t> port() const { return port_; }

  const UriParams& params() const { return params_; }
  // Case-insensitive lookup. nullopt when absent; "" for a flag parameter such as ";lr".
  std::optional<std::string_view> Param(std::string_view name) const;
  bool HasParam(std::string_view name) const { return Param(name).has_value(); }
  std::string_view transport() const { return Param("transport").value_or(std::string_view()); }
  std::string_view maddr() const { return Param("maddr").value_or(std::string_view()); }
  bool lr() const { return HasParam("lr"); }

  const UriHeaders& headers() const { return headers_; }

  // tel: true for a global number ("+..."), false for a local one (which needs phone-context).
  bool is_global_number() const {
    return scheme_ == UriScheme::kTel && !user_.empty() && user_[0] == '+';
  }
  // kOther: everything after "scheme:".
  std::string_view opaque() const { return opaque_; }
  // The exact text this Uri was parsed from.
  std::string_view text() const { return text_; }

  // Canonical text: lower-case scheme, then the parts as written (escapes preserved).
  std::string ToString() const;

 private:
  std::string_view text_;
  std::string_view scheme_text_;
  std::string_view user_;
  std::string_view password_;
  std::string_view host_;
  std::string_view opaque_;
  std::optional<uint16_t> port_;
  UriParams params_;
  UriHeaders headers_;
  UriScheme scheme_ = UriScheme::kOther;
  bool has_user_ = false;
  bool has_password_ = false;
};

// URI comparison per RFC 3261 §19.1.4 (sip/sips) and RFC 3966 §4 (tel); other schemes compare
// case-insensitively on the scheme and byte-wise on the rest.
bool UriEquivalent(const Uri& a, const Uri& b);

// Decodes %HH escapes. Malformed escapes ("%Z1", a trailing "%") are kept literally (RFC 4475
// esc02 shows they occur in the wild outside URIs).
std::string UnescapeUri(std::string_view text);

}  // namespace causeway::sip
