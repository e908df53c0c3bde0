#pragma once
// The XMPP edge of one worker: an S2sService on the worker's io_context, moving stanzas to and
// from the normalized events of the worker's Bus through mappings/xmpp_stanza_map.h. Everything
// runs on the worker's thread; no locks.
//
// Inbound (a stanza an authenticated peer sent to one of our domains):
//   iq get disco#info / disco#items (XEP-0030), urn:xmpp:ping (XEP-0199) -> answered here
//   any other iq get/set                 -> service-unavailable (RFC 6120 §8.4); iq result/error
//                                           are never answered
//   message / presence                   -> EventsFromXmppStanza -> published on the bus, or the
//                                           mapping's error condition bounced to the sender
//   from a blocked or non-federated domain -> item-not-found, whatever the stanza
// Outbound (a bus event whose `to` is on Network::kXmpp): XmppStanzaFromEvent -> S2sService::Send.
// Available presence carries XEP-0115 caps. What cannot be sent is answered, never dropped: an
// instant message that cannot be mapped, is refused by S2sService (on_undeliverable) or is still
// queued at Stop() comes back to its SIP sender as a DeliveryFailureEvent.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bus.h"
#include "core/events.h"
#include "core/net_address.h"
#include "core/runtime/worker.h"
#include "mappings/address_map.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"
#include "xmpp/io/s2s_service.h"

namespace causeway::gateway {

// ---- XEP-0030 / XEP-0115: what the edge is and supports ----

struct DiscoIdentity {
  std::string category;
  std::string type;
  std::string lang;  // xml:lang, "" when absent
  std::string name;
};

// The XEP-0115 §5.1 verification string of `identities` and `features` (no XEP-0128 forms: the
// edge publishes none), hashed with SHA-1 and base64-encoded: the `ver` of a <c/> element.
std::string CapsVerification(std::vector<DiscoIdentity> identities,
                             std::vector<std::string> features);

// Our disco#info answer: category "gateway" type "simple" (the registry's type for SIP/SIMPLE;
// "sip" is not registered) and "server"/"im", plus the features the edge carries.
const std::vector<DiscoIdentity>& EdgeIdentities();
const std::vector<std::string>& EdgeFeatures();
// The caps node (XEP-0115 §4: a URI naming the software) and ver of EdgeIdentities/EdgeFeatures.
inline constexpr std::string_view kCapsNode = "https://causeway.invalid/caps";
const std::string& EdgeCapsVersion();

// ---- the edge ----

struct XmppEdgeOptions {
  std::shared_ptr<const xmpp::io::S2sServiceConfig> s2s;
  std::shared_ptr<const mappings::DomainMap> domains;
  // Remote XMPP domains refused both ways (lower-case), whatever the DomainMap allows.
  std::vector<std::string> blocked_domains;
  std::string resource = "lync";  // the resource Lync users send from
};

struct XmppEdgeStats {
  uint64_t stanzas_in = 0;           // delivered by S2sService
  uint64_t events_published = 0;     // bus events from inbound stanzas
  uint64_t iq_answered = 0;          // disco, ping
  uint64_t iq_refused = 0;           // service-unavailable / item-not-found answers to iq
  uint64_t errors_bounced = 0;       // error replies to unmappable or refused message/presence
  uint64_t refused_domain = 0;       // stanzas from a domain not federated, events to a blocked one
  uint64_t stanzas_out = 0;          // events handed to S2sService::Send
  uint64_t mapping_failures = 0;     // events XmppStanzaFromEvent refused
  uint64_t failures_published = 0;   // DeliveryFailureEvents sent back to SIP senders
  uint64_t undeliverable_other = 0;  // bounced stanzas that were not instant messages
};

class XmppEdge {
 public:
  // Builds the S2sService on worker.io_context() (binds its listeners), subscribes to `bus` and
  // registers a stop hook on `worker` that calls Stop(). Main thread, before the worker runs, or
  // the worker's thread. The edge must outlive the worker's stop hooks or be destroyed first.
  static absl::StatusOr<std::unique_ptr<XmppEdge>> Create(
      runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options);
  ~XmppEdge();
  XmppEdge(const XmppEdge&) = delete;
  XmppEdge& operator=(const XmppEdge&) = delete;

  // Shuts the s2s service down (closing streams) and answers every instant message it still held
  // with a DeliveryFailureEvent (unavailable). Idempotent; the worker's thread.
  void Stop();

  const XmppEdgeStats& stats() const { return stats_; }
  // S2sService's statistics; nullptr after Stop().
  const xmpp::io::S2sStats* s2s_stats() const;
  // The bound s2s listen addresses (as S2sService reports them at Create).
  const std::vector<NetAddress>& listen_addresses() const { return listen_; }

 private:
  XmppEdge(Bus& bus, std::shared_ptr<const XmppEdgeOptions> options);

  template <typename... E>
  void SubscribeAll(const std::variant<E...>*);
  template <typename E>
  void OnBusEvent(const E& event);

  void OnStanza(xmpp::Element stanza);
  void OnIq(const xmpp::Element& iq);
  void OnUndeliverable(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                       std::string_view why);
  // The error reply to `stanza` (never to an error stanza), sent back over s2s.
  void Bounce(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
              std::string_view text);
  void Send(xmpp::Element stanza);
  void PublishFailure(DeliveryFailureEvent failure);
  bool IsBlocked(std::string_view domain) const;

  Bus& bus_;
  std::shared_ptr<const XmppEdgeOptions> options_;
  std::unique_ptr<xmpp::io::S2sService> service_;
  std::vector<Subscription> subscriptions_;
  std::vector<NetAddress> listen_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards the stop hook
  bool stopped_ = false;
  XmppEdgeStats stats_;
};

}  // namespace causeway::gateway
