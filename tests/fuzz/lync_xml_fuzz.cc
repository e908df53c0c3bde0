// Fuzzes the Lync XML layer: the expat DOM (limits, byte ranges, rejection of unsafe input), the
// writer (a tree rebuilt with it must parse back identically) and every body parser in
// sip/lync/bodies_*.h, with build -> parse round trips where a parser has a builder.
// Any crash, sanitizer report or broken invariant (abort) is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "sip/codec/multipart.h"
#include "sip/lync/bodies_contacts.h"
#include "sip/lync/bodies_presence.h"
#include "sip/lync/bodies_roaming.h"
#include "sip/lync/mras.h"
#include "sip/lync/xml.h"

namespace {

using namespace causeway::sip::lync;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// Byte ranges point into the document and look like elements.
void CheckRanges(const XmlElement& e, std::string_view source, size_t depth) {
  Check(depth <= 64, "tree deeper than the limit");
  std::string_view outer = e.outer_xml();
  Check(
      outer.data() >= source.data() && outer.data() + outer.size() <= source.data() + source.size(),
      "outer_xml outside the source");
  Check(outer.size() >= 3 && outer.front() == '<' && outer.back() == '>', "outer_xml shape");
  std::string_view inner = e.inner_xml();
  Check(inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size(),
        "inner_xml outside outer_xml");
  for (const XmlElement& c : e.children()) {
    Check(c.outer_xml().data() >= inner.data() &&
              c.outer_xml().data() + c.outer_xml().size() <= inner.data() + inner.size(),
          "child outside parent's content");
    CheckRanges(c, source, depth + 1);
  }
}

// Rebuilds the tree with XmlWriter using local names only (namespaces dropped, duplicate local
// attribute names skipped), so the result must be well-formed whatever the input was.
void Rebuild(XmlWriter& w, const XmlElement& e) {
  w.Open(e.name());
  std::set<std::string_view> seen;
  for (const XmlAttribute& a : e.attributes()) {
    if (a.name.rfind("xml", 0) == 0) continue;  // reserved names (xml:lang, xmlns-like)
    if (seen.insert(a.name).second) w.Attr(a.name, a.value);
  }
  w.Text(e.text());
  for (const XmlElement& c : e.children()) Rebuild(w, c);
  w.Close();
}

void CheckSameShape(const XmlElement& a, const XmlElement& b) {
  Check(a.name() == b.name(), "rebuilt name differs");
  Check(a.text() == b.text(), "rebuilt text differs");
  Check(a.children().size() == b.children().size(), "rebuilt child count differs");
  for (const XmlAttribute& attr : b.attributes()) {
    std::optional<std::string_view> orig = a.Attr(attr.name);
    Check(orig.has_value(), "rebuilt attribute appeared");
  }
  for (size_t i = 0; i < a.children().size(); ++i) {
    CheckSameShape(a.children()[i], b.children()[i]);
  }
}

void FuzzDom(std::string_view input) {
  absl::StatusOr<XmlDocument> doc = ParseXml(input);
  if (!doc.ok()) {
    Check(doc.status().code() == absl::StatusCode::kInvalidArgument, "error is not 400-class");
    return;
  }
  Check(IsValidUtf8(input), "accepted invalid UTF-8");
  CheckRanges(doc->root(), doc->source(), 1);
  XmlWriter w;
  Rebuild(w, doc->root());
  std::string rebuilt = std::move(w).Finish();
  XmlLimits roomy;
  roomy.max_bytes = rebuilt.size() + 1;
  absl::StatusOr<XmlDocument> again = ParseXml(rebuilt, roomy);
  Check(again.ok(), "writer output does not parse");
  CheckSameShape(doc->root(), again->root());
}

void FuzzBodies(std::string_view input) {
  if (absl::StatusOr<ContactList> list = ParseContactList(input); list.ok()) {
    NormalizeContactList(*list);
    absl::StatusOr<ContactList> back = ParseContactList(BuildContactList(*list));
    Check(back.ok(), "BuildContactList output does not parse");
    Check(back->contacts.size() == list->contacts.size(), "contact count changed");
    Check(!back->groups.empty() && back->groups[0].name == kDefaultGroupName, "no default group");
  }
  if (absl::StatusOr<ContactDelta> delta = ParseContactDelta(input); delta.ok()) {
    absl::StatusOr<ContactDelta> back = ParseContactDelta(BuildContactDelta(*delta));
    Check(back.ok(), "BuildContactDelta output does not parse");
    Check(back->deleted_contacts.size() == delta->deleted_contacts.size(), "delta changed");
  }
  if (absl::StatusOr<SoapRequest> req = ParseSoapRequest(input); req.ok()) {
    if (req->group_id) Check(ParseXml(BuildAddGroupResponse(*req->group_id)).ok(), "addGroup");
  }
  if (absl::StatusOr<PublishRequest> pub = ParsePublish(input); pub.ok()) {
    absl::StatusOr<PublishRequest> back = ParsePublish(BuildPublish(*pub));
    Check(back.ok(), "BuildPublish output does not parse");
    Check(back->publications.size() == pub->publications.size(), "publication count changed");
    CategoriesDocument cats;
    cats.uri = pub->uri;
    std::vector<VersionConflict> conflicts;
    for (size_t i = 0; i < back->publications.size(); ++i) {
      const Publication& p = back->publications[i];
      Check(p.xml == pub->publications[i].xml, "publication content not verbatim");
      cats.categories.push_back({p.category_name, p.instance, p.container, p.version,
                                 "2026-01-01T00:00:00.000Z", p.expire_type, p.xml});
      conflicts.push_back({static_cast<uint32_t>(i + 1), p.version, p.version + 1});
    }
    absl::StatusOr<CategoriesDocument> parsed = ParseCategories(BuildCategories(cats));
    Check(parsed.ok(), "published content does not redistribute");
    Check(ParseXml(BuildPublishVersionFault(conflicts)).ok(), "fault does not parse");
    RlmiNotification n;
    n.list_uri = "sip:fuzz@example.com";
    n.resources.push_back({"sip:fuzz@example.com", "active", "", "", cats});
    MultipartBody mp = BuildRlmiNotify(n, "fuzzBoundary42");
    // The boundary may occur in fuzzed content; splitting then may fail, but never crash.
    (void)causeway::sip::ParseMultipartBody(mp.content_type, mp.body);
  }
  if (absl::StatusOr<BatchSubscribe> sub = ParseBatchSubscribe(input); sub.ok()) {
    Check(sub->resources.size() <= 2000, "resource cap");
  }
  if (absl::StatusOr<CategoriesDocument> cats = ParseCategories(input); cats.ok()) {
    // Content may use prefixes bound on <categories>; only self-contained content round-trips.
    bool self_contained = true;
    for (const Category& c : cats->categories) {
      if (!ParseXml("<x>" + c.xml + "</x>").ok()) self_contained = false;
    }
    if (self_contained) {
      Check(ParseCategories(BuildCategories(*cats)).ok(), "BuildCategories output does not parse");
    }
  }
  if (absl::StatusOr<RoamingSelf> self = ParseRoamingSelf(input); self.ok()) {
    // Categories may use prefixes bound on <roamingData>: only containers/subscribers are
    // guaranteed to round-trip on their own.
    self->categories.reset();
    Check(ParseRoamingSelf(BuildRoamingSelf(*self)).ok(), "BuildRoamingSelf output does not parse");
  }
  if (absl::StatusOr<std::vector<ContainerUpdate>> u = ParseSetContainerMembers(input); u.ok()) {
    Check(ParseSetContainerMembers(BuildSetContainerMembers(*u)).ok(), "setContainerMembers");
  }
  (void)ParseSetSubscribers(input);
  (void)ParseRoamingList(input);
  (void)ParseProvisioningGroupList(input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzDom(input);
  FuzzBodies(input);
  // MRAS (MS-AVEDGEA): the request parser, and the whole answer with an authority that grants.
  MrasRequest mras;
  (void)ParseMrasRequest(input, &mras);
  const MediaRelayAuthority grant = [](const MediaRelayRequest&)
      -> absl::StatusOr<MediaRelayGrant> {
    MediaRelayGrant g;
    g.username = "1700000000:alice@x";
    g.password = "cGFzc3dvcmQ=";
    g.duration = std::chrono::minutes(480);
    g.relays.push_back({RelayLocation::kInternet, "relay.x", 3478, 3478});
    return g;
  };
  Check(ParseXml(AnswerMras(input, "sip:alice@x", grant).body).ok(), "MRAS answer is well-formed");
  // Builders with fuzzed strings: escaping keeps the output well-formed.
  std::string text(input.substr(0, 512));
  ContactList list;
  list.groups.push_back({2, text, text});
  list.contacts.push_back({text, text, {2}, true, text});
  NormalizeContactList(list);
  Check(ParseContactList(BuildContactList(list)).ok(), "contact list with fuzzed strings");
  AggregateState state;
  state.activity_token = text;
  state.custom_activity = text;
  state.meeting_subject = text;
  Check(ParseXml(BuildAggregateState(state)).ok(), "state with fuzzed strings");
  Check(ParseXml(BuildNote(text, text)).ok(), "note with fuzzed strings");
  return 0;
}
