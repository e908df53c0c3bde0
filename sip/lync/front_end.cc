#include "sip/lync/front_end.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/status.h"
#include "core/strings.h"
#include "sip/lync/registration.h"
#include "sip/lync/xml.h"
#include "sip/stack/registrar.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kLog = "lync";
constexpr std::string_view kPresence = "presence";
constexpr std::string_view kWatcherListEvent = "presence.wpending";
constexpr auto kSweepInterval = std::chrono::seconds(10);

std::string Lower(std::string_view s) { return absl::AsciiStrToLower(ToAbsl(s)); }

std::string DialogKey(std::string_view call_id, std::string_view remote_tag,
                      std::string_view local_tag) {
  return absl::StrCat(ToAbsl(call_id), "\x1f", ToAbsl(remote_tag), "\x1f", ToAbsl(local_tag));
}

// "sip:bob@x" or "bob@x" as an AOR key, or "" when it names no SIP user.
std::string AorOfText(std::string_view text) {
  std::string with_scheme = absl::StartsWithIgnoreCase(ToAbsl(text), "sip:")
                                ? std::string(text)
                                : absl::StrCat("sip:", ToAbsl(text));
  absl::StatusOr<Uri> uri = Uri::Parse(with_scheme);
  if (!uri.ok() || !uri->is_sip() || !uri->has_user()) return "";
  absl::StatusOr<std::string> aor = CanonicalAor(*uri);
  return aor.ok() ? *aor : "";
}

// The availability a published state category carries (MS-PRES <availability>), 0 when none.
uint32_t PublishedAvailability(std::string_view xml) {
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  if (!doc.ok()) return 0;
  uint32_t value = 0;
  if (!absl::SimpleAtoi(ToAbsl(doc->root().ChildText("availability")), &value)) return 0;
  return value;
}

FederationOutput Federation(FederationOutput::Kind kind, const std::string& from,
                            const std::string& to) {
  FederationOutput out;
  out.kind = kind;
  out.from = from;
  out.to = to;
  return out;
}

bool IsUserState(std::string_view xml) { return absl::StrContains(ToAbsl(xml), "userState"); }

std::string ContactCardXml(std::string_view display_name) {
  XmlWriter w;
  w.Open("contactCard").Attr("xmlns", "http://schemas.microsoft.com/2006/09/sip/contactcard");
  w.Open("identity").Open("name").Element("displayName", display_name).Close().Close();
  w.Close();
  return std::move(w).Finish();
}

}  // namespace

FrontEndState::FrontEndState(FrontEndOptions options, RoamingStore& store,
                             const LocationStore& location, const UserDirectory* directory)
    : options_(std::move(options)), store_(store), location_(location), directory_(directory) {}

FrontEndStats FrontEndState::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

size_t FrontEndState::subscription_count() const {
  absl::MutexLock lock(&mu_);
  return subscriptions_.size();
}

FrontEndState::User& FrontEndState::LoadUser(const std::string& aor) {
  User& user = users_[aor];
  if (user.loaded) return user;
  user.loaded = true;
  if (IsFederated(aor)) return user;  // another network keeps its data; only watchers here
  absl::StatusOr<RoamingData> data = store_.Load(aor);
  if (!data.ok()) {
    log::Warn(kLog, "roaming data not loaded", {{"user", aor},
                                                 {"why", FromAbsl(data.status().message())}});
    return user;
  }
  user.contacts = std::move(data->contacts);
  // The default group gets its id once and keeps it: clients key groups by id, so "~" must not
  // move when a group is added later.
  if (user.contacts.delta_num == 0) user.contacts.delta_num = 1;
  NormalizeContactList(user.contacts);
  user.containers = std::move(data->containers);
  user.subscribers = std::move(data->subscribers);
  if (user.containers.empty()) {
    // The access levels every Lync user starts with (MS-PRES): colleagues of the same enterprise
    // in 200, federated contacts in 100, and empty personal, workgroup and blocked levels.
    user.containers = {
        Container{kContainerBlocked, 0, {}},
        Container{kContainerPersonal, 0, {}},
        Container{kContainerWorkgroup, 0, {}},
        Container{kContainerColleagues, 0, {ContainerMember{std::string(kMemberSameEnterprise), ""}}},
        Container{kContainerPublic, 0, {ContainerMember{std::string(kMemberFederated), ""}}},
    };
  }
  for (Category& c : data->publications) user.publications.push_back({std::move(c), ""});
  return user;
}

bool FrontEndState::IsFederated(std::string_view aor) const {
  const size_t at = aor.find('@');
  return options_.federated_domain && at != std::string_view::npos &&
         options_.federated_domain(aor.substr(at + 1));
}

bool FrontEndState::IsLocalUser(std::string_view aor) const {
  const size_t at = aor.find('@');
  if (at == std::string_view::npos || !ServedDomains(options_.domains).Serves(aor.substr(at + 1))) {
    return false;
  }
  return directory_ == nullptr || directory_->Size() == 0 ||
         directory_->FindByUri(aor) != nullptr;
}

bool FrontEndState::IsMrasUri(const Uri& uri) const {
  if (!uri.is_sip() || !uri.has_user() || !ServedDomains(options_.domains).Serves(uri.host())) {
    return false;
  }
  if (absl::EqualsIgnoreCase(ToAbsl(uri.user()), ToAbsl(kDefaultMrasUser))) return true;
  const std::string& configured = options_.server_configuration.mras_uri;
  if (configured.empty()) return false;
  absl::StatusOr<Uri> mras = Uri::Parse(configured);
  if (!mras.ok()) return false;
  absl::StatusOr<std::string> a = CanonicalAor(uri);
  absl::StatusOr<std::string> b = CanonicalAor(*mras);
  return a.ok() && b.ok() && *a == *b;
}

std::string FrontEndState::MrasUriFor(std::string_view aor) const {
  if (!options_.server_configuration.mras_uri.empty()) {
    return options_.server_configuration.mras_uri;
  }
  const size_t at = aor.find('@');
  if (!options_.media_relay || at == std::string_view::npos) return "";
  return absl::StrCat("sip:", ToAbsl(kDefaultMrasUser), "@", ToAbsl(aor.substr(at + 1)));
}

void FrontEndState::RemoveSubscription(const std::string& key) {
  auto it = subscriptions_.find(key);
  if (it == subscriptions_.end()) return;
  if (auto u = users_.find(it->second.subscriber); u != users_.end()) {
    u->second.subscriptions.erase(key);
  }
  if (it->second.event == kPresence) {
    for (const std::string& r : it->second.resources) {
      if (auto u = users_.find(r); u != users_.end()) u->second.watchers.erase(key);
    }
  }
  subscriptions_.erase(it);
}

FrontEnd::FrontEnd(FrontEndState& state, SipServer& server, const Clock& clock,
                   std::string contact)
    : state_(state), server_(server), clock_(clock), contact_(std::move(contact)) {}

void FrontEnd::Reply(ServerTransactionId id, const SipMessage& request, int code,
                     std::string_view reason) {
  SipMessage response = MakeResponse(request, code, reason, NewLocalTag());
  if (code == 489) (void)response.AppendHeader("Allow-Events", kAllowEvents);
  if (code == 415) {
    (void)response.AppendHeader(
        HeaderId::kAccept, absl::StrCat(ToAbsl(kSoapContentType), ", ",
                                        ToAbsl(kCategoryPublishContentType), ", ",
                                        ToAbsl(kSetContainerMembersContentType)));
  }
  if (code >= 400) {
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.rejected;
  }
  (void)server_.layer().SendResponse(id, std::move(response));
}

bool FrontEnd::OnRequest(ServerTransactionId id, SipMessage& request, const ReceiveInfo& info) {
  const Method method = request.method();
  if (method != Method::kSubscribe && method != Method::kService) return false;
  if (!request.to_tag().empty()) {
    if (method != Method::kSubscribe) return false;
    const std::string key =
        DialogKey(request.call_id(), request.from_tag(), request.to_tag());
    {
      absl::MutexLock lock(&state_.mu_);
      if (!state_.subscriptions_.contains(key)) return false;  // someone else's dialog
    }
    HandleInDialogSubscribe(id, request);
    return true;
  }
  const Uri& ruri = request.request_uri();
  if (!ruri.is_sip() || !ruri.has_user()) return false;
  if (state_.IsMrasUri(ruri)) {
    // Relay credentials only ever go to a user the security layer authenticated.
    HandleMras(id, request, info.authenticated_user.empty() ? std::string()
                                                            : Lower(info.authenticated_user));
    return true;
  }
  ServedDomains served(state_.options().domains);
  absl::StatusOr<std::string> target = CanonicalAor(ruri);
  absl::StatusOr<std::string> from = CanonicalAor(request.from().uri);
  if (!target.ok() || !from.ok()) return false;
  // A presence subscription to a federated user is answered here from what its network told us.
  const bool federated_target = method == Method::kSubscribe && state_.IsFederated(*target);
  if (!served.Serves(ruri.host()) && !federated_target) return false;

  std::string user;
  if (!info.authenticated_user.empty()) {
    user = Lower(info.authenticated_user);
  } else if (!state_.options().require_authentication) {
    user = *from;
  }
  const bool self = *target == *from;
  if (!federated_target && state_.directory_ != nullptr && state_.directory_->Size() > 0 &&
      state_.directory_->FindByUri(*target) == nullptr) {
    Reply(id, request, 404);
    return true;
  }
  if (method == Method::kService) {
    if (!self) return false;  // SERVICE for another user: not ours to answer
    if (user.empty() || user != *target) {
      Reply(id, request, 403, "Not Signed In");
      return true;
    }
    return HandleService(id, request, user);
  }
  absl::StatusOr<TokenWithParams> event = request.GetEvent();
  if (!self && !(event.ok() && Lower(event->token) == kPresence)) return false;
  if (user.empty() || (self && user != *target)) {
    Reply(id, request, 403, "Not Signed In");
    return true;
  }
  return HandleSubscribe(id, request, info, user);
}

bool FrontEnd::HandleSubscribe(ServerTransactionId id, SipMessage& request,
                               const ReceiveInfo& info, const std::string& user) {
  absl::StatusOr<TokenWithParams> event_header = request.GetEvent();
  if (!event_header.ok()) {
    Reply(id, request, absl::IsNotFound(event_header.status()) ? 489 : 400);
    return true;
  }
  const std::string event = Lower(event_header->token);
  const std::string target = *CanonicalAor(request.request_uri());
  const bool self = target == user;
  const FrontEndOptions& options = state_.options();
  std::chrono::seconds expires = options.default_expires;
  if (absl::StatusOr<uint32_t> e = request.GetExpires(); e.ok()) {
    expires = std::min(std::chrono::seconds(*e), options.max_expires);
  }

  std::vector<std::string> resources;
  bool batched = false;
  if (event == kPresence) {
    absl::StatusOr<MediaType> type = request.GetContentType();
    if (type.ok() && absl::EqualsIgnoreCase(
                         absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype)),
                         ToAbsl(kBatchSubscribeContentType))) {
      absl::StatusOr<BatchSubscribe> batch = ParseBatchSubscribe(request.body());
      if (!batch.ok()) {
        Reply(id, request, 400, "Malformed batchSub");
        return true;
      }
      batched = true;
      for (const std::string& r : batch->resources) {
        if (resources.size() >= options.max_resources_per_batch) break;
        std::string aor = AorOfText(r);
        if (!aor.empty() && std::find(resources.begin(), resources.end(), aor) == resources.end()) {
          resources.push_back(std::move(aor));
        }
      }
    } else {
      resources.push_back(target);
    }
  } else if (!self || (event != kRoamingContactsEvent && event != kRoamingSelfEvent &&
                       event != kProvisioningV2Event && event != kWatcherListEvent)) {
    Reply(id, request, 489);
    return true;
  } else {
    resources.push_back(user);
  }
  if (event == kProvisioningV2Event) expires = std::chrono::seconds(0);  // one-shot (MS-SIPRE)

  const std::string local_tag = NewLocalTag();
  SipMessage ok = MakeResponse(request, 200, {}, local_tag);
  std::vector<Outgoing> out;
  {
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.subscribes;
    Sweep();
    if (expires.count() > 0 && state_.subscriptions_.size() >= options.max_subscriptions) {
      ++state_.stats_.rejected;
      (void)server_.layer().SendResponse(id, MakeResponse(request, 503, {}, local_tag));
      return true;
    }
    std::string content_type;
    std::string body;
    if (event == kRoamingContactsEvent) {
      content_type = kRoamingContactsContentType;
      body = ContactListBody(user);
    } else if (event == kRoamingSelfEvent) {
      content_type = kRoamingSelfContentType;
      body = RoamingSelfBody(user);
    } else if (event == kProvisioningV2Event) {
      content_type = kProvisioningV2ContentType;
      ProvisioningV2 provisioning;
      provisioning.server_configuration = options.server_configuration;
      provisioning.server_configuration->mras_uri = state_.MrasUriFor(user);
      body = BuildProvisioningV2(provisioning);
    } else if (event == kWatcherListEvent) {
      content_type = kWatcherListContentType;
      // Who added this user and is not yet allowed or blocked (pending watchers).
      std::vector<Watcher> pending;
      for (const Subscriber& s : state_.LoadUser(user).subscribers) {
        if (!s.acknowledged) pending.push_back(Watcher{WithSipScheme(s.user), s.display_name});
      }
      body = BuildWatcherList(pending);
    } else if (batched) {
      RlmiNotification rlmi;
      rlmi.list_uri = user;
      rlmi.version = 0;
      rlmi.full_state = true;
      for (const std::string& r : resources) {
        RlmiResource resource;
        resource.uri = r;
        if (state_.IsLocalUser(r) || state_.IsFederated(r)) {
          resource.categories = VisibleCategories(r, user);
        } else {
          resource.state = "terminated";
          resource.reason = "noresource";
        }
        rlmi.resources.push_back(std::move(resource));
      }
      MultipartBody multipart = BuildRlmiNotify(rlmi, NewLocalTag());
      content_type = multipart.content_type;
      body = std::move(multipart.body);
    } else {
      content_type = kEventCategoriesContentType;
      body = BuildCategories(VisibleCategories(target, user));
    }

    if (expires.count() > 0) {
      FrontEndState::Subscription s;
      s.event = event;
      s.subscriber = user;
      s.notifier = std::string(request.to().uri_text);
      s.resources = resources;
      s.call_id = std::string(request.call_id());
      s.local_tag = local_tag;
      s.remote_tag = std::string(request.from_tag());
      if (absl::StatusOr<std::vector<NameAddr>> contacts = request.GetContacts();
          contacts.ok() && !contacts->empty() && !contacts->front().wildcard) {
        s.remote_target = std::string(contacts->front().uri_text);
      } else {
        s.remote_target = std::string(request.from().uri_text);
      }
      for (const NameAddr& rr : request.record_routes()) s.route_set.emplace_back(rr.raw);
      s.local_cseq = 1;  // the piggybacked first notification
      s.to.kind = info.kind;
      s.to.address = info.source;
      s.to.connection = info.connection;
      s.expires = clock_.Now() + expires;
      s.rlmi_version = 0;
      if (absl::StatusOr<std::vector<std::string_view>> supported =
              request.GetTokens(HeaderId::kSupported);
          supported.ok()) {
        s.benotify = std::any_of(supported->begin(), supported->end(), [](std::string_view t) {
          return absl::EqualsIgnoreCase(ToAbsl(t), "ms-benotify");
        });
      }
      const std::string key = DialogKey(s.call_id, s.remote_tag, s.local_tag);
      state_.LoadUser(user).subscriptions.insert(key);
      if (event == kPresence) {
        for (const std::string& r : resources) {
          FrontEndState::User& watched = state_.LoadUser(r);
          watched.watchers.insert(key);
          watched.last_availability = Availability(r);  // what this watcher was just told
          if (state_.IsFederated(r)) {
            auto remote = state_.remote_.find(r);
            if (remote == state_.remote_.end() || !remote->second.allowed.contains(user)) {
              QueueFederated(Federation(FederationOutput::Kind::kProbe, user, r));
            }
          }
        }
      }
      state_.subscriptions_[key] = std::move(s);
    }
    (void)ok.AppendHeader(HeaderId::kContact, contact_);
    (void)ok.AppendHeader(HeaderId::kExpires, absl::StrCat(expires.count()));
    (void)ok.AppendHeader(HeaderId::kEvent, event);
    (void)ok.AppendHeader(
        "subscription-state",
        expires.count() > 0 ? absl::StrCat("active;expires=", expires.count())
                            : std::string("terminated;reason=timeout"));
    (void)ok.AppendHeader("ms-piggyback-cseq", "1");
    ok.SetBody(content_type, body);
  }
  (void)server_.layer().SendResponse(id, std::move(ok));
  Send(std::move(out));
  return true;
}

void FrontEnd::HandleInDialogSubscribe(ServerTransactionId id, SipMessage& request) {
  const std::string key = DialogKey(request.call_id(), request.from_tag(), request.to_tag());
  std::chrono::seconds expires = state_.options().default_expires;
  if (absl::StatusOr<uint32_t> e = request.GetExpires(); e.ok()) {
    expires = std::min(std::chrono::seconds(*e), state_.options().max_expires);
  }
  SipMessage ok = MakeResponse(request, 200, {}, request.to_tag());
  {
    absl::MutexLock lock(&state_.mu_);
    auto it = state_.subscriptions_.find(key);
    if (it == state_.subscriptions_.end()) {
      (void)server_.layer().SendResponse(id, MakeResponse(request, 481, {}, request.to_tag()));
      return;
    }
    (void)ok.AppendHeader(HeaderId::kEvent, it->second.event);
    // A batched presence subscription changes its resource list in the dialog (MS-PRES: a
    // contact added later is subscribed with another batchSub in the same dialog); the new
    // resources' state rides in the 200 like the first notification.
    std::optional<MultipartBody> added_state;
    absl::StatusOr<MediaType> type = request.GetContentType();
    if (it->second.event == kPresence && expires.count() > 0 && type.ok() &&
        absl::EqualsIgnoreCase(absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype)),
                               ToAbsl(kBatchSubscribeContentType))) {
      absl::StatusOr<BatchSubscribe> batch = ParseBatchSubscribe(request.body());
      if (!batch.ok()) {
        ++state_.stats_.rejected;
        (void)server_.layer().SendResponse(
            id, MakeResponse(request, 400, "Malformed batchSub", request.to_tag()));
        return;
      }
      FrontEndState::Subscription& sub = it->second;
      const bool unsubscribe = batch->action == "unsubscribe";
      RlmiNotification rlmi;
      rlmi.list_uri = sub.subscriber;
      rlmi.version = ++sub.rlmi_version;
      rlmi.full_state = false;
      for (const std::string& r : batch->resources) {
        const std::string aor = AorOfText(r);
        if (aor.empty()) continue;
        auto known = std::find(sub.resources.begin(), sub.resources.end(), aor);
        if (unsubscribe) {
          if (known != sub.resources.end()) sub.resources.erase(known);
          if (auto u = state_.users_.find(aor); u != state_.users_.end()) {
            u->second.watchers.erase(key);
          }
          continue;
        }
        if (known != sub.resources.end() ||
            sub.resources.size() >= state_.options().max_resources_per_batch) {
          continue;
        }
        sub.resources.push_back(aor);
        RlmiResource resource;
        resource.uri = aor;
        if (state_.IsLocalUser(aor) || state_.IsFederated(aor)) {
          FrontEndState::User& watched = state_.LoadUser(aor);
          watched.watchers.insert(key);
          watched.last_availability = Availability(aor);
          resource.categories = VisibleCategories(aor, sub.subscriber);
          if (state_.IsFederated(aor)) {
            auto remote = state_.remote_.find(aor);
            if (remote == state_.remote_.end() || !remote->second.allowed.contains(sub.subscriber)) {
              QueueFederated(Federation(FederationOutput::Kind::kProbe, sub.subscriber, aor));
            }
          }
        } else {
          resource.state = "terminated";
          resource.reason = "noresource";
        }
        rlmi.resources.push_back(std::move(resource));
      }
      if (!rlmi.resources.empty()) added_state = BuildRlmiNotify(rlmi, NewLocalTag());
    }
    if (expires.count() == 0) {
      state_.RemoveSubscription(key);
      (void)ok.AppendHeader("subscription-state", "terminated;reason=timeout");
    } else {
      it->second.expires = clock_.Now() + expires;
      (void)ok.AppendHeader("subscription-state",
                            absl::StrCat("active;expires=", expires.count()));
    }
    (void)ok.AppendHeader(HeaderId::kContact, contact_);
    (void)ok.AppendHeader(HeaderId::kExpires, absl::StrCat(expires.count()));
    if (added_state) {
      (void)ok.AppendHeader("ms-piggyback-cseq", absl::StrCat(request.cseq()));
      ok.SetBody(added_state->content_type, added_state->body);
    }
  }
  (void)server_.layer().SendResponse(id, std::move(ok));
  Send({});  // the probes for federated contacts added to the list
}

void FrontEnd::HandleMras(ServerTransactionId id, SipMessage& request, const std::string& user) {
  // MS-AVEDGEA 3.1.5.1: the method and the content type are checked first and refused without
  // a body; every later failure is a <response> with its reasonPhrase.
  auto refuse = [&](SipMessage response) {
    {
      absl::MutexLock lock(&state_.mu_);
      if (response.status_code() < 500) ++state_.stats_.rejected;
      ++state_.stats_.mras_refused;
    }
    (void)server_.layer().SendResponse(id, std::move(response));
  };
  if (request.method() != Method::kService) {
    SipMessage response = MakeResponse(request, 405, {}, NewLocalTag());
    (void)response.AppendHeader(HeaderId::kAllow, "SERVICE");
    refuse(std::move(response));
    return;
  }
  absl::StatusOr<MediaType> type = request.GetContentType();
  if (!type.ok() || !absl::EqualsIgnoreCase(
                         absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype)),
                         ToAbsl(kMrasContentType))) {
    SipMessage response = MakeResponse(request, 415, {}, NewLocalTag());
    (void)response.AppendHeader(HeaderId::kAccept, kMrasContentType);
    refuse(std::move(response));
    return;
  }
  // A user of ours only: a federated or unknown sender gets no relay (403 "Forbidden").
  const std::string self = !user.empty() && state_.IsLocalUser(user) ? user : std::string();
  MrasAnswer answer = AnswerMras(request.body(), self, state_.options().media_relay);
  SipMessage response = MakeResponse(request, answer.status, {}, NewLocalTag());
  response.SetBody(kMrasContentType, answer.body);
  if (answer.status >= 300) {
    log::Info(kLog, "MRAS request refused",
              {{"user", user}, {"reason", MrasReasonPhrase(answer.reason)},
               {"why", answer.detail}});
    refuse(std::move(response));
    return;
  }
  {
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.services;
    ++state_.stats_.mras_granted;
  }
  log::Debug(kLog, "MRAS credentials issued", {{"user", user}});
  (void)server_.layer().SendResponse(id, std::move(response));
}

bool FrontEnd::HandleService(ServerTransactionId id, SipMessage& request,
                             const std::string& user) {
  absl::StatusOr<MediaType> type = request.GetContentType();
  const std::string content_type =
      type.ok() ? Lower(absl::StrCat(ToAbsl(type->type), "/", ToAbsl(type->subtype))) : "";
  SipMessage ok = MakeResponse(request, 200, {}, NewLocalTag());
  std::vector<Outgoing> out;

  if (content_type == Lower(kSoapContentType)) {
    absl::StatusOr<SoapRequest> soap = ParseSoapRequest(request.body());
    if (!soap.ok()) {
      Reply(id, request, 400, "Malformed SOAP request");
      return true;
    }
    if (soap->method == SoapMethod::kOther) {
      Reply(id, request, 501, "Not Implemented");
      return true;
    }
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.services;
    FrontEndState::User& u = state_.LoadUser(user);
    ContactList& list = u.contacts;
    auto same_uri = [](std::string_view a, std::string_view b) {
      return absl::EqualsIgnoreCase(ToAbsl(StripSipScheme(a)), ToAbsl(StripSipScheme(b)));
    };
    auto find_contact = [&](std::string_view uri) {
      return std::find_if(list.contacts.begin(), list.contacts.end(),
                          [&](const Contact& c) { return same_uri(c.uri, uri); });
    };
    // Other endpoints learn the change as a contactDelta: clients apply only additions from a
    // full list after the first one, never removals.
    ContactDelta delta;
    std::vector<std::string> modified;  // URIs whose group list changed
    switch (soap->method) {
      case SoapMethod::kSetContact: {
        auto it = find_contact(soap->uri);
        const bool added = it == list.contacts.end();
        if (added) {
          list.contacts.push_back(Contact{});
          it = list.contacts.end() - 1;
          it->uri = soap->uri;
        }
        it->name = soap->display_name;
        if (!soap->group_ids.empty()) it->group_ids = soap->group_ids;
        if (soap->subscribed) it->subscribed = *soap->subscribed;
        it->external_uri = soap->external_uri;
        if (added) {
          delta.added_contacts.push_back(*it);
        } else {
          modified.push_back(it->uri);
        }
        const std::string contact = AorOfText(soap->uri);
        AddSubscriber(contact, user, out);
        if (added && state_.IsFederated(contact)) {
          // RFC 6121 §3.1: adding a contact asks for its presence; a contact that asked first is
          // approved by the same act (the issue's "adding the contact on the Lync side").
          QueueFederatedSubscription(user, contact, SubscriptionAction::kSubscribe);
          for (Subscriber& s : u.subscribers) {
            if (AorOfText(s.user) != contact || s.acknowledged) continue;
            s.acknowledged = true;
            if (absl::Status saved = state_.store_.SaveSubscribers(user, u.subscribers);
                !saved.ok()) {
              log::Warn(kLog, "subscribers not saved", {{"user", user},
                                                        {"why", FromAbsl(saved.message())}});
            }
            if (ApprovedRemoteWatcher(user, contact)) {
              QueueFederatedSubscription(user, contact, SubscriptionAction::kSubscribed);
              QueueFederatedPresence(user, contact);
            }
            QueueRoamingNotifies(user, kRoamingSelfEvent, out);
          }
        }
        break;
      }
      case SoapMethod::kDeleteContact:
        if (auto it = find_contact(soap->uri); it != list.contacts.end()) {
          delta.deleted_contacts.push_back(WithSipScheme(it->uri));
          const std::string contact = AorOfText(it->uri);
          if (state_.IsFederated(contact)) {
            QueueFederatedSubscription(user, contact, SubscriptionAction::kUnsubscribe);
          }
          list.contacts.erase(it);
        }
        break;
      case SoapMethod::kAddGroup: {
        uint32_t next = 1;
        for (const ContactGroup& g : list.groups) next = std::max(next, g.id + 1);
        list.groups.push_back(ContactGroup{next, soap->group_name, soap->external_uri});
        delta.added_groups.push_back(list.groups.back());
        ok.SetBody(kSoapContentType, BuildAddGroupResponse(next));
        break;
      }
      case SoapMethod::kModifyGroup:
        for (ContactGroup& g : list.groups) {
          if (soap->group_id && g.id == *soap->group_id) {
            g.name = soap->group_name;
            delta.modified_groups.push_back(g);
          }
        }
        break;
      case SoapMethod::kDeleteGroup:
        if (soap->group_id) {
          const uint32_t gone = *soap->group_id;
          const size_t before = list.groups.size();
          std::erase_if(list.groups, [gone](const ContactGroup& g) { return g.id == gone; });
          if (list.groups.size() != before) delta.deleted_groups.push_back(gone);
          for (Contact& c : list.contacts) {
            if (std::erase(c.group_ids, gone) > 0) modified.push_back(c.uri);
          }
        }
        break;
      case SoapMethod::kSetAce:
      case SoapMethod::kOther:
        break;
    }
    list.delta_num = std::max<uint32_t>(list.delta_num, 1) + 1;
    NormalizeContactList(list);
    delta.delta_num = list.delta_num;
    for (const std::string& uri : modified) {  // as normalized (a contact left groupless is in ~)
      if (auto it = find_contact(uri); it != list.contacts.end()) {
        delta.modified_contacts.push_back(*it);
      }
    }
    for (Contact& c : delta.added_contacts) {
      if (auto it = find_contact(c.uri); it != list.contacts.end()) c = *it;
    }
    if (absl::Status saved = state_.store_.SaveContacts(user, list); !saved.ok()) {
      log::Warn(kLog, "contact list not saved", {{"user", user},
                                                 {"why", FromAbsl(saved.message())}});
    }
    QueueRoamingNotifies(user, kRoamingContactsEvent, out, BuildContactDelta(delta));
  } else if (content_type == kCategoryPublishContentType) {
    absl::StatusOr<PublishRequest> publish = ParsePublish(request.body());
    if (!publish.ok()) {
      Reply(id, request, 400, "Malformed publication");
      return true;
    }
    const std::string endpoint(request.from().Param("epid").value_or(std::string_view()));
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.services;
    FrontEndState::User& u = state_.LoadUser(user);
    auto find = [&u](const lync::Publication& p) {
      return std::find_if(u.publications.begin(), u.publications.end(),
                          [&p](const FrontEndState::Publication& q) {
                            return q.category.name == p.category_name &&
                                   q.category.instance == p.instance &&
                                   q.category.container == p.container;
                          });
    };
    std::vector<VersionConflict> conflicts;
    for (size_t i = 0; i < publish->publications.size(); ++i) {
      const lync::Publication& p = publish->publications[i];
      auto it = find(p);
      if (it != u.publications.end() && !p.is_removal() && p.version != it->category.version) {
        conflicts.push_back(
            VersionConflict{static_cast<uint32_t>(i + 1), p.version, it->category.version});
      }
    }
    if (!conflicts.empty()) {
      ++state_.stats_.rejected;
      SipMessage conflict = MakeResponse(request, 409, {}, NewLocalTag());
      conflict.SetBody(kFaultContentType, BuildPublishVersionFault(conflicts));
      (void)server_.layer().SendResponse(id, std::move(conflict));
      return true;
    }
    const std::string now = FormatPublishTime(std::chrono::system_clock::now());
    for (const lync::Publication& p : publish->publications) {
      auto it = find(p);
      if (p.is_removal()) {
        if (it != u.publications.end()) u.publications.erase(it);
        continue;
      }
      Category c;
      c.name = p.category_name;
      c.instance = p.instance;
      c.container = p.container;
      c.version = (it == u.publications.end() ? p.version : it->category.version) + 1;
      c.publish_time = now;
      c.expire_type = p.expire_type;
      c.xml = p.xml;
      const std::string owner = p.expire_type == "endpoint" ? endpoint : std::string();
      if (it == u.publications.end()) {
        u.publications.push_back({std::move(c), owner});
      } else {
        *it = {std::move(c), owner};
      }
    }
    std::vector<Category> persistent;
    for (const FrontEndState::Publication& p : u.publications) {
      if (p.endpoint.empty() && p.category.expire_type != "time") persistent.push_back(p.category);
    }
    if (absl::Status saved = state_.store_.SavePublications(user, persistent); !saved.ok()) {
      log::Warn(kLog, "publications not saved", {{"user", user},
                                                 {"why", FromAbsl(saved.message())}});
    }
    QueueRoamingNotifies(user, kRoamingSelfEvent, out);
    QueuePresenceNotifies(user, out);
    QueueFederatedPresence(user);
  } else if (content_type == kSetContainerMembersContentType) {
    absl::StatusOr<std::vector<ContainerUpdate>> updates =
        ParseSetContainerMembers(request.body());
    if (!updates.ok()) {
      Reply(id, request, 400, "Malformed container update");
      return true;
    }
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.services;
    FrontEndState::User& u = state_.LoadUser(user);
    // Federated subscribers whose access changes with the containers hear of it (RFC 6121:
    // subscribed when approved, unsubscribed when revoked).
    std::vector<std::pair<std::string, bool>> federated_before;
    for (const Subscriber& s : u.subscribers) {
      const std::string watcher = AorOfText(s.user);
      if (state_.IsFederated(watcher) && s.acknowledged) {
        federated_before.emplace_back(watcher, ApprovedRemoteWatcher(user, watcher));
      }
    }
    for (const ContainerUpdate& update : *updates) {
      auto it = std::find_if(u.containers.begin(), u.containers.end(),
                             [&update](const Container& c) { return c.id == update.id; });
      if (it == u.containers.end()) {
        u.containers.push_back(Container{update.id, 0, {}});
        it = u.containers.end() - 1;
      }
      for (const ContainerMemberChange& change : update.changes) {
        std::erase(it->members, change.member);
        if (change.action == "add") it->members.push_back(change.member);
      }
      ++it->version;
    }
    if (absl::Status saved = state_.store_.SaveContainers(user, u.containers); !saved.ok()) {
      log::Warn(kLog, "containers not saved", {{"user", user},
                                               {"why", FromAbsl(saved.message())}});
    }
    for (const auto& [watcher, was_approved] : federated_before) {
      const bool approved = ApprovedRemoteWatcher(user, watcher);
      if (approved == was_approved) continue;
      QueueFederatedSubscription(user, watcher, approved ? SubscriptionAction::kSubscribed
                                                         : SubscriptionAction::kUnsubscribed);
      if (approved) QueueFederatedPresence(user, watcher);
    }
    QueueRoamingNotifies(user, kRoamingSelfEvent, out);
  } else if (content_type == kSetSubscribersContentType) {
    absl::StatusOr<std::vector<Subscriber>> acknowledged = ParseSetSubscribers(request.body());
    if (!acknowledged.ok()) {
      Reply(id, request, 400, "Malformed subscriber list");
      return true;
    }
    absl::MutexLock lock(&state_.mu_);
    ++state_.stats_.services;
    FrontEndState::User& u = state_.LoadUser(user);
    for (const Subscriber& a : *acknowledged) {
      for (Subscriber& known : u.subscribers) {
        const std::string watcher = AorOfText(known.user);
        if (watcher != AorOfText(a.user)) continue;
        const bool newly = !known.acknowledged;
        known.acknowledged = true;
        // The Lync user answered a federated subscription request: allowed (any container but
        // blocked, where the client puts those it refuses) or refused.
        if (newly && state_.IsFederated(watcher)) {
          const bool approved = ApprovedRemoteWatcher(user, watcher);
          QueueFederatedSubscription(user, watcher, approved ? SubscriptionAction::kSubscribed
                                                             : SubscriptionAction::kUnsubscribed);
          if (approved) QueueFederatedPresence(user, watcher);
        }
      }
    }
    if (absl::Status saved = state_.store_.SaveSubscribers(user, u.subscribers); !saved.ok()) {
      log::Warn(kLog, "subscribers not saved", {{"user", user},
                                                {"why", FromAbsl(saved.message())}});
    }
    QueueRoamingNotifies(user, kRoamingSelfEvent, out);
  } else {
    Reply(id, request, 415);
    return true;
  }
  (void)server_.layer().SendResponse(id, std::move(ok));
  Send(std::move(out));
  return true;
}

void FrontEnd::AddSubscriber(const std::string& contact, const std::string& user,
                             std::vector<Outgoing>& out) {
  // MS-OCSPROT 2.5.10: the added user learns who added them (roaming-self subscribers), on every
  // endpoint, and the client asks its user to allow or block (then acknowledges by SERVICE).
  if (contact.empty() || contact == user) return;
  if (!ServedDomains(state_.options().domains).Serves(contact.substr(contact.find('@') + 1))) {
    return;
  }
  if (state_.directory_ != nullptr && state_.directory_->Size() > 0 &&
      state_.directory_->FindByUri(contact) == nullptr) {
    return;
  }
  FrontEndState::User& added = state_.LoadUser(contact);
  const bool known = std::any_of(added.subscribers.begin(), added.subscribers.end(),
                                 [&user](const Subscriber& s) { return AorOfText(s.user) == user; });
  if (known) return;
  Subscriber subscriber;
  subscriber.user = std::string(StripSipScheme(user));
  subscriber.type = std::string(kMemberSameEnterprise);
  if (state_.directory_ != nullptr) {
    if (UserRef record = state_.directory_->FindByUri(user)) {
      subscriber.display_name = record->display_name;
    }
  }
  added.subscribers.push_back(std::move(subscriber));
  if (absl::Status saved = state_.store_.SaveSubscribers(contact, added.subscribers); !saved.ok()) {
    log::Warn(kLog, "subscribers not saved", {{"user", contact},
                                              {"why", FromAbsl(saved.message())}});
  }
  QueueRoamingNotifies(contact, kRoamingSelfEvent, out);
}

uint32_t FrontEnd::Availability(const std::string& aor) {
  if (state_.IsFederated(aor)) return RemoteAvailability(aor, {}, nullptr);
  std::vector<Binding> bindings = state_.location_.Lookup(aor, clock_.Now());
  if (bindings.empty()) return static_cast<uint32_t>(lync::Availability::kOffline);
  FrontEndState::User& u = state_.LoadUser(aor);
  const FrontEndState::Publication* user_state = nullptr;
  uint32_t machine = 0;
  for (const FrontEndState::Publication& p : u.publications) {
    if (p.category.name != "state") continue;
    if (IsUserState(p.category.xml)) {
      if (user_state == nullptr || p.category.publish_time > user_state->category.publish_time) {
        user_state = &p;
      }
      continue;
    }
    // A machine state counts while its endpoint is registered.
    const bool live = p.endpoint.empty() ||
                      std::any_of(bindings.begin(), bindings.end(), [&p](const Binding& b) {
                        return absl::EqualsIgnoreCase(ToAbsl(b.epid), ToAbsl(p.endpoint));
                      });
    const uint32_t a = PublishedAvailability(p.category.xml);
    if (live && a != 0 && (machine == 0 || a < machine)) machine = a;
  }
  if (user_state != nullptr) {
    const uint32_t a = PublishedAvailability(user_state->category.xml);
    if (a != 0) return a;
  }
  return machine != 0 ? machine : static_cast<uint32_t>(lync::Availability::kOnline);
}

uint32_t FrontEnd::ContainerOf(const std::string& aor, const std::string& watcher) {
  // MS-PRES access levels: a watcher belongs to the highest-numbered container that lists it (as a
  // user, by domain, as a colleague of the same enterprise, or as a federated contact); 0 = none
  // (sees only the aggregate state).
  const std::string domain = watcher.substr(watcher.find('@') + 1);
  const bool colleague = ServedDomains(state_.options().domains).Serves(domain);
  FrontEndState::User& u = state_.LoadUser(aor);
  uint32_t best = 0;
  for (const Container& c : u.containers) {
    for (const ContainerMember& m : c.members) {
      const bool member =
          (m.type == kMemberUser && AorOfText(m.value) == watcher) ||
          (m.type == kMemberDomain && absl::EqualsIgnoreCase(ToAbsl(m.value), ToAbsl(domain))) ||
          (m.type == kMemberSameEnterprise && colleague) ||
          (m.type == kMemberFederated && !colleague);
      if (member) best = std::max(best, c.id);
    }
  }
  return best;
}

CategoriesDocument FrontEnd::VisibleCategories(const std::string& aor, const std::string& watcher) {
  if (state_.IsFederated(aor)) return RemoteCategories(aor, watcher);
  CategoriesDocument doc;
  doc.uri = aor;
  const std::string now = FormatPublishTime(std::chrono::system_clock::now());
  const uint32_t container = watcher == aor ? kContainerPersonal : ContainerOf(aor, watcher);
  const bool blocked = container == kContainerBlocked;
  AggregateState aggregate;
  // A blocked watcher sees the user offline (MS-PRES: the blocked container's only category).
  aggregate.availability =
      blocked ? static_cast<uint32_t>(lync::Availability::kOffline) : Availability(aor);
  Category state;
  state.name = "state";
  state.instance = 0;
  state.container = container;
  state.version = 1;
  state.publish_time = now;
  state.xml = BuildAggregateState(aggregate);
  doc.categories.push_back(std::move(state));
  if (blocked) return doc;

  // The latest publication of each other category in the watcher's container.
  FrontEndState::User& u = state_.LoadUser(aor);
  std::vector<const FrontEndState::Publication*> latest;
  for (const FrontEndState::Publication& p : u.publications) {
    if (p.category.name == "state") continue;  // replaced by the aggregate above
    if (p.category.container != container) continue;
    auto same = std::find_if(latest.begin(), latest.end(), [&p](const auto* q) {
      return q->category.name == p.category.name;
    });
    if (same == latest.end()) {
      latest.push_back(&p);
    } else if (p.category.publish_time > (*same)->category.publish_time) {
      *same = &p;
    }
  }
  bool has_card = false;
  for (const FrontEndState::Publication* p : latest) {
    has_card = has_card || p->category.name == "contactCard";
    doc.categories.push_back(p->category);
  }

  if (!has_card && state_.directory_ != nullptr) {
    if (UserRef record = state_.directory_->FindByUri(aor);
        record != nullptr && !record->display_name.empty()) {
      Category card;
      card.name = "contactCard";
      card.container = container;
      card.version = 1;
      card.publish_time = now;
      card.xml = ContactCardXml(record->display_name);
      doc.categories.push_back(std::move(card));
    }
  }
  return doc;
}

std::string FrontEnd::RoamingSelfBody(const std::string& aor) {
  FrontEndState::User& u = state_.LoadUser(aor);
  RoamingSelf self;
  CategoriesDocument categories;
  categories.uri = aor;
  for (const FrontEndState::Publication& p : u.publications) {
    categories.categories.push_back(p.category);
  }
  self.categories = std::move(categories);
  self.containers = u.containers;
  self.subscribers = u.subscribers;
  return BuildRoamingSelf(self);
}

std::string FrontEnd::ContactListBody(const std::string& aor) {
  ContactList list = state_.LoadUser(aor).contacts;
  if (list.delta_num == 0) list.delta_num = 1;
  NormalizeContactList(list);
  return BuildContactList(list);
}

std::optional<FrontEnd::Outgoing> FrontEnd::MakeNotify(const std::string& key,
                                                       std::string_view content_type,
                                                       std::string body) {
  auto it = state_.subscriptions_.find(key);
  if (it == state_.subscriptions_.end()) return std::nullopt;
  FrontEndState::Subscription& s = it->second;
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(s.expires - clock_.Now()).count();
  if (left <= 0) return std::nullopt;
  ++s.local_cseq;
  const std::string_view method = s.benotify ? "BENOTIFY" : "NOTIFY";
  std::string text = absl::StrCat(
      ToAbsl(method), " ", s.remote_target, " SIP/2.0\r\n",
      "Via: ", server_.layer().MakeVia(s.to.kind, s.to.address.is_v6()), "\r\n",
      "Max-Forwards: 70\r\n", "From: <", s.notifier, ">;tag=", s.local_tag, "\r\n",
      "To: <", s.subscriber, ">;tag=", s.remote_tag, "\r\n", "Call-ID: ", s.call_id, "\r\n",
      "CSeq: ", s.local_cseq, " ", ToAbsl(method), "\r\n", "Event: ", s.event, "\r\n",
      "subscription-state: active;expires=", left, "\r\n");
  for (const std::string& route : s.route_set) absl::StrAppend(&text, "Route: ", route, "\r\n");
  absl::StrAppend(&text, "Content-Length: 0\r\n\r\n");
  absl::StatusOr<SipMessage> message = SipMessage::Parse(std::move(text));
  if (!message.ok()) {
    log::Warn(kLog, "notification not built", {{"why", FromAbsl(message.status().message())}});
    return std::nullopt;
  }
  message->SetBody(content_type, body);
  ++state_.stats_.notifications;
  return Outgoing{key, std::move(*message), s.to, s.benotify};
}

void FrontEnd::QueueRoamingNotifies(const std::string& aor, std::string_view event,
                                    std::vector<Outgoing>& out, std::optional<std::string> update) {
  FrontEndState::User& u = state_.LoadUser(aor);
  std::string body;
  std::string_view content_type;
  if (event == kRoamingContactsEvent) {
    body = update ? *std::move(update) : ContactListBody(aor);
    content_type = kRoamingContactsContentType;
  } else {
    body = RoamingSelfBody(aor);
    content_type = kRoamingSelfContentType;
  }
  for (const std::string& key : u.subscriptions) {
    auto it = state_.subscriptions_.find(key);
    if (it == state_.subscriptions_.end() || it->second.event != event) continue;
    if (std::optional<Outgoing> n = MakeNotify(key, content_type, body)) {
      out.push_back(std::move(*n));
    }
  }
}

void FrontEnd::QueuePresenceNotifies(const std::string& aor, std::vector<Outgoing>& out) {
  FrontEndState::User& u = state_.LoadUser(aor);
  if (u.watchers.empty()) return;
  u.last_availability = Availability(aor);
  // One body per access level: watchers in the same container see the same categories.
  absl::flat_hash_map<uint32_t, std::string> bodies;
  for (const std::string& key : u.watchers) {
    auto s = state_.subscriptions_.find(key);
    if (s == state_.subscriptions_.end()) continue;
    const std::string& watcher = s->second.subscriber;
    // Federated users share presence per watcher (RFC 6121 approvals), ours per access level.
    const uint32_t key_of_body =
        state_.IsFederated(aor)
            ? uint32_t{state_.remote_.contains(aor) && state_.remote_[aor].allowed.contains(watcher)}
            : (watcher == aor ? kContainerPersonal : ContainerOf(aor, watcher));
    auto [body, fresh] = bodies.try_emplace(key_of_body);
    if (fresh) body->second = BuildCategories(VisibleCategories(aor, watcher));
    if (std::optional<Outgoing> n = MakeNotify(key, kEventCategoriesContentType, body->second)) {
      out.push_back(std::move(*n));
    }
  }
}

void FrontEnd::OnRegistrationChanged(std::string_view aor_view) {
  const std::string aor = Lower(aor_view);
  std::vector<Outgoing> out;
  {
    absl::MutexLock lock(&state_.mu_);
    // Federated subscribers are in the stored subscriber list: load it when federation is on.
    auto it = state_.users_.find(aor);
    const bool federation = static_cast<bool>(state_.options().federated_domain);
    if (it == state_.users_.end() && !(federation && state_.IsLocalUser(aor))) return;
    FrontEndState::User& u = state_.LoadUser(aor);
    if (federation) QueueFederatedPresence(aor);
    if (!u.watchers.empty() && Availability(aor) != u.last_availability) {
      QueuePresenceNotifies(aor, out);
    }
  }
  Send(std::move(out));
}

void FrontEnd::Send(std::vector<Outgoing> out) {
  if (!federation_out_.empty()) {
    std::vector<FederationOutput> federation;
    federation.swap(federation_out_);
    for (const FederationOutput& f : federation) {
      if (federation_sink_) federation_sink_(f);
    }
  }
  for (Outgoing& o : out) {
    if (o.best_effort) {
      // BENOTIFY is best effort (MS-SIP): no response comes back, so no client transaction.
      absl::Status sent = server_.layer().SendStateless(o.message, o.to);
      if (!sent.ok()) {
        log::Debug(kLog, "notification not sent", {{"why", FromAbsl(sent.message())}});
      }
      continue;
    }
    absl::StatusOr<ClientTransactionId> id = server_.layer().SendRequest(std::move(o.message), o.to);
    if (id.ok()) {
      notifies_[*id] = std::move(o.subscription_key);
    } else {
      log::Debug(kLog, "NOTIFY not sent", {{"why", FromAbsl(id.status().message())}});
    }
  }
}

void FrontEnd::Sweep() {
  // A full pass at most every kSweepInterval keeps the cost per request O(1) on average.
  const TimePoint now = clock_.Now();
  if (now < state_.next_sweep_) return;
  state_.next_sweep_ = now + kSweepInterval;
  std::vector<std::string> expired;
  for (const auto& [key, s] : state_.subscriptions_) {
    if (s.expires <= now) expired.push_back(key);
  }
  for (const std::string& key : expired) state_.RemoveSubscription(key);
}

bool FrontEnd::OnResponse(ClientTransactionId id, SipMessage& response) {
  auto it = notifies_.find(id);
  if (it == notifies_.end()) return false;
  const int code = response.status_code();
  if (code < 200) return true;
  // RFC 6665 §4.2.2: a NOTIFY refused with 481 (or any other failure but a few retryable
  // ones) ends the subscription.
  if (code >= 300 && code != 408 && code != 500 && code != 503) {
    absl::MutexLock lock(&state_.mu_);
    state_.RemoveSubscription(it->second);
  }
  notifies_.erase(it);
  return true;
}

bool FrontEnd::OnClientFailure(ClientTransactionId id, int code) {
  auto it = notifies_.find(id);
  if (it == notifies_.end()) return false;
  if (code == 408 || code == 503) {  // the subscriber is gone (RFC 6665 §4.2.2)
    absl::MutexLock lock(&state_.mu_);
    state_.RemoveSubscription(it->second);
  }
  notifies_.erase(it);
  return true;
}

// ---- federation ----

bool FrontEnd::ApprovedRemoteWatcher(const std::string& aor, const std::string& remote) {
  FrontEndState::User& u = state_.LoadUser(aor);
  const bool acknowledged =
      std::any_of(u.subscribers.begin(), u.subscribers.end(), [&remote](const Subscriber& s) {
        return s.acknowledged && AorOfText(s.user) == remote;
      });
  return acknowledged && ContainerOf(aor, remote) != kContainerBlocked;
}

void FrontEnd::QueueFederated(FederationOutput output) {
  federation_out_.push_back(std::move(output));
}

void FrontEnd::QueueFederatedSubscription(const std::string& from, const std::string& to,
                                          SubscriptionAction action) {
  FederationOutput out = Federation(FederationOutput::Kind::kSubscription, from, to);
  out.action = action;
  if (action == SubscriptionAction::kSubscribe && state_.directory_ != nullptr) {
    if (UserRef record = state_.directory_->FindByUri(from)) {
      out.display_name = record->display_name;
    }
  }
  QueueFederated(std::move(out));
}

void FrontEnd::QueueFederatedPresence(const std::string& aor, const std::string& only) {
  FrontEndState::User& u = state_.LoadUser(aor);
  const uint32_t availability = Availability(aor);
  // The note the user published last (MS-PRES "note" category), shown as the XMPP status.
  std::string note;
  std::string note_time;
  for (const FrontEndState::Publication& p : u.publications) {
    if (p.category.name != "note" || p.category.publish_time < note_time) continue;
    absl::StatusOr<XmlDocument> doc = ParseXml(p.category.xml);
    if (!doc.ok()) continue;
    note = std::string(doc->root().ChildText("body"));
    note_time = p.category.publish_time;
  }
  const std::string summary = absl::StrCat(availability, "\n", note);
  if (only.empty()) {
    if (summary == u.last_federated) return;
    u.last_federated = summary;
  }
  for (const Subscriber& s : u.subscribers) {
    const std::string watcher = AorOfText(s.user);
    if (!only.empty() && watcher != only) continue;
    if (!state_.IsFederated(watcher) || !ApprovedRemoteWatcher(aor, watcher)) continue;
    FederationOutput out = Federation(FederationOutput::Kind::kPresence, aor, watcher);
    out.availability = availability;
    out.note = note;
    QueueFederated(std::move(out));
  }
}

uint32_t FrontEnd::RemoteAvailability(const std::string& remote, const std::string& watcher,
                                      std::string* note) {
  constexpr uint32_t kOffline = static_cast<uint32_t>(lync::Availability::kOffline);
  auto it = state_.remote_.find(remote);
  if (it == state_.remote_.end()) return kOffline;
  if (!watcher.empty() && !it->second.allowed.contains(watcher)) return kOffline;
  // The best state across the user's devices, as MS-PRES aggregates machine states.
  uint32_t best = kOffline;
  for (const auto& [device, state] : it->second.devices) {
    if (state.availability < best) {
      best = state.availability;
      if (note != nullptr) *note = state.note;
    }
  }
  return best;
}

CategoriesDocument FrontEnd::RemoteCategories(const std::string& remote,
                                              const std::string& watcher) {
  CategoriesDocument doc;
  doc.uri = remote;
  const std::string now = FormatPublishTime(std::chrono::system_clock::now());
  std::string note;
  AggregateState aggregate;
  aggregate.availability = RemoteAvailability(remote, watcher, &note);
  Category state;
  state.name = "state";
  state.container = kContainerPublic;
  state.version = 1;
  state.publish_time = now;
  state.xml = BuildAggregateState(aggregate);
  doc.categories.push_back(std::move(state));
  Category note_category;
  note_category.name = "note";
  note_category.container = kContainerPublic;
  note_category.version = 1;
  note_category.publish_time = now;
  note_category.xml = BuildNote(note);  // an empty note clears the one shown before
  doc.categories.push_back(std::move(note_category));
  return doc;
}

void FrontEnd::OnFederatedPresence(const std::string& remote, const std::string& device,
                                   const std::string& watcher, uint32_t availability,
                                   std::string note) {
  std::vector<Outgoing> out;
  {
    absl::MutexLock lock(&state_.mu_);
    if (!state_.IsFederated(remote)) return;
    auto it = state_.remote_.find(remote);
    if (it == state_.remote_.end()) {
      if (state_.remote_.size() >= state_.options().max_remote_presentities) {
        log::Warn(kLog, "federated presence not kept: too many presentities",
                  {{"user", remote}});
        return;
      }
      it = state_.remote_.try_emplace(remote).first;
    }
    FrontEndState::RemotePresentity& presentity = it->second;
    // Presence sent to one of our users proves that user may see it (RFC 6121 §4.2.2).
    if (!watcher.empty() && state_.IsLocalUser(watcher)) presentity.allowed.insert(watcher);
    if (availability >= static_cast<uint32_t>(lync::Availability::kOffline)) {
      presentity.devices.erase(device);
    } else {
      presentity.devices[device] = {availability, std::move(note)};
    }
    QueuePresenceNotifies(remote, out);
  }
  Send(std::move(out));
}

void FrontEnd::OnFederatedSubscription(const std::string& remote, const std::string& local,
                                       SubscriptionAction action,
                                       const std::string& display_name) {
  std::vector<Outgoing> out;
  {
    absl::MutexLock lock(&state_.mu_);
    if (!state_.IsFederated(remote)) return;
    if (!state_.IsLocalUser(local)) {
      // RFC 6121 §3.1.3: a request for a user that does not exist is answered unsubscribed.
      if (action == SubscriptionAction::kSubscribe) {
        QueueFederatedSubscription(local, remote, SubscriptionAction::kUnsubscribed);
      }
    } else {
      FrontEndState::User& u = state_.LoadUser(local);
      auto known = std::find_if(u.subscribers.begin(), u.subscribers.end(),
                                [&remote](const Subscriber& s) { return AorOfText(s.user) == remote; });
      auto save = [&] {
        if (absl::Status saved = state_.store_.SaveSubscribers(local, u.subscribers); !saved.ok()) {
          log::Warn(kLog, "subscribers not saved", {{"user", local},
                                                    {"why", FromAbsl(saved.message())}});
        }
      };
      switch (action) {
        case SubscriptionAction::kSubscribe: {
          if (known == u.subscribers.end()) {
            // MS-OCSPROT 2.5.10: the user's endpoints learn of the new subscriber and ask the
            // user to allow or block it; the answer comes back as setSubscribers.
            Subscriber subscriber;
            subscriber.user = std::string(StripSipScheme(remote));
            subscriber.display_name = display_name;
            subscriber.type = std::string(kMemberFederated);
            const bool in_contacts =
                std::any_of(u.contacts.contacts.begin(), u.contacts.contacts.end(),
                            [&remote](const Contact& c) { return AorOfText(c.uri) == remote; });
            subscriber.acknowledged = in_contacts;  // already a contact: approved by that
            u.subscribers.push_back(std::move(subscriber));
            save();
            QueueRoamingNotifies(local, kRoamingSelfEvent, out);
            known = u.subscribers.end() - 1;
          }
          if (known->acknowledged) {
            // Approved before (or now by the contact list): RFC 6121 §3.1.3 pre-approval.
            const bool approved = ApprovedRemoteWatcher(local, remote);
            QueueFederatedSubscription(local, remote, approved ? SubscriptionAction::kSubscribed
                                                               : SubscriptionAction::kUnsubscribed);
            if (approved) QueueFederatedPresence(local, remote);
          }
          break;
        }
        case SubscriptionAction::kUnsubscribe:
          if (known != u.subscribers.end()) {
            u.subscribers.erase(known);
            save();
            QueueRoamingNotifies(local, kRoamingSelfEvent, out);
          }
          break;
        case SubscriptionAction::kSubscribed:
          // The remote user approved ours; its presence follows from its server.
          if (auto it = state_.remote_.find(remote); it != state_.remote_.end()) {
            it->second.allowed.insert(local);
          } else if (state_.remote_.size() < state_.options().max_remote_presentities) {
            state_.remote_[remote].allowed.insert(local);
          }
          break;
        case SubscriptionAction::kUnsubscribed:
          // Refused or revoked: this user sees the remote user offline from now on.
          if (auto it = state_.remote_.find(remote); it != state_.remote_.end()) {
            if (it->second.allowed.erase(local) > 0) QueuePresenceNotifies(remote, out);
          }
          break;
      }
    }
  }
  Send(std::move(out));
}

void FrontEnd::OnFederatedProbe(const std::string& remote, const std::string& local) {
  {
    absl::MutexLock lock(&state_.mu_);
    if (!state_.IsFederated(remote)) return;
    if (state_.IsLocalUser(local) && ApprovedRemoteWatcher(local, remote)) {
      QueueFederatedPresence(local, remote);
    } else {
      QueueFederatedSubscription(local, remote, SubscriptionAction::kUnsubscribed);
    }
  }
  Send({});
}

}  // namespace causeway::sip::lync
