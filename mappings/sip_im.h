#pragma once
// SIP instant messages <-> normalized bus events (core/events.h). Pure functions.
//
// A MESSAGE is an instant message whether it is an RFC 3428 pager message or a message inside a
// Lync IM session (INVITE m=message, MS-SIPRE): text/plain, text/html, or multipart/alternative
// carrying both (the plain part becomes the body, the others alternatives).

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/events.h"
#include "sip/codec/message.h"
#include "sip/codec/uri.h"

namespace causeway::mappings {

// sip:alice@example.test;gr=... -> {kSip, "alice", "example.test", "<gr or instance>"}; tel URIs
// become {kPstn, "+15551234", ""}. InvalidArgument for other schemes or a SIP URI without user.
absl::StatusOr<Address> AddressFromSipUri(const sip::Uri& uri);

// The IM a MESSAGE carries, or the first message of a Lync IM session's INVITE (ms-text-format
// with ms-body, MS-SIPRE). `message_id` is unique per sender and stable across retransmissions
// (Call-ID + CSeq); `conversation_id` is the Call-ID (one IM session = one dialog). InvalidArgument
// when the body is not a text message (e.g. an XML control body) or the addresses are not users.
absl::StatusOr<InstantMessageEvent> ImFromSipMessage(const sip::SipMessage& request);

// What a final SIP status means for the sender of an undelivered message.
DeliveryFailureReason FailureReasonFromSipCode(int code);
// The final status to answer a SIP sender with when the other side failed for `reason`:
// 404, 480, 408, 403, 413, 500. FailureReasonFromSipCode(SipCodeFromFailureReason(r)) == r.
int SipCodeFromFailureReason(DeliveryFailureReason reason);

// ---- Typing notifications ----
//
// RFC 3994 isComposing documents (a MESSAGE of application/im-iscomposing+xml): <state>active
// </state> means composing, idle means paused. MS-SIPRE KeyboardActivity documents (an INFO of
// application/xml inside a Lync IM session): <status status="type"/> means composing, "idle"
// paused. Both bodies are tiny fixed documents: they are read by a tag scanner (element local
// names, namespace prefixes ignored), not a validating XML parser. InvalidArgument when the body
// is not such a document or names another state.
inline constexpr std::string_view kIsComposingType = "application/im-iscomposing+xml";
absl::StatusOr<ChatState> ChatStateFromIsComposing(std::string_view body);
absl::StatusOr<ChatState> ChatStateFromKeyboardActivity(std::string_view body);
// composing -> state active with a 60 s refresh (RFC 3994 §3.2: the sender refreshes, the
// receiver times out to idle), paused -> idle. InvalidArgument for active/inactive/gone: SIP has
// no such indication and nothing is sent.
absl::StatusOr<std::string> IsComposingBody(ChatState state);

// ---- Lync IM sessions (MS-SIPRE) ----
//
// An INVITE offers an IM session when its SDP has "m=message <port> sip <uri or null>" (MS-SDP
// 3.1.5.3; Office Communicator 2005 used m=x-ms-message).
bool IsImSessionOffer(const sip::SipMessage& invite);
// The SDP answer a Lync server gives: one m=message line with the text types we relay.
std::string ImSessionAnswerSdp(std::string_view host);

// ---- Messages we originate ----

struct OutgoingRequestIds {
  std::string call_id;
  std::string from_tag;
  uint32_t cseq = 1;
  std::string via;  // the complete top Via value (with a branch)
  int max_forwards = 70;
};

// sip:user@domain with the user part escaped (RFC 3261 §25.1 user characters kept).
std::string SipUriOf(const Address& address);

// An out-of-dialog MESSAGE (RFC 3428) from `from` to `to` (both SIP addresses; the Request-URI
// is `to`'s AOR, so a proxy forks it to every registered endpoint).
absl::StatusOr<sip::SipMessage> PagerMessage(const Address& from, const Address& to,
                                             const OutgoingRequestIds& ids,
                                             std::string_view content_type, std::string_view body);
// The MESSAGE carrying `im` (its `to` a SIP address) from `from`: text/plain UTF-8 alone, or
// multipart/alternative (RFC 2046 §5.1.4: plain first, richer after) when `im` has a text/html
// body or alternative.
absl::StatusOr<sip::SipMessage> PagerMessageFromIm(const InstantMessageEvent& im,
                                                   const Address& from,
                                                   const OutgoingRequestIds& ids);

}  // namespace causeway::mappings
