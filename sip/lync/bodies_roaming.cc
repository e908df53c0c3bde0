#include "sip/lync/bodies_roaming.h"

#include <utility>

#include "sip/lync/bodies_util.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {

using internal::BodyError;
using internal::ParseBool;
using internal::RequiredUint;

namespace {

constexpr std::string_view kRoamingSelfNs = "http://schemas.microsoft.com/2006/09/sip/roaming-self";
constexpr std::string_view kContainerNs =
    "http://schemas.microsoft.com/2006/09/sip/container-management";
constexpr std::string_view kSubscribersNs =
    "http://schemas.microsoft.com/2006/09/sip/presence-subscribers";
constexpr std::string_view kProvisionNs =
    "http://schemas.microsoft.com/2006/09/sip/provisiongroupupdatenotification";

constexpr size_t kMaxContainers = 64;
constexpr size_t kMaxChanges = 256;
constexpr size_t kMaxSubscribers = 5000;
constexpr size_t kMaxNames = 64;

absl::StatusOr<std::vector<Subscriber>> SubscribersFromElement(const XmlElement& root);

absl::StatusOr<ContainerMember> ParseMember(const XmlElement& m, std::string_view what) {
  ContainerMember member;
  member.type = std::string(m.AttrOr("type", ""));
  if (!IsKnownMemberType(member.type)) return BodyError(what, "unknown member type");
  member.value = std::string(m.AttrOr("value", ""));
  if (MemberTypeHasValue(member.type) && member.value.empty()) {
    return BodyError(what, "member without value");
  }
  if (!MemberTypeHasValue(member.type)) member.value.clear();
  return member;
}

void WriteMember(XmlWriter& w, const ContainerMember& m, std::string_view action) {
  w.Open("member");
  if (!action.empty()) w.Attr("action", action);
  w.Attr("type", m.type);
  if (!m.value.empty()) w.Attr("value", m.value);
  w.Close();
}

// The `name` attribute of every `child` of the root named `root_name`.
absl::StatusOr<std::vector<std::string>> ParseNameList(std::string_view body,
                                                       std::string_view root_name,
                                                       std::string_view child,
                                                       std::string_view attr) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  if (doc->root().name() != root_name) return BodyError(root_name, "wrong root element");
  std::vector<const XmlElement*> items = doc->root().Children(child);
  if (items.size() > kMaxNames) return BodyError(root_name, "too many entries");
  std::vector<std::string> out;
  for (const XmlElement* e : items) {
    std::optional<std::string_view> v = e->Attr(attr);
    if (!v || v->empty()) return BodyError(root_name, "entry without name");
    out.emplace_back(*v);
  }
  return out;
}

}  // namespace

bool IsKnownMemberType(std::string_view type) {
  return type == kMemberUser || type == kMemberDomain || type == kMemberSameEnterprise ||
         type == kMemberFederated || type == kMemberPublicCloud;
}

bool MemberTypeHasValue(std::string_view type) {
  return type == kMemberUser || type == kMemberDomain;
}

// ---- roaming self ----

std::string BuildRoamingSelf(const RoamingSelf& self) {
  XmlWriter w;
  w.Open("roamingData").Attr("xmlns", kRoamingSelfNs);
  if (self.categories) w.Raw(BuildCategories(*self.categories));
  if (self.containers) {
    w.Open("containers").Attr("xmlns", kContainerNs);
    for (const Container& c : *self.containers) {
      w.Open("container").Attr("id", int64_t{c.id}).Attr("version", int64_t{c.version});
      for (const ContainerMember& m : c.members) WriteMember(w, m, "");
      w.Close();
    }
    w.Close();
  }
  if (self.subscribers) {
    w.Open("subscribers").Attr("xmlns", kSubscribersNs);
    for (const Subscriber& s : *self.subscribers) {
      w.Open("subscriber")
          .Attr("user", s.user)
          .Attr("displayName", s.display_name)
          .Attr("acknowledged", s.acknowledged ? "true" : "false");
      if (!s.type.empty()) w.Attr("type", s.type);
      w.Close();
    }
    w.Close();
  }
  return std::move(w).Finish();
}

absl::StatusOr<RoamingSelf> ParseRoamingSelf(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "roamingData") return BodyError("roamingData", "wrong root element");
  RoamingSelf self;
  if (const XmlElement* cats = root.Child("categories")) {
    absl::StatusOr<CategoriesDocument> parsed = CategoriesFromElement(*cats);
    if (!parsed.ok()) return parsed.status();
    self.categories = std::move(*parsed);
  }
  if (const XmlElement* containers = root.Child("containers")) {
    self.containers.emplace();
    std::vector<const XmlElement*> items = containers->Children("container");
    if (items.size() > kMaxContainers) return BodyError("roamingData", "too many containers");
    for (const XmlElement* c : items) {
      Container container;
      absl::StatusOr<uint32_t> id = RequiredUint(*c, "id", "roamingData container");
      if (!id.ok()) return id.status();
      absl::StatusOr<uint32_t> version = RequiredUint(*c, "version", "roamingData container");
      if (!version.ok()) return version.status();
      container.id = *id;
      container.version = *version;
      for (const XmlElement* m : c->Children("member")) {
        absl::StatusOr<ContainerMember> member = ParseMember(*m, "roamingData container");
        if (!member.ok()) return member.status();
        container.members.push_back(std::move(*member));
      }
      self.containers->push_back(std::move(container));
    }
  }
  if (const XmlElement* subscribers = root.Child("subscribers")) {
    absl::StatusOr<std::vector<Subscriber>> parsed = SubscribersFromElement(*subscribers);
    if (!parsed.ok()) return parsed.status();
    self.subscribers = std::move(*parsed);
  }
  return self;
}

absl::StatusOr<std::vector<std::string>> ParseRoamingList(std::string_view body) {
  return ParseNameList(body, "roamingList", "roaming", "type");
}

// ---- setContainerMembers ----

absl::StatusOr<std::vector<ContainerUpdate>> ParseSetContainerMembers(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "setContainerMembers") {
    return BodyError("setContainerMembers", "wrong root element");
  }
  std::vector<const XmlElement*> items = root.Children("container");
  if (items.empty()) return BodyError("setContainerMembers", "no container");
  if (items.size() > kMaxContainers) return BodyError("setContainerMembers", "too many containers");
  std::vector<ContainerUpdate> out;
  for (const XmlElement* c : items) {
    ContainerUpdate update;
    absl::StatusOr<uint32_t> id = RequiredUint(*c, "id", "setContainerMembers");
    if (!id.ok()) return id.status();
    absl::StatusOr<uint32_t> version = RequiredUint(*c, "version", "setContainerMembers");
    if (!version.ok()) return version.status();
    update.id = *id;
    update.version = *version;
    std::vector<const XmlElement*> members = c->Children("member");
    if (members.size() > kMaxChanges) return BodyError("setContainerMembers", "too many changes");
    for (const XmlElement* m : members) {
      ContainerMemberChange change;
      change.action = std::string(m->AttrOr("action", ""));
      if (change.action != "add" && change.action != "remove") {
        return BodyError("setContainerMembers", "unknown action");
      }
      absl::StatusOr<ContainerMember> member = ParseMember(*m, "setContainerMembers");
      if (!member.ok()) return member.status();
      change.member = std::move(*member);
      update.changes.push_back(std::move(change));
    }
    out.push_back(std::move(update));
  }
  return out;
}

std::string BuildSetContainerMembers(const std::vector<ContainerUpdate>& updates) {
  XmlWriter w;
  w.Open("setContainerMembers").Attr("xmlns", kContainerNs);
  for (const ContainerUpdate& u : updates) {
    w.Open("container").Attr("id", int64_t{u.id}).Attr("version", int64_t{u.version});
    for (const ContainerMemberChange& c : u.changes) WriteMember(w, c.member, c.action);
    w.Close();
  }
  return std::move(w).Finish();
}

// ---- setSubscribers / subscribers ----

absl::StatusOr<std::vector<Subscriber>> ParseSetSubscribers(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  if (doc->root().name() != "setSubscribers") {
    return BodyError("setSubscribers", "wrong root element");
  }
  return SubscribersFromElement(doc->root());
}

namespace {
// <setSubscribers> and roamingData's <subscribers> hold the same <subscriber> elements.
absl::StatusOr<std::vector<Subscriber>> SubscribersFromElement(const XmlElement& root) {
  std::vector<const XmlElement*> items = root.Children("subscriber");
  if (items.size() > kMaxSubscribers) return BodyError("setSubscribers", "too many subscribers");
  std::vector<Subscriber> out;
  for (const XmlElement* s : items) {
    Subscriber sub;
    std::optional<std::string_view> user = s->Attr("user");
    if (!user || user->empty()) return BodyError("setSubscribers", "subscriber without user");
    sub.user = std::string(*user);
    sub.display_name = std::string(s->AttrOr("displayName", ""));
    std::optional<bool> ack = ParseBool(s->AttrOr("acknowledged", "false"));
    if (!ack) return BodyError("setSubscribers", "bad acknowledged");
    sub.acknowledged = *ack;
    sub.type = std::string(s->AttrOr("type", ""));
    out.push_back(std::move(sub));
  }
  return out;
}
}  // namespace

std::string BuildWatcherList(const std::vector<Watcher>& watchers) {
  XmlWriter w;
  w.Open("watchers");
  for (const Watcher& watcher : watchers) {
    w.Open("watcher").Attr("uri", watcher.uri);
    if (!watcher.display_name.empty()) w.Attr("displayName", watcher.display_name);
    w.Close();
  }
  return std::move(w).Finish();
}

// ---- provisioning v2 ----

absl::StatusOr<std::vector<std::string>> ParseProvisioningGroupList(std::string_view body) {
  return ParseNameList(body, "provisioningGroupList", "provisioningGroup", "name");
}

std::string BuildProvisioningV2(const ProvisioningV2& p) {
  XmlWriter w;
  w.Open("provisionGroupList").Attr("xmlns", kProvisionNs);
  if (p.server_configuration) {
    const ServerConfiguration& s = *p.server_configuration;
    w.Open("provisionGroup").Attr("name", "ServerConfiguration");
    auto field = [&](std::string_view name, const std::string& value) {
      if (!value.empty()) w.Element(name, value);
    };
    field("absInternalServerUrl", s.abs_internal_server_url);
    field("absExternalServerUrl", s.abs_external_server_url);
    field("dlxInternalUrl", s.dlx_internal_url);
    field("dlxExternalUrl", s.dlx_external_url);
    field("focusFactoryUri", s.focus_factory_uri);
    field("mrasUri", s.mras_uri);
    field("botSipUriForTestCall", s.bot_sip_uri_for_test_call);
    w.Close();
  }
  for (const ProvisionGroup& g : p.groups) {
    w.Open("provisionGroup").Attr("name", g.name);
    for (const auto& [name, value] : g.elements) {
      if (IsXmlName(name)) w.Element(name, value);  // names from data: never emit a broken tag
    }
    w.Close();
  }
  return std::move(w).Finish();
}

}  // namespace causeway::sip::lync
