// SipMessage: parsing details, limits, round-trips, mutation consistency, Clone, MakeResponse.

#include "sip/codec/message.h"

#include <string>
#include <vector>

#include "core/status.h"
#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

constexpr char kInvite[] =
    "INVITE sip:bob@biloxi.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    "Route: <sip:p3.example.com;lr>\r\n"
    "To: Bob <sip:bob@biloxi.com>\r\n"
    "From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.com>\r\n"
    "Timestamp: 54\r\n"
    "ms-client-diagnostics: 51004;reason=\"Action initiated by user\"\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

SipMessage MustParse(std::string text, const ParseLimits& limits = {}) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text), limits);
  EXPECT_TRUE(m.ok()) << m.status();
  if (!m.ok()) std::abort();
  return std::move(*m);
}

std::optional<int> ParseCode(std::string text, const ParseLimits& limits = {}) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text), limits);
  if (m.ok()) return std::nullopt;
  return SipCodeOf(m.status());
}

TEST(MessageTest, EagerFields) {
  SipMessage m = MustParse(kInvite);
  EXPECT_TRUE(m.is_request());
  EXPECT_EQ(m.method(), Method::kInvite);
  EXPECT_EQ(m.request_uri_text(), "sip:bob@biloxi.com");
  ASSERT_EQ(m.vias().size(), 1u);
  EXPECT_EQ(m.vias()[0].protocol_name, "SIP");
  EXPECT_EQ(m.vias()[0].protocol_version, "2.0");
  EXPECT_EQ(m.vias()[0].branch, "z9hG4bK776asdhds");
  EXPECT_TRUE(m.vias()[0].rport);
  EXPECT_EQ(m.from_tag(), "1928301774");
  EXPECT_EQ(m.to_tag(), "");
  EXPECT_EQ(m.to().DisplayName(), "Bob");
  EXPECT_EQ(m.call_id(), "a84b4c76e66710@pc33.atlanta.com");
  EXPECT_EQ(m.cseq(), 314159u);
  EXPECT_EQ(m.cseq_method(), Method::kInvite);
  EXPECT_EQ(m.max_forwards(), 70);
  ASSERT_EQ(m.routes().size(), 3u);
  EXPECT_EQ(m.routes()[2].uri.host(), "p3.example.com");
  EXPECT_EQ(m.body(), "v=0\n");
  EXPECT_EQ(m.headers().size(), 13u);
  EXPECT_EQ(m.FindHeader("MS-Client-Diagnostics")->value,
            "51004;reason=\"Action initiated by user\"");
}

TEST(MessageTest, ViaDetails) {
  absl::StatusOr<Via> via = ParseVia(
      "SIP/2.0/TLS "
      "[2001:db8::1]:5061;branch=z9hG4bKx;received=192.0.2.1;rport=5062;maddr=224.2.0.1;ttl=16");
  ASSERT_TRUE(via.ok()) << via.status();
  EXPECT_EQ(via->transport, "TLS");
  EXPECT_EQ(via->host, "[2001:db8::1]");
  EXPECT_EQ(via->port, 5061);
  EXPECT_EQ(via->received, "192.0.2.1");
  EXPECT_EQ(via->rport_value, 5062);
  EXPECT_EQ(via->maddr, "224.2.0.1");
  EXPECT_EQ(via->ttl, 16);
  EXPECT_EQ(via->params.size(), 5u);
  for (std::string_view bad :
       {"SIP/2.0 host", "SIP/2.0/UDP", "SIP/2.0/UDPhost", "SIP/2.0/UDP host:70000",
        "SIP/2.0/UDP host;rport=x", "SIP/2.0/UDP host;ttl=256", "SIP/2.0/UDP host;;"}) {
    EXPECT_FALSE(ParseVia(bad).ok()) << bad;
  }
}

TEST(MessageTest, MethodsAndHeaderNames) {
  EXPECT_EQ(ParseMethod("SERVICE"), Method::kService);
  EXPECT_EQ(ParseMethod("BENOTIFY"), Method::kBenotify);
  EXPECT_EQ(ParseMethod("invite"), Method::kUnknown);  // methods are case-sensitive
  EXPECT_EQ(MethodName(Method::kPrack), "PRACK");
  EXPECT_EQ(LookupHeader("v"), HeaderId::kVia);
  EXPECT_EQ(LookupHeader("I"), HeaderId::kCallId);
  EXPECT_EQ(LookupHeader("m"), HeaderId::kContact);
  EXPECT_EQ(LookupHeader("l"), HeaderId::kContentLength);
  EXPECT_EQ(LookupHeader("k"), HeaderId::kSupported);
  EXPECT_EQ(LookupHeader("o"), HeaderId::kEvent);
  EXPECT_EQ(LookupHeader("u"), HeaderId::kAllowEvents);
  EXPECT_EQ(LookupHeader("www-authenticate"), HeaderId::kWwwAuthenticate);
  EXPECT_EQ(LookupHeader("CALL-id"), HeaderId::kCallId);
  EXPECT_EQ(LookupHeader("ms-keep-alive"), HeaderId::kOther);
  EXPECT_EQ(LookupHeader("q"), HeaderId::kOther);
  EXPECT_EQ(HeaderName(HeaderId::kCSeq), "CSeq");
  for (int i = 1; i < static_cast<int>(HeaderId::kCount); ++i) {
    HeaderId id = static_cast<HeaderId>(i);
    EXPECT_EQ(LookupHeader(HeaderName(id)), id) << HeaderName(id);
  }
  EXPECT_EQ(DefaultReason(486), "Busy Here");
  EXPECT_EQ(DefaultReason(499), "Client Error");
}

TEST(MessageTest, CompactFormsSerializeLong) {
  SipMessage m = MustParse(
      "OPTIONS sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:x@y>;tag=1\r\n"
      "t: sip:a@b\r\ni: cid\r\nCSeq: 1 OPTIONS\r\nk: path\r\nl: 0\r\n\r\n");
  std::string out = m.Serialize();
  EXPECT_EQ(out,
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
            "From: <sip:x@y>;tag=1\r\nTo: sip:a@b\r\nCall-ID: cid\r\nCSeq: 1 OPTIONS\r\n"
            "Supported: path\r\nContent-Length: 0\r\n\r\n");
}

TEST(MessageTest, LyncMethodsAndHeadersRoundTripUntouched) {
  std::string body = "<xml>presence</xml>";
  std::string text =
      "BENOTIFY sip:alice@contoso.com;transport=tls SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 10.0.0.5:5061;branch=z9hG4bKabc;ms-received-port=5061\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:bob@contoso.com>;tag=a;epid=01010101\r\n"
      "To: <sip:alice@contoso.com>;tag=b\r\nCall-ID: x1\r\nCSeq: 3 BENOTIFY\r\n"
      "ms-Proxy-2007fallback: \r\nMS-Sequence-Number: 5\r\nEvent: presence\r\n"
      "Subscription-State: active;expires=3600\r\nContent-Type: "
      "application/msrtc-event-categories+xml\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  SipMessage m = MustParse(text);
  EXPECT_EQ(m.method(), Method::kBenotify);
  EXPECT_EQ(m.Serialize(), text);  // already canonical: byte-identical
  absl::StatusOr<TokenWithParams> state = m.GetSubscriptionState();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->Param("expires"), "3600");
  SipMessage unknown = MustParse(
      "FOOBAR sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 9 FOOBAR\r\nX-Weird_Header.name: ;;,, \"\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(unknown.method_text(), "FOOBAR");
  EXPECT_NE(unknown.Serialize().find("X-Weird_Header.name: ;;,, \"\r\n"), std::string::npos);
}

TEST(MessageTest, StartLineErrors) {
  std::string rest =
      "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\n"
      "Call-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  EXPECT_FALSE(ParseCode("OPTIONS sip:a@b SIP/2.0\r\n" + rest).has_value());
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/3.0\r\n" + rest), 505);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b HTTP/1.1\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("OPT(IONS sip:a@b SIP/2.0\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("SIP/2.0 20 OK\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("SIP/2.0 700 Huh\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("SIP/2.1 200 OK\r\n" + rest), 505);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0"), 400);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n"), 400);  // no blank line
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0\r\n folded-first: x\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0\r\nNoColon\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0\r\nBad Name: x\r\n" + rest), 400);
  EXPECT_EQ(ParseCode("OPTIONS sip:a@b SIP/2.0\r\nX: a\rb\r\n" + rest), 400);
  // Leading CRLFs before the start line are ignored (RFC 3261 §7.5), bare LF line ends tolerated.
  EXPECT_FALSE(ParseCode("\r\n\r\nOPTIONS sip:a@b SIP/2.0\r\n" + rest).has_value());
  EXPECT_FALSE(ParseCode("OPTIONS sip:a@b SIP/2.0\nVia: SIP/2.0/UDP h\nFrom: <sip:x@y>\n"
                         "To: <sip:a@b>\nCall-ID: c\nCSeq: 1 OPTIONS\n\n")
                   .has_value());
}

TEST(MessageTest, Limits) {
  std::string base =
      "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";
  ParseLimits small;
  small.max_message_bytes = 300;
  small.max_headers = 8;
  small.max_header_line = 64;
  EXPECT_FALSE(ParseCode(base + "\r\n", small).has_value());
  EXPECT_EQ(ParseCode(base + "\r\n" + std::string(400, 'x'), small), 513);
  EXPECT_EQ(ParseCode(base + "X: " + std::string(80, 'y') + "\r\n\r\n", small), 513);
  // Folded lines count as one line, and count towards the line limit together.
  EXPECT_EQ(
      ParseCode(base + "X: " + std::string(40, 'y') + "\r\n " + std::string(40, 'z') + "\r\n\r\n",
                small),
      513);
  EXPECT_EQ(ParseCode(base + "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small), 513);
  EXPECT_EQ(ParseCode(base + "Content-Length: 301\r\n\r\n", small), 413);
  EXPECT_EQ(ParseCode(base + "Content-Length: 99999999999\r\n\r\n"), 400);
  EXPECT_EQ(ParseCode(base + "Content-Length: five\r\n\r\n"), 400);
  EXPECT_EQ(ParseCode(base + "Max-Forwards: 256\r\n\r\n"), 400);
  EXPECT_EQ(ParseCode(base + "CSeq: 2 OPTIONS\r\n\r\n"), 400);
  EXPECT_EQ(ParseCode(base + "Call-ID: a b\r\n\r\n"), 400);
}

TEST(MessageTest, RoundTripIsStable) {
  std::string folded =
      "REGISTER sip:contoso.com SIP/2.0\r\n"
      "v: SIP/2.0/TCP 10.0.0.1:5060\r\n  ;branch=z9hG4bKfold\r\n"
      "f: \"A, B\" <sip:a@contoso.com>;tag=x\r\nt: <sip:a@contoso.com>\r\ni: id\r\n"
      "CSeq:   7\r\n REGISTER\r\nm: <sip:a@10.0.0.1;transport=tcp>;expires=0, *\r\n\r\nbody";
  SipMessage m = MustParse(folded);
  EXPECT_EQ(m.cseq(), 7u);
  EXPECT_EQ(m.body(), "body");
  std::string once = m.Serialize();
  EXPECT_EQ(once.find("\r\n "), std::string::npos);  // unfolded
  SipMessage again = MustParse(once);
  EXPECT_EQ(again.Serialize(), once);
  EXPECT_EQ(again.vias()[0].branch, "z9hG4bKfold");
  absl::StatusOr<std::vector<NameAddr>> contacts = again.GetContacts();
  ASSERT_TRUE(contacts.ok());
  ASSERT_EQ(contacts->size(), 2u);
  EXPECT_TRUE((*contacts)[1].wildcard);
  EXPECT_NE(once.find("Content-Length: 4\r\n\r\nbody"), std::string::npos);
}

TEST(MessageTest, LazyGetters) {
  SipMessage m = MustParse(
      "SUBSCRIBE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 SUBSCRIBE\r\nExpires: 600\r\nMin-Expires: 60\r\n"
      "Event: presence;id=1\r\nSupported: path, gruu\r\nk: outbound\r\nAllow: INVITE, ACK\r\n"
      "Path: <sip:p1@edge;lr>\r\nWWW-Authenticate: NTLM realm=\"SIP Communications Service\"\r\n"
      "WWW-Authenticate: Kerberos realm=\"SIP Communications Service\"\r\n\r\n");
  EXPECT_EQ(*m.GetExpires(), 600u);
  EXPECT_EQ(*m.GetMinExpires(), 60u);
  EXPECT_EQ(m.GetEvent()->token, "presence");
  absl::StatusOr<std::vector<std::string_view>> supported = m.GetTokens(HeaderId::kSupported);
  ASSERT_TRUE(supported.ok());
  EXPECT_EQ(*supported, (std::vector<std::string_view>{"path", "gruu", "outbound"}));
  EXPECT_TRUE(m.GetTokens(HeaderId::kRequire)->empty());
  EXPECT_EQ(m.GetPath()->size(), 1u);
  EXPECT_EQ(m.GetAuth(HeaderId::kWwwAuthenticate)->size(), 2u);
  EXPECT_EQ(m.GetContacts().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.GetContentType().status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.HeaderValues(HeaderId::kSupported).size(), 2u);
  EXPECT_EQ(m.HeaderValues("supported").size(), 2u);
  SipMessage bad = MustParse(
      "REGISTER sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
      "To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nExpires: 4294967296\r\n"
      "Contact: <sip:a@b>;;\r\n\r\n");
  EXPECT_EQ(SipCodeOf(bad.GetExpires().status()), 400);
  EXPECT_EQ(SipCodeOf(bad.GetContacts().status()), 400);
}

TEST(MutationTest, ProxyForwarding) {
  SipMessage m = MustParse(kInvite);
  ASSERT_TRUE(m.PushVia("SIP/2.0/TCP proxy.example.com:5060;branch=z9hG4bKproxy1").ok());
  ASSERT_EQ(m.vias().size(), 2u);
  EXPECT_EQ(m.vias()[0].host, "proxy.example.com");
  EXPECT_EQ(m.vias()[1].host, "pc33.atlanta.com");
  EXPECT_FALSE(m.PushVia("garbage").ok());
  EXPECT_FALSE(m.PushVia("SIP/2.0/UDP a, SIP/2.0/UDP b").ok());
  EXPECT_EQ(m.vias().size(), 2u);

  EXPECT_TRUE(m.RemoveFirstRoute());
  ASSERT_EQ(m.routes().size(), 2u);
  EXPECT_EQ(m.routes()[0].uri.host(), "p2.example.com");
  EXPECT_TRUE(m.RemoveFirstRoute());
  EXPECT_TRUE(m.RemoveFirstRoute());
  EXPECT_TRUE(m.routes().empty());
  EXPECT_FALSE(m.RemoveFirstRoute());

  m.SetMaxForwards(m.max_forwards().value_or(70) - 1);
  EXPECT_EQ(m.max_forwards(), 69);
  ASSERT_TRUE(m.SetRequestUri("sip:bob@192.0.2.4:5062;transport=tcp").ok());
  EXPECT_EQ(m.request_uri().port(), 5062);
  EXPECT_FALSE(m.SetRequestUri("sip:bob@host?Route=x").ok());
  EXPECT_FALSE(m.SetRequestUri("not a uri").ok());
  EXPECT_EQ(m.request_uri().port(), 5062);
  ASSERT_TRUE(m.PrependHeader(HeaderId::kRecordRoute, "<sip:proxy.example.com;lr>").ok());
  EXPECT_EQ(m.record_routes().size(), 1u);

  std::string wire = m.Serialize();
  SipMessage parsed = MustParse(wire);
  EXPECT_EQ(parsed.vias().size(), 2u);
  EXPECT_EQ(parsed.vias()[0].branch, "z9hG4bKproxy1");
  EXPECT_TRUE(parsed.routes().empty());
  EXPECT_EQ(parsed.max_forwards(), 69);
  EXPECT_EQ(parsed.request_uri_text(), "sip:bob@192.0.2.4:5062;transport=tcp");
  EXPECT_EQ(parsed.Serialize(), wire);

  // Responses going back: pop our Via.
  SipMessage response = MakeResponse(parsed, 180, {}, "totag1");
  EXPECT_TRUE(response.PopVia());
  ASSERT_EQ(response.vias().size(), 1u);
  EXPECT_EQ(response.vias()[0].host, "pc33.atlanta.com");
}

TEST(MutationTest, PopViaWithinOneLine) {
  SipMessage m = MustParse(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2\r\n"
      "Via: SIP/2.0/UDP c;branch=z9hG4bK3\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\n"
      "Call-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(m.vias().size(), 3u);
  EXPECT_TRUE(m.PopVia());
  ASSERT_EQ(m.vias().size(), 2u);
  EXPECT_EQ(m.vias()[0].host, "b");
  EXPECT_NE(m.Serialize().find("Via: SIP/2.0/UDP b;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP c"),
            std::string::npos);
  EXPECT_TRUE(m.PopVia());
  EXPECT_TRUE(m.PopVia());
  EXPECT_FALSE(m.PopVia());
  EXPECT_TRUE(m.vias().empty());
}

TEST(MutationTest, HeadersTagsAndBody) {
  SipMessage m = MustParse(kInvite);
  ASSERT_TRUE(m.SetToTag("abc").ok());
  EXPECT_EQ(m.to_tag(), "abc");
  EXPECT_EQ(m.to().DisplayName(), "Bob");
  ASSERT_TRUE(m.SetToTag("def").ok());
  EXPECT_EQ(m.to_tag(), "def");
  EXPECT_EQ(m.to().params.size(), 1u);
  EXPECT_FALSE(m.SetToTag("bad tag").ok());

  ASSERT_TRUE(m.AppendHeader("Supported", "timer").ok());
  ASSERT_TRUE(m.AppendHeader(HeaderId::kSupported, "100rel").ok());
  EXPECT_EQ(m.GetTokens(HeaderId::kSupported)->size(), 2u);
  ASSERT_TRUE(
      m.AppendHeader("ms-endpoint-location-data", "NetworkScope;ms-media-location-type=Intranet")
          .ok());
  EXPECT_EQ(m.FindHeader("MS-ENDPOINT-LOCATION-DATA")->name, "ms-endpoint-location-data");
  EXPECT_FALSE(m.AppendHeader("Bad Name", "x").ok());
  EXPECT_FALSE(m.AppendHeader("X-Inject", "a\r\nVia: evil").ok());
  EXPECT_FALSE(m.SetHeader(HeaderId::kFrom, "not a name-addr <").ok());
  EXPECT_EQ(m.from_tag(), "1928301774");  // unchanged after a rejected mutation
  EXPECT_FALSE(m.SetHeader(HeaderId::kCSeq, "x INVITE").ok());
  EXPECT_EQ(m.cseq(), 314159u);

  ASSERT_TRUE(m.SetHeader(HeaderId::kCallId, "new-call-id").ok());
  EXPECT_EQ(m.call_id(), "new-call-id");
  EXPECT_EQ(m.RemoveHeaders(HeaderId::kSupported), 2u);
  EXPECT_EQ(m.RemoveHeaders("ms-client-diagnostics"), 1u);
  EXPECT_EQ(m.FindHeader("ms-client-diagnostics"), nullptr);

  m.SetBody("application/sdp", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n");
  EXPECT_EQ(m.content_length(), 31u);
  std::string wire = m.Serialize();
  EXPECT_NE(wire.find("Content-Length: 31\r\n"), std::string::npos);
  SipMessage parsed = MustParse(wire);
  EXPECT_EQ(parsed.body(), m.body());
  EXPECT_EQ(parsed.to_tag(), "def");
  m.SetBody({}, {});
  EXPECT_EQ(m.FindHeader(HeaderId::kContentType), nullptr);
  EXPECT_NE(m.Serialize().find("Content-Length: 0\r\n\r\n"), std::string::npos);
}

TEST(MutationTest, CloneIsIndependent) {
  SipMessage m = MustParse(kInvite);
  ASSERT_TRUE(m.PushVia("SIP/2.0/UDP added;branch=z9hG4bKadd").ok());
  SipMessage copy = m.Clone();
  EXPECT_EQ(copy.Serialize(), m.Serialize());
  ASSERT_TRUE(copy.SetToTag("clone").ok());
  EXPECT_EQ(m.to_tag(), "");
  EXPECT_EQ(copy.to_tag(), "clone");
  std::string before = copy.Serialize();
  { SipMessage gone = std::move(m); }  // the original's storage is released
  EXPECT_EQ(copy.Serialize(), before);
  EXPECT_EQ(copy.vias()[0].host, "added");
  // Moving keeps views valid: the buffer never moves.
  SipMessage moved = std::move(copy);
  EXPECT_EQ(moved.Serialize(), before);
}

TEST(ResponseTest, MakeResponse) {
  SipMessage request = MustParse(kInvite);
  SipMessage trying = MakeResponse(request, 100, {}, "ignored");
  EXPECT_TRUE(trying.is_response());
  EXPECT_EQ(trying.status_code(), 100);
  EXPECT_EQ(trying.reason(), "Trying");
  EXPECT_EQ(trying.to_tag(), "");                               // never on 100 (RFC 3261 §8.2.6.2)
  EXPECT_NE(trying.FindHeader(HeaderId::kTimestamp), nullptr);  // §8.2.6.1
  SipMessage ok = MakeResponse(request, 200, "Fine\r\nX: y", "t0");
  EXPECT_EQ(ok.reason(), "FineX: y");
  EXPECT_EQ(ok.to_tag(), "t0");
  EXPECT_EQ(ok.from_tag(), "1928301774");
  EXPECT_EQ(ok.call_id(), request.call_id());
  EXPECT_EQ(ok.cseq(), request.cseq());
  EXPECT_EQ(ok.cseq_method(), Method::kInvite);
  EXPECT_EQ(ok.vias().size(), 1u);
  EXPECT_EQ(ok.FindHeader(HeaderId::kTimestamp), nullptr);
  EXPECT_EQ(ok.FindHeader(HeaderId::kContact), nullptr);
  EXPECT_TRUE(ok.body().empty());
  absl::StatusOr<SipMessage> reparsed = SipMessage::Parse(ok.Serialize());
  ASSERT_TRUE(reparsed.ok()) << reparsed.status();
  // An existing To tag is kept (in-dialog requests).
  ASSERT_TRUE(request.SetToTag("existing").ok());
  EXPECT_EQ(MakeResponse(request, 486, {}, "new").to_tag(), "existing");
  EXPECT_EQ(MakeResponse(request, 486).reason(), "Busy Here");
  EXPECT_EQ(MakeResponse(request, 42).status_code(), 500);
}

TEST(ResponseTest, StatusMutation) {
  SipMessage response = MakeResponse(MustParse(kInvite), 180, {}, "x");
  ASSERT_TRUE(response.SetStatus(183, "Session Progress").ok());
  EXPECT_EQ(response.status_code(), 183);
  EXPECT_FALSE(response.SetStatus(99).ok());
  EXPECT_TRUE(response.SetStatus(603).ok());
  EXPECT_EQ(response.reason(), "Decline");
  EXPECT_EQ(response.Serialize().substr(0, 20), "SIP/2.0 603 Decline\r");
}

}  // namespace
}  // namespace causeway::sip
