#pragma once
// Self data and provisioning bodies (MS-PRES, MS-SIPRE), as pidgin-sipe 1.25 reads them:
//  - vnd-microsoft-roaming-self: <roamingData> with the user's own categories, the ACL
//    containers and the presence subscribers; the <roamingList> SUBSCRIBE body
//  - SERVICE setContainerMembers (ACL changes) and setSubscribers (acknowledge a watcher)
//  - presence.wpending <watchers> (OCS 2005 clients; 2007+ learn watchers from roaming-self)
//  - vnd-microsoft-provisioning-v2: <provisioningGroupList> request, <provisionGroupList> answer
// Pure builders/parsers: no storage, no SIP logic.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "sip/lync/bodies_presence.h"

namespace causeway::sip::lync {

inline constexpr std::string_view kRoamingSelfEvent = "vnd-microsoft-roaming-self";
inline constexpr std::string_view kRoamingSelfContentType =
    "application/vnd-microsoft-roaming-self+xml";
inline constexpr std::string_view kSetContainerMembersContentType =
    "application/msrtc-setcontainermembers+xml";
inline constexpr std::string_view kSetSubscribersContentType =
    "application/msrtc-presence-setsubscriber+xml";
inline constexpr std::string_view kWatcherListContentType = "text/xml+msrtc.wpending";
inline constexpr std::string_view kProvisioningV2Event = "vnd-microsoft-provisioning-v2";
inline constexpr std::string_view kProvisioningV2RequestContentType =
    "application/vnd-microsoft-roaming-provisioning-v2+xml";
inline constexpr std::string_view kProvisioningV2ContentType =
    "application/vnd-microsoft-roaming-provisioning-v2+xml";

// ---- ACL containers (MS-PRES 2.2.2: containers and their members) ----

// Well-known container ids (access levels) and what clients call them.
inline constexpr uint32_t kContainerBlocked = 32000;
inline constexpr uint32_t kContainerPersonal = 400;  // "Personal" / team
inline constexpr uint32_t kContainerWorkgroup = 300;
inline constexpr uint32_t kContainerColleagues = 200;  // company
inline constexpr uint32_t kContainerPublic = 100;      // external contacts

// Member types. "user" and "domain" carry a value (a user URI without "sip:", a domain name);
// the other three stand for a whole population and carry none.
inline constexpr std::string_view kMemberUser = "user";
inline constexpr std::string_view kMemberDomain = "domain";
inline constexpr std::string_view kMemberSameEnterprise = "sameEnterprise";
inline constexpr std::string_view kMemberFederated = "federated";
inline constexpr std::string_view kMemberPublicCloud = "publicCloud";
bool IsKnownMemberType(std::string_view type);
bool MemberTypeHasValue(std::string_view type);

struct ContainerMember {
  std::string type;
  std::string value;  // "" for sameEnterprise / federated / publicCloud
  bool operator==(const ContainerMember&) const = default;
};

struct Container {
  uint32_t id = 0;
  uint32_t version = 0;
  std::vector<ContainerMember> members;
};

struct Subscriber {
  std::string user;  // without "sip:" (SIPE prepends it)
  std::string display_name;
  bool acknowledged = false;  // false: SIPE asks its user to allow/block, then acknowledges
  std::string type;           // "sameEnterprise" | "federated" | ... ("" omits)
};

struct RoamingSelf {
  // Each section is emitted only when present; a NOTIFY may carry a single one.
  std::optional<CategoriesDocument> categories;
  std::optional<std::vector<Container>> containers;
  std::optional<std::vector<Subscriber>> subscribers;
};

// <roamingData xmlns=".../roaming-self"><categories ..>..</categories><containers ..><container
// id version><member type value/>..</container></containers><subscribers ..><subscriber user
// displayName acknowledged type/></subscribers></roamingData>
std::string BuildRoamingSelf(const RoamingSelf& self);
absl::StatusOr<RoamingSelf> ParseRoamingSelf(std::string_view body);

// The SUBSCRIBE body: <roamingList><roaming type="categories"/>..</roamingList> -> the types.
absl::StatusOr<std::vector<std::string>> ParseRoamingList(std::string_view body);

struct ContainerMemberChange {
  std::string action;  // "add" | "remove"
  ContainerMember member;
};
struct ContainerUpdate {
  uint32_t id = 0;
  uint32_t version = 0;  // the version the client holds (compare before applying)
  std::vector<ContainerMemberChange> changes;
};
// SERVICE setContainerMembers. Errors (400): unknown action or member type, a user/domain
// member without value, more than 64 containers or 256 changes per container.
absl::StatusOr<std::vector<ContainerUpdate>> ParseSetContainerMembers(std::string_view body);
std::string BuildSetContainerMembers(const std::vector<ContainerUpdate>& updates);

// SERVICE setSubscribers: <setSubscribers><subscriber user=".." acknowledged="true"/>..
absl::StatusOr<std::vector<Subscriber>> ParseSetSubscribers(std::string_view body);

// presence.wpending body: <watchers><watcher uri=".." displayName=".."/>..</watchers>.
struct Watcher {
  std::string uri;  // with "sip:"
  std::string display_name;
};
std::string BuildWatcherList(const std::vector<Watcher>& watchers);

// ---- in-band provisioning v2 ----

// SUBSCRIBE body: <provisioningGroupList><provisioningGroup name=".."/>..</provisioningGroupList>
absl::StatusOr<std::vector<std::string>> ParseProvisioningGroupList(std::string_view body);

// What SIPE reads from the "ServerConfiguration" group (each empty field is omitted).
struct ServerConfiguration {
  std::string focus_factory_uri;  // conferencing (MS-CONFBAS)
  std::string mras_uri;           // A/V edge credentials (MS-AVEDGEA)
  std::string abs_internal_server_url;
  std::string abs_external_server_url;
  std::string dlx_internal_url;  // distribution list expansion
  std::string dlx_external_url;
  std::string bot_sip_uri_for_test_call;
};

// Any other group: its child elements as name/text pairs, in order (pairs whose name is not an
// XML name, see IsXmlName(), are left out by the builder).
struct ProvisionGroup {
  std::string name;
  std::vector<std::pair<std::string, std::string>> elements;
};

struct ProvisioningV2 {
  std::optional<ServerConfiguration> server_configuration;
  std::vector<ProvisionGroup> groups;  // e.g. meetingPolicy, userInformation
};

// <provisionGroupList xmlns=".../provisiongroupupdatenotification"><provisionGroup
// name="ServerConfiguration"><focusFactoryUri>..</focusFactoryUri>..</provisionGroup>..
std::string BuildProvisioningV2(const ProvisioningV2& provisioning);

}  // namespace causeway::sip::lync
