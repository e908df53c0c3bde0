#pragma once
// The TURN relay's logic (RFC 8656 over RFC 8489), without sockets: allocations, permissions,
// channel bindings and their lifetimes, long-term authentication with stateless nonces, quotas,
// capacity and the peer address policy. media/io feeds it packets and carries out its sends
// through RelayIo (relay_io.h).
//
// Two dialects share it: RFC 8656 and MS-TURN (Lync / Office Communicator, draft-rosenberg-midcom-
// turn-08 as [MS-TURN] profiles it; media/msturn is the codec, its README the plan followed here).
// Each allocation speaks the dialect of the Allocate that created it; msturn_dialect.cc holds the
// MS-TURN handlers.
//
// Threads: one TurnWorker per worker thread owns the allocations of the clients whose packets
// that worker receives (SO_REUSEPORT keeps a UDP 5-tuple on one socket; a stream stays on the
// worker that accepted it), so the data path takes no lock. TurnShared holds what all workers
// share: options, credentials, the nonce key and the quota counters (a mutex, taken only when an
// allocation is created or deleted).

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/clock.h"
#include "core/net_address.h"
#include "core/timer_wheel.h"
#include "media/stun/stun_message.h"
#include "media/turn/credentials.h"
#include "media/turn/peer_policy.h"
#include "media/turn/relay_io.h"

namespace causeway::msturn {
class MsTurnMessage;
}  // namespace causeway::msturn

namespace causeway::turn {

enum class RelayDialect : uint8_t { kRfc8656, kMsTurn };

struct TurnOptions {
  std::string software = "Causeway";  // SOFTWARE in responses; empty = none
  // RFC 8656 §3.2, §9, §12: lifetimes the client cannot exceed or shorten below.
  uint32_t default_lifetime_s = 600;
  uint32_t max_lifetime_s = 3600;
  uint32_t permission_lifetime_s = 300;
  uint32_t channel_lifetime_s = 600;
  // A channel number (and its peer) stays reserved this long after its binding expires (§12).
  uint32_t channel_quarantine_s = 300;
  uint32_t nonce_lifetime_s = 600;  // after that a request gets 438 with a fresh nonce
  uint32_t max_allocations = 10000;           // whole relay; over it: 508
  uint32_t max_allocations_per_user = 32;     // 486
  uint32_t max_allocations_per_ip = 64;       // 486
  uint32_t max_bindings_per_allocation = 256;  // permissions, and channels, each; over it: 508
  // Over UDP, answers to unauthenticated requests (Binding, the 401/438 challenges) that are
  // larger than the request may exceed it by at most this many bytes per source IP per window;
  // past that they are dropped and counted, so a spoofed source cannot turn the relay into an
  // amplifier. Minimal answers (no SOFTWARE) keep a normal client far below the budget.
  uint32_t amplification_budget_bytes = 65536;
  uint32_t amplification_window_s = 10;
};

// Per-worker counters (read by the metrics endpoint through a snapshot posted to the worker).
struct TurnStats {
  uint64_t allocations = 0;  // gauge
  uint64_t permissions = 0;  // gauge
  uint64_t channels = 0;     // gauge
  uint64_t allocations_created = 0;
  uint64_t allocations_expired = 0;
  uint64_t allocations_deleted = 0;  // Refresh 0, stream closed, shutdown
  uint64_t binding_requests = 0;
  uint64_t requests = 0;  // Allocate, Refresh, CreatePermission, ChannelBind
  uint64_t challenges = 0;          // 401 without a failed integrity check
  uint64_t auth_failures = 0;       // 401 after a bad username, password or integrity
  uint64_t stale_nonces = 0;        // 438
  uint64_t mismatches = 0;          // 437
  uint64_t quota_rejections = 0;    // 486
  uint64_t capacity_rejections = 0; // 508
  uint64_t forbidden_peers = 0;     // 403
  uint64_t bad_requests = 0;        // 400, 420, 440, 442, 443
  uint64_t malformed = 0;           // discarded: not STUN/ChannelData, bad framing, bad fingerprint
  uint64_t amplification_drops = 0; // unauthenticated answers over the source's budget (UDP)
  uint64_t to_peer_packets = 0;
  uint64_t to_peer_bytes = 0;
  uint64_t from_peer_packets = 0;
  uint64_t from_peer_bytes = 0;
  uint64_t dropped_no_permission = 0;  // peer or client packets without a permission/channel
  uint64_t dropped_no_allocation = 0;  // ChannelData/Send from a flow without an allocation
  // MS-TURN. Its Allocate and Set Active Destination also count in `requests`, its answers in the
  // counters above (challenges, auth_failures, stale_nonces, quota/capacity_rejections, ...).
  uint64_t msturn_allocations = 0;      // gauge, part of `allocations`
  uint64_t msturn_send_requests = 0;    // Send requests received (relayed ones: to_peer_*)
  uint64_t dropped_no_destination = 0;  // raw client data without an active destination
  uint64_t dialect_mismatches = 0;      // one dialect's message on the other's allocation
  uint64_t msturn_replays = 0;          // Send/SAD with another connection id, old SAD sequence

};

class TurnShared {
 public:
  TurnShared(TurnOptions options, Credentials credentials, PeerPolicy policy);

  const TurnOptions& options() const { return options_; }
  const Credentials& credentials() const { return credentials_; }
  const PeerPolicy& policy() const { return policy_; }

  // A nonce bound to the client's IP and valid for options().nonce_lifetime_s from `now`.
  std::string MakeNonce(const NetAddress& client, TimePoint now) const;
  enum class NonceCheck { kValid, kStale, kInvalid };
  NonceCheck CheckNonce(std::string_view nonce, const NetAddress& client, TimePoint now) const;
  // Tests only: `nonce` is also valid, for any client, so an exchange captured from a real client
  // against another server (tests/media_msturn/libnice_vectors.h) can be replayed byte for byte.
  // Call before workers run. Empty = none (the default).
  void AcceptNonceForTesting(std::string nonce) { test_nonce_ = std::move(nonce); }

  // Quota bookkeeping for one new allocation. OK, or ResourceExhausted with the STUN error code
  // to answer (486 for the user or IP quota, 508 for the relay's capacity) in the message.
  absl::Status ReserveAllocation(std::string_view user, const NetAddress& client, int* error_code);
  void ReleaseAllocation(std::string_view user, const NetAddress& client);
  size_t total_allocations() const { return total_.load(std::memory_order_relaxed); }

  // Ports held for RESERVATION-TOKENs (RFC 8656 §7.2), shared because the Allocate that claims
  // one may reach another worker. Taken once: a second take of the same token finds nothing.
  bool AddHeldPort(uint64_t token, int held, const NetAddress& address);
  struct HeldPort {
    int held = -1;
    NetAddress address;
  };
  std::optional<HeldPort> TakeHeldPort(uint64_t token);

 private:
  static std::string IpKey(const NetAddress& address);

  const TurnOptions options_;
  const Credentials credentials_;
  const PeerPolicy policy_;
  std::array<uint8_t, 32> nonce_key_{};
  // Nonces carry seconds since this point of the workers' Clock (the `now` they pass): the clock's
  // own epoch, so a SimulatedClock works too. (It was this object's steady_clock reading at
  // construction, which made every nonce of a simulated clock starting before the machine's
  // uptime look fresh forever: the stale-nonce tests failed after an hour of uptime.)
  const TimePoint epoch_;
  std::string test_nonce_;

  std::mutex held_mutex_;
  absl::flat_hash_map<uint64_t, HeldPort> held_ports_;

  std::mutex quota_mutex_;
  absl::flat_hash_map<std::string, uint32_t> per_user_;
  absl::flat_hash_map<std::string, uint32_t> per_ip_;
  std::atomic<size_t> total_{0};
};

class TurnWorker final : public RelayHandler {
 public:
  // `wall_at_start` anchors the wall time credentials expire against: wall = wall_at_start +
  // (clock.Now() - the clock's reading at construction).
  TurnWorker(TurnShared& shared, RelayIo& io, TimerWheel& wheel, const Clock& clock,
             absl::Time wall_at_start = absl::Now());
  ~TurnWorker() override;
  TurnWorker(const TurnWorker&) = delete;
  TurnWorker& operator=(const TurnWorker&) = delete;

  // One message from a client: a whole UDP datagram, or one STUN or ChannelData message cut from
  // a stream by the io layer (media/io frames streams with stun::ParseChannelData and the STUN
  // length field), or over a stream one whole [MS-TURN] 2.1.4 frame, header included (first
  // byte 0x02 control / 0x03 data; msturn::ParseTcpFrame cuts them). Over UDP, MS-TURN control
  // messages are told apart per datagram (msturn::LooksLikeMsTurn); anything else on the 5-tuple
  // of an MS-TURN allocation is data for its active destination.
  void OnClientMessage(const ClientFlow& flow, std::string_view bytes) override;
  // One datagram a peer sent to the relayed address `relay`.
  void OnPeerPacket(RelayId relay, const NetAddress& peer, std::string_view payload) override;
  // A stream client went away: its allocation ends with it (RFC 8656 §7: TCP/TLS 5-tuple).
  void OnClientClosed(const ClientFlow& flow) override;
  // Deletes every allocation (graceful stop).
  void Shutdown();

  // Called after the worker put a timer on the wheel (allocation expiry, reservation release):
  // a runtime worker re-arms its OS timer there. Never per packet.
  void set_on_timers_changed(absl::AnyInvocable<void()> hook) {
    on_timers_changed_ = std::move(hook);
  }

  const TurnStats& stats() const { return stats_; }
  size_t allocation_count() const { return by_flow_.size(); }

  // Tests only: the next MS-TURN allocation uses this 20-byte MS-SEQUENCE-NUMBER connection id
  // instead of a random one (to replay a captured exchange byte for byte).
  void SetNextConnectionIdForTesting(std::string_view id) {
    test_connection_id_ = std::string(id);
  }

 private:
  struct Allocation;
  struct Request;

  void HandleStun(const ClientFlow& flow, std::string_view bytes);
  void HandleChannelData(const ClientFlow& flow, std::string_view bytes);
  void HandleBinding(const ClientFlow& flow, const stun::StunMessage& message);
  void HandleSendIndication(const ClientFlow& flow, const stun::StunMessage& message);
  void HandleAuthenticated(Request& request);
  void HandleAllocate(Request& request);
  void HandleRefresh(Request& request, Allocation& allocation);
  void HandleCreatePermission(Request& request, Allocation& allocation);
  void HandleChannelBind(Request& request, Allocation& allocation);

  // MS-TURN (msturn_dialect.cc).
  void HandleMsTurnFrame(const ClientFlow& flow, std::string_view frame);
  void HandleMsTurn(const ClientFlow& flow, std::string_view bytes);
  void HandleMsAllocate(const ClientFlow& flow, const msturn::MsTurnMessage& message,
                        Allocation* existing);
  void HandleMsSend(const msturn::MsTurnMessage& message, Allocation& allocation);
  void HandleMsSetActiveDestination(const msturn::MsTurnMessage& message,
                                    Allocation& allocation);
  void RelayRawFromClient(Allocation& allocation, std::string_view data);
  void SendMsPeerPacket(Allocation& allocation, const NetAddress& peer, std::string_view payload);
  // Answers: framed as a control frame over streams; unauthenticated ones over UDP within the
  // amplification budget.
  void SendMsControl(const ClientFlow& flow, std::string_view message);
  void SendMsUnauthenticated(const ClientFlow& flow, size_t request_bytes,
                             std::string_view message);
  void NewMsTransactionId(std::array<uint8_t, 16>& id);

  // A slot and a relayed socket for a new allocation of `user` (quota reserved); nullptr with the
  // RFC 8656 error code to answer (486, 508, 440) when any of it fails, everything undone.
  // `reserve_next` (EVEN-PORT with R): the port above the even one is bound too and held for a
  // later Allocate with the RESERVATION-TOKEN written to `token`. `claimed`: take that reserved
  // relayed socket instead of opening one.
  struct Reservation {
    int held = -1;  // RelayIo::HoldPort's descriptor
    NetAddress address;
  };
  Allocation* CreateAllocation(const ClientFlow& flow, std::string_view username,
                               const std::string& user, bool v6, bool even_port, int* error_code,
                               bool reserve_next = false, uint64_t* token = nullptr,
                               const Reservation* claimed = nullptr);
  bool TakeSlot(uint32_t* slot);
  // A slot whose RelayId reached io goes back with a new generation.
  void ReturnSlot(uint32_t slot);
  bool ReservePort(const NetAddress& address, uint64_t* token);
  std::optional<Reservation> ClaimReservation(std::string_view token);
  void DropReservation(uint64_t token);

  bool Authenticate(Request& request);
  void SendError(Request& request, int code, std::string_view reason);
  void SendChallenge(Request& request, int code, std::string_view reason);
  // Adds SOFTWARE, the integrity the request used and FINGERPRINT, then sends (any class).
  void SendSigned(Request& request, stun::StunMessageBuilder& builder);
  absl::StatusOr<std::string> FinishSigned(Request& request, stun::StunMessageBuilder& builder);

  Allocation* FindByRelay(RelayId relay);
  void ScheduleExpiry(Allocation& allocation);
  void DeleteAllocation(Allocation& allocation, bool expired);
  bool InstallPermission(Allocation& allocation, const NetAddress& peer, TimePoint now);
  bool HasPermission(Allocation& allocation, const NetAddress& peer, TimePoint now);
  // HasPermission, and when it holds, its lifetime starts again (MS-TURN: data the client sends
  // to its active destination keeps that peer's permission, as Send requests do).
  bool RefreshPermission(Allocation& allocation, const NetAddress& peer, TimePoint now);
  absl::Time WallNow() const;
  void NewTransactionId(stun::TransactionId& id);

  TurnShared& shared_;
  RelayIo& io_;
  TimerWheel& wheel_;
  const Clock& clock_;
  const absl::Time wall_at_start_;
  const TimePoint steady_at_start_;

  // Allocation slots: RelayId = slot index | generation << kSlotBits.
  static constexpr uint32_t kSlotBits = 20;
  std::vector<std::unique_ptr<Allocation>> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> generations_;
  absl::flat_hash_map<ClientFlow, Allocation*> by_flow_;
  // RFC 8656 §7.2: the tokens this worker handed out (held in TurnShared, claimable from any
  // worker) and the timers that release them after 30 s unless claimed.
  absl::flat_hash_map<uint64_t, TimerId> reservations_;

  // Per-source-IP budget for answers larger than their unauthenticated request (UDP); a fixed
  // table indexed by a hash of the IP, so memory stays bounded whatever the sources.
  struct AmplificationBucket {
    TimePoint window_start{};
    uint32_t excess = 0;
  };
  bool WithinAmplificationBudget(const ClientFlow& flow, size_t request_bytes,
                                 size_t answer_bytes);
  std::vector<AmplificationBucket> amplification_;

  absl::AnyInvocable<void()> on_timers_changed_;
  std::string scratch_;  // reused encode buffer for Data indications and ChannelData
  std::string ms_frame_;  // reused buffer for MS-TURN control answers framed for streams
  size_t ms_allocations_ = 0;  // while 0, RFC 8656 packets skip the MS-TURN 5-tuple lookup
  std::string test_connection_id_;
  uint64_t rng_state_;
  TurnStats stats_;
};

}  // namespace causeway::turn
