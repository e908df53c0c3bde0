#include "media/turn/peer_policy.h"

#include <algorithm>
#include <array>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::turn {
namespace {

// IANA special-purpose registries (RFC 6890 and successors) plus multicast and the legacy
// site-local range: nothing a media peer on the Internet lives in.
const std::vector<CidrRange>& DeniedRanges() {
  static const std::vector<CidrRange> ranges = [] {
    std::vector<CidrRange> out;
    for (const char* text :
         {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
          "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
          "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
          "::/128", "::1/128", "100::/64", "2001::/23", "2001:db8::/32", "2002::/16",
          "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8"}) {
      out.push_back(*CidrRange::Parse(text));
    }
    return out;
  }();
  return ranges;
}

// ::ffff:a.b.c.d and the NAT64 well-known prefix 64:ff9b::/96 reach IPv4 hosts: judge the IPv4
// address inside.
std::optional<NetAddress> EmbeddedV4(const NetAddress& address) {
  if (!address.is_v6()) return std::nullopt;
  const auto& b = address.bytes();
  static constexpr std::array<uint8_t, 12> kMapped = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static constexpr std::array<uint8_t, 12> kNat64 = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  const bool mapped = std::equal(kMapped.begin(), kMapped.end(), b.begin());
  const bool nat64 = std::equal(kNat64.begin(), kNat64.end(), b.begin());
  if (!mapped && !nat64) return std::nullopt;
  const uint32_t ip = (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) |
                      uint32_t{b[15]};
  return NetAddress::V4(ip, address.port());
}

bool SameHost(const NetAddress& a, const NetAddress& b) {
  return a.is_v6() == b.is_v6() && a.bytes() == b.bytes();
}

}  // namespace

absl::StatusOr<CidrRange> CidrRange::Parse(std::string_view text) {
  const size_t slash = text.find('/');
  const std::string_view host = text.substr(0, slash);
  std::optional<NetAddress> network = NetAddress::Parse(host);
  if (!network || network->port() != 0 || host.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("not an address range: \"", ToAbsl(text), "\""));
  }
  const int max_prefix = network->is_v6() ? 128 : 32;
  int prefix = max_prefix;
  if (slash != std::string_view::npos &&
      (!absl::SimpleAtoi(ToAbsl(text.substr(slash + 1)), &prefix) || prefix < 0 || prefix > max_prefix)) {
    return absl::InvalidArgumentError(absl::StrCat("bad prefix length in \"", ToAbsl(text), "\""));
  }
  CidrRange range;
  range.network = *network;
  range.prefix = static_cast<uint8_t>(prefix);
  return range;
}

bool CidrRange::Contains(const NetAddress& address) const {
  if (address.is_v6() != network.is_v6()) return false;
  const auto& a = address.bytes();
  const auto& n = network.bytes();
  size_t bits = prefix;
  for (size_t i = 0; bits > 0; ++i) {
    const size_t take = bits >= 8 ? 8 : bits;
    const uint8_t mask = static_cast<uint8_t>(0xFF00u >> take);
    if ((a[i] & mask) != (n[i] & mask)) return false;
    bits -= take;
  }
  return true;
}

std::string CidrRange::ToString() const { return absl::StrCat(network.HostString(), "/", prefix); }

PeerPolicy::PeerPolicy(std::vector<CidrRange> allow, std::vector<NetAddress> own)
    : allow_(std::move(allow)), own_(std::move(own)) {}

bool PeerPolicy::Allowed(const NetAddress& peer) const {
  for (const CidrRange& range : allow_) {
    if (range.Contains(peer)) return true;
  }
  if (std::optional<NetAddress> v4 = EmbeddedV4(peer)) return Allowed(*v4);
  for (const NetAddress& own : own_) {
    if (SameHost(own, peer)) return false;
  }
  for (const CidrRange& range : DeniedRanges()) {
    if (range.Contains(peer)) return false;
  }
  return true;
}

}  // namespace causeway::turn
