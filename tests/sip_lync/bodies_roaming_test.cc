// roaming-self (categories, ACL containers, subscribers), setContainerMembers, setSubscribers,
// wpending and provisioning v2 — shapes from MS-PRES / MS-SIPRE and pidgin-sipe 1.25
// (src/core/sipe-ocs2007.c, sipe-notify.c, sipe-subscriptions.c).

#include "sip/lync/bodies_roaming.h"

#include <string>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {
namespace {

RoamingSelf AliceSelf() {
  RoamingSelf self;
  AggregateState busy;
  busy.availability = 6500;
  CategoriesDocument cats;
  cats.uri = "sip:alice@contoso.com";
  cats.categories.push_back(
      {"state", 0, 2, 4, "2026-11-25T12:00:00.000Z", "", BuildAggregateState(busy)});
  cats.categories.push_back(
      {"note", 0, 200, 1, "2026-11-25T12:00:00.000Z", "static", BuildNote("hi")});
  self.categories = cats;
  self.containers = std::vector<Container>{
      {kContainerPublic, 2, {{std::string(kMemberFederated), ""}}},
      {kContainerColleagues, 1, {{std::string(kMemberSameEnterprise), ""}}},
      {kContainerBlocked, 3, {{std::string(kMemberUser), "mallory@contoso.com"}}},
      {kContainerPersonal, 0, {{std::string(kMemberDomain), "fabrikam.com"}}},
  };
  self.subscribers = std::vector<Subscriber>{
      {"bob@contoso.com", "Bob", false, "sameEnterprise"},
      {"carol@fabrikam.com", "", true, ""},
  };
  return self;
}

TEST(RoamingSelfTest, BuildIsWhatSipeParses) {
  std::string xml = BuildRoamingSelf(AliceSelf());
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  const XmlElement& root = doc->root();
  // sipe_ocs2007_process_roaming_self(): categories/category, containers/container(+member),
  // subscribers/subscriber@user/displayName/acknowledged.
  EXPECT_EQ(root.name(), "roamingData");
  std::vector<const XmlElement*> cats = root.Child("categories")->Children("category");
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_EQ(cats[0]->Attr("container"), "2");
  EXPECT_EQ(cats[0]->Attr("instance"), "0");
  EXPECT_EQ(cats[0]->Child("state")->Attr("type"), "aggregateState");
  EXPECT_EQ(cats[0]->ChildText("state/availability"), "6500");
  EXPECT_EQ(cats[1]->ChildText("note/body"), "hi");
  std::vector<const XmlElement*> containers = root.Child("containers")->Children("container");
  ASSERT_EQ(containers.size(), 4u);
  EXPECT_EQ(containers[2]->Attr("id"), "32000");
  EXPECT_EQ(containers[2]->Attr("version"), "3");
  EXPECT_EQ(containers[2]->Child("member")->Attr("type"), "user");
  EXPECT_EQ(containers[2]->Child("member")->Attr("value"), "mallory@contoso.com");
  EXPECT_FALSE(containers[0]->Child("member")->Attr("value").has_value());
  std::vector<const XmlElement*> subs = root.Child("subscribers")->Children("subscriber");
  ASSERT_EQ(subs.size(), 2u);
  EXPECT_EQ(subs[0]->Attr("user"), "bob@contoso.com");
  EXPECT_EQ(subs[0]->Attr("acknowledged"), "false");
  EXPECT_EQ(subs[0]->Attr("displayName"), "Bob");

  absl::StatusOr<RoamingSelf> back = ParseRoamingSelf(xml);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->categories && back->containers && back->subscribers);
  EXPECT_EQ(back->categories->categories[1].xml, AliceSelf().categories->categories[1].xml);
  EXPECT_EQ((*back->containers)[3].members[0],
            (ContainerMember{std::string(kMemberDomain), "fabrikam.com"}));
  EXPECT_EQ((*back->subscribers)[1].user, "carol@fabrikam.com");
  EXPECT_TRUE((*back->subscribers)[1].acknowledged);
}

TEST(RoamingSelfTest, SectionsAreOptional) {
  RoamingSelf only_subscribers;
  only_subscribers.subscribers = std::vector<Subscriber>{{"bob@contoso.com", "", false, ""}};
  std::string xml = BuildRoamingSelf(only_subscribers);
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->root().Child("categories"), nullptr);
  EXPECT_EQ(doc->root().Child("containers"), nullptr);
  absl::StatusOr<RoamingSelf> back = ParseRoamingSelf(xml);
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->categories.has_value());
  EXPECT_FALSE(back->containers.has_value());
  ASSERT_TRUE(back->subscribers.has_value());
}

TEST(RoamingSelfTest, ParsesPrefixesDeclaredOnTheRoot) {
  // xsi bound on roamingData, used inside a category: fine as one document.
  std::string body =
      "<roamingData xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-self\""
      " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">"
      "<categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\""
      " uri=\"sip:alice@contoso.com\"><category name=\"state\" instance=\"1\" container=\"2\""
      " version=\"1\" publishTime=\"2008-01-11T19:13:31.283\"><state xsi:type=\"userState\">"
      "<availability>3500</availability></state></category></categories></roamingData>";
  absl::StatusOr<RoamingSelf> self = ParseRoamingSelf(body);
  ASSERT_TRUE(self.ok()) << self.status();
  ASSERT_EQ(self->categories->categories.size(), 1u);
  EXPECT_EQ(self->categories->categories[0].instance, 1u);
}

TEST(RoamingSelfTest, RejectsMalformed) {
  EXPECT_FALSE(ParseRoamingSelf("<roaming/>").ok());
  EXPECT_FALSE(
      ParseRoamingSelf("<roamingData><containers><container id=\"1\"/></containers></roamingData>")
          .ok());
  EXPECT_FALSE(ParseRoamingSelf("<roamingData><containers><container id=\"1\" version=\"0\">"
                                "<member type=\"alien\"/></container></containers></roamingData>")
                   .ok());
  EXPECT_FALSE(ParseRoamingSelf("<roamingData><containers><container id=\"1\" version=\"0\">"
                                "<member type=\"user\"/></container></containers></roamingData>")
                   .ok());
  EXPECT_FALSE(
      ParseRoamingSelf("<roamingData><subscribers><subscriber/></subscribers></roamingData>").ok());
}

TEST(RoamingListTest, ParsesSipeSubscribe) {
  std::string body =
      "<roamingList xmlns=\"http://schemas.microsoft.com/2006/09/sip/roaming-list-manager\">"
      "<roaming type=\"categories\"/><roaming type=\"containers\"/>"
      "<roaming type=\"subscribers\"/></roamingList>";
  absl::StatusOr<std::vector<std::string>> types = ParseRoamingList(body);
  ASSERT_TRUE(types.ok()) << types.status();
  EXPECT_EQ(*types, (std::vector<std::string>{"categories", "containers", "subscribers"}));
  EXPECT_FALSE(ParseRoamingList("<roamingList><roaming/></roamingList>").ok());
  EXPECT_FALSE(ParseRoamingList("<other/>").ok());
}

TEST(ContainerMembersTest, ParsesSipeRequest) {
  // sipe_send_container_members_prepare() + sipe_send_set_container_members(): block a user
  // and open the company / federated access levels in one request.
  std::string body =
      "<setContainerMembers "
      "xmlns=\"http://schemas.microsoft.com/2006/09/sip/container-management\">"
      "<container id=\"32000\" version=\"3\"><member action=\"add\" type=\"user\""
      " value=\"mallory@contoso.com\"/></container>"
      "<container id=\"200\" version=\"0\"><member action=\"add\" type=\"sameEnterprise\"/>"
      "</container>"
      "<container id=\"100\" version=\"0\"><member action=\"remove\" type=\"federated\"/>"
      "</container></setContainerMembers>";
  absl::StatusOr<std::vector<ContainerUpdate>> updates = ParseSetContainerMembers(body);
  ASSERT_TRUE(updates.ok()) << updates.status();
  ASSERT_EQ(updates->size(), 3u);
  EXPECT_EQ((*updates)[0].id, 32000u);
  EXPECT_EQ((*updates)[0].version, 3u);
  ASSERT_EQ((*updates)[0].changes.size(), 1u);
  EXPECT_EQ((*updates)[0].changes[0].action, "add");
  EXPECT_EQ((*updates)[0].changes[0].member.value, "mallory@contoso.com");
  EXPECT_EQ((*updates)[1].changes[0].member.type, "sameEnterprise");
  EXPECT_EQ((*updates)[2].changes[0].action, "remove");

  absl::StatusOr<std::vector<ContainerUpdate>> again =
      ParseSetContainerMembers(BuildSetContainerMembers(*updates));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 3u);
  EXPECT_EQ((*again)[0].changes[0].member, (*updates)[0].changes[0].member);
}

TEST(ContainerMembersTest, RejectsMalformed) {
  EXPECT_FALSE(ParseSetContainerMembers("<setContainerMembers/>").ok());
  EXPECT_FALSE(ParseSetContainerMembers(
                   "<setContainerMembers><container id=\"1\" version=\"0\"><member action=\"drop\""
                   " type=\"federated\"/></container></setContainerMembers>")
                   .ok());
  EXPECT_FALSE(ParseSetContainerMembers(
                   "<setContainerMembers><container id=\"1\" version=\"0\"><member action=\"add\""
                   " type=\"domain\"/></container></setContainerMembers>")
                   .ok());
  EXPECT_FALSE(ParseSetContainerMembers(
                   "<setContainerMembers><container version=\"0\"/></setContainerMembers>")
                   .ok());
}

TEST(SubscribersTest, ParsesSipeAcknowledge) {
  std::string body =
      "<setSubscribers xmlns=\"http://schemas.microsoft.com/2006/09/sip/presence-subscribers\">"
      "<subscriber user=\"bob@contoso.com\" acknowledged=\"true\"/></setSubscribers>";
  absl::StatusOr<std::vector<Subscriber>> subs = ParseSetSubscribers(body);
  ASSERT_TRUE(subs.ok()) << subs.status();
  ASSERT_EQ(subs->size(), 1u);
  EXPECT_EQ((*subs)[0].user, "bob@contoso.com");
  EXPECT_TRUE((*subs)[0].acknowledged);
  EXPECT_FALSE(ParseSetSubscribers("<subscribers/>").ok());
  EXPECT_FALSE(
      ParseSetSubscribers(
          "<setSubscribers><subscriber user=\"a@b\" acknowledged=\"perhaps\"/></setSubscribers>")
          .ok());
}

TEST(WatchersTest, BuildIsWhatSipeParses) {
  std::string xml = BuildWatcherList({{"sip:bob@contoso.com", "Bob & Co"}, {"sip:x@y", ""}});
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status();
  std::vector<const XmlElement*> w = doc->root().Children("watcher");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0]->Attr("uri"), "sip:bob@contoso.com");
  EXPECT_EQ(w[0]->Attr("displayName"), "Bob & Co");
  EXPECT_FALSE(w[1]->Attr("displayName").has_value());
}

TEST(ProvisioningTest, ParsesSipeRequest) {
  std::string body =
      "<provisioningGroupList xmlns=\"http://schemas.microsoft.com/2006/09/sip/"
      "provisioninggrouplist\">"
      "<provisioningGroup name=\"ServerConfiguration\"/>"
      "<provisioningGroup name=\"meetingPolicy\"/>"
      "<provisioningGroup name=\"persistentChatConfiguration\"/>"
      "</provisioningGroupList>";
  absl::StatusOr<std::vector<std::string>> groups = ParseProvisioningGroupList(body);
  ASSERT_TRUE(groups.ok()) << groups.status();
  EXPECT_EQ(*groups, (std::vector<std::string>{"ServerConfiguration", "meetingPolicy",
                                               "persistentChatConfiguration"}));
  EXPECT_FALSE(ParseProvisioningGroupList("<provisioningGroupList><provisioningGroup/>"
                                          "</provisioningGroupList>")
                   .ok());
}

TEST(ProvisioningTest, BuildIsWhatSipeParses) {
  ProvisioningV2 p;
  ServerConfiguration s;
  s.focus_factory_uri = "sip:alice@contoso.com;gruu;opaque=app:conf:focusfactory";
  s.mras_uri = "sip:mras@edge.contoso.com";
  s.abs_internal_server_url = "https://pool.contoso.com/abs/int/handler";
  p.server_configuration = s;
  p.groups.push_back(
      {"meetingPolicy", {{"AllowIPAudio", "true"}, {"bad name>", "x"}, {"MaxMeetingSize", "250"}}});
  std::string xml = BuildProvisioningV2(p);
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  // sipe_process_provisioning_v2(): provisionGroup[name=ServerConfiguration]/focusFactoryUri ...
  std::vector<const XmlElement*> groups = doc->root().Children("provisionGroup");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0]->Attr("name"), "ServerConfiguration");
  EXPECT_EQ(groups[0]->ChildText("focusFactoryUri"), s.focus_factory_uri);
  EXPECT_EQ(groups[0]->ChildText("mrasUri"), s.mras_uri);
  EXPECT_EQ(groups[0]->ChildText("absInternalServerUrl"), s.abs_internal_server_url);
  EXPECT_EQ(groups[0]->Child("dlxInternalUrl"), nullptr);  // empty fields are omitted
  EXPECT_EQ(groups[1]->Attr("name"), "meetingPolicy");
  EXPECT_EQ(groups[1]->ChildText("MaxMeetingSize"), "250");
  EXPECT_EQ(groups[1]->children().size(), 2u);  // the invalid name was left out
}

}  // namespace
}  // namespace causeway::sip::lync
