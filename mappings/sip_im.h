#pragma once
// SIP instant messages <-> normalized bus events (core/events.h). Pure functions.
//
// A MESSAGE is an instant message whether it is an RFC 3428 pager message or a message inside a
// Lync IM session (INVITE m=message, MS-SIPRE): text/plain, text/html, or multipart/alternative
// carrying both (the plain part becomes the body, the others alternatives).

#include <string>

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

}  // namespace causeway::mappings
