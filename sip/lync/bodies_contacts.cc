#include "sip/lync/bodies_contacts.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "core/strings.h"
#include "sip/lync/bodies_util.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {

using internal::BodyError;
using internal::ParseBool;
using internal::ParseIdList;
using internal::ParseUint32;
using internal::TrimXmlSpace;

namespace {
constexpr std::string_view kSoapEnvelopeNs = "http://schemas.xmlsoap.org/soap/envelope/";
constexpr std::string_view kWinrtcSipNs = "http://schemas.microsoft.com/winrtc/2002/11/sip";
}  // namespace

std::string_view StripSipScheme(std::string_view uri) {
  if (uri.size() >= 4 && absl::EqualsIgnoreCase(ToAbsl(uri.substr(0, 4)), "sip:")) {
    return uri.substr(4);
  }
  return uri;
}

std::string WithSipScheme(std::string_view uri) {
  if (StripSipScheme(uri).size() != uri.size()) return std::string(uri);
  return "sip:" + std::string(uri);
}

void NormalizeContactList(ContactList& list) {
  if (list.delta_num == 0) list.delta_num = 1;
  // A contact needs a URI once "sip:" is stripped.
  list.contacts.erase(
      std::remove_if(list.contacts.begin(), list.contacts.end(),
                     [](const Contact& c) { return StripSipScheme(c.uri).empty(); }),
      list.contacts.end());
  auto is_default = [](const ContactGroup& g) { return g.name == kDefaultGroupName; };
  auto it = std::find_if(list.groups.begin(), list.groups.end(), is_default);
  if (it == list.groups.end()) {
    std::set<uint32_t> used;
    for (const ContactGroup& g : list.groups) used.insert(g.id);
    uint32_t id = 1;
    while (used.count(id) != 0) ++id;  // at most groups.size() + 1 steps
    list.groups.insert(list.groups.begin(), ContactGroup{id, std::string(kDefaultGroupName), ""});
  } else if (it != list.groups.begin()) {
    std::rotate(list.groups.begin(), it, it + 1);
  }
  uint32_t default_id = list.groups.front().id;
  std::set<uint32_t> existing;
  for (const ContactGroup& g : list.groups) existing.insert(g.id);
  for (Contact& c : list.contacts) {
    std::vector<uint32_t> kept;
    for (uint32_t id : c.group_ids) {
      if (existing.count(id) != 0 && std::find(kept.begin(), kept.end(), id) == kept.end()) {
        kept.push_back(id);
      }
    }
    if (kept.empty()) kept.push_back(default_id);
    c.group_ids = std::move(kept);
  }
}

namespace {

void WriteGroup(XmlWriter& w, std::string_view element, const ContactGroup& g) {
  w.Open(element)
      .Attr("id", int64_t{g.id})
      .Attr("name", g.name)
      .Attr("externalURI", g.external_uri)
      .Close();
}

void WriteContact(XmlWriter& w, std::string_view element, const Contact& c, std::string_view uri) {
  w.Open(element)
      .Attr("uri", uri)
      .Attr("name", c.name)
      .Attr("groups", internal::JoinIds(c.group_ids))
      .Attr("subscribed", c.subscribed ? "true" : "false")
      .Attr("externalURI", c.external_uri)
      .Close();
}

absl::StatusOr<ContactGroup> ReadGroup(const XmlElement& g, std::string_view what) {
  absl::StatusOr<uint32_t> id = internal::RequiredUint(g, "id", what);
  if (!id.ok()) return id.status();
  return ContactGroup{*id, std::string(g.AttrOr("name", "")),
                      std::string(g.AttrOr("externalURI", ""))};
}

absl::StatusOr<Contact> ReadContact(const XmlElement& c, std::string_view what) {
  Contact contact;
  std::optional<std::string_view> uri = c.Attr("uri");
  if (!uri || uri->empty()) return BodyError(what, "missing uri");
  contact.uri = std::string(*uri);
  contact.name = std::string(c.AttrOr("name", ""));
  std::optional<std::vector<uint32_t>> ids = ParseIdList(c.AttrOr("groups", ""));
  if (!ids) return BodyError(what, "bad groups");
  contact.group_ids = std::move(*ids);
  std::optional<bool> subscribed = ParseBool(c.AttrOr("subscribed", "true"));
  if (!subscribed) return BodyError(what, "bad subscribed");
  contact.subscribed = *subscribed;
  contact.external_uri = std::string(c.AttrOr("externalURI", ""));
  return contact;
}

}  // namespace

std::string BuildContactList(const ContactList& list) {
  XmlWriter w;
  w.Open("contactList").Attr("deltaNum", int64_t{list.delta_num});
  for (const ContactGroup& g : list.groups) WriteGroup(w, "group", g);
  for (const Contact& c : list.contacts) WriteContact(w, "contact", c, StripSipScheme(c.uri));
  return std::move(w).Finish();
}

std::string BuildContactDelta(const ContactDelta& d) {
  XmlWriter w;
  w.Open("contactDelta").Attr("deltaNum", int64_t{d.delta_num});
  for (const ContactGroup& g : d.added_groups) WriteGroup(w, "addedGroup", g);
  for (const ContactGroup& g : d.modified_groups) WriteGroup(w, "modifiedGroup", g);
  for (const Contact& c : d.added_contacts) {
    WriteContact(w, "addedContact", c, WithSipScheme(c.uri));
  }
  for (const Contact& c : d.modified_contacts) {
    WriteContact(w, "modifiedContact", c, WithSipScheme(c.uri));
  }
  for (const std::string& uri : d.deleted_contacts) {
    w.Open("deletedContact").Attr("uri", WithSipScheme(uri)).Close();
  }
  for (uint32_t id : d.deleted_groups) w.Open("deletedGroup").Attr("id", int64_t{id}).Close();
  return std::move(w).Finish();
}

absl::StatusOr<ContactDelta> ParseContactDelta(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "contactDelta") return BodyError("contactDelta", "wrong root element");
  ContactDelta d;
  absl::StatusOr<uint32_t> delta = internal::RequiredUint(root, "deltaNum", "contactDelta");
  if (!delta.ok()) return delta.status();
  d.delta_num = *delta;
  for (const XmlElement& e : root.children()) {
    std::string_view n = e.name();
    if (n == "addedGroup" || n == "modifiedGroup") {
      absl::StatusOr<ContactGroup> g = ReadGroup(e, "contactDelta");
      if (!g.ok()) return g.status();
      (n == "addedGroup" ? d.added_groups : d.modified_groups).push_back(std::move(*g));
    } else if (n == "addedContact" || n == "modifiedContact") {
      absl::StatusOr<Contact> c = ReadContact(e, "contactDelta");
      if (!c.ok()) return c.status();
      (n == "addedContact" ? d.added_contacts : d.modified_contacts).push_back(std::move(*c));
    } else if (n == "deletedContact") {
      std::optional<std::string_view> uri = e.Attr("uri");
      if (!uri || uri->empty()) return BodyError("contactDelta", "deletedContact without uri");
      d.deleted_contacts.emplace_back(*uri);
    } else if (n == "deletedGroup") {
      absl::StatusOr<uint32_t> id = internal::RequiredUint(e, "id", "contactDelta");
      if (!id.ok()) return id.status();
      d.deleted_groups.push_back(*id);
    }
  }
  return d;
}

absl::StatusOr<ContactList> ParseContactList(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "contactList") return BodyError("contactList", "wrong root element");
  ContactList list;
  absl::StatusOr<uint32_t> delta = internal::RequiredUint(root, "deltaNum", "contactList");
  if (!delta.ok()) return delta.status();
  list.delta_num = *delta;
  for (const XmlElement* g : root.Children("group")) {
    absl::StatusOr<ContactGroup> group = ReadGroup(*g, "contactList group");
    if (!group.ok()) return group.status();
    list.groups.push_back(std::move(*group));
  }
  for (const XmlElement* c : root.Children("contact")) {
    absl::StatusOr<Contact> contact = ReadContact(*c, "contactList contact");
    if (!contact.ok()) return contact.status();
    list.contacts.push_back(std::move(*contact));
  }
  return list;
}

absl::StatusOr<SoapRequest> ParseSoapRequest(std::string_view body) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  if (!doc.ok()) return doc.status();
  const XmlElement& root = doc->root();
  if (root.name() != "Envelope") return BodyError("SOAP", "root is not Envelope");
  const XmlElement* soap_body = root.Child("Body");
  if (soap_body == nullptr) return BodyError("SOAP", "no Body");
  if (soap_body->children().empty()) return BodyError("SOAP", "empty Body");
  // The method element is the first child of Body; directorySearch adds an Array after it.
  const XmlElement& m = soap_body->children().front();

  SoapRequest req;
  req.method_name = std::string(m.name());
  const std::string& name = req.method_name;
  if (name == "setContact") {
    req.method = SoapMethod::kSetContact;
  } else if (name == "deleteContact") {
    req.method = SoapMethod::kDeleteContact;
  } else if (name == "addGroup") {
    req.method = SoapMethod::kAddGroup;
  } else if (name == "modifyGroup") {
    req.method = SoapMethod::kModifyGroup;
  } else if (name == "deleteGroup") {
    req.method = SoapMethod::kDeleteGroup;
  } else if (name == "setACE") {
    req.method = SoapMethod::kSetAce;
  }

  if (const XmlElement* d = m.Child("deltaNum")) {
    req.delta_num = ParseUint32(d->text());
    if (!req.delta_num) return BodyError("SOAP", "bad deltaNum");
  }
  // Field texts are trimmed: clients pretty-print sometimes; none of them is whitespace-significant
  // except the display/group name, which is kept as sent.
  req.uri = std::string(TrimXmlSpace(m.ChildText("URI")));
  req.display_name = std::string(m.ChildText("displayName"));
  req.external_uri = std::string(TrimXmlSpace(m.ChildText("externalURI")));
  req.group_name = std::string(m.ChildText("name"));
  if (const XmlElement* g = m.Child("groups")) {
    std::optional<std::vector<uint32_t>> ids = ParseIdList(g->text());
    if (!ids) return BodyError("SOAP", "bad groups");
    req.group_ids = std::move(*ids);
  }
  if (const XmlElement* s = m.Child("subscribed")) {
    req.subscribed = ParseBool(s->text());
    if (!req.subscribed) return BodyError("SOAP", "bad subscribed");
  }
  if (const XmlElement* g = m.Child("groupID")) {
    req.group_id = ParseUint32(g->text());
    if (!req.group_id) return BodyError("SOAP", "bad groupID");
  }
  req.ace_type = std::string(TrimXmlSpace(m.ChildText("type")));
  req.ace_mask = std::string(TrimXmlSpace(m.ChildText("mask")));
  req.ace_rights = std::string(TrimXmlSpace(m.ChildText("rights")));

  switch (req.method) {
    case SoapMethod::kSetContact:
    case SoapMethod::kDeleteContact:
      if (req.uri.empty()) return BodyError("SOAP", "missing URI");
      break;
    case SoapMethod::kAddGroup:
      if (req.group_name.empty()) return BodyError("SOAP", "missing name");
      break;
    case SoapMethod::kModifyGroup:
      if (!req.group_id) return BodyError("SOAP", "missing groupID");
      if (req.group_name.empty()) return BodyError("SOAP", "missing name");
      break;
    case SoapMethod::kDeleteGroup:
      if (!req.group_id) return BodyError("SOAP", "missing groupID");
      break;
    case SoapMethod::kSetAce:
      if (req.ace_type.empty() || req.ace_mask.empty() || req.ace_rights.empty()) {
        return BodyError("SOAP", "setACE needs type, mask and rights");
      }
      break;
    case SoapMethod::kOther:
      break;
  }
  return req;
}

std::string BuildAddGroupResponse(uint32_t group_id) {
  XmlWriter w;
  w.Open("s:Envelope").Attr("xmlns:s", kSoapEnvelopeNs).Attr("xmlns:m", kWinrtcSipNs);
  w.Open("s:Body").Open("m:addGroup");
  w.Element("m:groupID", std::to_string(group_id));
  return std::move(w).Finish();
}

}  // namespace causeway::sip::lync
