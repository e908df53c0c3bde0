// The small expat DOM: namespaces, byte ranges, limits, unsafe constructs; the writer's escaping.

#include "sip/lync/xml.h"

#include <string>

#include "core/status.h"
#include "gtest/gtest.h"

namespace causeway::sip::lync {
namespace {

void ExpectRejected(std::string_view body, const XmlLimits& limits = {}) {
  absl::StatusOr<XmlDocument> doc = ParseXml(body, limits);
  ASSERT_FALSE(doc.ok()) << body;
  EXPECT_EQ(doc.status().code(), absl::StatusCode::kInvalidArgument) << doc.status();
  EXPECT_EQ(SipCodeOf(doc.status()), 400);
}

TEST(XmlTest, NamespacesAttributesText) {
  std::string body =
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
      "<publish xmlns=\"http://schemas.microsoft.com/2006/09/sip/rich-presence\">"
      "<publications uri=\"sip:alice@contoso.com\">"
      "<publication categoryName=\"state\" instance=\"1\">"
      "<state xmlns=\"http://schemas.microsoft.com/2006/09/sip/state\""
      " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"userState\""
      " manual=\"true\"><availability>3500</availability><!-- c --><![CDATA[<x>]]></state>"
      "</publication></publications></publish>";
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  const XmlElement& root = doc->root();
  EXPECT_EQ(root.name(), "publish");
  EXPECT_EQ(root.ns(), "http://schemas.microsoft.com/2006/09/sip/rich-presence");
  const XmlElement* pubs = root.Child("publications");
  ASSERT_NE(pubs, nullptr);
  EXPECT_EQ(pubs->ns(), root.ns());  // default namespace inherited
  EXPECT_EQ(pubs->Attr("uri"), "sip:alice@contoso.com");
  const XmlElement* state = root.Child("publications/publication/state");
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->ns(), "http://schemas.microsoft.com/2006/09/sip/state");
  EXPECT_EQ(state->AttrNs("http://www.w3.org/2001/XMLSchema-instance", "type"), "userState");
  EXPECT_EQ(state->Attr("type"), "userState");
  EXPECT_EQ(state->Attr("manual"), "true");
  EXPECT_FALSE(state->Attr("missing").has_value());
  EXPECT_EQ(state->ChildText("availability"), "3500");
  EXPECT_EQ(state->text(), "<x>");  // CDATA is text; comments are not
  EXPECT_EQ(root.Child("publications/nothing"), nullptr);
}

TEST(XmlTest, ByteRangesAreVerbatim) {
  std::string inner_state =
      "<state xmlns=\"urn:s\" a='1'  >\n  <availability>3500</availability>\n"
      "  <e/><f  x=\"&amp;\" /></state>";
  std::string body = "<r><p n=\"1\">" + inner_state + "</p><p n=\"2\"/><p n=\"3\"></p></r>";
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  std::vector<const XmlElement*> ps = doc->root().Children("p");
  ASSERT_EQ(ps.size(), 3u);
  EXPECT_EQ(ps[0]->inner_xml(), inner_state);
  EXPECT_EQ(ps[0]->outer_xml(), "<p n=\"1\">" + inner_state + "</p>");
  EXPECT_EQ(ps[0]->Child("state")->outer_xml(), inner_state);
  EXPECT_EQ(ps[0]->Child("state/e")->outer_xml(), "<e/>");
  EXPECT_EQ(ps[0]->Child("state/f")->outer_xml(), "<f  x=\"&amp;\" />");
  EXPECT_EQ(ps[0]->Child("state/f")->Attr("x"), "&");
  EXPECT_EQ(ps[1]->outer_xml(), "<p n=\"2\"/>");
  EXPECT_EQ(ps[1]->inner_xml(), "");
  EXPECT_EQ(ps[2]->outer_xml(), "<p n=\"3\"></p>");
  EXPECT_EQ(ps[2]->inner_xml(), "");
  EXPECT_EQ(doc->root().outer_xml(), body);

  // Views stay valid when the document moves.
  XmlDocument moved = std::move(*doc);
  EXPECT_EQ(moved.root().Children("p")[0]->inner_xml(), inner_state);
}

TEST(XmlTest, MultiByteUtf8KeepsRanges) {
  std::string body = "<r><n>caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80</n><m/></r>";
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().ChildText("n"), "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(doc->root().Child("m")->outer_xml(), "<m/>");
}

TEST(XmlTest, ByteOrderMarkAndWhitespaceKeepRanges) {
  std::string body = "\xEF\xBB\xBF\r\n  <r a=\"1\"><c/></r>\r\n";
  absl::StatusOr<XmlDocument> doc = ParseXml(body);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().outer_xml(), "<r a=\"1\"><c/></r>");
  EXPECT_EQ(doc->root().inner_xml(), "<c/>");
  EXPECT_EQ(doc->root().Child("c")->outer_xml(), "<c/>");
}

TEST(XmlTest, EncodingDeclarationDoesNotOverrideUtf8) {
  // Latin-1 declared, UTF-8 bytes given: read as UTF-8.
  absl::StatusOr<XmlDocument> doc =
      ParseXml("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xC3\xA9</r>");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().text(), "\xC3\xA9");
  // A Latin-1 byte is not UTF-8: rejected whatever the declaration says.
  ExpectRejected("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><r>\xE9</r>");
}

TEST(XmlTest, RejectsMalformed) {
  ExpectRejected("");
  ExpectRejected("   ");
  ExpectRejected("<a>");
  ExpectRejected("<a><b></a>");
  ExpectRejected("<a></a><b/>");
  ExpectRejected("<a x=\"1\" x=\"2\"/>");
  ExpectRejected("<a>&unknown;</a>");
  ExpectRejected("<a>&#1;</a>");
  ExpectRejected("<p:a/>");  // unbound prefix
  ExpectRejected("text only");
  ExpectRejected(std::string("<a>\0</a>", 8));
}

TEST(XmlTest, RejectsUnsafeConstructs) {
  ExpectRejected("<!DOCTYPE a><a/>");
  ExpectRejected(
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>");
  ExpectRejected("<!DOCTYPE a SYSTEM \"file:///etc/passwd\"><a/>");
  ExpectRejected("<?pi data?><a/>");
  ExpectRejected("<a><?pi data?></a>");
  ExpectRejected("<a/><?pi data?>");
}

TEST(XmlTest, RejectsInvalidUtf8) {
  ExpectRejected("<a>\xFF</a>");
  ExpectRejected("<a>\xC0\xAF</a>");          // overlong '/'
  ExpectRejected("<a>\xED\xA0\x80</a>");      // surrogate
  ExpectRejected("<a>\xF4\x90\x80\x80</a>");  // > U+10FFFF
  ExpectRejected("<a>\xE2\x82</a>");          // truncated
  ExpectRejected("<a x=\"\xC3\"/>");
  EXPECT_TRUE(IsValidUtf8("ok \xC3\xA9"));
  EXPECT_FALSE(IsValidUtf8("\x80"));
}

TEST(XmlTest, Limits) {
  XmlLimits limits;
  limits.max_depth = 8;
  std::string deep;
  for (int i = 0; i < 9; ++i) deep += "<a>";
  for (int i = 0; i < 9; ++i) deep += "</a>";
  ExpectRejected(deep, limits);
  std::string ok;
  for (int i = 0; i < 8; ++i) ok += "<a>";
  for (int i = 0; i < 8; ++i) ok += "</a>";
  EXPECT_TRUE(ParseXml(ok, limits).ok());

  // Depth bomb with default limits: never recurses, just fails.
  std::string bomb;
  for (int i = 0; i < 100000; ++i) bomb += "<a>";
  ExpectRejected(bomb, XmlLimits{.max_bytes = 1 << 20});

  limits = XmlLimits{};
  limits.max_elements = 10;
  std::string wide = "<r>";
  for (int i = 0; i < 10; ++i) wide += "<e/>";
  wide += "</r>";
  ExpectRejected(wide, limits);

  limits = XmlLimits{};
  limits.max_bytes = 16;
  ExpectRejected("<r>0123456789abcdef</r>", limits);

  limits = XmlLimits{};
  limits.max_attributes = 2;
  ExpectRejected("<r a=\"1\" b=\"2\" c=\"3\"/>", limits);
}

TEST(XmlTest, WriterEscapesAndRoundTrips) {
  std::string nasty = "a&b<c>d\"e'f\tg\nh\ri";
  XmlWriter w;
  w.Open("root").Attr("v", nasty).Attr("n", int64_t{-42});
  w.Open("empty").Close();
  w.Element("t", nasty);
  w.Open("raw").Raw("<x y=\"1\"/>").Close();
  std::string xml = std::move(w).Finish();
  EXPECT_EQ(xml.find("<empty/>") != std::string::npos, true) << xml;
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status() << " " << xml;
  EXPECT_EQ(doc->root().Attr("v"), nasty);
  EXPECT_EQ(doc->root().Attr("n"), "-42");
  EXPECT_EQ(doc->root().ChildText("t"), nasty);
  EXPECT_EQ(doc->root().Child("raw/x")->Attr("y"), "1");
}

TEST(XmlTest, WriterSanitizesWhatXmlCannotCarry) {
  std::string bad = std::string("x\x01y\xFFz\0w", 7);
  XmlWriter w;
  w.Open("r").Attr("a", bad).Text(bad);
  std::string xml = std::move(w).Finish();
  absl::StatusOr<XmlDocument> doc = ParseXml(xml);
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->root().text(), "x\xEF\xBF\xBDy\xEF\xBF\xBDz\xEF\xBF\xBDw");
  EXPECT_EQ(doc->root().Attr("a"), doc->root().text());
}

TEST(XmlTest, IsXmlName) {
  EXPECT_TRUE(IsXmlName("focusFactoryUri"));
  EXPECT_TRUE(IsXmlName("m:groupID"));
  EXPECT_TRUE(IsXmlName("_a-b.c1"));
  EXPECT_FALSE(IsXmlName(""));
  EXPECT_FALSE(IsXmlName("1abc"));
  EXPECT_FALSE(IsXmlName("a b"));
  EXPECT_FALSE(IsXmlName("a>"));
}

TEST(XmlTest, WriterFinishClosesOpenElements) {
  XmlWriter w;
  w.Open("a").Open("b").Text("t");
  EXPECT_EQ(w.depth(), 2u);
  EXPECT_EQ(std::move(w).Finish(), "<a><b>t</b></a>");
}

}  // namespace
}  // namespace causeway::sip::lync
