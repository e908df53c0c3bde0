#pragma once
// Internal character-class and scanning helpers shared by the codec's parsers (not a public API).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace causeway::sip::scan {

inline bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
inline bool IsHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
inline int HexValue(char c) {
  if (IsDigit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}
// Whitespace inside a header value. Folding is already turned into spaces by the message parser,
// but values handed in directly may still carry CRLF + WSP, which is LWS too.
inline bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

inline std::string_view TrimLeft(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && IsWs(s[i])) ++i;
  return s.substr(i);
}
inline std::string_view TrimRight(std::string_view s) {
  size_t n = s.size();
  while (n > 0 && IsWs(s[n - 1])) --n;
  return s.substr(0, n);
}
inline std::string_view Trim(std::string_view s) { return TrimRight(TrimLeft(s)); }

inline size_t SkipWs(std::string_view s, size_t pos) {
  while (pos < s.size() && IsWs(s[pos])) ++pos;
  return pos;
}

// Position just after a quoted-string starting at s[pos] == '"', or npos when unterminated.
inline size_t SkipQuoted(std::string_view s, size_t pos) {
  for (size_t i = pos + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;  // quoted-pair: the next byte is literal
      continue;
    }
    if (s[i] == '"') return i + 1;
  }
  return std::string_view::npos;
}

// RFC 3261 §25.1 token: alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"
// A table: this is the hottest predicate of the parser.
inline constexpr std::array<bool, 256> kTokenTable = [] {
  std::array<bool, 256> t{};
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (char c : std::string_view("-.!%*_+`'~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();
inline bool IsTokenByte(char c) { return kTokenTable[static_cast<unsigned char>(c)]; }

inline char AsciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline bool EqualsNoCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (AsciiLower(a[i]) != AsciiLower(b[i])) return false;
  }
  return true;
}

// The bytes that matter when splitting a comma list.
inline constexpr std::array<bool, 256> kListSpecial = [] {
  std::array<bool, 256> t{};
  t['"'] = t[','] = t['<'] = t['>'] = true;
  return t;
}();

// Calls f(item) for each element of a comma list, splitting outside quoted strings and <...>,
// trimming LWS. Returns false on an empty element or an unterminated quote / '<'.
template <typename F>
bool ForEachListItem(std::string_view value, F&& f) {
  size_t start = 0;
  bool in_angle = false;
  bool any = false;
  for (size_t i = 0; i <= value.size(); ++i) {
    while (i < value.size() && !kListSpecial[static_cast<unsigned char>(value[i])]) ++i;
    if (i < value.size()) {
      char c = value[i];
      if (c == '"' && !in_angle) {
        size_t end = SkipQuoted(value, i);
        if (end == std::string_view::npos) return false;
        i = end - 1;
        continue;
      }
      if (c == '<') in_angle = true;
      if (c == '>') in_angle = false;
      if (c != ',' || in_angle) continue;
    } else if (in_angle) {
      return false;
    } else if (!any && Trim(value).empty()) {
      return true;  // an empty value is an empty list
    }
    std::string_view element = Trim(value.substr(start, i - start));
    if (element.empty()) return false;
    any = true;
    if (!f(element)) return false;
    start = i + 1;
  }
  return true;
}

// Parses an unsigned decimal with at most `max_value`; leading zeros allowed (RFC 4475 wsinv).
inline std::optional<uint64_t> ParseDecimal(std::string_view s, uint64_t max_value) {
  if (s.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > max_value) return std::nullopt;  // also stops overflow: max_value < 2^60
  }
  return value;
}

}  // namespace causeway::sip::scan
