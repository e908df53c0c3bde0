// Category publish, 409 faults, batched subscriptions, categories documents, the RLMI
// multipart NOTIFY and the state/note builders — shapes from MS-PRES and pidgin-sipe 1.25
// (src/core/sipe-ocs2007.c, sipe-subscriptions.c, sipe-buddy.c).

#include "sip/lync/bodies_presence.h"

#include <chrono>
#include <string>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/codec/multipart.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {
namespace {

// A publish as SIPE sends it at login: device, machine state (two containers), a note removal.
const char kSipePublish[] =
    "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
    "<publications uri=\"sip:alice@contoso.com\">"
    "<publication categoryName=\"device\" instance=\"1617633712\" container=\"2\" version=\"0\""
    " expireType=\"endpoint\">"
    "<device xmlns=\"http://schemas.microsoft.com/2006/09/sip/device\""
    " endpointId=\"01234567-89AB-CDEF-0123-456789ABCDEF\">"
    "<capabilities preferred=\"false\" uri=\"sip:alice@contoso.com\">"
    "<text capture=\"true\" render=\"true\" publish=\"false\"/></capabilities>"
    "<timezone>00:00:00+01:00</timezone><machineName>host</machineName></device>"
    "</publication>"
    "<publication categoryName=\"state\" instance=\"906391354\" container=\"2\" version=\"3\""
    " expireType=\"endpoint\">"
    "<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" manual=\"false\""
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"machineState\">"
    "<availability>3500</availability><endpointLocation></endpointLocation></state>"
    "</publication>"
    "<publication categoryName=\"state\" instance=\"906391354\" container=\"3\" version=\"3\""
    " expireType=\"endpoint\">"
    "<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\" manual=\"false\""
    " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"machineState\">"
    "<availability>3500</availability><endpointLocation></endpointLocation></state>"
    "</publication>"
    "<publication categoryName=\"note\" instance=\"0\" container=\"400\" version=\"1\""
    " expireType=\"static\" expires=\"0\"/>"
    "</publications></publish>";

TEST(PublishTest, ParsesSipeLoginPublish) {
  absl::StatusOr<PublishRequest> req = ParsePublish(kSipePublish);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->uri, "sip:alice@contoso.com");
  ASSERT_EQ(req->publications.size(), 4u);
  const Publication& device = req->publications[0];
  EXPECT_EQ(device.category_name, "device");
  EXPECT_EQ(device.instance, 1617633712u);
  EXPECT_EQ(device.container, 2u);
  EXPECT_EQ(device.version, 0u);
  EXPECT_EQ(device.expire_type, "endpoint");
  EXPECT_FALSE(device.expires.has_value());
  EXPECT_FALSE(device.is_removal());
  // Verbatim: exactly the bytes between the publication tags.
  std::string body = kSipePublish;
  size_t b = body.find("<device ");
  size_t e = body.find("</device>") + 9;
  EXPECT_EQ(device.xml, body.substr(b, e - b));
  EXPECT_EQ(req->publications[2].container, 3u);
  EXPECT_EQ(req->publications[2].version, 3u);
  const Publication& note = req->publications[3];
  EXPECT_TRUE(note.is_removal());
  EXPECT_EQ(note.xml, "");
}

TEST(PublishTest, BuildParseRoundTrip) {
  PublishRequest req;
  req.uri = "sip:alice@contoso.com";
  req.publications.push_back(
      {"note", 0, 200, 4, "static", std::nullopt, BuildNote("at lunch & back at 2")});
  req.publications.push_back({"state", 7, 2, 1, "", 3600, BuildAggregateState({})});
  absl::StatusOr<PublishRequest> back = ParsePublish(BuildPublish(req));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->publications.size(), 2u);
  EXPECT_EQ(back->publications[0].xml, req.publications[0].xml);
  EXPECT_EQ(back->publications[0].version, 4u);
  EXPECT_EQ(back->publications[1].expires, 3600u);
  EXPECT_EQ(back->publications[1].expire_type, "");
  EXPECT_EQ(back->publications[1].xml, req.publications[1].xml);
}

TEST(PublishTest, RejectsMalformed) {
  const std::string head =
      "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
      "<publications uri=\"sip:a@b\">";
  const std::string tail = "</publications></publish>";
  EXPECT_FALSE(ParsePublish("<publish/>").ok());
  EXPECT_FALSE(ParsePublish("<other><publications/></other>").ok());
  EXPECT_FALSE(
      ParsePublish(head + "<publication instance=\"1\" container=\"2\" version=\"0\"/>" + tail)
          .ok());
  EXPECT_FALSE(ParsePublish(head +
                            "<publication categoryName=\"s\" container=\"2\" "
                            "version=\"0\"/>" +
                            tail)
                   .ok());
  EXPECT_FALSE(ParsePublish(head +
                            "<publication categoryName=\"s\" instance=\"1\" "
                            "container=\"2\" version=\"-1\"/>" +
                            tail)
                   .ok());
  EXPECT_FALSE(ParsePublish(head +
                            "<publication categoryName=\"s\" instance=\"99999999999\" "
                            "container=\"2\" version=\"0\"/>" +
                            tail)
                   .ok());
  // Content whose prefix is bound on an ancestor could not be redistributed on its own.
  std::string outer_prefix =
      "<publish xmlns=\"urn:p\" xmlns:q=\"urn:q\"><publications uri=\"sip:a@b\">"
      "<publication categoryName=\"s\" instance=\"1\" container=\"2\" version=\"0\">"
      "<q:state/></publication></publications></publish>";
  absl::StatusOr<PublishRequest> r = ParsePublish(outer_prefix);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(SipCodeOf(r.status()), 400);
  std::string many = head;
  for (int i = 0; i < 129; ++i) {
    many += "<publication categoryName=\"s\" instance=\"1\" container=\"2\" version=\"0\"/>";
  }
  EXPECT_FALSE(ParsePublish(many + tail).ok());
}

TEST(PublishTest, VersionFaultHasWhatSipeReads) {
  std::string xml = BuildPublishVersionFault({{2, 3, 5}, {3, 3, 6}});
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  // sipe-ocs2007.c process_send_presence_category_publish_response().
  EXPECT_EQ(doc->root().name(), "Fault");
  EXPECT_EQ(doc->root().ChildText("Faultcode"), "Client.BadCall.WrongDelta");
  std::vector<const XmlElement*> ops = doc->root().Child("details")->Children("operation");
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0]->Attr("index"), "2");
  EXPECT_EQ(ops[0]->Attr("curVersion"), "5");
  EXPECT_EQ(ops[1]->Attr("index"), "3");
  EXPECT_EQ(ops[1]->Attr("curVersion"), "6");
  EXPECT_EQ(ops[1]->Attr("version"), "3");
}

TEST(BatchSubscribeTest, ParsesSipeBatch) {
  // sipe-subscriptions.c sipe_subscribe_presence_batched_to() for OCS 2007, one buddy just added
  // (with <context/>), one not.
  std::string body =
      "<batchSub xmlns=\"http://schemas.microsoft.com/2006/01/sip/batch-subscribe\""
      " uri=\"sip:alice@contoso.com\" name=\"\">\n"
      "<action name=\"subscribe\" id=\"63792024\">\n"
      "<adhocList>\n"
      "<resource uri=\"sip:bob@contoso.com\"/>\n"
      "<resource uri=\"sip:carol@fabrikam.com\"><context/></resource>\n"
      "</adhocList>\n"
      "<categoryList xmlns=\"http://schemas.microsoft.com/2006/09/sip/categorylist\">\n"
      "<category name=\"calendarData\"/>\n"
      "<category name=\"contactCard\"/>\n"
      "<category name=\"note\"/>\n"
      "<category name=\"state\"/>\n"
      "</categoryList>\n"
      "</action>\n"
      "</batchSub>";
  absl::StatusOr<BatchSubscribe> sub = ParseBatchSubscribe(body);
  ASSERT_TRUE(sub.ok()) << sub.status();
  EXPECT_EQ(sub->uri, "sip:alice@contoso.com");
  EXPECT_EQ(sub->action, "subscribe");
  EXPECT_EQ(sub->action_id, "63792024");
  EXPECT_EQ(sub->resources,
            (std::vector<std::string>{"sip:bob@contoso.com", "sip:carol@fabrikam.com"}));
  EXPECT_EQ(sub->categories,
            (std::vector<std::string>{"calendarData", "contactCard", "note", "state"}));
}

TEST(BatchSubscribeTest, RejectsMalformed) {
  EXPECT_FALSE(ParseBatchSubscribe("<batchSub/>").ok());
  EXPECT_FALSE(ParseBatchSubscribe("<adhocList/>").ok());
  EXPECT_FALSE(ParseBatchSubscribe("<batchSub><action/></batchSub>").ok());
  EXPECT_FALSE(
      ParseBatchSubscribe(
          "<batchSub><action name=\"subscribe\"><adhocList><resource/></adhocList></action>"
          "</batchSub>")
          .ok());
  EXPECT_FALSE(
      ParseBatchSubscribe(
          "<batchSub><action name=\"subscribe\"><categoryList><category/></categoryList></action>"
          "</batchSub>")
          .ok());
  std::string many = "<batchSub><action name=\"subscribe\"><adhocList>";
  for (int i = 0; i < 2001; ++i) many += "<resource uri=\"sip:a@b\"/>";
  many += "</adhocList></action></batchSub>";
  EXPECT_FALSE(ParseBatchSubscribe(many).ok());
}

CategoriesDocument BobCategories() {
  CategoriesDocument doc;
  doc.uri = "sip:bob@contoso.com";
  AggregateState state;
  state.availability = static_cast<uint32_t>(Availability::kBusy);
  state.activity_token = "in-a-meeting";
  state.custom_activity = "Design <review>";
  doc.categories.push_back(
      {"state", 0, 2, 5, "2026-11-25T12:00:00.000Z", "", BuildAggregateState(state)});
  doc.categories.push_back(
      {"note", 0, 200, 2, "2026-11-25T11:00:00.000Z", "static", BuildNote("Back at 3 & later")});
  return doc;
}

TEST(CategoriesTest, BuildIsWhatSipeParses) {
  std::string xml = BuildCategories(BobCategories());
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  const XmlElement& root = doc->root();
  // sipe-buddy.c process_incoming_notify_rlmi(): categories@uri, category@name/publishTime,
  // state/availability, state/activity@token + custom, note/body (+ @type).
  EXPECT_EQ(root.name(), "categories");
  EXPECT_EQ(root.ns(), "http://schemas.microsoft.com/2006/09/sip/categories");
  EXPECT_EQ(root.Attr("uri"), "sip:bob@contoso.com");
  std::vector<const XmlElement*> cats = root.Children("category");
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_EQ(cats[0]->Attr("name"), "state");
  EXPECT_EQ(cats[0]->Attr("publishTime"), "2026-11-25T12:00:00.000Z");
  EXPECT_EQ(cats[0]->Attr("container"), "2");
  EXPECT_EQ(cats[0]->Attr("version"), "5");
  EXPECT_FALSE(cats[0]->Attr("expireType").has_value());
  const XmlElement* state = cats[0]->Child("state");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->ns(), "http://schemas.microsoft.com/2006/09/sip/state");
  EXPECT_EQ(state->AttrNs("http://www.w3.org/2001/XMLSchema-instance", "type"), "aggregateState");
  EXPECT_EQ(state->ChildText("availability"), "6500");
  EXPECT_EQ(state->Child("activity")->Attr("token"), "in-a-meeting");
  EXPECT_EQ(state->ChildText("activity/custom"), "Design <review>");
  const XmlElement* note_body = cats[1]->Child("note/body");
  ASSERT_NE(note_body, nullptr);
  EXPECT_EQ(note_body->text(), "Back at 3 & later");
  EXPECT_EQ(note_body->Attr("type"), "personal");
  EXPECT_EQ(cats[1]->Attr("expireType"), "static");

  absl::StatusOr<CategoriesDocument> back = ParseCategories(xml);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->categories.size(), 2u);
  EXPECT_EQ(back->categories[0].xml, BobCategories().categories[0].xml);  // verbatim
  EXPECT_EQ(back->categories[1].version, 2u);
}

TEST(CategoriesTest, ParsesMsPresExample) {
  // Shape of an MS-PRES NOTIFY body: a category the subscriber may not see the container of.
  std::string body =
      "<categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\""
      " uri=\"sip:bob@contoso.com\">"
      "<category name=\"contactCard\" instance=\"0\" publishTime=\"2008-01-11T19:13:31.283\""
      " container=\"32000\" version=\"1\" expireType=\"static\">"
      "<contactCard xmlns=\"http://schemas.microsoft.com/2006/09/sip/contactcard\">"
      "<identity><name><displayName>Bob</displayName></name></identity></contactCard>"
      "</category>"
      "<category name=\"state\" publishTime=\"2008-01-11T19:13:31.283\"/>"
      "</categories>";
  absl::StatusOr<CategoriesDocument> doc = ParseCategories(body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  ASSERT_EQ(doc->categories.size(), 2u);
  EXPECT_EQ(doc->categories[0].container, 32000u);
  EXPECT_NE(doc->categories[0].xml.find("<displayName>Bob</displayName>"), std::string::npos);
  EXPECT_EQ(doc->categories[1].container, 0u);
  EXPECT_EQ(doc->categories[1].xml, "");
  EXPECT_FALSE(ParseCategories("<categories><category/></categories>").ok());
  EXPECT_FALSE(
      ParseCategories("<categories><category name=\"s\" version=\"v\"/></categories>").ok());
}

TEST(CategoriesTest, PublishedXmlIsRedistributedVerbatim) {
  absl::StatusOr<PublishRequest> req = ParsePublish(kSipePublish);
  ASSERT_TRUE(req.ok());
  const Publication& p = req->publications[1];
  CategoriesDocument doc{"sip:alice@contoso.com",
                         {{p.category_name, p.instance, p.container, p.version + 1,
                           "2026-11-25T12:00:00.000Z", p.expire_type, p.xml}}};
  std::string xml = BuildCategories(doc);
  EXPECT_NE(xml.find(p.xml), std::string::npos);
  absl::StatusOr<XmlDocument> parsed = ParseXml(xml);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->root().ChildText("category/state/availability"), "3500");
}

TEST(CategoriesTest, FormatPublishTime) {
  using namespace std::chrono;
  system_clock::time_point t = system_clock::time_point(seconds(1764072000) + milliseconds(7));
  EXPECT_EQ(FormatPublishTime(t), "2025-11-25T12:00:00.007Z");
  EXPECT_EQ(FormatPublishTime(system_clock::time_point()), "1970-01-01T00:00:00.000Z");
}

TEST(RlmiTest, MultipartSplitsIntoListAndCategories) {
  RlmiNotification n;
  n.list_uri = "sip:alice@contoso.com";
  n.version = 3;
  n.full_state = false;
  RlmiResource bob;
  bob.uri = "sip:bob@contoso.com";
  bob.categories = BobCategories();
  RlmiResource carol;
  carol.uri = "sip:carol@fabrikam.com";
  carol.state = "resubscribe";
  carol.pool_fqdn = "pool.fabrikam.com";
  RlmiResource dave;
  dave.uri = "sip:dave@contoso.com";
  dave.state = "terminated";
  dave.reason = "rejected";
  n.resources = {bob, carol, dave};

  MultipartBody mp = BuildRlmiNotify(n, "CausewayBoundary0123");
  EXPECT_EQ(mp.content_type,
            "multipart/related; type=\"application/rlmi+xml\"; start=\"<rlmi@causeway>\"; "
            "boundary=CausewayBoundary0123");
  absl::StatusOr<std::vector<sip::MultipartPart>> parts =
      sip::ParseMultipartBody(mp.content_type, mp.body);
  ASSERT_TRUE(parts.ok()) << parts.status() << mp.body;
  ASSERT_EQ(parts->size(), 2u);  // list + bob's categories
  // libpurple's MIME parser (SIPE) trims four bytes off the end of each part: every part ends
  // with an extra CRLF after its XML so nothing of the document is lost.
  for (const sip::MultipartPart& p : *parts) {
    ASSERT_GE(p.body.size(), 3u);
    EXPECT_EQ(p.body.substr(p.body.size() - 3), ">\r\n");
  }
  EXPECT_EQ((*parts)[0].content_type(), "application/rlmi+xml");
  EXPECT_EQ((*parts)[1].content_type(), "application/msrtc-event-categories+xml");

  absl::StatusOr<XmlDocument> list = ParseXml((*parts)[0].body);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->root().name(), "list");
  EXPECT_EQ(list->root().ns(), "urn:ietf:params:xml:ns:rlmi");
  EXPECT_EQ(list->root().Attr("version"), "3");
  EXPECT_EQ(list->root().Attr("fullState"), "false");
  std::vector<const XmlElement*> resources = list->root().Children("resource");
  ASSERT_EQ(resources.size(), 3u);
  const XmlElement* bob_instance = resources[0]->Child("instance");
  ASSERT_NE(bob_instance, nullptr);
  EXPECT_EQ(bob_instance->Attr("state"), "active");
  // The categories part is the one its cid names.
  std::string cid = std::string(bob_instance->AttrOr("cid", ""));
  ASSERT_FALSE(cid.empty());
  bool found = false;
  for (const sip::Header& h : (*parts)[1].headers) {
    if (h.value == "<" + cid + ">") found = true;
  }
  EXPECT_TRUE(found);
  const XmlElement* carol_instance = resources[1]->Child("instance");
  EXPECT_EQ(carol_instance->Attr("state"), "resubscribe");
  EXPECT_EQ(carol_instance->Attr("poolFqdn"), "pool.fabrikam.com");
  EXPECT_FALSE(carol_instance->Attr("cid").has_value());
  EXPECT_EQ(resources[2]->Child("instance")->Attr("reason"), "rejected");

  absl::StatusOr<CategoriesDocument> cats = ParseCategories((*parts)[1].body);
  ASSERT_TRUE(cats.ok()) << cats.status();
  EXPECT_EQ(cats->uri, "sip:bob@contoso.com");
  EXPECT_EQ(cats->categories.size(), 2u);
}

TEST(StateNoteTest, AggregateStateMinimalAndFull) {
  absl::StatusOr<XmlDocument> minimal = ParseXml(BuildAggregateState({}));
  ASSERT_TRUE(minimal.ok()) << minimal.status();
  EXPECT_EQ(minimal->root().ChildText("availability"), "3500");
  EXPECT_EQ(minimal->root().Child("activity"), nullptr);

  AggregateState s;
  s.availability = static_cast<uint32_t>(Availability::kAway);
  s.device = "Mobile";
  s.meeting_subject = "1:1";
  s.meeting_location = "Room \"A\"";
  absl::StatusOr<XmlDocument> full = ParseXml(BuildAggregateState(s));
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->root().ChildText("availability"), "15500");
  EXPECT_EQ(full->root().ChildText("device"), "Mobile");
  EXPECT_EQ(full->root().ChildText("meetingSubject"), "1:1");
  EXPECT_EQ(full->root().ChildText("meetingLocation"), "Room \"A\"");
}

TEST(StateNoteTest, NoteTypesAndRemoval) {
  absl::StatusOr<XmlDocument> oof = ParseXml(BuildNote("On holiday", "OOF"));
  ASSERT_TRUE(oof.ok());
  EXPECT_EQ(oof->root().ns(), "http://schemas.microsoft.com/2006/09/sip/note");
  EXPECT_EQ(oof->root().Child("body")->Attr("type"), "OOF");
  EXPECT_EQ(oof->root().ChildText("body"), "On holiday");
  absl::StatusOr<XmlDocument> empty = ParseXml(BuildNote(""));
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->root().Child("body"), nullptr);
}

}  // namespace
}  // namespace causeway::sip::lync
