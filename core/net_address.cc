#include "core/net_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace causeway {

NetAddress NetAddress::V4(uint32_t host_order_ip, uint16_t port) {
  NetAddress a;
  a.bytes_[0] = static_cast<uint8_t>(host_order_ip >> 24);
  a.bytes_[1] = static_cast<uint8_t>(host_order_ip >> 16);
  a.bytes_[2] = static_cast<uint8_t>(host_order_ip >> 8);
  a.bytes_[3] = static_cast<uint8_t>(host_order_ip);
  a.port_ = port;
  return a;
}

NetAddress NetAddress::V6(const std::array<uint8_t, 16>& bytes, uint16_t port) {
  NetAddress a;
  a.bytes_ = bytes;
  a.port_ = port;
  a.v6_ = true;
  return a;
}

std::optional<NetAddress> NetAddress::Parse(std::string_view text, uint16_t default_port) {
  std::string_view host = text;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port_text = rest.substr(1);
    }
  } else if (size_t colon = text.find(':'); colon != std::string_view::npos &&
                                            text.find(':', colon + 1) == std::string_view::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  uint16_t port = default_port;
  if (!port_text.empty()) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value > 65535) {
      return std::nullopt;
    }
    port = static_cast<uint16_t>(value);
  }
  if (host.empty() || host.size() >= 64) return std::nullopt;
  char buf[64];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  NetAddress a;
  a.port_ = port;
  if (host.find(':') != std::string_view::npos) {
    if (inet_pton(AF_INET6, buf, a.bytes_.data()) != 1) return std::nullopt;
    a.v6_ = true;
  } else {
    if (inet_pton(AF_INET, buf, a.bytes_.data()) != 1) return std::nullopt;
  }
  return a;
}

uint32_t NetAddress::v4_host_order() const {
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

bool NetAddress::is_unspecified() const {
  size_t n = v6_ ? 16 : 4;
  for (size_t i = 0; i < n; ++i) {
    if (bytes_[i] != 0) return false;
  }
  return true;
}

std::string NetAddress::HostString() const {
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buf, sizeof buf);
  return buf;
}

std::string NetAddress::HostForUri() const {
  return v6_ ? "[" + HostString() + "]" : HostString();
}

std::string NetAddress::ToString() const { return HostForUri() + ":" + std::to_string(port_); }

}  // namespace causeway
