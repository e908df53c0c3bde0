#pragma once
// The Lync front end: what a Lync/Skype for Business server answers itself for its signed-in users
// instead of proxying (MS-SIPRE, MS-PRES, MS-SIP roaming):
//   SUBSCRIBE to one's own URI    vnd-microsoft-roaming-contacts  -> the contact list
//                                 vnd-microsoft-roaming-self      -> own categories, ACL, watchers
//                                 vnd-microsoft-provisioning-v2   -> server configuration (one-shot)
//                                 presence.wpending               -> pending watchers
//                                 presence + batchSub body        -> batched presence of contacts
//   SUBSCRIBE presence to a user   -> that user's presence (standard single subscription)
//   SERVICE to one's own URI       SOAP setContact / deleteContact / addGroup / modifyGroup /
//                                  deleteGroup, category publish, container membership
//   SERVICE to the MRAS URI        A/V edge (TURN) credentials (MS-AVEDGEA, sip/lync/mras.h)
// The first notification rides in the 200 (ms-piggyback-first-notify); later changes go out as
// BENOTIFY to every subscription they concern: each endpoint of the user for its roaming data,
// each watcher for presence. Presence is aggregated across the publisher's endpoints (MS-PRES):
// an explicit user state wins, else the best machine state of an endpoint that is still
// registered; a user with no registered endpoint is offline.
//
// Threads: one FrontEnd per worker (it is that worker's SipServer LocalService); all of them share
// one FrontEndState (users' roaming data, presence publications and subscriptions, under a mutex).
// Notifications for a subscriber whose connection another worker owns are sent from whichever
// worker made the change: the gateway's transport hands stream sends to the owning worker.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"
#include "core/directory.h"
#include "core/events.h"
#include "sip/codec/message.h"
#include "sip/lync/bodies_contacts.h"
#include "sip/lync/bodies_presence.h"
#include "sip/lync/bodies_roaming.h"
#include "sip/lync/mras.h"
#include "sip/lync/roaming_store.h"
#include "sip/stack/location_store.h"
#include "sip/stack/sip_server.h"
#include "sip/stack/transport.h"

namespace causeway::sip::lync {

// What the front end tells another network (XMPP federation) about: the gateway turns it into a
// bus event. `from` and `to` are SIP AORs ("sip:alice@lync.test"); `to` (or `from` for none of
// these: they all go out) is a user of a federated domain.
struct FederationOutput {
  enum class Kind : uint8_t { kPresence, kSubscription, kProbe };
  Kind kind = Kind::kPresence;
  std::string from;
  std::string to;
  // kPresence: the MS-PRES aggregate availability (18500 = offline) and the user's note.
  uint32_t availability = 0;
  std::string note;
  // kSubscription
  SubscriptionAction action = SubscriptionAction::kSubscribe;
  std::string display_name;
};
using FederationSink = std::function<void(const FederationOutput&)>;

struct FrontEndOptions {
  // Served domains: only their users have roaming data and presence here.
  std::vector<std::string> domains;
  // Domains whose users live on another network reached through the gateway (XMPP federation):
  // their presence comes from that network, subscriptions to and from them are the RFC 6121
  // handshake (FederationOutput). Unset = none.
  std::function<bool(std::string_view domain)> federated_domain;
  std::chrono::seconds default_expires{3600};  // subscriptions without Expires
  std::chrono::seconds max_expires{7200};
  size_t max_subscriptions = 200000;           // across all users
  size_t max_resources_per_batch = 1000;       // adhocList entries in one SUBSCRIBE
  size_t max_remote_presentities = 100000;     // federated users whose presence is kept
  ServerConfiguration server_configuration;    // what provisioning-v2 tells clients
  // MRAS (MS-AVEDGEA): where A/V edge (TURN) credentials come from; unset = the relay is off.
  // With it, provisioning gives clients server_configuration.mras_uri or, when that is empty,
  // "sip:MRASLoc@<the user's domain>". SERVICE requests to either are answered here (503 while
  // the relay is off), only for authenticated users: MRAS hands out relay access, so lab mode
  // (require_authentication false) does not trust From for it.
  MediaRelayAuthority media_relay;
  // When true, only messages proven by an MS-SIPAE signature (ReceiveInfo::authenticated_user)
  // may read or change a user's data; otherwise (no user directory: lab mode) From is trusted.
  bool require_authentication = true;
};

struct FrontEndStats {
  uint64_t subscribes = 0;
  uint64_t services = 0;
  uint64_t notifications = 0;  // BENOTIFY/NOTIFY sent
  uint64_t rejected = 0;       // 4xx answers
  uint64_t mras_granted = 0;   // MRAS answers with relay credentials
  uint64_t mras_refused = 0;   // MRAS error answers (also counted in rejected when 4xx)
};

// Everything the front ends of all workers share.
class FrontEndState {
 public:
  // References must outlive the state.
  FrontEndState(FrontEndOptions options, RoamingStore& store, const LocationStore& location,
                const UserDirectory* directory);

  const FrontEndOptions& options() const { return options_; }
  FrontEndStats stats() const;
  size_t subscription_count() const;

 private:
  friend class FrontEnd;

  // One SUBSCRIBE dialog where we are the notifier.
  struct Subscription {
    std::string event;           // lower-case event package
    std::string subscriber;      // AOR of the subscriber
    std::string notifier;        // the SUBSCRIBE's To URI: From of our notifications
    std::vector<std::string> resources;  // AORs watched (presence); the subscriber for roaming
    std::string call_id, local_tag, remote_tag;
    std::string remote_target;   // the subscriber's Contact URI
    std::vector<std::string> route_set;  // from Record-Route, in order
    uint32_t local_cseq = 0;
    Destination to;              // the flow the SUBSCRIBE came in on
    TimePoint expires;
    uint32_t rlmi_version = 0;
    // The subscriber understands BENOTIFY (Supported: ms-benotify, MS-SIP): best-effort
    // notifications without a response. Others (RFC 6665 UAs) get NOTIFY in a transaction.
    bool benotify = false;
  };
  // A published category instance (MS-PRES); `endpoint` names the publishing endpoint for
  // endpoint-lifetime publications ("" for static/user ones, which persist).
  struct Publication {
    Category category;
    std::string endpoint;
  };
  struct User {
    bool loaded = false;
    ContactList contacts;
    std::vector<Container> containers;
    std::vector<Subscriber> subscribers;  // who has this user in their contact list
    std::vector<Publication> publications;
    absl::flat_hash_set<std::string> subscriptions;  // keys of subscriptions this user holds
    absl::flat_hash_set<std::string> watchers;       // keys of presence subscriptions on this user
    uint32_t last_availability = 0;                  // last aggregate sent to watchers
    std::string last_federated;  // availability and note last sent to federated subscribers
  };
  // A user of a federated domain: what its devices (XMPP resources) last told us, and which of
  // our users it shares presence with (RFC 6121: only approved subscribers get presence).
  struct RemoteDevice {
    uint32_t availability = 0;
    std::string note;
  };
  struct RemotePresentity {
    absl::flat_hash_map<std::string, RemoteDevice> devices;
    absl::flat_hash_set<std::string> allowed;  // local AORs
  };

  User& LoadUser(const std::string& aor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool IsFederated(std::string_view aor) const;
  // A user of a served domain that the directory knows (any user when there is no directory).
  bool IsLocalUser(std::string_view aor) const;
  // The Request-URI names our MRAS (the configured mras_uri, or MRASLoc@ a served domain).
  bool IsMrasUri(const Uri& uri) const;
  // The MRAS URI provisioning gives `aor` ("" when the relay is off and none is configured).
  std::string MrasUriFor(std::string_view aor) const;
  void RemoveSubscription(const std::string& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  FrontEndOptions options_;
  RoamingStore& store_;
  const LocationStore& location_;
  const UserDirectory* directory_;

  mutable absl::Mutex mu_;
  // Node maps: the handlers keep references to a user or subscription while loading others
  // (LoadUser inserts), so elements must not move on rehash.
  absl::node_hash_map<std::string, User> users_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, Subscription> subscriptions_ ABSL_GUARDED_BY(mu_);
  absl::node_hash_map<std::string, RemotePresentity> remote_ ABSL_GUARDED_BY(mu_);
  FrontEndStats stats_ ABSL_GUARDED_BY(mu_);
  TimePoint next_sweep_ ABSL_GUARDED_BY(mu_){};
};

// One worker's front end: the LocalService of that worker's SipServer.
class FrontEnd final : public LocalService {
 public:
  // `contact` is our Contact for subscription dialogs, e.g. "<sip:192.0.2.1:5061;transport=tls>".
  FrontEnd(FrontEndState& state, SipServer& server, const Clock& clock, std::string contact);

  bool OnRequest(ServerTransactionId id, SipMessage& request, const ReceiveInfo& info) override;
  bool OnResponse(ClientTransactionId id, SipMessage& response) override;
  bool OnClientFailure(ClientTransactionId id, int code) override;

  // A registration of `aor` was added, refreshed or removed: watchers see the new availability.
  void OnRegistrationChanged(std::string_view aor);

  // ---- federation (another network's users; AORs in SIP form) ----
  // Where this worker's FederationOutput goes (called on the worker thread, outside the lock).
  void SetFederationSink(FederationSink sink) { federation_sink_ = std::move(sink); }
  // `remote`'s device `device` is now at `availability` (18500 or more = gone). `watcher` is the
  // local user the presence was directed to (it is allowed to see it), or "" for a broadcast.
  void OnFederatedPresence(const std::string& remote, const std::string& device,
                           const std::string& watcher, uint32_t availability, std::string note);
  // The RFC 6121 handshake from `remote` to the local user `local`.
  void OnFederatedSubscription(const std::string& remote, const std::string& local,
                               SubscriptionAction action, const std::string& display_name);
  // `remote` asks for `local`'s current presence: given when `remote` is an approved subscriber,
  // answered `unsubscribed` otherwise (RFC 6121 §4.3.2).
  void OnFederatedProbe(const std::string& remote, const std::string& local);

 private:
  struct Outgoing {
    std::string subscription_key;
    SipMessage message;
    Destination to;
    bool best_effort = true;  // BENOTIFY: sent without a transaction
  };
  using State = FrontEndState;

  bool HandleSubscribe(ServerTransactionId id, SipMessage& request, const ReceiveInfo& info,
                       const std::string& user);
  bool HandleService(ServerTransactionId id, SipMessage& request, const std::string& user);
  // A request to the MRAS URI; `user` is the authenticated AOR ("" when unsigned).
  void HandleMras(ServerTransactionId id, SipMessage& request, const std::string& user);
  void HandleInDialogSubscribe(ServerTransactionId id, SipMessage& request);
  void Reply(ServerTransactionId id, const SipMessage& request, int code,
             std::string_view reason = {});

  // Under the state lock: notification bodies and their fan-out.
  std::string PresenceOf(const std::string& aor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // What `watcher` may see of `aor` (MS-PRES containers: the watcher's access level).
  CategoriesDocument VisibleCategories(const std::string& aor, const std::string& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  uint32_t ContainerOf(const std::string& aor, const std::string& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  uint32_t Availability(const std::string& aor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  std::string RoamingSelfBody(const std::string& aor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  std::string ContactListBody(const std::string& aor) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // A BENOTIFY in subscription `key` (nullopt when the subscription is gone).
  std::optional<Outgoing> MakeNotify(const std::string& key, std::string_view content_type,
                                     std::string body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // `update`: the roaming-contacts body to send instead of the full list (a contactDelta).
  void QueueRoamingNotifies(const std::string& aor, std::string_view event,
                            std::vector<Outgoing>& out,
                            std::optional<std::string> update = std::nullopt)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  void QueuePresenceNotifies(const std::string& aor, std::vector<Outgoing>& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // `user` added `contact` to their list: `contact`'s endpoints hear of the new subscriber.
  void AddSubscriber(const std::string& contact, const std::string& user,
                     std::vector<Outgoing>& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  void Send(std::vector<Outgoing> out);
  void Sweep() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);

  // Federation, under the state lock; the outputs leave in Send().
  // May `remote` (a federated user) see `aor`'s presence: an acknowledged subscriber, not blocked.
  bool ApprovedRemoteWatcher(const std::string& aor, const std::string& remote)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // `aor`'s presence to its approved federated subscribers when it changed (or to `only`).
  void QueueFederatedPresence(const std::string& aor, const std::string& only = {})
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  void QueueFederated(FederationOutput output) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  void QueueFederatedSubscription(const std::string& from, const std::string& to,
                                  SubscriptionAction action)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  // What a local watcher sees of a federated user.
  CategoriesDocument RemoteCategories(const std::string& remote, const std::string& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);
  uint32_t RemoteAvailability(const std::string& remote, const std::string& watcher,
                              std::string* note) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_.mu_);

  FrontEndState& state_;
  SipServer& server_;
  const Clock& clock_;
  std::string contact_;
  // NOTIFY transactions in flight -> their subscription (a 481 or failure ends it).
  absl::flat_hash_map<ClientTransactionId, std::string> notifies_;
  FederationSink federation_sink_;
  // Filled under the state lock by this worker's thread only, emptied by Send().
  std::vector<FederationOutput> federation_out_;
};

}  // namespace causeway::sip::lync
