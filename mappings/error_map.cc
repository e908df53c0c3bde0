#include "mappings/error_map.h"

#include <array>
#include <optional>
#include <utility>

namespace causeway::mappings {
namespace {

using Reason = DeliveryFailureReason;
using Condition = xmpp::StanzaErrorCondition;

constexpr std::array<std::pair<Reason, Condition>, 6> kConditionForReason = {{
    {Reason::kNotFound, Condition::kItemNotFound},
    {Reason::kUnavailable, Condition::kServiceUnavailable},
    {Reason::kTimeout, Condition::kRemoteServerTimeout},
    {Reason::kRejected, Condition::kForbidden},
    {Reason::kTooLarge, Condition::kPolicyViolation},
    {Reason::kInternal, Condition::kInternalServerError},
}};

// Every defined condition of RFC 6120 §8.3.3, in its order.
constexpr std::array<std::pair<Condition, Reason>, xmpp::kStanzaErrorConditionCount>
    kReasonForCondition = {{
        {Condition::kBadRequest, Reason::kRejected},
        {Condition::kConflict, Reason::kRejected},
        {Condition::kFeatureNotImplemented, Reason::kRejected},
        {Condition::kForbidden, Reason::kRejected},
        {Condition::kGone, Reason::kNotFound},  // no longer at this address; not followed
        {Condition::kInternalServerError, Reason::kInternal},
        {Condition::kItemNotFound, Reason::kNotFound},
        {Condition::kJidMalformed, Reason::kNotFound},  // like SIP 484: no such address can exist
        {Condition::kNotAcceptable, Reason::kRejected},
        {Condition::kNotAllowed, Reason::kRejected},
        {Condition::kNotAuthorized, Reason::kRejected},
        {Condition::kPolicyViolation, Reason::kRejected},
        {Condition::kRecipientUnavailable, Reason::kUnavailable},
        {Condition::kRedirect, Reason::kUnavailable},  // temporarily elsewhere; not followed
        {Condition::kRegistrationRequired, Reason::kRejected},
        {Condition::kRemoteServerNotFound, Reason::kNotFound},  // the domain does not resolve
        {Condition::kRemoteServerTimeout, Reason::kTimeout},
        {Condition::kResourceConstraint, Reason::kUnavailable},  // wait: may take it later
        {Condition::kServiceUnavailable, Reason::kUnavailable},
        {Condition::kSubscriptionRequired, Reason::kRejected},
        {Condition::kUndefinedCondition, Reason::kInternal},
        {Condition::kUnexpectedRequest, Reason::kRejected},
    }};

}  // namespace

xmpp::StanzaErrorCondition XmppConditionFromFailureReason(DeliveryFailureReason reason) {
  for (const auto& [r, condition] : kConditionForReason) {
    if (r == reason) return condition;
  }
  return Condition::kInternalServerError;
}

DeliveryFailureReason FailureReasonFromXmppCondition(xmpp::StanzaErrorCondition condition) {
  for (const auto& [c, reason] : kReasonForCondition) {
    if (c == condition) return reason;
  }
  return Reason::kInternal;
}

DeliveryFailureReason FailureReasonFromXmppCondition(std::string_view condition_name) {
  std::optional<Condition> condition = xmpp::ParseStanzaErrorCondition(condition_name);
  return condition ? FailureReasonFromXmppCondition(*condition) : Reason::kInternal;
}

}  // namespace causeway::mappings
