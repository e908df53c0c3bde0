#include "sip/lync/bodies_presence.h"

#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/strings.h"
#include "sip/lync/bodies_util.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {

using internal::BodyError;
using internal::OptionalUint;
using internal::RequiredUint;

namespace {

constexpr std::string_view kRichPresenceNs =
    "http://schemas.microsoft.com/2006/09/sip/rich-presence";
constexpr std::string_view kCategoriesNs = "http://schemas.microsoft.com/2006/09/sip/categories";
constexpr std::string_view kStateNs = "http://schemas.microsoft.com/2006/09/sip/state";
constexpr std::string_view kNoteNs = "http://schemas.microsoft.com/2006/09/sip/note";
constexpr std::string_view kXsiNs = "http://www.w3.org/2001/XMLSchema-instance";
constexpr std::string_view kRlmiNs = "urn:ietf:params:xml:ns:rlmi";

constexpr size_t kMaxPublications = 128;
constexpr size_t kMaxResources = 2000;
constexpr size_t kMaxCategoryNames = 64;

// The content of a publication/category must stand on its own once moved into another document.
absl::Status CheckSelfContained(std::string_view content, std::string_view what) {
  if (content.find('<') == std::string_view::npos) return absl::OkStatus();  // text or empty
  std::string wrapped = absl::StrCat("<x>", ToAbsl(content), "</x>");
  absl::StatusOr<XmlDocument> doc = ParseXml(wrapped);
  if (!doc.ok()) return BodyError(what, "content is not well-formed on its own");
  return absl::OkStatus();
}

}  // namespace

// ---- publish ----

absl::StatusOr<PublishRequest> ParsePublish(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "publish") return BodyError("publish", "root is not publish");
  const XmlElement* pubs = root.Child("publications");
  if (pubs == nullptr) return BodyError("publish", "no publications");
  PublishRequest req;
  req.uri = std::string(pubs->AttrOr("uri", ""));
  std::vector<const XmlElement*> items = pubs->Children("publication");
  if (items.size() > kMaxPublications) return BodyError("publish", "too many publications");
  for (const XmlElement* p : items) {
    Publication pub;
    std::optional<std::string_view> name = p->Attr("categoryName");
    if (!name || name->empty()) return BodyError("publish", "publication without categoryName");
    pub.category_name = std::string(*name);
    absl::StatusOr<uint32_t> instance = RequiredUint(*p, "instance", "publish");
    if (!instance.ok()) return instance.status();
    absl::StatusOr<uint32_t> container = RequiredUint(*p, "container", "publish");
    if (!container.ok()) return container.status();
    absl::StatusOr<uint32_t> version = RequiredUint(*p, "version", "publish");
    if (!version.ok()) return version.status();
    absl::StatusOr<std::optional<uint32_t>> expires = OptionalUint(*p, "expires", "publish");
    if (!expires.ok()) return expires.status();
    pub.instance = *instance;
    pub.container = *container;
    pub.version = *version;
    pub.expires = *expires;
    pub.expire_type = std::string(p->AttrOr("expireType", ""));
    pub.xml = std::string(p->inner_xml());
    absl::Status self_contained = CheckSelfContained(pub.xml, "publish");
    if (!self_contained.ok()) return self_contained;
    req.publications.push_back(std::move(pub));
  }
  return req;
}

std::string BuildPublish(const PublishRequest& request) {
  XmlWriter w;
  w.Open("publish").Attr("xmlns", kRichPresenceNs);
  w.Open("publications").Attr("uri", request.uri);
  for (const Publication& p : request.publications) {
    w.Open("publication")
        .Attr("categoryName", p.category_name)
        .Attr("instance", int64_t{p.instance})
        .Attr("container", int64_t{p.container})
        .Attr("version", int64_t{p.version});
    if (!p.expire_type.empty()) w.Attr("expireType", p.expire_type);
    if (p.expires) w.Attr("expires", int64_t{*p.expires});
    if (!p.xml.empty()) w.Raw(p.xml);
    w.Close();
  }
  return std::move(w).Finish();
}

std::string BuildPublishVersionFault(const std::vector<VersionConflict>& conflicts) {
  XmlWriter w;
  w.Open("Fault");
  w.Element("Faultcode", "Client.BadCall.WrongDelta");
  w.Open("details");
  for (const VersionConflict& c : conflicts) {
    w.Open("operation")
        .Attr("index", int64_t{c.index})
        .Attr("version", int64_t{c.version})
        .Attr("curVersion", int64_t{c.cur_version})
        .Close();
  }
  return std::move(w).Finish();
}

// ---- batchSub ----

absl::StatusOr<BatchSubscribe> ParseBatchSubscribe(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "batchSub") return BodyError("batchSub", "root is not batchSub");
  const XmlElement* action = root.Child("action");
  if (action == nullptr) return BodyError("batchSub", "no action");
  BatchSubscribe sub;
  sub.uri = std::string(root.AttrOr("uri", ""));
  sub.action = std::string(action->AttrOr("name", ""));
  sub.action_id = std::string(action->AttrOr("id", ""));
  if (sub.action.empty()) return BodyError("batchSub", "action without name");
  if (const XmlElement* list = action->Child("adhocList")) {
    std::vector<const XmlElement*> resources = list->Children("resource");
    if (resources.size() > kMaxResources) return BodyError("batchSub", "too many resources");
    for (const XmlElement* r : resources) {
      std::optional<std::string_view> uri = r->Attr("uri");
      if (!uri || uri->empty()) return BodyError("batchSub", "resource without uri");
      sub.resources.emplace_back(*uri);
    }
  }
  if (const XmlElement* list = action->Child("categoryList")) {
    std::vector<const XmlElement*> categories = list->Children("category");
    if (categories.size() > kMaxCategoryNames) return BodyError("batchSub", "too many categories");
    for (const XmlElement* c : categories) {
      std::optional<std::string_view> name = c->Attr("name");
      if (!name || name->empty()) return BodyError("batchSub", "category without name");
      sub.categories.emplace_back(*name);
    }
  }
  return sub;
}

// ---- categories ----

namespace {
void WriteCategories(XmlWriter& w, const CategoriesDocument& doc) {
  w.Open("categories").Attr("xmlns", kCategoriesNs).Attr("uri", doc.uri);
  for (const Category& c : doc.categories) {
    w.Open("category")
        .Attr("name", c.name)
        .Attr("instance", int64_t{c.instance})
        .Attr("publishTime", c.publish_time)
        .Attr("container", int64_t{c.container})
        .Attr("version", int64_t{c.version});
    if (!c.expire_type.empty()) w.Attr("expireType", c.expire_type);
    if (!c.xml.empty()) w.Raw(c.xml);
    w.Close();
  }
  w.Close();
}
}  // namespace

std::string BuildCategories(const CategoriesDocument& doc) {
  XmlWriter w;
  WriteCategories(w, doc);
  return std::move(w).Finish();
}

absl::StatusOr<CategoriesDocument> ParseCategories(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  return CategoriesFromElement(doc->root());
}

absl::StatusOr<CategoriesDocument> CategoriesFromElement(const XmlElement& root) {
  if (root.name() != "categories") return BodyError("categories", "root is not categories");
  CategoriesDocument out;
  out.uri = std::string(root.AttrOr("uri", ""));
  for (const XmlElement* c : root.Children("category")) {
    Category cat;
    std::optional<std::string_view> name = c->Attr("name");
    if (!name || name->empty()) return BodyError("categories", "category without name");
    cat.name = std::string(*name);
    // instance/container/version are optional in the schema (a subscriber may not be allowed to
    // see the container); absent reads as 0.
    absl::StatusOr<std::optional<uint32_t>> instance = OptionalUint(*c, "instance", "categories");
    if (!instance.ok()) return instance.status();
    absl::StatusOr<std::optional<uint32_t>> container = OptionalUint(*c, "container", "categories");
    if (!container.ok()) return container.status();
    absl::StatusOr<std::optional<uint32_t>> version = OptionalUint(*c, "version", "categories");
    if (!version.ok()) return version.status();
    cat.instance = instance->value_or(0);
    cat.container = container->value_or(0);
    cat.version = version->value_or(0);
    cat.publish_time = std::string(c->AttrOr("publishTime", ""));
    cat.expire_type = std::string(c->AttrOr("expireType", ""));
    cat.xml = std::string(c->inner_xml());
    out.categories.push_back(std::move(cat));
  }
  return out;
}

std::string FormatPublishTime(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  int64_t ms_total = duration_cast<milliseconds>(t.time_since_epoch()).count();
  int64_t secs = ms_total / 1000;
  int64_t ms = ms_total % 1000;
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
}

// ---- RLMI ----

MultipartBody BuildRlmiNotify(const RlmiNotification& n, std::string_view boundary) {
  const std::string rlmi_cid = "rlmi@causeway";
  std::vector<std::string> cids(n.resources.size());

  XmlWriter list;
  list.Open("list")
      .Attr("xmlns", kRlmiNs)
      .Attr("uri", n.list_uri)
      .Attr("version", int64_t{n.version})
      .Attr("fullState", n.full_state ? "true" : "false");
  for (size_t i = 0; i < n.resources.size(); ++i) {
    const RlmiResource& r = n.resources[i];
    list.Open("resource").Attr("uri", r.uri);
    // SIPE reads instance@state unconditionally: always present.
    list.Open("instance").Attr("id", int64_t(i)).Attr("state", r.state);
    if (!r.reason.empty()) list.Attr("reason", r.reason);
    if (!r.pool_fqdn.empty()) list.Attr("poolFqdn", r.pool_fqdn);
    if (r.categories) {
      cids[i] = absl::StrCat("r", i, ".", n.version, "@causeway");
      list.Attr("cid", cids[i]);
    }
    list.Close();
    list.Close();
  }
  std::string list_xml = std::move(list).Finish();

  // Each part ends with a blank line before the next delimiter: libpurple's MIME parser (SIPE)
  // trims four bytes off every part, and for RFC 2046 parsers the extra CRLF is whitespace after
  // the XML.
  auto part = [&](std::string& out, std::string_view cid, std::string_view type,
                  std::string_view content) {
    absl::StrAppend(&out, "--", ToAbsl(boundary), "\r\n", "Content-Transfer-Encoding: binary\r\n",
                    "Content-ID: <", ToAbsl(cid), ">\r\n", "Content-Type: ", ToAbsl(type),
                    "\r\n\r\n", ToAbsl(content), "\r\n\r\n");
  };
  MultipartBody out;
  part(out.body, rlmi_cid, kRlmiContentType, list_xml);
  for (size_t i = 0; i < n.resources.size(); ++i) {
    if (!n.resources[i].categories) continue;
    part(out.body, cids[i], kEventCategoriesContentType,
         BuildCategories(*n.resources[i].categories));
  }
  absl::StrAppend(&out.body, "--", ToAbsl(boundary), "--\r\n");
  out.content_type = absl::StrCat("multipart/related; type=\"", ToAbsl(kRlmiContentType),
                                  "\"; start=\"<", rlmi_cid, ">\"; boundary=", ToAbsl(boundary));
  return out;
}

// ---- state and note ----

std::string BuildAggregateState(const AggregateState& s) {
  XmlWriter w;
  w.Open("state")
      .Attr("xmlns", kStateNs)
      .Attr("xmlns:xsi", kXsiNs)
      .Attr("xsi:type", "aggregateState");
  w.Element("availability", std::to_string(s.availability));
  if (!s.activity_token.empty() || !s.custom_activity.empty()) {
    w.Open("activity");
    if (!s.activity_token.empty()) w.Attr("token", s.activity_token);
    if (!s.custom_activity.empty()) w.Element("custom", s.custom_activity);
    w.Close();
  }
  if (!s.meeting_subject.empty()) w.Element("meetingSubject", s.meeting_subject);
  if (!s.meeting_location.empty()) w.Element("meetingLocation", s.meeting_location);
  if (!s.device.empty()) w.Element("device", s.device);
  return std::move(w).Finish();
}

std::string BuildNote(std::string_view text, std::string_view type) {
  XmlWriter w;
  w.Open("note").Attr("xmlns", kNoteNs);
  if (!text.empty()) {
    w.Open("body").Attr("type", type).Attr("uri", "").Text(text).Close();
  }
  return std::move(w).Finish();
}

}  // namespace causeway::sip::lync
