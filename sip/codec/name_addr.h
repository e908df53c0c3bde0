#pragma once
// Header-value building blocks shared by the message and by the stack: generic parameters,
// name-addr / addr-spec (RFC 3261 §25.1: From, To, Contact, Route, Record-Route, Path...), comma
// lists that respect quotes and <>, quoted strings, and auth credentials/challenges.
//
// Everything returns std::string_views into the input text: it must outlive the results.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sip/codec/small_vector.h"
#include "sip/codec/uri.h"

namespace causeway::sip {

// One ";name[=value]" header parameter. A quoted value keeps its quotes (so it round-trips).
struct GenericParam {
  std::string_view name;
  std::string_view value;
  bool has_value = false;
};
using GenericParams = SmallVector<GenericParam, 3>;

// Parses "; a = b ;c;d=\"q s\"" (LWS allowed around ';' and '=', RFC 3261 §25.1 SEMI/EQUAL).
// `text` must be empty or start with ';' (after optional whitespace). Appends to *out.
absl::Status ParseGenericParams(std::string_view text, GenericParams* out);
// Case-insensitive lookup; nullopt when absent, "" for a flag parameter.
std::optional<std::string_view> FindParam(const GenericParams& params, std::string_view name);

struct NameAddr {
  std::string_view raw;           // the whole value, trimmed
  std::string_view display_name;  // without quotes; escapes (\") kept: see DisplayName()
  bool display_name_quoted = false;
  bool angle_brackets = false;  // name-addr form (<uri>) rather than addr-spec
  bool wildcard = false;        // Contact: * (then uri is empty)
  std::string_view uri_text;
  Uri uri;
  GenericParams params;  // header parameters after the URI (tag, expires, q, epid, +sip.instance)

  std::string_view tag() const { return FindParam(params, "tag").value_or(std::string_view()); }
  std::optional<std::string_view> Param(std::string_view name) const {
    return FindParam(params, name);
  }
  std::string DisplayName() const;  // unescaped display name
  std::string ToString() const;     // canonical: ["display" ]<uri>;params
};

// Parses one name-addr or addr-spec with its parameters. In addr-spec form (no <>), parameters
// belong to the header, and a URI with '?' headers, ',' or ';' in the user part is not allowed
// (RFC 3261 §20: such URIs must be enclosed in <>; RFC 4475 regbadct).
// `allow_wildcard`: accept "*" (Contact only).
absl::StatusOr<NameAddr> ParseNameAddr(std::string_view text, bool allow_wildcard = false);

// Splits a header value at commas outside quoted strings and <...>, trimming LWS around elements.
// Empty elements (",,") are an error: callers of comma lists need well-formed values.
absl::Status SplitCommaList(std::string_view value, std::vector<std::string_view>* out);

// Splits a comma list of tokens (Supported, Require, Allow, Allow-Events...); each must be a token.
absl::StatusOr<std::vector<std::string_view>> ParseTokenList(std::string_view value);

// Unescapes the inside of a quoted-string (without the quotes): \x -> x.
std::string UnquoteString(std::string_view inner);
// Produces a quoted-string ("..." with " and \ escaped).
std::string QuoteString(std::string_view text);

// RFC 3261 §25.1 token characters: alphanum and -.!%*_+`'~
bool IsTokenChar(char c);
bool IsToken(std::string_view text);

// A credentials/challenge value (WWW-Authenticate, Authorization, Proxy-*): scheme then a comma
// list of auth-params. Values keep their quotes; use UnquoteString on quoted ones.
// Covers Digest (RFC 3261 §25.1) and Lync's NTLM/Kerberos/TLS-DSK (MS-SIPAE: gssapi-data, realm,
// targetname, opaque, crand, cnum, response, version...).
struct AuthParam {
  std::string_view name;
  std::string_view value;  // raw, possibly quoted
  bool quoted = false;
  std::string Unquoted() const;  // the value with quotes removed and escapes resolved
};
struct AuthValue {
  std::string_view scheme;  // "Digest", "NTLM", "Kerberos", "TLS-DSK"
  std::vector<AuthParam> params;
  std::optional<std::string_view> Param(std::string_view name) const;  // case-insensitive, raw
};
absl::StatusOr<AuthValue> ParseAuthValue(std::string_view value);

// Media type with parameters (Content-Type, Accept elements).
struct MediaType {
  std::string_view type;
  std::string_view subtype;
  GenericParams params;
  std::optional<std::string_view> Param(std::string_view name) const {
    return FindParam(params, name);
  }
};
absl::StatusOr<MediaType> ParseMediaType(std::string_view value);

// A token with parameters (Event, Subscription-State, Content-Disposition...).
struct TokenWithParams {
  std::string_view token;
  GenericParams params;
  std::optional<std::string_view> Param(std::string_view name) const {
    return FindParam(params, name);
  }
};
absl::StatusOr<TokenWithParams> ParseTokenWithParams(std::string_view value);

}  // namespace causeway::sip
