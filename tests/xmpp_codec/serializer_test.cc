// The element model and the serializer: escaping, where xmlns is written, prefixes, stream
// header/footer, and round trips through the parser.

#include "xmpp/codec/serializer.h"

#include <string>

#include "gtest/gtest.h"
#include "tests/xmpp_codec/recorder.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::xmpp {
namespace {

using testing::Recorder;

StreamHeader ClientHeader() {
  StreamHeader h;
  h.content_ns = kNsClient;
  h.to = "xmpp.test";
  h.from = "lync.test";
  h.id = "s-1";
  h.version = "1.0";
  h.lang = "en";
  return h;
}

// Writes `stanzas` into a stream opened with `header` and parses it back.
std::vector<Element> ReParse(const StreamHeader& header, const std::vector<Element>& stanzas,
                             StreamHeader* parsed_header = nullptr) {
  std::string xml = StreamHeaderXml(header);
  for (const Element& e : stanzas) AppendXml(e, &xml, StreamScope(header));
  xml += kStreamFooter;
  Recorder r;
  StreamParser parser(r);
  absl::Status s = parser.Feed(xml);
  EXPECT_TRUE(s.ok()) << s << "\n" << xml;
  EXPECT_EQ(r.events.back(), "close") << xml;
  if (parsed_header != nullptr && !r.headers.empty()) *parsed_header = r.headers[0];
  return r.stanzas;
}

TEST(SerializerTest, EscapesTextAndAttributes) {
  Element m(kNsClient, "message");
  m.SetAttr("id", "a&b<c>d\"e'f\tg\nh\ri");
  m.AddChild(kNsClient, "body").SetText("1 < 2 && 3 > 2 \"q\" 'a'\r\n");
  EXPECT_EQ(ToXml(m, {kNsClient}),
            "<message id='a&amp;b&lt;c&gt;d&quot;e&apos;f&#9;g&#10;h&#13;i'>"
            "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 \"q\" 'a'&#13;\n</body></message>");
}

TEST(SerializerTest, CharactersXmlCannotCarryBecomeReplacementCharacters) {
  Element body(kNsClient, "body");
  body.SetText(
      std::string("a\x01z\xFF"
                  "b\xEF\xBF\xBF"
                  "c\xE2\x98\xBA",
                  12));
  EXPECT_EQ(ToXml(body, {kNsClient}),
            "<body>a\xEF\xBF\xBDz\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c\xE2\x98\xBA</body>");
}

TEST(SerializerTest, XmlnsOnlyWhereTheNamespaceChanges) {
  Element m =
      MakeStanza(StanzaKind::kMessage, kNsClient, "chat", "bob@xmpp.test", "alice@lync.test");
  m.AddChild(kNsClient, "body").SetText("hi");
  m.AddChild("http://jabber.org/protocol/chatstates", "active");
  Element& html = m.AddChild("http://jabber.org/protocol/xhtml-im", "html");
  html.AddChild("http://www.w3.org/1999/xhtml", "body")
      .AddChild("http://www.w3.org/1999/xhtml", "p");
  EXPECT_EQ(ToXml(m, {kNsClient}),
            "<message from='alice@lync.test' to='bob@xmpp.test' type='chat'><body>hi</body>"
            "<active xmlns='http://jabber.org/protocol/chatstates'/>"
            "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
            "<body xmlns='http://www.w3.org/1999/xhtml'><p/></body></html></message>");
  // Outside a stream the content namespace is declared once, on the stanza.
  EXPECT_EQ(ToXml(m).substr(0, 32), "<message xmlns='jabber:client' f");
  // An element without namespace inside one with a default namespace undeclares it.
  Element x(kNsClient, "x");
  x.AddChild("", "plain");
  EXPECT_EQ(ToXml(x, {kNsClient}), "<x><plain xmlns=''/></x>");
}

TEST(SerializerTest, StreamAndDialbackPrefixes) {
  StreamHeader s2s;
  s2s.content_ns = kNsServer;
  s2s.prefixes.emplace_back("db", std::string(kNsDialback));
  Element error = MakeStreamError(StreamErrorCondition::kHostUnknown);
  EXPECT_EQ(ToXml(error, StreamScope(s2s)),
            "<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
            "</stream:error>");
  EXPECT_EQ(ToXml(error),
            "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>"
            "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
  Element result(kNsDialback, "result");
  result.SetAttr("from", "lync.test").SetAttr("to", "xmpp.test").SetText("key");
  EXPECT_EQ(ToXml(result, StreamScope(s2s)),
            "<db:result from='lync.test' to='xmpp.test'>key</db:result>");
  StreamHeader no_db = s2s;
  no_db.prefixes.clear();
  EXPECT_EQ(ToXml(result, StreamScope(no_db)),
            "<db:result xmlns:db='jabber:server:dialback' from='lync.test' to='xmpp.test'>key"
            "</db:result>");
}

TEST(SerializerTest, StreamHeaderRoundTrip) {
  StreamHeader h;
  h.content_ns = kNsServer;
  h.from = "lync.test";
  h.to = "xmpp.test";
  h.id = "abc'\"";
  h.version = "1.0";
  h.lang = "en";
  h.prefixes.emplace_back("db", std::string(kNsDialback));
  h.other_attributes.push_back(Attribute{"", "extra", "v"});
  h.other_attributes.push_back(Attribute{"urn:example", "flag", "1"});
  std::string xml = StreamHeaderXml(h);
  EXPECT_EQ(xml.rfind("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                      "xmlns:stream='http://etherx.jabber.org/streams' "
                      "xmlns:db='jabber:server:dialback' from='lync.test' to='xmpp.test'",
                      0),
            0u)
      << xml;
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(xml).ok()) << parser.status();
  ASSERT_EQ(r.headers.size(), 1u);
  StreamHeader parsed = r.headers[0];
  // The generated prefix for urn:example is declared too; drop it before comparing.
  ASSERT_EQ(parsed.prefixes.size(), 2u);
  EXPECT_EQ(parsed.prefixes[1].second, "urn:example");
  parsed.prefixes.pop_back();
  EXPECT_EQ(parsed, h);
  EXPECT_EQ(kStreamFooter, "</stream:stream>");
}

TEST(SerializerTest, ParsedStanzasRoundTrip) {
  std::string input =
      "<stream:stream xmlns='jabber:server' xmlns:db='jabber:server:dialback' "
      "xmlns:stream='http://etherx.jabber.org/streams' to='lync.test' from='xmpp.test'>"
      "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
      "<db:verify from='a' to='b' id='i'>k</db:verify>"
      "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' xml:lang='en'>"
      "<body>A &amp; B\r\n\t&lt;tag&gt; \"'</body>"
      "<html xmlns='http://jabber.org/protocol/xhtml-im'><body "
      "xmlns='http://www.w3.org/1999/xhtml'>"
      "<p style='font-weight:bold'>x<br/>y <em>z</em> w</p></body></html>"
      "<x xmlns:q='urn:q' q:attr='1' xmlns='urn:x'><q:child xml:lang='de'>t</q:child>"
      "<y xmlns=''>unqualified</y></x>"
      "</message>"
      "<presence><show>dnd</show><c xmlns='http://jabber.org/protocol/caps' ver='a=b'/></presence>"
      "<iq type='get' id='1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>";
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(input).ok()) << parser.status();
  ASSERT_EQ(r.stanzas.size(), 5u);
  std::vector<Element> again = ReParse(r.headers[0], r.stanzas);
  ASSERT_EQ(again.size(), r.stanzas.size());
  for (size_t i = 0; i < again.size(); ++i) {
    EXPECT_EQ(again[i], r.stanzas[i]) << ToXml(r.stanzas[i], StreamScope(r.headers[0]));
  }
  // The namespaced attribute kept its namespace through the generated prefix.
  const Element* x = again[2].FindChild("urn:x", "x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->AttrNs("urn:q", "attr"), "1");
  EXPECT_NE(x->FindChild("urn:q", "child"), nullptr);
  // Serializing twice gives the same bytes.
  EXPECT_EQ(ToXml(again[2], StreamScope(r.headers[0])),
            ToXml(r.stanzas[2], StreamScope(r.headers[0])));
}

TEST(SerializerTest, BuiltStanzasRoundTrip) {
  Element m = MakeStanza(StanzaKind::kMessage, kNsClient, "chat", "a@b", "c@d/e", "id<1>");
  Element& body = m.AddChild(kNsClient, "body");
  body.SetText("text with ]]> and & and \xF0\x9F\x98\x80");
  Element& p = m.AddChild("http://jabber.org/protocol/xhtml-im", "html")
                   .AddChild("http://www.w3.org/1999/xhtml", "p");
  p.AppendText("before ");
  p.AddChild("http://www.w3.org/1999/xhtml", "b").SetText("bold");
  p.AppendText(" after");
  EXPECT_EQ(p.children()[0].tail(), " after");
  std::vector<Element> again = ReParse(ClientHeader(), {m});
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0], m);
}

TEST(ElementTest, AttributesAndChildren) {
  Element e(kNsClient, "iq");
  e.SetAttr("type", "get").SetAttr("type", "set").SetAttrNs(kNsXml, "lang", "en");
  EXPECT_EQ(e.attributes().size(), 2u);
  EXPECT_EQ(e.Attr("type"), "set");
  EXPECT_EQ(e.AttrOr("id", "none"), "none");
  EXPECT_EQ(e.AttrNs(kNsXml, "lang"), "en");
  EXPECT_EQ(e.Attr("lang"), std::nullopt);
  EXPECT_TRUE(e.RemoveAttr("type"));
  EXPECT_FALSE(e.RemoveAttr("type"));
  e.AddChild("urn:a", "query").SetText("q");
  EXPECT_EQ(e.ChildText("urn:a", "query"), "q");
  EXPECT_EQ(e.ChildText("urn:b", "query"), "");
  EXPECT_EQ(e.FindChildInNs("urn:a")->name(), "query");
  Element copy = e;
  EXPECT_EQ(copy, e);
  copy.mutable_children()[0].SetText("changed");
  EXPECT_FALSE(copy == e);
  e.Clear();
  EXPECT_EQ(e, Element());
}

}  // namespace
}  // namespace causeway::xmpp
