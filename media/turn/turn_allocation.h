#pragma once
// Internal to media/turn (turn_server.cc and msturn_dialect.cc): one allocation's state, for both
// dialects the relay serves, and small helpers both files use. Not part of the library's API.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"
#include "core/net_address.h"
#include "core/timer_wheel.h"
#include "media/msturn/msturn_message.h"
#include "media/stun/stun_message.h"
#include "media/turn/turn_server.h"

namespace causeway::turn {

struct TurnWorker::Allocation {
  RelayId relay = 0;
  ClientFlow flow;
  NetAddress relayed;
  std::string username;
  std::string user;  // quota key (Credentials::UserOf)
  TimePoint expires{};
  TimerId expiry_timer = kInvalidTimerId;
  // Chosen by the Allocate that created it; packets of the other dialect on its 5-tuple are not
  // requests to it (MS-TURN: they are data to the active destination).
  RelayDialect dialect = RelayDialect::kRfc8656;
  // The last Allocate's transaction and answer: a retransmission gets the same answer (§7.2).
  // For MS-TURN the answer is stored unframed; streams frame it when sending.
  stun::TransactionId allocate_transaction{};
  msturn::TransactionId ms_allocate_transaction{};
  std::string allocate_response;
  // Keyed by the peer's IP (port 0): permissions ignore ports (RFC 8656 §9).
  absl::flat_hash_map<NetAddress, TimePoint> permissions;
  struct Channel {
    NetAddress peer;
    TimePoint expires{};
  };
  absl::flat_hash_map<uint16_t, Channel> channels;  // includes quarantined (expired) ones
  absl::flat_hash_map<NetAddress, uint16_t> channel_by_peer;

  // --- MS-TURN only ---
  // Send and Set Active Destination carry USERNAME + REALM but no NONCE: they are checked against
  // this key, derived once at Allocate, so no MD5 runs per packet.
  std::string key;
  // The NONCE that last authenticated an Allocate of this allocation. libnice refreshes with the
  // nonce of its first Allocate and does not retry a refresh answered 438 (measured against the
  // relay: the allocation then expires), so this one stays good for the allocation's refreshes.
  std::string nonce;
  std::optional<uint32_t> ms_version;  // what the answers carry: min(client's, 2)
  std::array<char, 20> connection_id{};  // MS-SEQUENCE-NUMBER's id, random per allocation
  // Set Active Destination: the last accepted sequence number (a lower or equal one is a replay)
  // and the last answer, resent for a retransmission of the same transaction.
  bool sad_sequence_seen = false;
  uint32_t last_sad_sequence = 0;
  msturn::TransactionId last_sad_transaction{};
  std::string last_sad_answer;
  // The peer whose data flows without any header, both ways ([MS-TURN] 3.3.5.3).
  std::optional<NetAddress> active_destination;
};

namespace internal {

inline std::chrono::seconds Seconds(uint32_t s) { return std::chrono::seconds(s); }

inline NetAddress IpOnly(const NetAddress& address) {
  NetAddress ip = address;
  ip.set_port(0);
  return ip;
}

// max(default, min(requested, max)), or the default when the client asked nothing (§7.2).
inline uint32_t GrantedLifetime(const TurnOptions& options, std::optional<uint32_t> requested) {
  if (!requested) return options.default_lifetime_s;
  return std::max(options.default_lifetime_s, std::min(*requested, options.max_lifetime_s));
}

}  // namespace internal
}  // namespace causeway::turn
