// The stream parser: real stream samples, chunking, every stream error it reports, limits,
// bounded memory, restart after STARTTLS/SASL.

#include "xmpp/codec/stream_parser.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/xmpp_codec/recorder.h"
#include "xmpp/codec/errors.h"
#include "xmpp/codec/namespaces.h"
#include "xmpp/codec/stanza.h"

namespace causeway::xmpp {
namespace {

using testing::FeedInChunks;
using testing::kClientHeader;
using testing::Recorder;

// What Prosody 0.12 sends when it opens an s2s stream to us, then its features and a dialback key.
constexpr std::string_view kProsodyS2s =
    "<?xml version='1.0'?>"
    "<stream:stream xmlns:db='jabber:server:dialback' "
    "xmlns:stream='http://etherx.jabber.org/streams'"
    " xml:lang='en' from='xmpp.test' to='lync.test' version='1.0' xmlns='jabber:server'"
    " id='a7c2e1b0-4f1d-4c1e-9b55-0c2f3d7f9e10'>"
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>"
    "<dialback xmlns='urn:xmpp:features:dialback'><errors/></dialback></stream:features>\n"
    "<db:result from='xmpp.test' "
    "to='lync.test'>37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe</db:result>"
    " \n ";

constexpr std::string_view kChatMessage =
    "<message from='bob@xmpp.test/phone' to='alice@lync.test' type='chat' id='m-1' xml:lang='en'>"
    "<body>Hi &amp; welcome &lt;3</body>"
    "<html xmlns='http://jabber.org/protocol/xhtml-im'>"
    "<body xmlns='http://www.w3.org/1999/xhtml'><p>Hi &amp; <strong>welcome</strong>!</p></body>"
    "</html>"
    "<active xmlns='http://jabber.org/protocol/chatstates'/>"
    "<request xmlns='urn:xmpp:receipts'/>"
    "</message>";

constexpr std::string_view kPresence =
    "<presence from='bob@xmpp.test/phone' to='alice@lync.test'>"
    "<show>away</show><status>Out to lunch</status><priority>5</priority>"
    "<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org'"
    " ver='q07IKJEyjvHSyhy//CH0CxmKi8w='/></presence>";

std::string ClientStream(std::string_view body) {
  return std::string(kClientHeader) + std::string(body);
}

// Parses `input` whole and returns the error condition it ends with (nullopt when OK).
std::optional<StreamErrorCondition> ErrorOf(std::string_view input, StreamLimits limits = {}) {
  Recorder recorder;
  StreamParser parser(recorder, limits);
  absl::Status status = parser.Feed(input);
  if (status.ok()) return std::nullopt;
  std::optional<StreamErrorCondition> condition = StreamErrorOf(status);
  EXPECT_TRUE(condition.has_value()) << status;
  return condition;
}

TEST(StreamParserTest, ProsodyServerToServerStream) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(kProsodyS2s).ok()) << parser.status();
  ASSERT_EQ(r.headers.size(), 1u);
  const StreamHeader& h = r.headers[0];
  EXPECT_EQ(h.content_ns, kNsServer);
  EXPECT_EQ(h.from, "xmpp.test");
  EXPECT_EQ(h.to, "lync.test");
  EXPECT_EQ(h.version, "1.0");
  EXPECT_EQ(h.lang, "en");
  EXPECT_EQ(h.id, "a7c2e1b0-4f1d-4c1e-9b55-0c2f3d7f9e10");
  EXPECT_TRUE(h.DeclaresNamespace(kNsDialback));
  ASSERT_EQ(h.prefixes.size(), 1u);
  EXPECT_EQ(h.prefixes[0].first, "db");
  EXPECT_TRUE(h.other_attributes.empty());
  EXPECT_TRUE(parser.stream_open());

  ASSERT_EQ(r.stanzas.size(), 2u);
  const Element& features = r.stanzas[0];
  EXPECT_TRUE(features.Is(kNsStreams, "features"));
  const Element* starttls = features.FindChild(kNsTls, "starttls");
  ASSERT_NE(starttls, nullptr);
  EXPECT_NE(starttls->FindChild(kNsTls, "required"), nullptr);
  EXPECT_NE(features.FindChild("urn:xmpp:features:dialback", "dialback"), nullptr);
  const Element& result = r.stanzas[1];
  EXPECT_TRUE(result.Is(kNsDialback, "result"));
  EXPECT_EQ(result.Attr("from"), "xmpp.test");
  EXPECT_EQ(result.text(), "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe");
  EXPECT_EQ(KindOf(result), StanzaKind::kNone);
}

TEST(StreamParserTest, ChatMessageWithXhtmlChatStateAndReceiptRequest) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(ClientStream(kChatMessage)).ok()) << parser.status();
  ASSERT_EQ(r.stanzas.size(), 1u);
  const Element& m = r.stanzas[0];
  EXPECT_EQ(KindOf(m), StanzaKind::kMessage);
  EXPECT_EQ(m.ns(), kNsClient);
  EXPECT_EQ(StanzaType(m), "chat");
  EXPECT_EQ(StanzaId(m), "m-1");
  EXPECT_EQ(StanzaFrom(m), "bob@xmpp.test/phone");
  EXPECT_EQ(StanzaTo(m), "alice@lync.test");
  EXPECT_EQ(m.AttrNs(kNsXml, "lang"), "en");
  EXPECT_EQ(m.Attr("lang"), std::nullopt);  // xml:lang is namespaced
  EXPECT_EQ(m.ChildText(kNsClient, "body"), "Hi & welcome <3");
  const Element* html = m.FindChild("http://jabber.org/protocol/xhtml-im", "html");
  ASSERT_NE(html, nullptr);
  const Element* xbody = html->FindChild("http://www.w3.org/1999/xhtml", "body");
  ASSERT_NE(xbody, nullptr);
  const Element* p = xbody->FindChild("http://www.w3.org/1999/xhtml", "p");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->text(), "Hi & ");
  ASSERT_EQ(p->children().size(), 1u);
  EXPECT_EQ(p->children()[0].name(), "strong");
  EXPECT_EQ(p->children()[0].text(), "welcome");
  EXPECT_EQ(p->children()[0].tail(), "!");
  EXPECT_NE(m.FindChild("http://jabber.org/protocol/chatstates", "active"), nullptr);
  EXPECT_NE(m.FindChild("urn:xmpp:receipts", "request"), nullptr);
  absl::StatusOr<Jid> from = StanzaFromJid(m);
  ASSERT_TRUE(from.ok());
  EXPECT_EQ(from->resource(), "phone");
}

TEST(StreamParserTest, PresenceWithShowStatusPriorityAndCaps) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(ClientStream(kPresence)).ok()) << parser.status();
  ASSERT_EQ(r.stanzas.size(), 1u);
  const Element& p = r.stanzas[0];
  EXPECT_EQ(KindOf(p), StanzaKind::kPresence);
  EXPECT_EQ(StanzaType(p), "");  // available: no type attribute
  EXPECT_EQ(p.ChildText(kNsClient, "show"), "away");
  EXPECT_EQ(p.ChildText(kNsClient, "status"), "Out to lunch");
  EXPECT_EQ(p.ChildText(kNsClient, "priority"), "5");
  const Element* caps = p.FindChild("http://jabber.org/protocol/caps", "c");
  ASSERT_NE(caps, nullptr);
  EXPECT_EQ(caps->Attr("hash"), "sha-1");
  EXPECT_EQ(caps->Attr("ver"), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
}

// The same events and trees whatever the chunking.
TEST(StreamParserTest, ChunkingDoesNotChangeTheResult) {
  std::string stream = std::string(kProsodyS2s) + "<message to='a@b' from='c@d' type='chat'>" +
                       "<body>x</body></message><presence/></stream:stream>";
  Recorder whole;
  {
    StreamParser parser(whole);
    ASSERT_TRUE(parser.Feed(stream).ok());
  }
  EXPECT_EQ(whole.events,
            (std::vector<std::string>{"open", "stanza", "stanza", "stanza", "stanza", "close"}));
  for (size_t chunk : {1, 2, 3, 7, 64}) {
    Recorder r;
    StreamParser parser(r);
    ASSERT_TRUE(FeedInChunks(parser, stream, chunk).ok()) << chunk << ": " << parser.status();
    EXPECT_EQ(r.events, whole.events) << chunk;
    EXPECT_EQ(r.headers, whole.headers) << chunk;
    EXPECT_EQ(r.stanzas, whole.stanzas) << chunk;
  }
}

// A stanza is delivered as soon as its last byte arrives, not when more input follows.
TEST(StreamParserTest, StanzaDeliveredOnItsLastByte) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser.Feed(kClientHeader).ok());
  EXPECT_EQ(r.events, std::vector<std::string>{"open"});
  ASSERT_TRUE(parser.Feed("<presence/").ok());
  EXPECT_EQ(r.stanzas.size(), 0u);
  ASSERT_TRUE(parser.Feed(">").ok());
  EXPECT_EQ(r.stanzas.size(), 1u);
}

TEST(StreamParserTest, StreamCloseAndBytesAfterIt) {
  Recorder r;
  StreamParser parser(r);
  std::string stream = ClientStream("<presence/></stream:stream>");
  ASSERT_TRUE(parser.Feed(stream + "<after/>").ok());
  EXPECT_EQ(r.events, (std::vector<std::string>{"open", "stanza", "close"}));
  EXPECT_EQ(parser.last_feed_consumed(), stream.size());
  EXPECT_TRUE(parser.stream_closed());
  EXPECT_TRUE(parser.Feed("<junk").ok());
  EXPECT_EQ(r.events.size(), 3u);
}

// A peer that opens and closes at once (<stream:stream .../>) and sends more: open, close, and
// the parser reports how far it read.
TEST(StreamParserTest, SelfClosingStreamRoot) {
  Recorder r;
  StreamParser parser(r);
  std::string root =
      "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'/>";
  ASSERT_TRUE(parser.Feed(root + "<presence/>").ok()) << parser.status();
  EXPECT_EQ(r.events, (std::vector<std::string>{"open", "close"}));
  EXPECT_EQ(parser.last_feed_consumed(), root.size());
}

TEST(StreamParserTest, TextDetailsSurvive) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(parser
                  .Feed(ClientStream("<message><body>a&#13;b\r\nc &#x263A; &apos;&quot;"
                                     "<![CDATA[<raw>&]]></body><x xmlns=''/></message>"))
                  .ok())
      << parser.status();
  ASSERT_EQ(r.stanzas.size(), 1u);
  EXPECT_EQ(r.stanzas[0].ChildText(kNsClient, "body"), "a\rb\nc \xE2\x98\xBA '\"<raw>&");
  EXPECT_NE(r.stanzas[0].FindChild("", "x"), nullptr);
}

TEST(StreamParserTest, RestrictedXml) {
  const std::string header(kClientHeader);
  EXPECT_EQ(ErrorOf("<?xml version='1.0'?><!DOCTYPE stream:stream>" + header.substr(21)),
            StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf("<!DOCTYPE x [<!ENTITY e 'boom'>]>" + header.substr(21)),
            StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<message><body>&e;</body></message>"),
            StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<message to='&e;'/>"), StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<message><?php echo 1; ?></message>"),
            StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf("<?pi x?>" + header), StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<!-- comment --><presence/>"), StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<presence><!--c--></presence>"),
            StreamErrorCondition::kRestrictedXml);
  EXPECT_EQ(ErrorOf(header + "<presence/><?xml version='1.0'?>"),
            StreamErrorCondition::kRestrictedXml);
  // The five predefined entities and character references are fine.
  EXPECT_EQ(ErrorOf(header + "<message><body>&amp;&lt;&gt;&apos;&quot;&#65;</body></message>"),
            std::nullopt);
}

TEST(StreamParserTest, NotWellFormed) {
  const std::string header(kClientHeader);
  EXPECT_EQ(ErrorOf(header + "<message><body></message>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf(header + "<message a='1' a='2'/>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf(header + "<message a=1/>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf(header + "<message>&#0;</message>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf(header + "<message>&#xD800;</message>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf(header + "<message>\x01</message>"), StreamErrorCondition::kNotWellFormed);
  EXPECT_EQ(ErrorOf("garbage<x/>"), StreamErrorCondition::kNotWellFormed);
}

TEST(StreamParserTest, InvalidUtf8IsNotWellFormed) {
  const std::string header(kClientHeader);
  for (std::string bad :
       {std::string("\xC3\x28"), std::string("\xC0\xAF"),  // bad continuation, overlong
        std::string("\xE0\x80\xAF"),                       // overlong 3-byte
        std::string("\xED\xA0\x80"),                       // surrogate
        std::string("\xF4\x90\x80\x80"),                   // > U+10FFFF
        std::string("\xFF"), std::string("\x80")}) {
    EXPECT_EQ(ErrorOf(header + "<message><body>" + bad + "</body></message>"),
              StreamErrorCondition::kNotWellFormed)
        << ::testing::PrintToString(bad);
    EXPECT_EQ(ErrorOf(header + "<message to='" + bad + "'/>"), StreamErrorCondition::kNotWellFormed)
        << ::testing::PrintToString(bad);
  }
  // The same bytes split across feeds are still caught; valid multibyte text split is fine.
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(
      FeedInChunks(parser, header + "<message><body>\xE2\x98\xBA</body></message>", 1).ok());
  ASSERT_EQ(r.stanzas.size(), 1u);
  EXPECT_EQ(r.stanzas[0].ChildText(kNsClient, "body"), "\xE2\x98\xBA");
  Recorder r2;
  StreamParser parser2(r2);
  absl::Status s =
      FeedInChunks(parser2, header + "<message><body>\xED\xA0\x80</body></message>", 1);
  EXPECT_EQ(StreamErrorOf(s), StreamErrorCondition::kNotWellFormed);
}

TEST(StreamParserTest, UnsupportedEncoding) {
  EXPECT_EQ(ErrorOf("<?xml version='1.0' encoding='ISO-8859-1'?>" +
                    std::string(kClientHeader).substr(21)),
            StreamErrorCondition::kUnsupportedEncoding);
  EXPECT_EQ(
      ErrorOf("<?xml version='1.0' encoding='utf-8'?>" + std::string(kClientHeader).substr(21)),
      std::nullopt);
}

TEST(StreamParserTest, StreamNamespaces) {
  // Wrong stream namespace, wrong root, unsupported or missing content namespace.
  EXPECT_EQ(ErrorOf("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/"
                    "streamz'>"),
            StreamErrorCondition::kInvalidNamespace);
  EXPECT_EQ(ErrorOf("<stream:features xmlns='jabber:client' "
                    "xmlns:stream='http://etherx.jabber.org/streams'>"),
            StreamErrorCondition::kInvalidNamespace);
  EXPECT_EQ(ErrorOf("<message xmlns='jabber:client'/>"), StreamErrorCondition::kInvalidNamespace);
  EXPECT_EQ(ErrorOf("<stream:stream xmlns='jabber:foo' "
                    "xmlns:stream='http://etherx.jabber.org/streams'>"),
            StreamErrorCondition::kInvalidNamespace);
  EXPECT_EQ(ErrorOf("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"),
            StreamErrorCondition::kInvalidNamespace);
  // Every content namespace the gateway speaks is accepted.
  for (std::string_view ns : {kNsClient, kNsServer, kNsComponentAccept}) {
    Recorder r;
    StreamParser parser(r);
    ASSERT_TRUE(parser
                    .Feed("<stream:stream xmlns='" + std::string(ns) +
                          "' xmlns:stream='http://etherx.jabber.org/streams' to='c.lync.test'>")
                    .ok());
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].content_ns, ns);
    EXPECT_EQ(r.headers[0].version, "");
  }
}

TEST(StreamParserTest, BadNamespacePrefix) {
  // Stream namespace under another prefix, or as the default namespace (no prefix at all).
  EXPECT_EQ(ErrorOf("<foobar:stream xmlns='jabber:client' "
                    "xmlns:foobar='http://etherx.jabber.org/streams'>"),
            StreamErrorCondition::kBadNamespacePrefix);
  EXPECT_EQ(ErrorOf("<stream xmlns='http://etherx.jabber.org/streams'>"),
            StreamErrorCondition::kBadNamespacePrefix);
  // A prefix nobody declared, on the root or in a stanza.
  EXPECT_EQ(ErrorOf("<stream:stream xmlns='jabber:client'>"),
            StreamErrorCondition::kBadNamespacePrefix);
  EXPECT_EQ(ErrorOf(ClientStream("<db:result from='a' to='b'>k</db:result>")),
            StreamErrorCondition::kBadNamespacePrefix);
  EXPECT_EQ(ErrorOf(ClientStream("<message foo:bar='1'/>")),
            StreamErrorCondition::kBadNamespacePrefix);
}

TEST(StreamParserTest, TextBetweenStanzasIsBadFormat) {
  EXPECT_EQ(ErrorOf(ClientStream("<presence/>hello")), StreamErrorCondition::kBadFormat);
  EXPECT_EQ(ErrorOf(ClientStream(" \r\n\t<presence/>\n ")), std::nullopt);
}

TEST(StreamParserTest, StanzaSizeLimitIsExact) {
  StreamLimits limits;
  limits.max_stanza_bytes = 200;
  std::string header(kClientHeader);  // under 200 bytes itself
  ASSERT_LT(header.size(), 200u);
  auto stanza_of = [](size_t size) {
    std::string open = "<message><body>", close = "</body></message>";
    return open + std::string(size - open.size() - close.size(), 'x') + close;
  };
  EXPECT_EQ(ErrorOf(header + stanza_of(200), limits), std::nullopt);
  EXPECT_EQ(ErrorOf(header + stanza_of(201), limits), StreamErrorCondition::kPolicyViolation);
  // Byte by byte too.
  for (size_t size : {200, 201}) {
    Recorder r;
    StreamParser parser(r, limits);
    absl::Status s = FeedInChunks(parser, header + stanza_of(size), 1);
    EXPECT_EQ(s.ok(), size == 200) << size << " " << s;
  }
  // Many stanzas each under the limit are fine however much they add up to.
  std::string many = header;
  for (int i = 0; i < 50; ++i) many += stanza_of(150);
  EXPECT_EQ(ErrorOf(many, limits), std::nullopt);
}

TEST(StreamParserTest, DefaultLimits) {
  StreamLimits defaults;
  EXPECT_EQ(defaults.max_stanza_bytes, 256u * 1024);
  EXPECT_EQ(defaults.max_depth, 32u);
  EXPECT_EQ(defaults.max_attributes, 64u);
  std::string header(kClientHeader);
  std::string big = "<message><body>" + std::string(256 * 1024, 'x') + "</body></message>";
  EXPECT_EQ(ErrorOf(header + big), StreamErrorCondition::kPolicyViolation);
}

TEST(StreamParserTest, DepthLimit) {
  auto nested = [](size_t levels) {
    std::string s;
    for (size_t i = 0; i < levels; ++i) s += "<a>";
    for (size_t i = 0; i < levels; ++i) s += "</a>";
    return s;
  };
  EXPECT_EQ(ErrorOf(ClientStream(nested(32))), std::nullopt);
  EXPECT_EQ(ErrorOf(ClientStream(nested(33))), StreamErrorCondition::kPolicyViolation);
  StreamLimits limits;
  limits.max_depth = 3;
  EXPECT_EQ(ErrorOf(ClientStream(nested(3)), limits), std::nullopt);
  EXPECT_EQ(ErrorOf(ClientStream(nested(4)), limits), StreamErrorCondition::kPolicyViolation);
}

TEST(StreamParserTest, AttributeLimit) {
  auto with_attributes = [](size_t n) {
    std::string s = "<message";
    for (size_t i = 0; i < n; ++i) s += " a" + std::to_string(i) + "='v'";
    return s + "/>";
  };
  EXPECT_EQ(ErrorOf(ClientStream(with_attributes(64))), std::nullopt);
  EXPECT_EQ(ErrorOf(ClientStream(with_attributes(65))), StreamErrorCondition::kPolicyViolation);
  EXPECT_EQ(ErrorOf(ClientStream("<message><x " + with_attributes(65).substr(9) + "</message>")),
            StreamErrorCondition::kPolicyViolation);
}

// An endless start tag, text node or header is cut off near the limit, not buffered forever.
TEST(StreamParserTest, MemoryStaysBounded) {
  StreamLimits limits;
  limits.max_stanza_bytes = 4096;
  for (std::string_view opening : {"<message to='", "<message><body>", "<message "}) {
    Recorder r;
    StreamParser parser(r, limits);
    ASSERT_TRUE(parser.Feed(kClientHeader).ok());
    ASSERT_TRUE(parser.Feed(opening).ok());
    size_t fed = opening.size();
    absl::Status s;
    std::string chunk(1000, opening == "<message " ? ' ' : 'a');
    while (s.ok() && fed < 1'000'000) {
      s = parser.Feed(chunk);
      fed += chunk.size();
    }
    EXPECT_EQ(StreamErrorOf(s), StreamErrorCondition::kPolicyViolation) << opening;
    EXPECT_LE(fed, limits.max_stanza_bytes + chunk.size()) << opening;
  }
  // A header that never ends.
  Recorder r;
  StreamParser parser(r, limits);
  absl::Status s =
      parser.Feed("<stream:stream xmlns:stream='http://etherx.jabber.org/streams' x='");
  size_t fed = 0;
  while (s.ok() && fed < 1'000'000) {
    s = parser.Feed(std::string(1000, 'a'));
    fed += 1000;
  }
  EXPECT_EQ(StreamErrorOf(s), StreamErrorCondition::kPolicyViolation);
  EXPECT_LE(fed, limits.max_stanza_bytes + 1000);
}

// Whitespace keepalives over a long-lived stream never add up to a "stanza".
TEST(StreamParserTest, WhitespaceKeepalivesDoNotCountAgainstTheLimit) {
  StreamLimits limits;
  limits.max_stanza_bytes = 256;
  Recorder r;
  StreamParser parser(r, limits);
  ASSERT_TRUE(parser.Feed(kClientHeader).ok());
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(parser.Feed(" ").ok()) << i;
  ASSERT_TRUE(parser.Feed("<presence/>").ok());
  EXPECT_EQ(r.stanzas.size(), 1u);
}

TEST(StreamParserTest, ErrorsAreSticky) {
  Recorder r;
  StreamParser parser(r);
  absl::Status first = parser.Feed(ClientStream("<!-- x -->"));
  EXPECT_EQ(StreamErrorOf(first), StreamErrorCondition::kRestrictedXml);
  absl::Status again = parser.Feed("<presence/>");
  EXPECT_EQ(again, first);
  EXPECT_TRUE(r.stanzas.empty());
}

// After SASL success (or TLS) both sides start a new stream over the same connection.
TEST(StreamParserTest, ResetStartsAFreshStream) {
  Recorder r;
  StreamParser parser(r);
  ASSERT_TRUE(
      parser.Feed(ClientStream("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")).ok());
  ASSERT_EQ(r.stanzas.size(), 1u);
  EXPECT_TRUE(r.stanzas[0].Is(kNsSasl, "success"));
  parser.Reset();
  EXPECT_FALSE(parser.stream_open());
  ASSERT_TRUE(parser.Feed(ClientStream("<iq type='get' id='b'><bind/></iq>")).ok())
      << parser.status();
  EXPECT_EQ(r.events, (std::vector<std::string>{"open", "stanza", "open", "stanza"}));
  // A reset also clears an error.
  ASSERT_FALSE(parser.Feed("<!-- x -->").ok());
  parser.Reset();
  EXPECT_TRUE(parser.Feed(kClientHeader).ok());
}

// <proceed/> arrives with the first TLS bytes in the same read: the handler resets from inside
// the callback, and the parser says where the TLS bytes begin.
TEST(StreamParserTest, ResetFromCallbackStopsAfterTheElement) {
  struct TlsSwitcher : Recorder {
    StreamParser* parser = nullptr;
    void OnStanza(Element& stanza) override {
      bool proceed = stanza.Is(kNsTls, "proceed");
      Recorder::OnStanza(stanza);
      if (proceed) parser->Reset();
    }
  } switcher;
  StreamParser parser(switcher);
  switcher.parser = &parser;
  ASSERT_TRUE(parser.Feed(kClientHeader).ok());
  std::string proceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
  std::string input = proceed + "\x16\x03\x01 binary TLS <not xml";
  ASSERT_TRUE(parser.Feed(input).ok()) << parser.status();
  EXPECT_EQ(parser.last_feed_consumed(), proceed.size());
  EXPECT_FALSE(parser.stream_open());
  ASSERT_TRUE(parser.Feed(kClientHeader).ok());
  EXPECT_EQ(switcher.events, (std::vector<std::string>{"open", "stanza", "open"}));
}

}  // namespace
}  // namespace causeway::xmpp
