#pragma once
// Which peer addresses the relay may send to (RFC 8656 §21.3, "safe by default"): everything
// public, nothing in the special-purpose ranges — loopback, private (RFC 1918, ULA), CGNAT,
// link-local, multicast, broadcast, reserved, unspecified, IPv4-mapped/NAT64 forms of those, and
// the relay's own addresses — unless an operator opens a range with `[turn] allow_peers`.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::turn {

struct CidrRange {
  NetAddress network;  // port ignored
  uint8_t prefix = 0;
  // "10.0.0.0/8", "::1/128", "192.0.2.7" (a host). InvalidArgument names the text.
  static absl::StatusOr<CidrRange> Parse(std::string_view text);
  bool Contains(const NetAddress& address) const;  // same family only
  std::string ToString() const;
};

class PeerPolicy {
 public:
  // `allow`: ranges opened explicitly (checked first); `own`: the relay's own addresses, always
  // refused unless inside an allowed range.
  PeerPolicy(std::vector<CidrRange> allow, std::vector<NetAddress> own);

  bool Allowed(const NetAddress& peer) const;

 private:
  std::vector<CidrRange> allow_;
  std::vector<NetAddress> own_;
};

}  // namespace causeway::turn
