#pragma once
// The Lync front end's federation outputs and inputs <-> bus events. Pure functions.
//
// The front end (sip/lync/front_end.h) keeps the Lync side of federated presence: subscribers,
// containers and contacts decide the RFC 6121 handshake, and it speaks in SIP AORs
// ("sip:alice@lync.test" -> "sip:bob@xmpp.test"). On the bus the same facts are events whose `to`
// is in the destination network's form (core/events.h): a FederationOutput to sip:bob@xmpp.test
// becomes an event to {kXmpp, "bob", "xmpp.test"} through the DomainMap; an event from
// {kXmpp, "bob", "xmpp.test", "phone"} reaches the front end as sip:bob@xmpp.test, device "phone".
// Availability numbers go through the presence table (presence_map.h).

#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "core/events.h"
#include "mappings/address_map.h"
#include "sip/lync/front_end.h"

namespace causeway::mappings {

using FederationEvent = std::variant<PresenceEvent, SubscriptionEvent, PresenceProbeEvent>;

// InvalidArgument for an AOR that is not sip:user@domain, or the address_map.h errors for a
// recipient the DomainMap cannot express as a JID (a telephone number, a domain not federated).
absl::StatusOr<FederationEvent> EventFromFederationOutput(const sip::lync::FederationOutput& output,
                                                          const DomainMap& domains);

// "sip:" + the SIP form of an address of either network (SipAddressFromXmpp for kXmpp).
absl::StatusOr<std::string> FederationAor(const Address& address, const DomainMap& domains);

}  // namespace causeway::mappings
