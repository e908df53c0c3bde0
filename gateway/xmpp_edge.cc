#include "gateway/xmpp_edge.h"

#include <openssl/sha.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <chrono>
#include <functional>
#include <tuple>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "mappings/error_map.h"
#include "mappings/xmpp_stanza_map.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"

namespace causeway::gateway {
namespace {

constexpr std::string_view kNsDiscoInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kNsDiscoItems = "http://jabber.org/protocol/disco#items";
constexpr std::string_view kNsPing = "urn:xmpp:ping";
constexpr std::string_view kNsCaps = "http://jabber.org/protocol/caps";

// The `to` an event travels towards; nullptr for a broadcast presence (no single destination).
template <typename E>
const Address* DestinationOf(const E& event) {
  return &event.to;
}
const Address* DestinationOf(const PresenceEvent& event) { return event.to ? &*event.to : nullptr; }

Address XmppAddressOf(const xmpp::Jid& jid) {
  return Address{Network::kXmpp, jid.node(), jid.domain(), jid.resource()};
}

}  // namespace

// ---- XEP-0115 ----

std::string CapsVerification(std::vector<DiscoIdentity> identities,
                             std::vector<std::string> features) {
  // §5.1 steps 2-3 and 6-7: identities sorted by category, type, xml:lang (then name, so equal
  // triples order deterministically), "category/type/lang/name<"; features sorted, "feature<".
  // Byte-wise comparison is the i;octet collation the XEP requires.
  std::sort(identities.begin(), identities.end(),
            [](const DiscoIdentity& a, const DiscoIdentity& b) {
              return std::tie(a.category, a.type, a.lang, a.name) <
                     std::tie(b.category, b.type, b.lang, b.name);
            });
  std::sort(features.begin(), features.end());
  std::string s;
  for (const DiscoIdentity& id : identities) {
    absl::StrAppend(&s, ToAbsl(id.category), "/", ToAbsl(id.type), "/", ToAbsl(id.lang), "/",
                    ToAbsl(id.name), "<");
  }
  for (const std::string& feature : features) absl::StrAppend(&s, ToAbsl(feature), "<");
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  return absl::Base64Escape(
      absl::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

const std::vector<DiscoIdentity>& EdgeIdentities() {
  static const std::vector<DiscoIdentity>* const identities = new std::vector<DiscoIdentity>{
      {"gateway", "simple", "", "Causeway"},
      {"server", "im", "", "Causeway"},
  };
  return *identities;
}

const std::vector<std::string>& EdgeFeatures() {
  static const std::vector<std::string>* const features = new std::vector<std::string>{
      std::string(kNsCaps),
      std::string(kNsDiscoInfo),
      std::string(kNsDiscoItems),
      "http://jabber.org/protocol/chatstates",
      "http://jabber.org/protocol/xhtml-im",
      std::string(kNsPing),
      "urn:xmpp:receipts",
  };
  return *features;
}

const std::string& EdgeCapsVersion() {
  static const std::string* const ver =
      new std::string(CapsVerification(EdgeIdentities(), EdgeFeatures()));
  return *ver;
}

// ---- XmppEdge ----

XmppEdge::XmppEdge(Bus& bus, std::shared_ptr<const XmppEdgeOptions> options,
                   std::string_view content_ns)
    : bus_(bus), options_(std::move(options)), content_ns_(content_ns) {}

XmppEdge::~XmppEdge() {
  *alive_ = false;
  if (component_ != nullptr) component_->Detach(*this);
}

EdgeRouting::EdgeRouting(size_t workers)
    : slots_(std::make_unique<Slot[]>(std::max<size_t>(workers, 1))),
      size_(std::max<size_t>(workers, 1)) {}

size_t EdgeRouting::OwnerIndex(std::string_view domain) const {
  return absl::HashOf(domain) % size_;
}

absl::StatusOr<std::unique_ptr<XmppEdge>> XmppEdge::Create(
    runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options,
    EdgeRouting* routing) {
  if (options == nullptr || options->s2s == nullptr || options->domains == nullptr) {
    return absl::InvalidArgumentError("xmpp edge: s2s config and domain map are required");
  }
  std::unique_ptr<XmppEdge> edge(new XmppEdge(bus, std::move(options), xmpp::kNsServer));
  XmppEdge* self = edge.get();
  auto service = xmpp::io::S2sService::Create(
      worker.io_context(), edge->options_->s2s,
      {.on_stanza = [self](xmpp::Element stanza,
                           const xmpp::s2s::DomainPair&) { self->OnStanza(std::move(stanza)); },
       .on_undeliverable =
           [self](xmpp::Element stanza, xmpp::StanzaErrorCondition condition) {
             self->OnUndeliverable(stanza, condition, xmpp::StanzaErrorName(condition));
           }});
  if (!service.ok()) return service.status();
  edge->service_ = *std::move(service);
  edge->listen_ = edge->service_->listen_addresses();
  if (routing != nullptr && worker.index() < routing->size()) {
    edge->routing_ = routing;
    edge->slot_ = worker.index();
    routing->slots_[edge->slot_].worker = &worker;
    routing->slots_[edge->slot_].edge.store(edge.get(), std::memory_order_release);
  }
  edge->Attach(worker);
  return edge;
}

absl::StatusOr<std::unique_ptr<XmppEdge>> XmppEdge::CreateOnComponent(
    runtime::Worker& worker, Bus& bus, std::shared_ptr<const XmppEdgeOptions> options,
    ComponentLink& link) {
  if (options == nullptr || options->domains == nullptr) {
    return absl::InvalidArgumentError("xmpp edge: the domain map is required");
  }
  std::unique_ptr<XmppEdge> edge(new XmppEdge(bus, std::move(options), xmpp::kNsComponentAccept));
  edge->component_ = &link;
  link.Attach(*edge, worker);
  edge->Attach(worker);
  return edge;
}

void XmppEdge::Attach(runtime::Worker& worker) {
  SubscribeAll(static_cast<const mappings::XmppBusEvent*>(nullptr));
  worker.AddStopHook([this, alive = std::weak_ptr<bool>(alive_)] {
    if (!alive.expired()) Stop();
  });
}

const xmpp::io::S2sStats* XmppEdge::s2s_stats() const {
  return service_ ? &service_->stats() : nullptr;
}

template <typename... E>
void XmppEdge::SubscribeAll(const std::variant<E...>*) {
  (subscriptions_.push_back(bus_.Subscribe<E>([this](const E& event) { OnBusEvent(event); })), ...);
}

void XmppEdge::Stop() {
  if (stopped_) return;
  stopped_ = true;
  // Other workers send their events for our domains themselves from now on (and, with their
  // edges stopping too, answer them with failures).
  if (routing_ != nullptr) routing_->slots_[slot_].edge.store(nullptr, std::memory_order_release);
  if (component_ != nullptr) {
    // The link is the process's: it is shut down by its owner; from now on nothing is posted to
    // this worker and IMs for XMPP fail here.
    component_->Detach(*this);
    component_ = nullptr;
    log::Info("xmpp", "edge stopped",
              {{"stanzas_in", stats_.stanzas_in}, {"stanzas_out", stats_.stanzas_out}});
    return;
  }
  if (!service_) return;
  std::vector<xmpp::Element> unsent = service_->Shutdown();
  // Destroyed here, on the worker's thread while its io_context exists: the edge itself may be
  // destroyed later by the main thread, after the runtime is gone.
  service_.reset();
  for (const xmpp::Element& stanza : unsent) {
    OnUndeliverable(stanza, xmpp::StanzaErrorCondition::kServiceUnavailable,
                    "the XMPP edge is shutting down");
  }
  log::Info("xmpp", "edge stopped",
            {{"handed_back", static_cast<int64_t>(unsent.size())},
             {"stanzas_in", stats_.stanzas_in},
             {"stanzas_out", stats_.stanzas_out},
             {"routed_to_owner", stats_.routed_to_owner},
             {"ims_timed", stats_.forward_latency.count()},
             {"forward_p50_us", stats_.forward_latency.Quantile(0.5)},
             {"forward_p99_us", stats_.forward_latency.Quantile(0.99)},
             {"forward_p999_us", stats_.forward_latency.Quantile(0.999)}});
}

bool XmppEdge::IsBlocked(std::string_view domain) const {
  const std::vector<std::string>& blocked = options_->blocked_domains;
  return std::find(blocked.begin(), blocked.end(), domain) != blocked.end();
}

void XmppEdge::PublishFailure(DeliveryFailureEvent failure) {
  ++stats_.failures_published;
  absl::Status published = bus_.Publish(failure);
  if (!published.ok()) {
    log::Warn("xmpp", "delivery failure not published",
              {{"message_id", failure.message_id}, {"why", FromAbsl(published.message())}});
  }
}

template <typename E>
void XmppEdge::OnBusEvent(const E& event) {
  const Address* to = DestinationOf(event);
  if (to == nullptr || to->network != Network::kXmpp) return;  // another adapter's
  if (routing_ != nullptr && !stopped_) {
    EdgeRouting::Slot& owner = routing_->slots_[routing_->OwnerIndex(to->domain)];
    XmppEdge* edge = owner.edge.load(std::memory_order_acquire);
    // An owner that is not attached yet or stopped already: this edge sends (or fails) itself.
    if (edge != nullptr && edge != this) {
      ++stats_.routed_to_owner;
      // Edges are destroyed only after every worker has stopped, so `edge` outlives the post.
      owner.worker->Post([edge, event] { edge->SendEvent(event); });
      return;
    }
  }
  SendEvent(event);
}

template <typename E>
void XmppEdge::SendEvent(const E& event) {
  const Address* to = DestinationOf(event);
  constexpr bool kIsMessage = std::is_same_v<E, InstantMessageEvent>;
  auto fail = [&](DeliveryFailureReason reason, std::string_view text) {
    if constexpr (kIsMessage) {
      PublishFailure(
          DeliveryFailureEvent{event.message_id, event.to, event.from, reason, std::string(text)});
    } else {
      log::Debug("xmpp", "event not sent", {{"to", to->ToString()}, {"why", text}});
    }
  };
  if (!transport_up()) {
    fail(DeliveryFailureReason::kUnavailable, "the XMPP edge is stopped");
    return;
  }
  if (IsBlocked(to->domain)) {
    ++stats_.refused_domain;
    fail(DeliveryFailureReason::kRejected, "the XMPP domain is blocked");
    return;
  }
  absl::StatusOr<xmpp::Element> stanza =
      mappings::XmppStanzaFromEvent(event, *options_->domains, {content_ns_, options_->resource});
  if (!stanza.ok()) {
    ++stats_.mapping_failures;
    fail(absl::IsNotFound(stanza.status()) ? DeliveryFailureReason::kNotFound
                                           : DeliveryFailureReason::kRejected,
         FromAbsl(stanza.status().message()));
    return;
  }
  if constexpr (std::is_same_v<E, PresenceEvent>) {
    // XEP-0115 §4: caps ride on available presence (no type attribute) only.
    if (xmpp::StanzaType(*stanza).empty()) {
      stanza->AddChild(kNsCaps, "c")
          .SetAttr("hash", "sha-1")
          .SetAttr("node", kCapsNode)
          .SetAttr("ver", EdgeCapsVersion());
    }
  }
  ++stats_.stanzas_out;
  absl::Status sent = SendStanza(*std::move(stanza));
  if constexpr (kIsMessage) {
    if (sent.ok() && event.accepted_at != std::chrono::steady_clock::time_point{}) {
      stats_.forward_latency.Record(std::chrono::steady_clock::now() - event.accepted_at);
    }
  }
  // InvalidArgument: the stanza was dropped without on_undeliverable (its addresses are not a
  // local -> remote pair); every other refusal already went through on_undeliverable.
  if (absl::IsInvalidArgument(sent)) {
    fail(DeliveryFailureReason::kInternal, FromAbsl(sent.message()));
  }
}

absl::Status XmppEdge::SendStanza(xmpp::Element stanza) {
  if (service_ != nullptr) return service_->Send(std::move(stanza));
  if (component_ != nullptr) return component_->Send(std::move(stanza));
  return absl::FailedPreconditionError("the XMPP edge is stopped");
}

void XmppEdge::Send(xmpp::Element stanza) {
  if (!transport_up()) return;
  absl::Status sent = SendStanza(std::move(stanza));
  if (absl::IsInvalidArgument(sent)) {
    log::Warn("xmpp", "reply not sent", {{"why", FromAbsl(sent.message())}});
  }
}

void XmppEdge::Bounce(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                      std::string_view text) {
  if (xmpp::StanzaType(stanza) == "error") return;  // RFC 6120 §8.3.1: never answer an error
  absl::StatusOr<xmpp::Element> reply = xmpp::MakeStanzaErrorReply(stanza, condition, text);
  if (!reply.ok()) return;
  ++stats_.errors_bounced;
  Send(*std::move(reply));
}

void XmppEdge::OnStanza(xmpp::Element stanza) {
  ++stats_.stanzas_in;
  // S2sService authenticated the sender's domain (in component mode, our XMPP server did); a domain
  // we do not federate with (blocked, or outside the DomainMap's policy) gets nothing from us,
  // disco and ping included.
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  if (from.ok() &&
      (IsBlocked(from->domain()) || !options_->domains->SipDomainFor(from->domain()).ok())) {
    ++stats_.refused_domain;
    if (xmpp::KindOf(stanza) == xmpp::StanzaKind::kIq) ++stats_.iq_refused;
    Bounce(stanza, xmpp::StanzaErrorCondition::kItemNotFound, "domain not federated");
    return;
  }
  if (xmpp::KindOf(stanza) == xmpp::StanzaKind::kIq) {
    OnIq(stanza);
    return;
  }
  mappings::XmppInbound inbound = mappings::EventsFromXmppStanza(stanza, *options_->domains);
  if (inbound.error) {
    log::Debug("xmpp", "stanza refused",
               {{"from", xmpp::StanzaFrom(stanza)},
                {"to", xmpp::StanzaTo(stanza)},
                {"condition", xmpp::StanzaErrorName(*inbound.error)},
                {"why", inbound.error_text}});
    Bounce(stanza, *inbound.error, inbound.error_text);
    return;
  }
  for (const mappings::XmppBusEvent& event : inbound.events) {
    ++stats_.events_published;
    absl::Status published = std::visit([this](const auto& e) { return bus_.Publish(e); }, event);
    if (!published.ok()) {
      log::Warn("xmpp", "event not published", {{"why", FromAbsl(published.message())}});
    }
  }
}

void XmppEdge::OnIq(const xmpp::Element& iq) {
  std::string_view type = xmpp::StanzaType(iq);
  if (type != "get" && type != "set") return;  // result / error: nothing we asked for
  const xmpp::Element* payload = iq.children().empty() ? nullptr : &iq.children().front();
  xmpp::Element result =
      xmpp::MakeStanza(xmpp::StanzaKind::kIq, content_ns_, "result", xmpp::StanzaFrom(iq),
                       xmpp::StanzaTo(iq), xmpp::StanzaId(iq));
  if (type == "get" && payload != nullptr && payload->Is(kNsDiscoInfo, "query")) {
    // XEP-0115 §6.2: a query to node#ver must give the hashed answer; other nodes we have none.
    std::optional<std::string_view> node = payload->Attr("node");
    if (node && *node != absl::StrCat(ToAbsl(kCapsNode), "#", ToAbsl(EdgeCapsVersion()))) {
      ++stats_.iq_refused;
      Bounce(iq, xmpp::StanzaErrorCondition::kItemNotFound, {});
      return;
    }
    xmpp::Element& query = result.AddChild(kNsDiscoInfo, "query");
    if (node) query.SetAttr("node", *node);
    for (const DiscoIdentity& id : EdgeIdentities()) {
      xmpp::Element& identity = query.AddChild(kNsDiscoInfo, "identity");
      identity.SetAttr("category", id.category).SetAttr("type", id.type);
      if (!id.lang.empty()) identity.SetAttrNs(xmpp::kNsXml, "lang", id.lang);
      if (!id.name.empty()) identity.SetAttr("name", id.name);
    }
    for (const std::string& feature : EdgeFeatures()) {
      query.AddChild(kNsDiscoInfo, "feature").SetAttr("var", feature);
    }
  } else if (type == "get" && payload != nullptr && payload->Is(kNsDiscoItems, "query")) {
    xmpp::Element& query = result.AddChild(kNsDiscoItems, "query");  // no items
    if (std::optional<std::string_view> node = payload->Attr("node")) query.SetAttr("node", *node);
  } else if (type == "get" && payload != nullptr && payload->Is(kNsPing, "ping")) {
    // XEP-0199 §6/§7: an empty result.
  } else {
    ++stats_.iq_refused;
    Bounce(iq, xmpp::StanzaErrorCondition::kServiceUnavailable, {});
    return;
  }
  ++stats_.iq_answered;
  Send(std::move(result));
}

void XmppEdge::OnUndeliverable(const xmpp::Element& stanza, xmpp::StanzaErrorCondition condition,
                               std::string_view why) {
  // Only instant messages have a sender waiting for an answer; receipts, chat states, presence
  // and error replies that cannot be delivered are logged.
  bool is_im = xmpp::KindOf(stanza) == xmpp::StanzaKind::kMessage &&
               xmpp::StanzaType(stanza) != "error" &&
               stanza.FindChild(stanza.ns(), "body") != nullptr;
  absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
  absl::StatusOr<xmpp::Jid> to = xmpp::StanzaToJid(stanza);
  absl::StatusOr<Address> sender =
      from.ok() ? mappings::SipAddressFromXmpp(XmppAddressOf(*from), *options_->domains)
                : absl::StatusOr<Address>(from.status());
  if (!is_im || !to.ok() || !sender.ok()) {
    ++stats_.undeliverable_other;
    log::Info("xmpp", "stanza not delivered",
              {{"kind", xmpp::StanzaKindName(xmpp::KindOf(stanza))},
               {"from", xmpp::StanzaFrom(stanza)},
               {"to", xmpp::StanzaTo(stanza)},
               {"condition", xmpp::StanzaErrorName(condition)}});
    return;
  }
  DeliveryFailureEvent failure;
  failure.message_id = std::string(xmpp::StanzaId(stanza));
  failure.from = XmppAddressOf(*to);
  failure.to = *std::move(sender);
  failure.reason = condition == xmpp::StanzaErrorCondition::kServiceUnavailable
                       ? DeliveryFailureReason::kUnavailable
                       : mappings::FailureReasonFromXmppCondition(condition);
  failure.text = std::string(why);
  log::Info("xmpp", "message not delivered",
            {{"message_id", failure.message_id},
             {"to", failure.from.ToString()},
             {"condition", xmpp::StanzaErrorName(condition)}});
  PublishFailure(std::move(failure));
}

// ---- ComponentLink ----

absl::StatusOr<std::unique_ptr<ComponentLink>> ComponentLink::Start(
    xmpp::component::ComponentConfig config) {
  std::unique_ptr<ComponentLink> link(new ComponentLink());
  ComponentLink* self = link.get();
  // No executor: the callbacks run on libstrophe's thread (or, for a refused Send, the sender's)
  // and only post to a worker. Both key on the sender's bare JID: the XMPP user for a stanza
  // from the server, the local user for one we could not deliver.
  xmpp::component::ComponentCallbacks callbacks;
  callbacks.on_stanza = [self](xmpp::Element stanza) {
    absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
    std::string key = from.ok() ? from->BareString() : std::string(xmpp::StanzaFrom(stanza));
    self->Dispatch(key, "stanza", [stanza = std::move(stanza)](XmppEdge& edge) mutable {
      edge.OnStanza(std::move(stanza));
    });
  };
  callbacks.on_undeliverable = [self](xmpp::Element stanza, xmpp::StanzaErrorCondition condition) {
    absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
    std::string key = from.ok() ? from->BareString() : std::string(xmpp::StanzaFrom(stanza));
    self->Dispatch(key, "undeliverable", [stanza = std::move(stanza), condition](XmppEdge& edge) {
      edge.OnUndeliverable(stanza, condition, xmpp::StanzaErrorName(condition));
    });
  };
  callbacks.on_link = [domain = config.domain](bool up, absl::Status cause) {
    if (up) {
      log::Info("xmpp", "component link up", {{"domain", domain}});
    } else {
      log::Warn("xmpp", "component link down",
                {{"domain", domain}, {"why", FromAbsl(cause.message())}});
    }
  };
  absl::StatusOr<std::unique_ptr<xmpp::component::ComponentConnection>> connection =
      xmpp::component::ComponentConnection::Start(std::move(config), std::move(callbacks));
  if (!connection.ok()) return connection.status();
  link->connection_ = *std::move(connection);
  return link;
}

ComponentLink::~ComponentLink() {
  Shutdown();
  connection_.reset();  // while the callbacks' state (mutex_, attached_) still exists
}

void ComponentLink::Shutdown() {
  if (connection_ == nullptr || shut_down_) return;
  shut_down_ = true;
  std::vector<xmpp::Element> unsent = connection_->Shutdown();
  for (xmpp::Element& stanza : unsent) {
    absl::StatusOr<xmpp::Jid> from = xmpp::StanzaFromJid(stanza);
    std::string key = from.ok() ? from->BareString() : std::string(xmpp::StanzaFrom(stanza));
    Dispatch(key, "unsent at shutdown", [stanza = std::move(stanza)](XmppEdge& edge) {
      edge.OnUndeliverable(stanza, xmpp::StanzaErrorCondition::kServiceUnavailable,
                           "the XMPP edge is shutting down");
    });
  }
  xmpp::component::ComponentStats stats = connection_->stats();
  log::Info("xmpp", "component link stopped",
            {{"handed_back", static_cast<int64_t>(unsent.size())},
             {"stanzas_in", stats.stanzas_in},
             {"stanzas_out", stats.stanzas_out},
             {"bounced", stats.bounced},
             {"lost", lost()}});
}

uint64_t ComponentLink::lost() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return lost_;
}

void ComponentLink::Attach(XmppEdge& edge, runtime::Worker& worker) {
  std::lock_guard<std::mutex> lock(mutex_);
  attached_.push_back({&edge, &worker});
  ever_attached_ = true;
  // Run once the worker runs, in arrival order.
  for (Handler& handle : held_) {
    boost::asio::post(worker.io_context(),
                      [edge = &edge, handle = std::move(handle)] { handle(*edge); });
  }
  held_.clear();
}

void ComponentLink::Detach(const XmppEdge& edge) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::erase_if(attached_, [&](const Attached& a) { return a.edge == &edge; });
}

void ComponentLink::Dispatch(std::string_view key, const char* what, Handler handle) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!ever_attached_ && held_.size() < kMaxHeldBeforeAttach) {
    held_.push_back(std::move(handle));
    return;
  }
  if (attached_.empty()) {
    // At shutdown (every edge stopped) nowhere is left to answer from.
    ++lost_;
    log::Warn("xmpp", "component stanza lost: no worker left", {{"what", what}, {"key", key}});
    return;
  }
  // Posted while attached, i.e. before the edge's stop hook ran on that worker: the worker's
  // loop still runs it, and the edge outlives the loop.
  const Attached& target = attached_[std::hash<std::string_view>{}(key) % attached_.size()];
  boost::asio::post(target.worker->io_context(),
                    [edge = target.edge, handle = std::move(handle)] { handle(*edge); });
}

}  // namespace causeway::gateway
