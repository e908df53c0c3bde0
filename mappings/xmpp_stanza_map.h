#pragma once
// XMPP stanzas <-> normalized bus events (core/events.h). Pure functions over xmpp::Element: the
// XMPP adapter (gateway) only moves what these return between its streams and the bus.
//
// Inbound (a stanza an authenticated peer or our XMPP server delivered to one of our domains):
//   <message type=chat|normal|headline|absent|unknown> with <body/> -> InstantMessageEvent
//       (RFC 6121 §5.2.2: an unknown type reads as normal; the body in the stanza's xml:lang or
//       unmarked; XHTML-IM <html/> becomes a sanitized text/html alternative holding the XHTML
//       body's content; <thread/> the conversation id, else "xmpp:<sender bare>|<recipient bare>",
//       stable per pair of users; <request xmlns=urn:xmpp:receipts/> sets receipt_requested when
//       the message has an id to acknowledge)
//   XEP-0085 chat state child                          -> ChatStateEvent (also next to a body,
//                                                         after the IM)
//   XEP-0184 <received id=X/>                          -> DeliveryReceiptEvent{message_id = X, or
//                                                         the stanza id for pre-1.1 receipts}
//   <message type=error id=X>                          -> DeliveryFailureEvent{message_id = X,
//       reason from the condition (error_map.h), from = the failing JID, to = our SIP user};
//       nothing when it has no id or names no user of ours
//   <message type=groupchat>                           -> error service-unavailable (RFC 6121
//                                                         §8.5.2.1.1: no user of ours is in a room)
//   a message with only extensions we do not carry (chat markers, carbons) -> nothing
//   <presence/> available/unavailable                  -> PresenceEvent (presence_map.h: `from`
//       bare, `device` = the sender's resource, `to` = our SIP user)
//   <presence type=probe>                              -> PresenceProbeEvent
//   <presence type=subscribe|subscribed|unsubscribe|unsubscribed> -> SubscriptionEvent
//       (XEP-0172 <nick/> of a subscribe -> display_name)
//   <presence type=error> or of an unknown type        -> nothing (RFC 6121: never answered)
// Addresses: `from` is the sender's JID as {kXmpp, node, domain, resource} (bare for presence,
// probes and subscriptions); `to` is mapped to the SIP user with address_map.h (bare).
// A message or IQ that cannot be mapped yields `error`, the condition to bounce to its sender:
//   jid-malformed        'from' or 'to' missing or malformed
//   item-not-found       'to' is not one of our XMPP domains
//   service-unavailable  'to' is our domain itself or a user that cannot exist (a telephone
//                        number): RFC 6121 §8.5.1 answers it like any absent user
//   forbidden            the sender's domain is blocked / not federated, or is one of ours
//   not-acceptable       the sender has no SIP form (a domain-only JID, a telephone number)
//   bad-request          a message carrying nothing at all, or a body that is not UTF-8
//   feature-not-implemented  an IQ get/set (the adapter answers disco itself before calling this)
// Never for a stanza that is itself an error or an IQ result (RFC 6120 §8.3.1, §8.2.3), and never
// for presence: presence to an unknown user is ignored (RFC 6121 §8.5.1), and presence loops
// between servers would cost both sides every change.
//
// Outbound (a bus event whose `to` is an XMPP address): one stanza in `content_ns`
// (jabber:server for s2s, jabber:component:accept for component mode), `from` = the SIP sender
// mapped with address_map.h plus `resource` (the gateway's resource for Lync users), ids kept:
// message id = InstantMessageEvent::message_id, so receipts and errors refer back to it.
// `from` must be a user of a local SIP domain (we speak for no one else) and `to` an XMPP user of a
// reachable remote domain (not local: that would loop; not blocked or unfederated: NotFound).
// Telephone numbers never become JIDs (address_map.h). Text is checked to be UTF-8 (else
// InvalidArgument) and loses characters XML cannot carry. An IM is a type=chat message with
// <body/>, <thread/> (conversation_id, when set), <active/> (XEP-0085 §5.1), a receipt request
// when asked for (XEP-0184), and XHTML-IM when a text/html representation is well-formed XML:
// HTML that is not (an unclosed <br>, an entity XML does not define; &nbsp; is accepted) goes as
// body only. Markup is reduced to XEP-0071's integration set in both directions: script, style,
// object, frame and form elements go with their content, event (on*) and other attributes
// outside the recommended profile are removed, and links to schemes that run code (javascript:,
// data:, ...) or styles that load URLs lose the attribute. A text/html-only IM gets its text as
// <body/>. The Lync endpoint (PresenceEvent::device, SIP instance) never leaves.

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/events.h"
#include "mappings/address_map.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"

namespace causeway::mappings {

using XmppBusEvent =
    std::variant<InstantMessageEvent, ChatStateEvent, DeliveryReceiptEvent, DeliveryFailureEvent,
                 PresenceEvent, PresenceProbeEvent, SubscriptionEvent>;

struct XmppInbound {
  std::vector<XmppBusEvent> events;  // in the order to publish
  // Set when the stanza must be answered with an error instead (events is then empty).
  std::optional<xmpp::StanzaErrorCondition> error;
  std::string error_text;
};

XmppInbound EventsFromXmppStanza(const xmpp::Element& stanza, const DomainMap& domains);

struct XmppOutboundContext {
  std::string_view content_ns;  // "jabber:server" / "jabber:component:accept"
  std::string_view resource;    // the resource Lync users send from ("" = bare JID)
};

// InvalidArgument / NotFound (from address_map.h) when `from` or `to` cannot be expressed as
// JIDs; the adapter then answers the sender with a DeliveryFailureEvent (not-found / rejected).
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const InstantMessageEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const ChatStateEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// XEP-0184: a message of its own id ("receipt-" + message_id: derived, so this stays pure) whose
// <received id=message_id/> names the acknowledged message. InvalidArgument without an id.
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryReceiptEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// <message type=error id=message_id> with the condition of error_map.h and `text`, from the
// failing user's bare JID (the address the sender wrote to).
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryFailureEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// Directed presence (event.to set). A broadcast (to = nullopt) is InvalidArgument: the adapter
// fans out to the subscribers it knows before calling this.
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// Probes and subscription stanzas are between bare JIDs (RFC 6121 §3, §4.3); a subscribe carries
// display_name as XEP-0172 <nick/>.
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceProbeEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const SubscriptionEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);

}  // namespace causeway::mappings
