#include "mappings/error_map.h"

#include <array>
#include <utility>

namespace causeway::mappings {
namespace {

using Reason = DeliveryFailureReason;

constexpr std::array<std::pair<Reason, XmppStanzaError>, 6> kErrorForReason = {{
    {Reason::kNotFound, {"item-not-found", "cancel"}},
    {Reason::kUnavailable, {"service-unavailable", "cancel"}},
    {Reason::kTimeout, {"remote-server-timeout", "wait"}},
    {Reason::kRejected, {"forbidden", "auth"}},
    {Reason::kTooLarge, {"policy-violation", "modify"}},
    {Reason::kInternal, {"internal-server-error", "cancel"}},
}};

// Every defined condition of RFC 6120 §8.3.3, in its order.
constexpr std::array<std::pair<std::string_view, Reason>, 22> kReasonForCondition = {{
    {"bad-request", Reason::kRejected},
    {"conflict", Reason::kRejected},
    {"feature-not-implemented", Reason::kRejected},
    {"forbidden", Reason::kRejected},
    {"gone", Reason::kNotFound},  // no longer at this address; we do not follow the new one
    {"internal-server-error", Reason::kInternal},
    {"item-not-found", Reason::kNotFound},
    {"jid-malformed", Reason::kNotFound},  // like SIP 484: no such address can exist
    {"not-acceptable", Reason::kRejected},
    {"not-allowed", Reason::kRejected},
    {"not-authorized", Reason::kRejected},
    {"policy-violation", Reason::kRejected},
    {"recipient-unavailable", Reason::kUnavailable},
    {"redirect", Reason::kUnavailable},  // temporarily elsewhere; we do not follow redirects
    {"registration-required", Reason::kRejected},
    {"remote-server-not-found", Reason::kNotFound},  // the recipient's domain does not resolve
    {"remote-server-timeout", Reason::kTimeout},
    {"resource-constraint", Reason::kUnavailable},  // type wait: the recipient may take it later
    {"service-unavailable", Reason::kUnavailable},
    {"subscription-required", Reason::kRejected},
    {"undefined-condition", Reason::kInternal},
    {"unexpected-request", Reason::kRejected},
}};

}  // namespace

XmppStanzaError XmppErrorFromFailureReason(DeliveryFailureReason reason) {
  for (const auto& [r, error] : kErrorForReason) {
    if (r == reason) return error;
  }
  return {"internal-server-error", "cancel"};
}

DeliveryFailureReason FailureReasonFromXmppCondition(std::string_view condition) {
  for (const auto& [name, reason] : kReasonForCondition) {
    if (name == condition) return reason;
  }
  return Reason::kInternal;
}

}  // namespace causeway::mappings
