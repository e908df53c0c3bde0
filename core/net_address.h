#pragma once
// A socket address (IPv4 or IPv6 + port) as a small value type: no sockets, no allocation, hashable.
// Used at every layer boundary that names a peer (transports, transactions, registrar).

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace causeway {

class NetAddress {
 public:
  NetAddress() = default;
  static NetAddress V4(uint32_t host_order_ip, uint16_t port);
  static NetAddress V6(const std::array<uint8_t, 16>& bytes, uint16_t port);
  // Parses "1.2.3.4", "1.2.3.4:5060", "::1", "[::1]", "[::1]:5061". Port defaults to `default_port`.
  static std::optional<NetAddress> Parse(std::string_view text, uint16_t default_port = 0);

  bool is_v6() const { return v6_; }
  uint16_t port() const { return port_; }
  void set_port(uint16_t port) { port_ = port; }
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }  // v4 uses the first 4 bytes
  uint32_t v4_host_order() const;
  bool is_unspecified() const;

  std::string HostString() const;  // "1.2.3.4" or "::1" (no brackets)
  std::string HostForUri() const;  // "1.2.3.4" or "[::1]"
  std::string ToString() const;    // "1.2.3.4:5060" or "[::1]:5060"

  friend bool operator==(const NetAddress&, const NetAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const NetAddress& a) {
    return H::combine(std::move(h), a.bytes_, a.port_, a.v6_);
  }

 private:
  std::array<uint8_t, 16> bytes_{};
  uint16_t port_ = 0;
  bool v6_ = false;
};

}  // namespace causeway
