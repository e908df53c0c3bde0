#pragma once
// RFC 6120 error catalogs: stream errors (§4.9.3, close the whole stream) and stanza errors
// (§8.3.3, answer one stanza), their wire names, builders for the elements to send, and
// absl::Status helpers that carry the condition as a payload (like core/status.h's SIP code) so
// the layer that answers never guesses.

#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "xmpp/codec/element.h"

namespace causeway::xmpp {

// RFC 6120 §4.9.3, in the RFC's order.
enum class StreamErrorCondition {
  kBadFormat,
  kBadNamespacePrefix,
  kConflict,
  kConnectionTimeout,
  kHostGone,
  kHostUnknown,
  kImproperAddressing,
  kInternalServerError,
  kInvalidFrom,
  kInvalidNamespace,
  kInvalidXml,
  kNotAuthorized,
  kNotWellFormed,
  kPolicyViolation,
  kRemoteConnectionFailed,
  kReset,
  kResourceConstraint,
  kRestrictedXml,
  kSeeOtherHost,
  kSystemShutdown,
  kUndefinedCondition,
  kUnsupportedEncoding,
  kUnsupportedFeature,
  kUnsupportedStanzaType,
  kUnsupportedVersion,
};
inline constexpr int kStreamErrorConditionCount = 25;

std::string_view StreamErrorName(StreamErrorCondition condition);  // "not-well-formed"
std::optional<StreamErrorCondition> ParseStreamErrorCondition(std::string_view name);

// RFC 6120 §8.3.2.
enum class StanzaErrorType { kAuth, kCancel, kContinue, kModify, kWait };
std::string_view StanzaErrorTypeName(StanzaErrorType type);  // "cancel"
std::optional<StanzaErrorType> ParseStanzaErrorType(std::string_view name);

// RFC 6120 §8.3.3, in the RFC's order.
enum class StanzaErrorCondition {
  kBadRequest,
  kConflict,
  kFeatureNotImplemented,
  kForbidden,
  kGone,
  kInternalServerError,
  kItemNotFound,
  kJidMalformed,
  kNotAcceptable,
  kNotAllowed,
  kNotAuthorized,
  kPolicyViolation,
  kRecipientUnavailable,
  kRedirect,
  kRegistrationRequired,
  kRemoteServerNotFound,
  kRemoteServerTimeout,
  kResourceConstraint,
  kServiceUnavailable,
  kSubscriptionRequired,
  kUndefinedCondition,
  kUnexpectedRequest,
};
inline constexpr int kStanzaErrorConditionCount = 22;

std::string_view StanzaErrorName(StanzaErrorCondition condition);  // "item-not-found"
std::optional<StanzaErrorCondition> ParseStanzaErrorCondition(std::string_view name);
// The error type RFC 6120 §8.3.3 gives each condition (e.g. item-not-found -> cancel).
StanzaErrorType DefaultErrorType(StanzaErrorCondition condition);

// <stream:error><condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>[<text>]</stream:error>
// (an element in the stream namespace: the serializer writes it with the stream: prefix).
Element MakeStreamError(StreamErrorCondition condition, std::string_view text = {});

// <error type='...'><condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>[data]</condition>
// [<text>]</error>, in namespace `content_ns`. `condition_data` is the character data of gone and
// redirect (the new address); the type defaults to DefaultErrorType(condition).
Element MakeStanzaError(StanzaErrorCondition condition, std::string_view content_ns,
                        std::string_view text = {}, std::optional<StanzaErrorType> type = {},
                        std::string_view condition_data = {});

// The error reply to `stanza` (RFC 6120 §8.3.1): same kind, namespace and id, to/from swapped,
// type='error', the <error/> child; the original payload is not echoed. FailedPrecondition when
// `stanza` is not a message/presence/iq or is itself an error (which must never be answered).
absl::StatusOr<Element> MakeStanzaErrorReply(const Element& stanza, StanzaErrorCondition condition,
                                             std::string_view text = {},
                                             std::optional<StanzaErrorType> type = {});

// Reads the condition, type and text out of a received stanza's <error/> child.
struct ReceivedStanzaError {
  std::optional<StanzaErrorCondition> condition;  // nullopt: missing or unknown
  std::optional<StanzaErrorType> type;
  std::string_view text;
};
std::optional<ReceivedStanzaError> ReadStanzaError(const Element& stanza);

// ---- absl::Status with the condition to answer ----
inline constexpr std::string_view kStreamErrorPayloadUrl = "causeway/xmpp-stream-error";
inline constexpr std::string_view kStanzaErrorPayloadUrl = "causeway/xmpp-stanza-error";

absl::Status StreamError(StreamErrorCondition condition, std::string_view message);
std::optional<StreamErrorCondition> StreamErrorOf(const absl::Status& status);
absl::Status StanzaError(StanzaErrorCondition condition, std::string_view message);
std::optional<StanzaErrorCondition> StanzaErrorOf(const absl::Status& status);

}  // namespace causeway::xmpp
