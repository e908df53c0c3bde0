#include "sip/lync/bodies_util.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status.h"
#include "core/strings.h"

namespace causeway::sip::lync::internal {

std::string_view TrimXmlSpace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n";
  size_t b = s.find_first_not_of(kSpace);
  if (b == std::string_view::npos) return {};
  size_t e = s.find_last_not_of(kSpace);
  return s.substr(b, e - b + 1);
}

std::optional<uint32_t> ParseUint32(std::string_view s) {
  s = TrimXmlSpace(s);
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

std::optional<std::vector<uint32_t>> ParseIdList(std::string_view s) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t b = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    if (i == b) break;
    std::optional<uint32_t> v = ParseUint32(s.substr(b, i - b));
    if (!v) return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

std::optional<bool> ParseBool(std::string_view s) {
  s = TrimXmlSpace(s);
  if (s == "1" || absl::EqualsIgnoreCase(ToAbsl(s), "true")) return true;
  if (s == "0" || absl::EqualsIgnoreCase(ToAbsl(s), "false")) return false;
  return std::nullopt;
}

std::string JoinIds(const std::vector<uint32_t>& ids) {
  std::string out;
  for (uint32_t id : ids) {
    if (!out.empty()) out += ' ';
    out += std::to_string(id);
  }
  return out;
}

absl::Status BodyError(std::string_view what, std::string_view detail) {
  return SipError(400, absl::StrCat("lync ", ToAbsl(what), ": ", ToAbsl(detail)));
}

absl::StatusOr<uint32_t> RequiredUint(const XmlElement& e, std::string_view attr,
                                      std::string_view what) {
  std::optional<std::string_view> v = e.Attr(attr);
  if (!v) return BodyError(what, absl::StrCat("missing ", ToAbsl(attr)));
  std::optional<uint32_t> n = ParseUint32(*v);
  if (!n) return BodyError(what, absl::StrCat("bad ", ToAbsl(attr)));
  return *n;
}

absl::StatusOr<std::optional<uint32_t>> OptionalUint(const XmlElement& e, std::string_view attr,
                                                     std::string_view what) {
  std::optional<std::string_view> v = e.Attr(attr);
  if (!v) return std::optional<uint32_t>();
  std::optional<uint32_t> n = ParseUint32(*v);
  if (!n) return BodyError(what, absl::StrCat("bad ", ToAbsl(attr)));
  return n;
}

}  // namespace causeway::sip::lync::internal
