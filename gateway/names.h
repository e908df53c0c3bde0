#pragma once
// Host name checks shared by the config and certificate code (no DNS, syntax only).

#include <optional>
#include <string>
#include <string_view>

namespace causeway::gateway {

std::string ToLowerAscii(std::string_view text);

// RFC 1123 host name: dot-separated labels of letters, digits and '-' (not at either end),
// 1..63 bytes each, 253 bytes in total, no trailing dot. IP literals are not host names.
bool IsValidHostname(std::string_view name);

// A host for Via/Record-Route: a host name (lower-cased), an IPv4 address, or an IPv6 address
// (bracketed or not) returned in URI form "[v6]". Ports are not accepted.
std::optional<std::string> NormalizeHost(std::string_view text);

}  // namespace causeway::gateway
