// Roaming contact lists and the SOAP contact-management requests, in the shapes pidgin-sipe 1.25
// sends and parses (src/core/sip-soap.c, sipe-group.c, sipe-buddy.c).

#include "sip/lync/bodies_contacts.h"

#include <string>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/lync/xml.h"

namespace causeway::sip::lync {
namespace {

// How sip-soap.c wraps a request: method element, then deltaNum, inside s:Body.
std::string SipeSoap(std::string_view method, std::string_view fields, int delta) {
  return "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\""
         " xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\">"
         "<s:Body><m:" +
         std::string(method) + ">" + std::string(fields) + "<m:deltaNum>" + std::to_string(delta) +
         "</m:deltaNum></m:" + std::string(method) + "></s:Body></s:Envelope>";
}

TEST(ContactListTest, BuildIsWhatSipeParses) {
  ContactList list;
  list.delta_num = 7;
  list.groups = {{2, "Friends & Family", ""}, {1, "~", ""}};
  list.contacts = {
      {"sip:bob@contoso.com", "Bob \"B\" <Builder>", {2, 1}, true, ""},
      {"carol@contoso.com", "", {}, false, ""},
  };
  NormalizeContactList(list);
  std::string xml = BuildContactList(list);

  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  const XmlElement& root = doc->root();
  EXPECT_EQ(root.name(), "contactList");
  EXPECT_EQ(root.Attr("deltaNum"), "7");
  std::vector<const XmlElement*> groups = root.Children("group");
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0]->Attr("name"), "~");  // default group first
  EXPECT_EQ(groups[0]->Attr("id"), "1");
  EXPECT_EQ(groups[1]->Attr("name"), "Friends & Family");
  EXPECT_EQ(groups[1]->Attr("externalURI"), "");
  std::vector<const XmlElement*> contacts = root.Children("contact");
  ASSERT_EQ(contacts.size(), 2u);
  EXPECT_EQ(contacts[0]->Attr("uri"), "bob@contoso.com");  // SIPE prepends "sip:" itself
  EXPECT_EQ(contacts[0]->Attr("name"), "Bob \"B\" <Builder>");
  EXPECT_EQ(contacts[0]->Attr("groups"), "2 1");
  EXPECT_EQ(contacts[0]->Attr("subscribed"), "true");
  EXPECT_EQ(contacts[1]->Attr("uri"), "carol@contoso.com");
  EXPECT_EQ(contacts[1]->Attr("groups"), "1");  // no group -> "~"
  EXPECT_EQ(contacts[1]->Attr("subscribed"), "false");

  absl::StatusOr<ContactList> back = ParseContactList(xml);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->delta_num, 7u);
  ASSERT_EQ(back->contacts.size(), 2u);
  EXPECT_EQ(back->contacts[0].group_ids, (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(back->contacts[0].name, "Bob \"B\" <Builder>");
}

TEST(ContactListTest, NormalizeAddsDefaultGroupWithFreeId) {
  ContactList list;
  list.delta_num = 0;
  list.groups = {{1, "Work", ""}, {2, "Home", ""}};
  list.contacts = {{"sip:a@x", "", {9}, true, ""},
                   {"sip:", "", {1}, true, ""},  // nothing left once "sip:" is stripped
                   {"sip:b@x", "", {2, 2}, true, ""}};
  NormalizeContactList(list);
  ASSERT_EQ(list.contacts.size(), 2u);
  EXPECT_EQ(list.delta_num, 1u);  // deltaNum MUST be non-zero
  ASSERT_EQ(list.groups.size(), 3u);
  EXPECT_EQ(list.groups[0].name, "~");
  EXPECT_EQ(list.groups[0].id, 3u);
  EXPECT_EQ(list.contacts[0].group_ids, (std::vector<uint32_t>{3}));  // unknown 9 dropped
  EXPECT_EQ(list.contacts[1].group_ids, (std::vector<uint32_t>{2}));  // duplicate dropped
}

TEST(ContactListTest, ParsesOcsExample) {
  // The shape OCS 2007 R2 sends in the NOTIFY of vnd-microsoft-roaming-contacts.
  std::string body =
      "<contactList deltaNum=\"220\" >"
      "<group id=\"1\" name=\"~\" externalURI=\"\" />"
      "<group id=\"2\" name=\"Project\" externalURI=\"\" />"
      "<contact uri=\"bob@contoso.com\" name=\"\" groups=\"1 2\" subscribed=\"true\""
      " externalURI=\"\" />"
      "</contactList>";
  absl::StatusOr<ContactList> list = ParseContactList(body);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->delta_num, 220u);
  ASSERT_EQ(list->groups.size(), 2u);
  EXPECT_EQ(list->groups[1].name, "Project");
  ASSERT_EQ(list->contacts.size(), 1u);
  EXPECT_EQ(list->contacts[0].uri, "bob@contoso.com");
  EXPECT_EQ(list->contacts[0].group_ids, (std::vector<uint32_t>{1, 2}));
}

TEST(ContactListTest, RejectsMalformed) {
  EXPECT_FALSE(ParseContactList("<contactList>").ok());
  EXPECT_FALSE(ParseContactList("<list deltaNum=\"1\"/>").ok());
  EXPECT_FALSE(ParseContactList("<contactList/>").ok());  // deltaNum required
  EXPECT_FALSE(ParseContactList("<contactList deltaNum=\"x\"/>").ok());
  EXPECT_FALSE(
      ParseContactList("<contactList deltaNum=\"1\"><group name=\"a\"/></contactList>").ok());
  EXPECT_FALSE(
      ParseContactList("<contactList deltaNum=\"1\"><contact groups=\"1\"/></contactList>").ok());
  absl::StatusOr<ContactList> bad_groups = ParseContactList(
      "<contactList deltaNum=\"1\"><contact uri=\"a@b\" groups=\"1 x\"/>"
      "</contactList>");
  ASSERT_FALSE(bad_groups.ok());
  EXPECT_EQ(SipCodeOf(bad_groups.status()), 400);
}

TEST(ContactDeltaTest, BuildIsWhatSipeParses) {
  ContactDelta d;
  d.delta_num = 9;
  d.added_groups = {{5, "Partners", ""}};
  d.modified_groups = {{2, "Friends", ""}};
  d.added_contacts = {{"dave@fabrikam.com", "Dave", {5}, true, ""}};
  d.modified_contacts = {{"sip:bob@contoso.com", "Bobby", {1, 5}, true, ""}};
  d.deleted_contacts = {"carol@contoso.com"};
  d.deleted_groups = {3};
  std::string xml = BuildContactDelta(d);
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  const XmlElement& root = doc->root();
  // sipe-notify.c sipe_process_roaming_contacts(), contactDelta branch.
  EXPECT_EQ(root.name(), "contactDelta");
  EXPECT_EQ(root.Attr("deltaNum"), "9");
  EXPECT_EQ(root.Child("addedGroup")->Attr("id"), "5");
  EXPECT_EQ(root.Child("modifiedGroup")->Attr("name"), "Friends");
  // Delta URIs are used as they are by SIPE: always with "sip:".
  EXPECT_EQ(root.Child("addedContact")->Attr("uri"), "sip:dave@fabrikam.com");
  EXPECT_EQ(root.Child("modifiedContact")->Attr("uri"), "sip:bob@contoso.com");
  EXPECT_EQ(root.Child("modifiedContact")->Attr("groups"), "1 5");
  EXPECT_EQ(root.Child("deletedContact")->Attr("uri"), "sip:carol@contoso.com");
  EXPECT_EQ(root.Child("deletedGroup")->Attr("id"), "3");
  // SIPE's processing order: groups added/modified, contacts added/modified/deleted, groups
  // deleted.
  std::vector<std::string_view> order;
  for (const XmlElement& e : root.children()) order.push_back(e.name());
  EXPECT_EQ(order,
            (std::vector<std::string_view>{"addedGroup", "modifiedGroup", "addedContact",
                                           "modifiedContact", "deletedContact", "deletedGroup"}));

  absl::StatusOr<ContactDelta> back = ParseContactDelta(xml);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->delta_num, 9u);
  ASSERT_EQ(back->modified_contacts.size(), 1u);
  EXPECT_EQ(back->modified_contacts[0].group_ids, (std::vector<uint32_t>{1, 5}));
  EXPECT_EQ(back->deleted_contacts, (std::vector<std::string>{"sip:carol@contoso.com"}));
  EXPECT_EQ(back->deleted_groups, (std::vector<uint32_t>{3}));
  EXPECT_FALSE(
      ParseContactDelta("<contactDelta deltaNum=\"1\"><deletedGroup/></contactDelta>").ok());
  EXPECT_FALSE(ParseContactDelta("<contactDelta><deletedContact uri=\"a\"/></contactDelta>").ok());
  EXPECT_FALSE(ParseContactDelta("<contactList deltaNum=\"1\"/>").ok());
}

TEST(SoapTest, SetContactAsSipeSendsIt) {
  // sipe-group.c send_buddy_update(), alias escaped with g_markup_printf_escaped.
  std::string body = SipeSoap("setContact",
                              "<m:displayName>Bob &amp; Co</m:displayName>"
                              "<m:groups>1 3</m:groups>"
                              "<m:subscribed>true</m:subscribed>"
                              "<m:URI>sip:bob@contoso.com</m:URI>"
                              "<m:externalURI />",
                              12);
  absl::StatusOr<SoapRequest> req = ParseSoapRequest(body);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->method, SoapMethod::kSetContact);
  EXPECT_EQ(req->method_name, "setContact");
  EXPECT_EQ(req->delta_num, 12u);
  EXPECT_EQ(req->display_name, "Bob & Co");
  EXPECT_EQ(req->group_ids, (std::vector<uint32_t>{1, 3}));
  EXPECT_EQ(req->subscribed, true);
  EXPECT_EQ(req->uri, "sip:bob@contoso.com");
  EXPECT_EQ(StripSipScheme(req->uri), "bob@contoso.com");
  EXPECT_EQ(WithSipScheme("bob@contoso.com"), "sip:bob@contoso.com");
  EXPECT_EQ(WithSipScheme("SIP:bob@contoso.com"), "SIP:bob@contoso.com");
  EXPECT_EQ(req->external_uri, "");
}

TEST(SoapTest, GroupRequests) {
  absl::StatusOr<SoapRequest> add =
      ParseSoapRequest(SipeSoap("addGroup", "<m:name>~</m:name><m:externalURI />", 3));
  ASSERT_TRUE(add.ok()) << add.status();
  EXPECT_EQ(add->method, SoapMethod::kAddGroup);
  EXPECT_EQ(add->group_name, "~");
  EXPECT_EQ(add->delta_num, 3u);

  absl::StatusOr<SoapRequest> modify = ParseSoapRequest(
      SipeSoap("modifyGroup",
               "<m:groupID>4</m:groupID><m:name>New &lt;name&gt;</m:name><m:externalURI />", 4));
  ASSERT_TRUE(modify.ok()) << modify.status();
  EXPECT_EQ(modify->method, SoapMethod::kModifyGroup);
  EXPECT_EQ(modify->group_id, 4u);
  EXPECT_EQ(modify->group_name, "New <name>");

  absl::StatusOr<SoapRequest> del =
      ParseSoapRequest(SipeSoap("deleteGroup", "<m:groupID>4</m:groupID>", 5));
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->method, SoapMethod::kDeleteGroup);
  EXPECT_EQ(del->group_id, 4u);

  absl::StatusOr<SoapRequest> del_contact =
      ParseSoapRequest(SipeSoap("deleteContact", "<m:URI>sip:bob@contoso.com</m:URI>", 6));
  ASSERT_TRUE(del_contact.ok()) << del_contact.status();
  EXPECT_EQ(del_contact->method, SoapMethod::kDeleteContact);
  EXPECT_EQ(del_contact->uri, "sip:bob@contoso.com");

  absl::StatusOr<SoapRequest> ace = ParseSoapRequest(SipeSoap(
      "setACE", "<m:type>USER</m:type><m:mask>sip:bob@contoso.com</m:mask><m:rights>AA</m:rights>",
      1));
  ASSERT_TRUE(ace.ok()) << ace.status();
  EXPECT_EQ(ace->method, SoapMethod::kSetAce);
  EXPECT_EQ(ace->ace_rights, "AA");
}

TEST(SoapTest, DirectorySearchIsOtherWithoutDelta) {
  std::string body =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\""
      " xmlns:m=\"http://schemas.microsoft.com/winrtc/2002/11/sip\"><s:Body>"
      "<m:directorySearch><m:filter m:href=\"#searchArray\"/><m:maxResults>100</m:maxResults>"
      "</m:directorySearch><m:Array m:id=\"searchArray\"><m:row m:attrib=\"givenName\""
      " m:value=\"Bob\"/></m:Array></s:Body></s:Envelope>";
  absl::StatusOr<SoapRequest> req = ParseSoapRequest(body);
  ASSERT_TRUE(req.ok()) << req.status();
  EXPECT_EQ(req->method, SoapMethod::kOther);
  EXPECT_EQ(req->method_name, "directorySearch");
  EXPECT_FALSE(req->delta_num.has_value());
}

TEST(SoapTest, RejectsMalformed) {
  EXPECT_FALSE(ParseSoapRequest("<Envelope/>").ok());
  EXPECT_FALSE(ParseSoapRequest("<Envelope><Body/></Envelope>").ok());
  EXPECT_FALSE(ParseSoapRequest("<notsoap><Body><setContact/></Body></notsoap>").ok());
  EXPECT_FALSE(ParseSoapRequest(SipeSoap("setContact", "<m:displayName/>", 1)).ok());  // no URI
  EXPECT_FALSE(ParseSoapRequest(SipeSoap("deleteGroup", "<m:groupID>x</m:groupID>", 1)).ok());
  EXPECT_FALSE(ParseSoapRequest(SipeSoap("deleteGroup", "", 1)).ok());
  EXPECT_FALSE(ParseSoapRequest(SipeSoap("modifyGroup", "<m:groupID>1</m:groupID>", 1)).ok());
  EXPECT_FALSE(ParseSoapRequest(SipeSoap("addGroup", "<m:name></m:name>", 1)).ok());
  EXPECT_FALSE(
      ParseSoapRequest(SipeSoap("setContact", "<m:URI>sip:a@b</m:URI><m:groups>1,2</m:groups>", 1))
          .ok());
  EXPECT_FALSE(
      ParseSoapRequest(
          SipeSoap("setContact", "<m:URI>sip:a@b</m:URI><m:subscribed>maybe</m:subscribed>", 1))
          .ok());
  std::string bad_delta = SipeSoap("deleteContact", "<m:URI>sip:a@b</m:URI>", 1);
  bad_delta.replace(bad_delta.find(">1<"), 3, ">-1<");
  EXPECT_FALSE(ParseSoapRequest(bad_delta).ok());
}

TEST(SoapTest, AddGroupResponseHasWhatSipeReads) {
  std::string xml = BuildAddGroupResponse(42);
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << xml;
  // sipe-group.c process_add_group_response(): sipe_xml_child(xml, "Body/addGroup/groupID").
  EXPECT_EQ(doc->root().name(), "Envelope");
  EXPECT_EQ(doc->root().ns(), "http://schemas.xmlsoap.org/soap/envelope/");
  EXPECT_EQ(doc->root().ChildText("Body/addGroup/groupID"), "42");
}

}  // namespace
}  // namespace causeway::sip::lync
