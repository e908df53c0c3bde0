#pragma once
// Vocabulary of the RFC 3261 §17 transaction layer (updated by RFC 6026): handles, timer values,
// states, and the TransactionUser interface the application (proxy, registrar, UA core)
// implements. Applications hold ids, never transaction pointers; stale ids are harmless.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "core/clock.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

class SipMessage;

// Handles. Client and server ids come from one counter per layer and are never reused, so an id
// also serves as the Transport send token.
using ClientTransactionId = uint64_t;
using ServerTransactionId = uint64_t;

// RFC 3261 §17.1.1.1 / Table 4 timer values. Derived timers:
//   A = T1 doubling (unreliable only)   B = F = H = J = L = M = 64*T1
//   E = G = T1 doubling up to T2        D = timer_d (unreliable), 0 (reliable)
//   I = K = T4 (unreliable), 0 (reliable)
struct TransactionTimers {
  Duration t1 = std::chrono::milliseconds(500);  // RTT estimate
  Duration t2 = std::chrono::seconds(4);         // max non-INVITE/response retransmit interval
  Duration t4 = std::chrono::seconds(5);         // max time a message stays in the network
  Duration timer_d = std::chrono::seconds(32);   // >= 32 s, unreliable transports only
  // INVITE server transactions answer 100 Trying themselves (§17.2.1): immediately when true (what
  // a proxy must do, §16.2), otherwise after trying_delay unless the TU sent a provisional first.
  bool send_100_immediately = true;
  Duration trying_delay = std::chrono::milliseconds(200);
  // A server transaction whose TU sends no final response within this time is dropped (bounded
  // memory with a faulty TU; the client gave up long before). Zero disables.
  Duration server_tu_timeout = std::chrono::minutes(5);
  // Live transactions per layer (per worker). At the server cap the oldest transaction that only
  // absorbs retransmissions (Timer I/J/L) ends early; with none, new requests get 503. Beyond
  // the client cap SendRequest fails.
  size_t max_client_transactions = 200'000;
  size_t max_server_transactions = 200'000;

  Duration Timer64T1() const { return 64 * t1; }
};

enum class ClientState : uint8_t {
  kCalling,     // INVITE sent, nothing heard
  kTrying,      // non-INVITE sent, nothing heard
  kProceeding,  // provisional received
  kCompleted,   // non-2xx final (INVITE: ACK sent) / any final (non-INVITE)
  kAccepted,    // INVITE 2xx received (RFC 6026): 2xx retransmissions still reach the TU
};

enum class ServerState : uint8_t {
  kTrying,      // non-INVITE received, nothing sent
  kProceeding,  // INVITE received / provisional sent
  kCompleted,   // final sent (INVITE: non-2xx, waiting for ACK)
  kConfirmed,   // INVITE: ACK received for the non-2xx final
  kAccepted,    // INVITE: 2xx sent (RFC 6026), absorbing INVITE retransmissions
};

std::string_view ClientStateName(ClientState s);
std::string_view ServerStateName(ServerState s);

// The application side. Callbacks run on the worker that owns the layer and may call back into
// the layer (SendResponse, SendRequest, CancelClient...).
class TransactionUser {
 public:
  virtual ~TransactionUser() = default;

  // A new request (not ACK; not CANCEL, which arrives as OnCancel). Answer with SendResponse(id).
  virtual void OnRequest(ServerTransactionId id, SipMessage&& request, const ReceiveInfo& info) = 0;
  // An ACK matching no INVITE server transaction in Completed/Confirmed: the ACK for a 2xx
  // (its own transaction, §17) or one received while the INVITE transaction is Accepted.
  virtual void OnAck(SipMessage&& ack, const ReceiveInfo& info) = 0;
  // A CANCEL matched INVITE server transaction `invite` that has not sent a final response yet.
  // The layer already answered the CANCEL 200; the TU should answer the INVITE 487 (§9.2).
  virtual void OnCancel(ServerTransactionId invite, SipMessage&& cancel,
                        const ReceiveInfo& info) = 0;
  // A provisional or final response of client transaction `id`. Retransmitted non-2xx finals are
  // absorbed; retransmitted INVITE 2xx are delivered (RFC 6026: the TU ACKs each one).
  virtual void OnResponse(ClientTransactionId id, SipMessage&& response,
                          const ReceiveInfo& info) = 0;
  // Timer B or F fired (or a CANCELled INVITE got no final within 64*T1, §9.1): the transaction
  // is gone; the TU acts as if a 408 had been received.
  virtual void OnClientTimeout(ClientTransactionId id) = 0;
  // The transport failed to send the request (§17.1.4: treat as 503). `error` carries SIP code
  // 503 (causeway::SipCodeOf) and the transport's message. The transaction is gone.
  virtual void OnClientTransportError(ClientTransactionId id, const absl::Status& error) = 0;
  // A response matching no client transaction (e.g. a 2xx retransmission after Timer M, or a
  // response for a proxy that forwards statelessly, §16.11).
  virtual void OnStrayResponse(SipMessage&& response, const ReceiveInfo& info) = 0;

  // Optional. Timer H fired (no ACK for a non-2xx final) or the TU never answered within
  // server_tu_timeout; the server transaction is gone.
  virtual void OnServerTimeout(ServerTransactionId /*id*/) {}
  // Sending a response failed (§17.2.4); the server transaction is gone.
  virtual void OnServerTransportError(ServerTransactionId /*id*/, const absl::Status& /*error*/) {}
};

}  // namespace causeway::sip
