#pragma once
// Enhanced presence bodies (MS-PRES, OCS 2007+ "category" model, as pidgin-sipe 1.25 speaks it):
//  - SERVICE application/msrtc-category-publish+xml <publish> requests, and the 409 fault body
//  - SUBSCRIBE Event: presence application/msrtc-adrl-categorylist+xml <batchSub> requests
//  - <categories> documents (application/msrtc-event-categories+xml) and the RLMI
//    multipart/related NOTIFY body that carries one of them per resource
//  - the aggregated "state" category and the "note" category
// Pure builders/parsers: no storage, no SIP logic.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {

inline constexpr std::string_view kCategoryPublishContentType =
    "application/msrtc-category-publish+xml";
inline constexpr std::string_view kFaultContentType = "application/msrtc-fault+xml";
inline constexpr std::string_view kBatchSubscribeContentType =
    "application/msrtc-adrl-categorylist+xml";
inline constexpr std::string_view kEventCategoriesContentType =
    "application/msrtc-event-categories+xml";
inline constexpr std::string_view kRlmiContentType = "application/rlmi+xml";

// ---- publish ----

struct Publication {
  std::string category_name;  // "state", "note", "device", "calendarData", ...
  uint32_t instance = 0;
  uint32_t container = 0;
  uint32_t version = 0;             // the version the client believes is current
  std::string expire_type;          // "static" | "user" | "endpoint" | "time"; "" when absent
  std::optional<uint32_t> expires;  // seconds; 0 removes the publication
  // The publication's content exactly as received (the bytes between <publication ...> and
  // </publication>; "" for a removal). Checked to be well-formed on its own, so it can be
  // redistributed verbatim inside a <category> element.
  std::string xml;
  bool is_removal() const { return expires.has_value() && *expires == 0; }
};

struct PublishRequest {
  std::string uri;  // <publications uri=".."> (the publisher's own URI)
  std::vector<Publication> publications;
};

// Errors (400): not XML, root is not <publish>, no <publications>, a publication without
// categoryName/instance/container/version, content that is not well-formed on its own (for
// example a prefix bound only on an ancestor), too many publications (> 128).
absl::StatusOr<PublishRequest> ParsePublish(std::string_view body);

// For tests and a client-side use: the request SIPE sends.
std::string BuildPublish(const PublishRequest& request);

// 409 Conflict body (Content-Type application/msrtc-fault+xml) for publications whose version
// does not match the server's. SIPE reads Faultcode "Client.BadCall.WrongDelta" and, for each
// details/operation, index (1-based position in the request) and curVersion, then republishes.
struct VersionConflict {
  uint32_t index = 0;        // 1-based position of the publication in the request
  uint32_t version = 0;      // the version the request carried
  uint32_t cur_version = 0;  // the version the server holds
};
std::string BuildPublishVersionFault(const std::vector<VersionConflict>& conflicts);

// ---- batched subscription ----

struct BatchSubscribe {
  std::string uri;     // <batchSub uri=..> (subscriber)
  std::string action;  // "subscribe" | "unsubscribe" ...
  std::string action_id;
  std::vector<std::string> resources;   // adhocList/resource@uri, in order
  std::vector<std::string> categories;  // categoryList/category@name, in order
};

// Errors (400): not XML, root is not <batchSub>, no <action>, a resource without uri, more than
// 2000 resources.
absl::StatusOr<BatchSubscribe> ParseBatchSubscribe(std::string_view body);

// ---- categories documents and the RLMI notification ----

struct Category {
  std::string name;
  uint32_t instance = 0;
  uint32_t container = 0;
  uint32_t version = 0;
  std::string publish_time;  // xs:dateTime, see FormatPublishTime()
  std::string expire_type;   // optional, "" omits the attribute
  std::string xml;           // verbatim content (Publication::xml); "" for an empty category
};

struct CategoriesDocument {
  std::string uri;  // presentity, with "sip:" (SIPE looks the buddy up by it)
  std::vector<Category> categories;
};

// <categories xmlns="http://schemas.microsoft.com/2006/09/sip/categories" uri=".."><category
// name instance publishTime container version [expireType]>content</category>..</categories>.
// The single-resource body of NOTIFY/BENOTIFY with Content-Type msrtc-event-categories+xml.
std::string BuildCategories(const CategoriesDocument& doc);
absl::StatusOr<CategoriesDocument> ParseCategories(std::string_view body);
// The same from an already parsed <categories> element (e.g. inside <roamingData>).
absl::StatusOr<CategoriesDocument> CategoriesFromElement(const XmlElement& root);

// "2026-11-25T12:00:00.000Z"
std::string FormatPublishTime(std::chrono::system_clock::time_point t);

struct RlmiResource {
  std::string uri;               // with "sip:"
  std::string state = "active";  // RFC 4662 instance state: active | pending | terminated |
                                 // "resubscribe" (MS-PRES: client re-SUBSCRIBEs singly)
  std::string reason;            // for terminated ("" omits)
  std::string pool_fqdn;         // MS-PRES poolFqdn with resubscribe ("" omits)
  // The resource's categories part; absent for states that carry no data.
  std::optional<CategoriesDocument> categories;
};

struct RlmiNotification {
  std::string list_uri;  // the subscriber's own URI (the batch subscription's To)
  uint32_t version = 0;  // RFC 4662 list version, incremented per NOTIFY by the caller
  bool full_state = true;
  std::vector<RlmiResource> resources;
};

struct MultipartBody {
  std::string content_type;  // the message's Content-Type header value
  std::string body;
};

// multipart/related; type="application/rlmi+xml"; start="<rlmi-cid>"; boundary=...
// First part the RLMI <list>, then one msrtc-event-categories+xml part per resource that has
// categories, referenced from its <instance cid=..>. `boundary` must not occur in the content
// (callers pass a random token); parts use CRLF line ends as SIPE's MIME parser expects.
MultipartBody BuildRlmiNotify(const RlmiNotification& notification, std::string_view boundary);

// ---- the categories Causeway itself writes ----

// The availability value Causeway writes for each MS-PRES band (the values Lync clients publish;
// the bands themselves and their boundaries are mappings/presence_map.h).
enum class Availability : uint32_t {
  kOnline = 3500,
  kIdleOnline = 5000,
  kBusy = 6500,
  kIdleBusy = 7500,
  kDoNotDisturb = 9500,
  kBeRightBack = 12500,
  kAway = 15500,
  kOffline = 18500,
};

struct AggregateState {
  uint32_t availability = 3500;
  std::string activity_token;   // "" omits <activity>; e.g. "in-a-meeting", "on-the-phone"
  std::string custom_activity;  // "" omits <custom>; free text shown by clients
  std::string device;           // "" omits; "Computer" | "Mobile" | ...
  std::string meeting_subject;
  std::string meeting_location;
};

// <state xmlns="http://schemas.microsoft.com/2006/09/sip/state"
//   xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="aggregateState">
//   <availability>3500</availability>[<activity token=".."><custom>..</custom></activity>]..
// Self-contained (declares its own namespaces) so it can sit inside any <category>.
std::string BuildAggregateState(const AggregateState& state);

// <note xmlns="http://schemas.microsoft.com/2006/09/sip/note"><body type="personal" uri="">
// text</body></note>; `type` is "personal" or "OOF". An empty text yields <note/>'s empty form
// (clients read a note category without <body> as "note removed").
std::string BuildNote(std::string_view text, std::string_view type = "personal");

}  // namespace causeway::sip::lync
