#pragma once
// The XMPP edge of one worker, moving stanzas to and from the normalized events of the worker's
// Bus through mappings/xmpp_stanza_map.h, over one of two transports:
//   s2s mode        an S2sService of its own on the worker's io_context (jabber:server)
//   component mode  the process's one ComponentLink (XEP-0114, jabber:component:accept), shared
//                   by every worker's edge; its inbound stanzas are posted to a worker chosen by
//                   the sender's bare JID, then handled exactly like s2s inbound stanzas.
// Everything but ComponentLink's dispatch runs on the worker's thread; no locks there.
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
// queued at Stop() comes back to its SIP sender as a DeliveryFailureEvent (message ids name the
// SIP worker holding the transaction, so any worker's bus will do).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "core/bus.h"
#include "core/events.h"
#include "core/latency_histogram.h"
#include "core/net_address.h"
#include "core/runtime/worker.h"
#include "mappings/address_map.h"
#include "xmpp/codec/element.h"
#include "xmpp/codec/errors.h"
#include "xmpp/component/component_connection.h"
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
  std::shared_ptr<const xmpp::io::S2sServiceConfig> s2s;  // s2s mode; null in component mode
  std::shared_ptr<const mappings::DomainMap> domains;
  // Remote XMPP domains refused both ways (lower-case), whatever the DomainMap allows.
  std::vector<std::string> blocked_domains;
  std::string resource = "lync";  // the resource Lync users send from
};

struct XmppEdgeStats {
  uint64_t stanzas_in = 0;           // delivered by S2sService / the component link
  uint64_t events_published = 0;     // bus events from inbound stanzas
  uint64_t iq_answered = 0;          // disco, ping
  uint64_t iq_refused = 0;           // service-unavailable / item-not-found answers to iq
  uint64_t errors_bounced = 0;       // error replies to unmappable or refused message/presence
  uint64_t refused_domain = 0;       // stanzas from a domain not federated, events to a blocked one
  uint64_t stanzas_out = 0;          // events handed to the transport
  uint64_t mapping_failures = 0;     // events XmppStanzaFromEvent refused
  uint64_t failures_published = 0;   // DeliveryFailureEvents sent back to SIP senders
  uint64_t undeliverable_other = 0;  // bounced stanzas that were not instant messages
  uint64_t routed_to_owner = 0;      // events posted to the worker owning their domain's stream
  // Instant messages: from the gateway reading them (SIP) to their stanza going onto the s2s
  // stream or the component link, the latency the gateway adds.
  LatencyHistogram forward_latency;
};

class XmppEdge;

// s2s mode: the edges of all workers, so that a remote domain gets one outbound stream from the
// process, not one per worker (every worker's S2sService would open its own). Events for a remote
// domain are sent by the edge that hashing the domain picks, posted there from other workers; a
// conversation's events leave one worker in order and stay in order on the owner. Slots are
// filled when the edges attach (main thread, before the workers run) and emptied by Stop();
// read from any worker.
class EdgeRouting {
 public:
  explicit EdgeRouting(size_t workers);
  EdgeRouting(const EdgeRouting&) = delete;
  EdgeRouting& operator=(const EdgeRouting&) = delete;

  size_t size() const { return size_; }
  // The slot that sends to `domain`.
  size_t OwnerIndex(std::string_view domain) const;

 private:
  friend class XmppEdge;
  struct Slot {
    std::atomic<XmppEdge*> edge{nullptr};
    runtime::Worker* worker = nullptr;
  };
  std::unique_ptr<Slot[]> slots_;
  size_t size_;
};

// Component mode: the one XEP-0114 stream of the process (owned here), shared by the workers'
// edges. Send is thread-safe. Stanzas from the server and stanzas the connection could not
// deliver reach the edge of the worker that hashing the sender's bare JID picks (one conversation
// stays in order on one worker). Before the first edge attaches (startup) they are held for it;
// when no edge is attached any more (shutdown), they are counted and logged as lost instead.
class ComponentLink {
 public:
  static absl::StatusOr<std::unique_ptr<ComponentLink>> Start(
      xmpp::component::ComponentConfig config);
  // Shutdown().
  ~ComponentLink();
  ComponentLink(const ComponentLink&) = delete;
  ComponentLink& operator=(const ComponentLink&) = delete;

  absl::Status Send(xmpp::Element stanza) { return connection_->Send(std::move(stanza)); }
  // Closes the stream (bounded by the connection's close_timeout). What it had not written is
  // handed to the edges as undeliverable (service-unavailable: the SIP senders get failures)
  // while edges are attached, so call it while the workers still run; later Sends bounce.
  // Idempotent; not from a worker's thread (it blocks).
  void Shutdown();

  xmpp::component::ComponentStats stats() const { return connection_->stats(); }
  uint64_t lost() const;  // stanzas that found no edge

 private:
  friend class XmppEdge;
  using Handler = std::function<void(XmppEdge&)>;
  struct Attached {
    XmppEdge* edge;
    runtime::Worker* worker;
  };
  ComponentLink() = default;

  void Attach(XmppEdge& edge, runtime::Worker& worker);
  void Detach(const XmppEdge& edge);
  // Posts `handle` onto the worker of the edge `key` hashes to. Any thread.
  void Dispatch(std::string_view key, const char* what, Handler handle);

  static constexpr size_t kMaxHeldBeforeAttach = 1000;

  std::unique_ptr<xmpp::component::ComponentConnection> connection_;
  bool shut_down_ = false;  // the owner's thread

  mutable std::mutex mutex_;  // guards everything below
  std::vector<Attached> attached_;
  bool ever_attached_ = false;
  std::vector<Handler> held_;  // arrived before the first edge attached
  uint64_t lost_ = 0;
};

class XmppEdge {
 public:
  // Builds the S2sService on worker.io_context() (binds its listeners), subscribes to `bus` and
  // registers a stop hook on `worker` that calls Stop(). Main thread, before the worker runs, or
  // the worker's thread. The edge must outlive the worker's stop hooks or be destroyed first.
  // With `routing` (which must outlive the edge), events whose remote domain another worker's
  // edge owns are posted to it.
  static absl::StatusOr<std::unique_ptr<XmppEdge>> Create(
      runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options,
      EdgeRouting* routing = nullptr);
  // Component mode: sends through `link` (which must outlive the edge) instead of an
  // S2sService; Stop() detaches from the link and leaves it running.
  static absl::StatusOr<std::unique_ptr<XmppEdge>> CreateOnComponent(
      runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options,
      ComponentLink& link);
  ~XmppEdge();
  XmppEdge(const XmppEdge&) = delete;
  XmppEdge& operator=(const XmppEdge&) = delete;

  // Shuts the s2s service down (closing streams) and answers every instant message it still held
  // with a DeliveryFailureEvent (unavailable); in component mode, detaches from the link. Later
  // instant messages for XMPP fail (unavailable). Idempotent; the worker's thread.
  void Stop();

  const XmppEdgeStats& stats() const { return stats_; }
  // S2sService's statistics; nullptr after Stop().
  const xmpp::io::S2sStats* s2s_stats() const;
  // The bound s2s listen addresses (as S2sService reports them at Create).
  const std::vector<NetAddress>& listen_addresses() const { return listen_; }

 private:
  friend class ComponentLink;  // posts inbound stanzas and bounces to OnStanza/OnUndeliverable
  XmppEdge(Bus& bus, std::shared_ptr<const XmppEdgeOptions> options, std::string_view content_ns);
  // Subscribes to the bus and registers the stop hook; after the transport is set.
  void Attach(runtime::Worker& worker);
  bool transport_up() const { return service_ != nullptr || component_ != nullptr; }

  template <typename... E>
  void SubscribeAll(const std::variant<E...>*);
  template <typename E>
  void OnBusEvent(const E& event);
  // The event's stanza, sent by this edge (the owner of its remote domain).
  template <typename E>
  void SendEvent(const E& event);

  void OnStanza(xmpp::Element stanza);
  void OnIq(const xmpp::Element& iq);
  void OnUndeliverable(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                       std::string_view why);
  // The error reply to `stanza` (never to an error stanza), sent back over the transport.
  void Bounce(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
              std::string_view text);
  // Hands a stanza to the transport: OK, InvalidArgument (dropped: not a local -> remote pair)
  // or another refusal already reported through on_undeliverable.
  absl::Status SendStanza(xmpp::Element stanza);
  void Send(xmpp::Element stanza);
  void PublishFailure(DeliveryFailureEvent failure);
  bool IsBlocked(std::string_view domain) const;

  Bus& bus_;
  std::shared_ptr<const XmppEdgeOptions> options_;
  const std::string_view content_ns_;  // jabber:server or jabber:component:accept
  // The transport: one of the two, both null once stopped.
  std::unique_ptr<xmpp::io::S2sService> service_;
  ComponentLink* component_ = nullptr;
  std::vector<Subscription> subscriptions_;
  std::vector<NetAddress> listen_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards the stop hook
  bool stopped_ = false;
  EdgeRouting* routing_ = nullptr;  // s2s mode with several workers
  size_t slot_ = 0;                 // this edge's slot in routing_
  XmppEdgeStats stats_;
};

}  // namespace causeway::gateway
