#pragma once
// Normalized, protocol-neutral events carried on the internal bus. Every protocol stack maps its
// own messages to and from these (A -> event -> B), so N adapters need N mappings, not N².
// Plain value structs: cheap to copy, no protocol types, no pointers into message buffers.
//
// Routing: an event travels towards `to`. The adapter that received it from its network publishes
// it with `to` already in the destination network's form ({kXmpp, "bob", "xmpp.test"} for a SIP
// user writing to an XMPP contact: the receiving adapter applies mappings/address_map.h, it knows
// which domains are reached through which network) and `from` in the source network's form. The
// adapter serving `to.network` delivers it, mapping `from` into its own network's form; every other
// adapter ignores it. Answers (receipts, failures, subscription replies) follow the same rule:
// `from` = who answers, `to` = the original sender. A message nobody can deliver is answered
// with a DeliveryFailureEvent, never dropped silently.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace causeway {

// Wall-clock time for user-visible timestamps (presence "since", message time); protocol timers
// use the steady Clock instead.
using WallTime = std::chrono::system_clock::time_point;

// The network an address lives on, so routing can pick a connector without parsing schemes.
enum class Network : uint8_t { kSip, kXmpp, kPstn, kPublicIm };
std::string_view NetworkName(Network network);  // "sip", "xmpp", "pstn", "public-im"
bool ParseNetwork(std::string_view text, Network* out);

// A scheme-neutral address: sip:alice@example.com;gr=... and xmpp:alice@example.com/phone both
// become {user, domain, resource}. PSTN numbers use user = E.164 digits ("+15551234") and the
// trunk's domain.
struct Address {
  Network network = Network::kSip;
  std::string user;      // may be empty for domain-only addresses (servers, components)
  std::string domain;    // lower-case
  std::string resource;  // XMPP resource or SIP instance/GRUU; empty = the bare address

  Address Bare() const { return Address{network, user, domain, {}}; }
  bool is_bare() const { return resource.empty(); }
  // "user@domain/resource" without a scheme (the log and routing-key form).
  std::string ToString() const;

  friend bool operator==(const Address&, const Address&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const Address& a) {
    return H::combine(std::move(h), a.network, a.user, a.domain, a.resource);
  }
};

// Union of the availability models of Lync (MS-PRES aggregate states) and XMPP (<show/>).
enum class Availability : uint8_t {
  kAvailable,
  kIdle,  // available but inactive (Lync "Inactive")
  kBusy,
  kBusyIdle,  // busy and inactive
  kDoNotDisturb,
  kBeRightBack,
  kAway,
  kOffline,
};
std::string_view AvailabilityName(Availability a);  // "available", "idle", "busy", "busy-idle",
                                                    // "do-not-disturb", "be-right-back", "away",
                                                    // "offline"
bool ParseAvailability(std::string_view text, Availability* out);

struct PresenceEvent {
  Address from;
  std::optional<Address> to;  // nullopt = broadcast to everyone subscribed to `from`
  Availability availability = Availability::kOffline;
  std::string note;      // free text ("In a meeting until 3")
  std::string activity;  // activity token ("in-a-meeting", "on-the-phone"); empty = none
  std::string device;    // endpoint/device id the state comes from (SIP instance, XMPP resource)
  WallTime timestamp{};
};

// One body in another representation (e.g. text/html next to text/plain).
struct AlternativeBody {
  std::string content_type;
  std::string body;
  friend bool operator==(const AlternativeBody&, const AlternativeBody&) = default;
};

struct InstantMessageEvent {
  std::string message_id;       // unique per sender; receipts and failures refer to it
  std::string conversation_id;  // thread / session (SIP Call-ID of the IM session, XMPP <thread/>)
  Address from;
  Address to;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<AlternativeBody> alternatives;
  bool receipt_requested = false;
  WallTime timestamp{};
  // `timestamp` is when the sender sent it, earlier than now: a server held the message back
  // (offline storage, history; XEP-0203 delayed delivery).
  bool delayed = false;
  // When the gateway read the message from its source network (steady clock), unset when unknown:
  // the adapter that sends it on records the latency the gateway added.
  std::chrono::steady_clock::time_point accepted_at{};
};

enum class DeliveryFailureReason : uint8_t {
  kNotFound,     // no such user
  kUnavailable,  // user exists but cannot receive now (offline, no endpoint)
  kTimeout,      // no answer in time
  kRejected,     // refused by policy or by the recipient
  kTooLarge,
  kInternal,
};
std::string_view DeliveryFailureReasonName(DeliveryFailureReason r);  // "not-found", ...
bool ParseDeliveryFailureReason(std::string_view text, DeliveryFailureReason* out);

// Routed like the receipt: to the original sender.
struct DeliveryFailureEvent {
  std::string message_id;
  Address from;  // the original recipient (the side reporting the failure)
  Address to;    // the original sender, who is told
  DeliveryFailureReason reason = DeliveryFailureReason::kInternal;
  std::string text;  // human-readable detail
};

struct DeliveryReceiptEvent {
  std::string message_id;
  Address from;  // the recipient confirming delivery
  Address to;    // the original sender
};

// The presence-subscription handshake (RFC 6121 §3; on the Lync side: contact list additions,
// the subscriber list / presence.wpending and the containers that grant access, MS-PRES).
enum class SubscriptionAction : uint8_t {
  kSubscribe,     // `from` asks to see `to`'s presence
  kSubscribed,    // `from` lets `to` see its presence (approval)
  kUnsubscribe,   // `from` no longer wants `to`'s presence
  kUnsubscribed,  // `from` denies or revokes `to`'s access
};
std::string_view SubscriptionActionName(SubscriptionAction a);  // "subscribe", "subscribed", ...
bool ParseSubscriptionAction(std::string_view text, SubscriptionAction* out);

struct SubscriptionEvent {
  Address from;  // bare
  Address to;    // bare
  SubscriptionAction action = SubscriptionAction::kSubscribe;
  std::string display_name;  // how `from` calls itself, when known (XEP-0172 nick, Lync name)
};

// `from` wants `to`'s current presence now (an XMPP probe, a Lync subscription to a contact whose
// presence is not cached). Answered with a directed PresenceEvent when `from` may see it.
struct PresenceProbeEvent {
  Address from;  // bare
  Address to;    // bare
};

// Typing notifications: Lync KeyboardActivity INFO (MS-SIPRE) and XEP-0085 chat states.
enum class ChatState : uint8_t { kActive, kComposing, kPaused, kInactive, kGone };
std::string_view ChatStateName(ChatState s);  // "active", "composing", "paused", ... (XEP-0085)
bool ParseChatState(std::string_view text, ChatState* out);

struct ChatStateEvent {
  std::string conversation_id;  // as in InstantMessageEvent
  Address from;
  Address to;
  ChatState state = ChatState::kActive;
};

}  // namespace causeway
