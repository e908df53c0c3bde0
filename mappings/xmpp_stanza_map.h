#pragma once
// XMPP stanzas <-> normalized bus events (core/events.h). Pure functions over xmpp::Element: the
// XMPP adapter (gateway) only moves what these return between its streams and the bus.
//
// Inbound (a stanza an authenticated peer or our XMPP server delivered to one of our domains):
//   <message type=chat|normal|headline> with <body/>  -> InstantMessageEvent (XHTML-IM <html/>
//       becomes a text/html alternative; <thread/> the conversation id, else the bare sender;
//       <request xmlns=urn:xmpp:receipts/> sets receipt_requested)
//   XEP-0085 chat state child                          -> ChatStateEvent (also next to a body)
//   XEP-0184 <received id=X/>                          -> DeliveryReceiptEvent{message_id = X}
//   <message type=error id=X>                          -> DeliveryFailureEvent{message_id = X}
//   <presence/> available/unavailable                  -> PresenceEvent (presence_map.h)
//   <presence type=probe>                              -> PresenceProbeEvent
//   <presence type=subscribe|subscribed|unsubscribe|unsubscribed> -> SubscriptionEvent
//   <presence type=error>                              -> nothing (RFC 6121: never answered)
// Addresses: `from` is the sender's full JID as {kXmpp, node, domain, resource}; `to` is mapped
// to the destination network with address_map.h (a local XMPP domain's user is a SIP user).
// A stanza that cannot be mapped yields `error`, the condition to bounce to its sender (unless
// the stanza is itself an error, RFC 6120 §8.3.1): jid-malformed, item-not-found (no such local
// domain / unmappable user), bad-request (a message without anything we carry),
// feature-not-implemented (an IQ: the adapter answers disco itself before calling this).
//
// Outbound (a bus event whose `to` is an XMPP address): one stanza in `content_ns`
// (jabber:server for s2s, jabber:component:accept for component mode), `from` = the SIP sender
// mapped with address_map.h plus `resource` (the gateway's resource for Lync users), ids kept:
// message id = InstantMessageEvent::message_id, so receipts and errors refer back to it.

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
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryReceiptEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// <message type=error id=message_id> with the condition of error_map.h.
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const DeliveryFailureEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
// Directed presence (event.to set). A broadcast (to = nullopt) is InvalidArgument: the adapter
// fans out to the subscribers it knows before calling this.
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const PresenceProbeEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);
absl::StatusOr<xmpp::Element> XmppStanzaFromEvent(const SubscriptionEvent& event,
                                                  const DomainMap& domains,
                                                  const XmppOutboundContext& context);

}  // namespace causeway::mappings
