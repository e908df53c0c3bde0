#pragma once
// The RFC 3261 §17 transaction layer (with RFC 6026's Accepted state and Timers L/M): client and
// server state machines for INVITE and non-INVITE, retransmission over unreliable transports,
// request matching (§17.1.3, §17.2.3), ACK for non-2xx finals (§17.1.1.3), CANCEL (§9), the
// response path back to the Via (§18.2.2, RFC 3581 rport) and graceful shutdown.
//
// One layer per worker thread (its "shard"): it owns that worker's transactions, with no locks.
// Every lookup is an O(1) hash probe and every timer an O(1) TimerWheel operation.
//
// Via handling on requests we send: the caller puts the top Via on the request itself (so a proxy
// controls its own Via and a UA its sent-by), with a branch from NewBranch(); MakeVia() builds a
// complete one from the transport's advertised address. The layer never rewrites it: it only
// checks that the branch has the magic cookie, is unique, and that the Via transport matches the
// destination.
//
// Via handling on requests we receive: the layer adds "received" and fills "rport" on the top Via
// (§18.2.1, RFC 3581) before the TU sees the request, so MakeResponse() copies them.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/clock.h"
#include "core/timer_wheel.h"
#include "sip/codec/message.h"
#include "sip/stack/transaction.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

class TransactionLayer final : public TransportUser {
 public:
  TransactionLayer(Transport& transport, TimerWheel& timers, const Clock& clock,
                   TransactionUser& user, TransactionTimers config = {}, uint32_t shard = 0);
  ~TransactionLayer() override;
  TransactionLayer(const TransactionLayer&) = delete;
  TransactionLayer& operator=(const TransactionLayer&) = delete;

  // TransportUser.
  void OnMessage(SipMessage&& message, const ReceiveInfo& info) override;
  void OnSendFailed(uint64_t token, const Destination& to, const absl::Status& error) override;

  // Starts a client transaction. InvalidArgument: not a request, ACK (send it with SendStateless),
  // no top Via branch with the magic cookie, or Via transport != destination kind.
  // AlreadyExists: the branch+method is in use. ResourceExhausted: too many transactions.
  absl::StatusOr<ClientTransactionId> SendRequest(SipMessage request, const Destination& to);

  // Sends a response on server transaction `id` (1xx..6xx, normally built with MakeResponse()).
  // NotFound: unknown or finished id. FailedPrecondition: a final was already sent (except further
  // 2xx on an INVITE in Accepted, which RFC 6026 lets the TU retransmit).
  absl::Status SendResponse(ServerTransactionId id, SipMessage response);

  // CANCELs INVITE client transaction `id` (§9.1): sent now if a provisional arrived, otherwise
  // as soon as one does (and never if a final arrives first). Runs as an internal non-INVITE
  // client transaction; if the INVITE still has no final 64*T1 after the CANCEL, the TU gets
  // OnClientTimeout(id). Idempotent. NotFound: unknown id. FailedPrecondition: not an INVITE, or
  // a final response already arrived.
  absl::Status CancelClient(ClientTransactionId id);

  // Sends a message outside any transaction (ACK for 2xx, stateless proxy forwarding).
  absl::Status SendStateless(const SipMessage& message, const Destination& to);

  // "z9hG4bK" + shard tag + randomness; see ShardOfBranch().
  std::string NewBranch();
  static std::optional<uint32_t> ShardOfBranch(std::string_view branch);
  // A complete top Via for `kind`: "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK...;rport".
  std::string MakeVia(TransportKind kind, bool v6);

  // Graceful shutdown: new requests are answered 503 by the layer (statefully, so their
  // retransmissions and ACKs are absorbed); existing transactions (and ACK, CANCEL and
  // retransmissions matching them) carry on until they terminate.
  void StopAccepting() { accepting_ = false; }
  bool accepting() const { return accepting_; }

  size_t client_count() const { return clients_.size(); }  // includes internal CANCELs
  size_t server_count() const { return servers_.size(); }
  // Server transactions ended before their I/J/L timer to make room at max_server_transactions.
  uint64_t lingering_ended_early() const { return lingering_ended_early_; }
  // Transactions still waiting for their final response (client: none received yet; server: none
  // sent yet). What a graceful shutdown waits for: the others only absorb retransmissions and
  // ACKs and end on their own timers. O(transactions).
  size_t pending_count() const;
  uint32_t shard() const { return shard_; }

  // Introspection (tests, admin): nullopt for unknown ids.
  std::optional<ClientState> client_state(ClientTransactionId id) const;
  std::optional<ServerState> server_state(ServerTransactionId id) const;

 private:
  struct ClientTxn;
  struct ServerTxn;
  enum class TimerKind : uint8_t;

  // Client side.
  void HandleResponse(SipMessage&& response, const ReceiveInfo& info);
  void SendCancelNow(ClientTxn& invite);
  // Registers a filled-in client transaction, sends it and arms its timers (A/E, B/F).
  ClientTransactionId StartClient(std::unique_ptr<ClientTxn> ct, std::string key);
  void OnClientTimer(ClientTransactionId id, TimerKind kind);
  void TerminateClient(ClientTransactionId id);

  // Server side.
  void HandleRequest(SipMessage&& request, const ReceiveInfo& info);
  // A final response `code` sent by the layer itself on a server transaction the TU never sees.
  void AnswerInternally(const SipMessage& request, std::string key, bool invite, int code,
                        const Destination& reply_to);
  void HandleCancel(SipMessage&& cancel, const ReceiveInfo& info, const Destination& reply_to);
  ServerTxn* CreateServer(std::string key, bool invite, const Destination& reply_to);
  void SendServerBytes(ServerTxn& st, const std::string& bytes);
  void OnServerTimer(ServerTransactionId id, TimerKind kind);
  void TerminateServer(ServerTransactionId id);
  // Arms Timer I, J or L: the transaction only absorbs retransmissions from now on.
  void LingerServer(ServerTxn& st, Duration delay);
  // True when one more server transaction fits under max_server_transactions, ending the oldest
  // lingering one early if that is what it takes.
  bool MakeRoomForServer();
  void RespondStateless(const SipMessage& request, int code, const Destination& to);

  TimerId Arm(Duration delay, uint64_t id, TimerKind kind, bool client);
  void Disarm(TimerId& timer);

  Transport& transport_;
  TimerWheel& timers_;
  const Clock& clock_;
  TransactionUser& user_;
  const TransactionTimers config_;
  const uint32_t shard_;
  std::mt19937_64 rng_;
  uint64_t next_id_ = 1;
  bool accepting_ = true;

  absl::flat_hash_map<ClientTransactionId, std::unique_ptr<ClientTxn>> clients_;
  absl::flat_hash_map<std::string, ClientTransactionId> client_keys_;  // branch + method
  absl::flat_hash_map<ServerTransactionId, std::unique_ptr<ServerTxn>> servers_;
  absl::flat_hash_map<std::string, ServerTransactionId> server_keys_;  // §17.2.3 key
  // Server transactions in the order they started lingering (ids of ended ones are skipped).
  std::deque<ServerTransactionId> lingering_;
  uint64_t lingering_ended_early_ = 0;
};

}  // namespace causeway::sip
