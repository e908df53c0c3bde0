#include "sip/codec/name_addr.h"

#include <string>

#include "absl/strings/match.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/codec/scan.h"

namespace causeway::sip {
namespace {

using scan::IsWs;
using scan::SkipQuoted;
using scan::SkipWs;
using scan::Trim;

absl::Status Bad(std::string_view what) { return SipError(400, what); }

// Reads a token starting at `pos`; returns its end (== pos when there is none).
size_t TokenEnd(std::string_view s, size_t pos) {
  while (pos < s.size() && scan::IsTokenByte(s[pos])) ++pos;
  return pos;
}

// gen-value = token / host / quoted-string. Host adds IPv6 references ("[", "]", ":").
size_t GenValueEnd(std::string_view s, size_t pos) {
  if (pos < s.size() && s[pos] == '"') return SkipQuoted(s, pos);
  while (pos < s.size() &&
         (scan::IsTokenByte(s[pos]) || s[pos] == '[' || s[pos] == ']' || s[pos] == ':')) {
    ++pos;
  }
  return pos;
}

}  // namespace

bool IsTokenChar(char c) { return scan::IsTokenByte(c); }

bool IsToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!scan::IsTokenByte(c)) return false;
  }
  return true;
}

absl::Status ParseGenericParams(std::string_view text, GenericParams* out) {
  size_t pos = SkipWs(text, 0);
  while (pos < text.size()) {
    if (text[pos] != ';') return Bad("expected ';' before parameter");
    pos = SkipWs(text, pos + 1);
    size_t name_end = TokenEnd(text, pos);
    if (name_end == pos) return Bad("empty parameter name");
    GenericParam param;
    param.name = text.substr(pos, name_end - pos);
    pos = SkipWs(text, name_end);
    if (pos < text.size() && text[pos] == '=') {
      pos = SkipWs(text, pos + 1);
      size_t value_end = GenValueEnd(text, pos);
      if (value_end == std::string_view::npos) return Bad("unterminated quoted parameter value");
      if (value_end == pos) return Bad("empty parameter value");
      param.value = text.substr(pos, value_end - pos);
      param.has_value = true;
      pos = value_end;
    }
    out->push_back(param);
    pos = SkipWs(text, pos);
  }
  return absl::OkStatus();
}

std::optional<std::string_view> FindParam(const GenericParams& params, std::string_view name) {
  for (const GenericParam& p : params) {
    if (scan::EqualsNoCase(p.name, name)) return p.value;
  }
  return std::nullopt;
}

std::string NameAddr::DisplayName() const {
  return display_name_quoted ? UnquoteString(display_name) : std::string(display_name);
}

std::string NameAddr::ToString() const {
  if (wildcard) return "*";
  std::string out;
  if (!display_name.empty()) {
    if (display_name_quoted) {
      out.append("\"").append(display_name).append("\" ");
    } else {
      out.append(display_name).append(" ");
    }
  }
  out.append("<").append(uri_text).append(">");
  for (const GenericParam& p : params) {
    out.append(";").append(p.name);
    if (p.has_value) out.append("=").append(p.value);
  }
  return out;
}

absl::StatusOr<NameAddr> ParseNameAddr(std::string_view text, bool allow_wildcard) {
  NameAddr result;
  text = Trim(text);
  result.raw = text;
  if (text.empty()) return Bad("empty name-addr");
  if (allow_wildcard && text == "*") {
    result.wildcard = true;
    return result;
  }
  size_t pos = 0;
  std::string_view rest;
  if (text[0] == '"') {
    size_t end = SkipQuoted(text, 0);
    if (end == std::string_view::npos) return Bad("unterminated quoted display name");
    result.display_name = text.substr(1, end - 2);
    result.display_name_quoted = true;
    pos = SkipWs(text, end);
    if (pos >= text.size() || text[pos] != '<') return Bad("quoted display name without <uri>");
  } else {
    // A '<' at top level means name-addr; the display name before it is *(token LWS).
    size_t lt = text.find('<');
    if (lt != std::string_view::npos) {
      std::string_view display = Trim(text.substr(0, lt));
      for (char c : display) {
        if (!scan::IsTokenByte(c) && !IsWs(c)) return Bad("display name needs quotes");
      }
      result.display_name = display;
      pos = lt;
    }
  }
  if (pos < text.size() && text[pos] == '<') {
    size_t gt = text.find('>', pos);
    if (gt == std::string_view::npos) return Bad("unterminated <uri>");
    result.angle_brackets = true;
    result.uri_text = text.substr(pos + 1, gt - pos - 1);
    rest = text.substr(gt + 1);
  } else {
    // addr-spec: the URI ends at the first ';' or whitespace; what follows are header params.
    size_t end = 0;
    while (end < text.size() && text[end] != ';' && !IsWs(text[end])) ++end;
    result.uri_text = text.substr(0, end);
    rest = text.substr(end);
  }
  absl::StatusOr<Uri> uri = Uri::Parse(result.uri_text);
  if (!uri.ok()) return uri.status();
  result.uri = *uri;
  if (!result.angle_brackets && !result.uri.headers().empty()) {
    return Bad("URI with headers must be enclosed in <>");  // RFC 3261 §20.10, RFC 4475 regbadct
  }
  absl::Status status = ParseGenericParams(rest, &result.params);
  if (!status.ok()) return status;
  return result;
}

absl::Status SplitCommaList(std::string_view value, std::vector<std::string_view>* out) {
  bool ok = scan::ForEachListItem(value, [out](std::string_view item) {
    out->push_back(item);
    return true;
  });
  return ok ? absl::OkStatus() : Bad("malformed comma list");
}

absl::StatusOr<std::vector<std::string_view>> ParseTokenList(std::string_view value) {
  std::vector<std::string_view> tokens;
  absl::Status status = SplitCommaList(value, &tokens);
  if (!status.ok()) return status;
  for (std::string_view token : tokens) {
    if (!IsToken(token)) return Bad("bad token in list");
  }
  return tokens;
}

std::string UnquoteString(std::string_view inner) {
  if (inner.size() >= 2 && inner.front() == '"' && inner.back() == '"') {
    inner = inner.substr(1, inner.size() - 2);
  }
  std::string out;
  out.reserve(inner.size());
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size()) ++i;
    out.push_back(inner[i]);
  }
  return out;
}

std::string QuoteString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string AuthParam::Unquoted() const {
  return quoted ? UnquoteString(value) : std::string(value);
}

std::optional<std::string_view> AuthValue::Param(std::string_view name) const {
  for (const AuthParam& p : params) {
    if (absl::EqualsIgnoreCase(ToAbsl(p.name), ToAbsl(name))) return p.value;
  }
  return std::nullopt;
}

absl::StatusOr<AuthValue> ParseAuthValue(std::string_view value) {
  AuthValue result;
  value = Trim(value);
  size_t scheme_end = TokenEnd(value, 0);
  if (scheme_end == 0) return Bad("missing auth scheme");
  result.scheme = value.substr(0, scheme_end);
  if (scheme_end < value.size() && !IsWs(value[scheme_end])) return Bad("bad auth scheme");
  std::vector<std::string_view> items;
  absl::Status status = SplitCommaList(value.substr(scheme_end), &items);
  if (!status.ok()) return status;
  for (std::string_view item : items) {
    AuthParam param;
    size_t name_end = TokenEnd(item, 0);
    size_t eq = SkipWs(item, name_end);
    if (name_end == 0 || eq >= item.size() || item[eq] != '=') {
      // token68-style credentials (e.g. "Negotiate YIIG..."): keep the item whole as a value.
      param.value = item;
      result.params.push_back(param);
      continue;
    }
    param.name = item.substr(0, name_end);
    size_t v = SkipWs(item, eq + 1);
    std::string_view raw = item.substr(v);
    if (!raw.empty() && raw[0] == '"') {
      size_t end = SkipQuoted(raw, 0);
      if (end != raw.size()) return Bad("bad quoted auth parameter");
      param.quoted = true;
    } else {
      // auth-param values are tokens; be liberal with base64 ('/', '=') seen in the wild.
      for (char c : raw) {
        if (IsWs(c) || c == '"') return Bad("bad auth parameter value");
      }
    }
    param.value = raw;
    result.params.push_back(param);
  }
  return result;
}

absl::StatusOr<MediaType> ParseMediaType(std::string_view value) {
  MediaType result;
  value = Trim(value);
  size_t type_end = TokenEnd(value, 0);
  if (type_end == 0) return Bad("bad media type");
  result.type = value.substr(0, type_end);
  size_t slash = SkipWs(value, type_end);
  if (slash >= value.size() || value[slash] != '/') return Bad("media type without '/'");
  size_t sub = SkipWs(value, slash + 1);
  size_t sub_end = TokenEnd(value, sub);
  if (sub_end == sub) return Bad("bad media subtype");
  result.subtype = value.substr(sub, sub_end - sub);
  absl::Status status = ParseGenericParams(value.substr(sub_end), &result.params);
  if (!status.ok()) return status;
  return result;
}

absl::StatusOr<TokenWithParams> ParseTokenWithParams(std::string_view value) {
  TokenWithParams result;
  value = Trim(value);
  size_t end = TokenEnd(value, 0);
  if (end == 0) return Bad("missing token");
  result.token = value.substr(0, end);
  absl::Status status = ParseGenericParams(value.substr(end), &result.params);
  if (!status.ok()) return status;
  return result;
}

}  // namespace causeway::sip
