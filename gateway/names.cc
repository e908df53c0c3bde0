#include "gateway/names.h"

#include "core/net_address.h"

namespace causeway::gateway {

std::string ToLowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsValidHostname(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  bool all_numeric = true;  // "1.2.3" is neither a name nor an address: reject it
  size_t label_start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i == name.size() || name[i] == '.') {
      size_t len = i - label_start;
      if (len == 0 || len > 63) return false;
      if (name[label_start] == '-' || name[i - 1] == '-') return false;
      label_start = i + 1;
      continue;
    }
    char c = name[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !digit && c != '-') return false;
    if (!digit) all_numeric = false;
  }
  return !all_numeric;
}

std::optional<std::string> NormalizeHost(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    if (text.back() != ']') return std::nullopt;  // a port after ']' is not a host
    std::optional<NetAddress> a = NetAddress::Parse(text);
    if (!a || !a->is_v6()) return std::nullopt;
    return a->HostForUri();
  }
  if (text.find(':') != std::string_view::npos) {
    // Two or more colons: a bare IPv6 address. One colon: host:port, which is not allowed here.
    if (text.find(':') == text.rfind(':')) return std::nullopt;
    std::optional<NetAddress> a = NetAddress::Parse(text);
    if (!a) return std::nullopt;
    return a->HostForUri();
  }
  if (std::optional<NetAddress> a = NetAddress::Parse(text)) return a->HostString();
  if (!IsValidHostname(text)) return std::nullopt;
  return ToLowerAscii(text);
}

}  // namespace causeway::gateway
