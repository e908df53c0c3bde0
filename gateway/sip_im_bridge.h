#pragma once
// The SIP side of the instant-messaging bridge to XMPP, one per worker, on that worker's thread.
//
// SIP -> bus. A request whose Request-URI user is in a domain reached over XMPP (not a local SIP
// domain, but one the DomainMap maps: open federation or the allow list):
//   MESSAGE (RFC 3428 pager)      -> InstantMessageEvent (receipt requested), or ChatStateEvent for
//                                    an RFC 3994 isComposing body (answered 200 at once)
//   INVITE m=message (MS-SIPRE)   -> a Lync IM session kept here; its first message
//   (ms-text-format)
//                                    goes to the bus like a MESSAGE
//   in the session: MESSAGE as above; INFO KeyboardActivity -> ChatStateEvent composing/paused;
//   BYE -> ChatStateEvent gone; ACK absorbed (AbsorbAck, called by the shard before the stack:
//   the stack hands every ACK for a 2xx to the proxy, which would forward it to our own Contact)
// Every IM's server transaction is HELD until the XMPP side answers: DeliveryReceiptEvent -> 200,
// DeliveryFailureEvent -> its SIP code (SipCodeFromFailureReason) with a Warning, nothing within
// receipt_wait -> 202 Accepted (RFC 3428 §7: accepted, delivery not confirmed) — for an INVITE
// with a first message, 200 (an INVITE has no 202). Requests of other methods (SUBSCRIBE, ...) go
// to the next LocalService (the Lync front end), as does everything for other domains.
//
// bus -> SIP. Events whose `to` is a user of a local SIP domain:
//   InstantMessageEvent -> an out-of-dialog MESSAGE from the XMPP sender (as sip:user@domain) to
//       the user's AOR, originated through this worker's proxy (sip::Proxy::Originate), routed
//       exactly as a received MESSAGE would be (so it forks to every registered endpoint over
//       their flows, 404 for no such user, 480 for none registered, 408 when nobody answers);
//       its final response becomes a DeliveryReceiptEvent (2xx, when requested) or a
//       DeliveryFailureEvent (FailureReasonFromSipCode). One MESSAGE in flight per (from, to)
//       pair, the next queued, so a conversation stays in order.
//   ChatStateEvent composing/paused -> an isComposing MESSAGE, best effort; other states: nothing.
//   DeliveryReceiptEvent / DeliveryFailureEvent -> answer the held transaction. Message ids carry
//       the worker that holds them ("<worker>.<id>"), so an answer that arrives on another
//       worker's bus is handed over (ForwardAnswer).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/bus.h"
#include "core/clock.h"
#include "core/events.h"
#include "core/runtime/worker.h"
#include "mappings/address_map.h"
#include "sip/codec/message.h"
#include "sip/stack/sip_server.h"

namespace causeway::gateway {

struct SipImBridgeOptions {
  std::shared_ptr<const mappings::DomainMap> domains;  // required
  Duration receipt_wait = std::chrono::seconds(5);
  std::string contact;   // our Contact in IM session answers: "<sip:host:port;transport=tcp>"
  std::string sdp_host;  // the address in our SDP answers
  std::string warning_agent = "causeway";  // warn-agent of Warning headers (RFC 3261 §20.43)
  sip::TransportKind via_kind = sip::TransportKind::kTcp;  // of the Via on MESSAGEs we originate
  uint32_t worker = 0;          // tagged into the message ids of held transactions
  size_t max_held = 100000;     // held transactions; more get 503 + Retry-After
  size_t max_sessions = 20000;  // Lync IM sessions; more get 503 + Retry-After
  Duration session_idle = std::chrono::minutes(10);  // a silent session ends (we send BYE)
  size_t max_conversations = 100000;                 // (from, to) pairs with a MESSAGE in flight
  size_t max_queued_per_conversation = 64;           // behind the one in flight
};

class SipImBridge final : public sip::LocalService {
 public:
  using Answer = std::variant<DeliveryReceiptEvent, DeliveryFailureEvent>;
  // Hands an answer for a transaction held by worker `worker` to that worker's bridge.
  using ForwardAnswer = std::function<void(uint32_t worker, Answer answer)>;

  // `next` (may be null) gets every request the bridge does not take. References outlive the
  // bridge; construct and use on `worker`'s thread (construction before the worker runs is fine).
  SipImBridge(SipImBridgeOptions options, sip::SipServer& server, runtime::Worker& worker, Bus& bus,
              sip::LocalService* next, ForwardAnswer forward);
  ~SipImBridge() override;
  SipImBridge(const SipImBridge&) = delete;
  SipImBridge& operator=(const SipImBridge&) = delete;

  // sip::LocalService.
  bool OnRequest(sip::ServerTransactionId id, sip::SipMessage& request,
                 const sip::ReceiveInfo& info) override;
  bool OnResponse(sip::ClientTransactionId id, sip::SipMessage& response) override;
  bool OnClientFailure(sip::ClientTransactionId id, int code) override;

  // True when `ack` acknowledges the 2xx of one of our IM sessions (absorbed, nothing else to do).
  bool AbsorbAck(const sip::SipMessage& ack);
  // A CANCEL the transaction layer has just answered: the held IM session INVITE it targets (same
  // Call-ID and top Via branch) is answered 487 (RFC 3261 §9.2); the stack does not tell local
  // services about CANCELs.
  void OnCancel(std::string_view call_id, std::string_view branch);
  // An answer for a transaction held here, from this worker's bus or handed over by another.
  void OnAnswer(const Answer& answer);

  size_t held_count() const { return held_.size(); }
  size_t session_count() const { return sessions_.size(); }

 private:
  struct Held;
  struct Session;
  struct Conversation;
  struct Outgoing;

  // Is `domain` one whose users we reach over XMPP?
  bool ReachedOverXmpp(std::string_view domain) const;
  // Answers `request` on `id` now (not held).
  void Reply(sip::ServerTransactionId id, const sip::SipMessage& request, int code,
             std::string_view reason = {});
  void ReplyRetryLater(sip::ServerTransactionId id, const sip::SipMessage& request);

  // SIP -> bus.
  void HandleMessage(sip::ServerTransactionId id, sip::SipMessage& request,
                     const sip::ReceiveInfo& info, const Address& to);
  void HandleInvite(sip::ServerTransactionId id, sip::SipMessage& request,
                    const sip::ReceiveInfo& info, const Address& to);
  void HandleInDialog(sip::ServerTransactionId id, sip::SipMessage& request,
                      const sip::ReceiveInfo& info, Session& session);
  // Holds (id, request) for `im` and publishes it. For an INVITE, session_key names its session.
  void HoldAndPublish(sip::ServerTransactionId id, sip::SipMessage& request, InstantMessageEvent im,
                      std::string session_key);
  void AnswerHeld(const std::string& message_id, int code, std::string_view warning);
  void PublishChatState(const sip::SipMessage& request, const Address& to, ChatState state);
  void TouchSession(Session& session);
  void ExpireSession(const std::string& key);

  // bus -> SIP.
  void OnBusIm(const InstantMessageEvent& im);
  void OnBusChatState(const ChatStateEvent& event);
  void OnBusAnswer(const Answer& answer, const std::string& message_id, const Address& to);
  void SendNext(const std::string& conversation);
  // Runs `message` through the proxy (Proxy::Originate); its final status finishes the outgoing
  // message `outgoing_call_id` (posted, after the proxy returned); empty: best effort.
  void Originate(sip::SipMessage message, std::string outgoing_call_id);
  void FinishOutgoing(const std::string& call_id, int code);
  void Fail(const InstantMessageEvent& im, DeliveryFailureReason reason, std::string text);
  template <typename E>
  void Publish(const E& event);

  SipImBridgeOptions options_;
  sip::SipServer& server_;
  runtime::Worker& worker_;
  Bus& bus_;
  sip::LocalService* next_;
  ForwardAnswer forward_;
  std::vector<Subscription> subscriptions_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // posted tasks check it
  uint64_t counter_ = 0;                                        // call-ids of originated requests

  absl::flat_hash_map<std::string, std::unique_ptr<Held>> held_;  // by message id
  // Held INVITEs by Call-ID + top Via branch (what a CANCEL names) -> message id.
  absl::flat_hash_map<std::string, std::string> held_invites_;
  absl::flat_hash_map<std::string, std::unique_ptr<Session>> sessions_;  // Call-ID + local tag
  absl::flat_hash_map<sip::ClientTransactionId, std::string> byes_;      // our BYEs in flight
  absl::flat_hash_map<std::string, std::unique_ptr<Conversation>> conversations_;
  absl::flat_hash_map<std::string, std::unique_ptr<Outgoing>> outgoing_;  // by Call-ID
};

}  // namespace causeway::gateway
