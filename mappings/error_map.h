#pragma once
// Delivery failures <-> XMPP stanza errors (RFC 6120 §8.3). Pure functions. SIP status codes for
// the same reasons live in sip_im.h (FailureReasonFromSipCode / SipCodeFromFailureReason), so every
// undeliverable message reads SIP code -> reason -> XMPP condition, or the reverse.
//
//   reason        condition (type)                 why
//   not-found     item-not-found (cancel)          the addressed JID does not exist
//   unavailable   service-unavailable (cancel)     RFC 6121 §8.5.2: what a server answers for a
//                                                  message it cannot deliver to a user now
//   timeout       remote-server-timeout (wait)
//   rejected      forbidden (auth)                 refused by policy or by the recipient (SIP
//                                                  403/603); not-acceptable (modify) would ask
//                                                  the sender to change the stanza: no help
//   too-large     policy-violation (modify)        RFC 6120 names a stanza over a configured size
//                                                  limit as a policy violation (§4.9.3.14)
//   internal      internal-server-error (cancel)
//
// The reverse covers all 22 conditions of RFC 6120 §8.3.3 (see error_map.cc); policy-violation in
// general reads back as rejected, not too-large, since most policies are not about size.

// The error type sent is always the condition's RFC 6120 default (xmpp::DefaultErrorType).

#include <string_view>

#include "core/events.h"
#include "xmpp/codec/errors.h"

namespace causeway::mappings {

xmpp::StanzaErrorCondition XmppConditionFromFailureReason(DeliveryFailureReason reason);

DeliveryFailureReason FailureReasonFromXmppCondition(xmpp::StanzaErrorCondition condition);
// The same from a condition element's name as received; unknown names (an application-specific
// extension without a defined condition, RFC 3920's payment-required, a typo) read as internal.
DeliveryFailureReason FailureReasonFromXmppCondition(std::string_view condition_name);

}  // namespace causeway::mappings
