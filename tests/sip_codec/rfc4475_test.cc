// RFC 4475 (SIP torture test messages) section 3, one .dat file per message, table-driven.
// Valid messages must parse (with the fields the RFC calls out checked); invalid ones must be
// rejected with the SIP answer the RFC prescribes. 3.2/3.3 messages are syntactically valid: the
// parser accepts them and the semantic check belongs to the stack (noted per case).

#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "sip/codec/multipart.h"

namespace causeway::sip {
namespace {

std::string ReadDat(const std::string& name) {
  std::ifstream in(std::string(CAUSEWAY_SIP_CODEC_TESTDATA) + "/rfc4475/" + name + ".dat",
                   std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

struct TortureCase {
  const char* name;
  const char* section;
  int expect_code;  // 0: must parse; otherwise the SIP code the parse error must carry
  const char* note;
};

const TortureCase kCases[] = {
    {"wsinv", "3.1.1.1", 0, "short tortuous INVITE"},
    {"intmeth", "3.1.1.2", 0, "wide range of valid characters"},
    {"esc01", "3.1.1.3", 0, "valid % escaping"},
    {"escnull", "3.1.1.4", 0, "escaped NULs in URIs"},
    {"esc02", "3.1.1.5", 0, "% that is not an escape"},
    {"lwsdisp", "3.1.1.6", 0, "no LWS between display name and <"},
    {"longreq", "3.1.1.7", 0, "long values in header fields"},
    {"dblreq", "3.1.1.8", 0, "extra trailing octets in a datagram"},
    {"semiuri", "3.1.1.9", 0, "semicolon-separated parameters in URI user part"},
    {"transports", "3.1.1.10", 0, "varied and unknown transports"},
    {"mpart01", "3.1.1.11", 0, "multipart MIME message"},
    {"unreason", "3.1.1.12", 0, "unusual reason phrase"},
    {"noreason", "3.1.1.13", 0, "empty reason phrase"},
    {"badinv01", "3.1.2.1", 400, "extraneous header field separators"},
    {"clerr", "3.1.2.2", 400, "Content-Length larger than message"},
    {"ncl", "3.1.2.3", 400, "negative Content-Length"},
    {"scalar02", "3.1.2.4", 400, "request scalar fields with overlarge values"},
    {"scalarlg", "3.1.2.5", 400, "response scalar fields with overlarge values (dropped)"},
    {"quotbal", "3.1.2.6", 400, "unterminated quoted string in display name"},
    {"ltgtruri", "3.1.2.7", 400, "<> enclosing Request-URI"},
    {"lwsruri", "3.1.2.8", 400, "malformed SIP Request-URI (embedded LWS)"},
    {"lwsstart", "3.1.2.9", 400, "multiple SP separating Request-Line elements"},
    {"trws", "3.1.2.10", 400, "SP characters at end of Request-Line"},
    {"escruri", "3.1.2.11", 400, "escaped headers in SIP Request-URI"},
    // Date is not parsed by the codec: rejecting is optional unless Date matters (RFC text).
    {"baddate", "3.1.2.12", 0, "invalid time zone in Date (semantic, not needed to route)"},
    // Contact is lazy: parse succeeds, GetContacts() fails with 400 (checked below).
    {"regbadct", "3.1.2.13", 0, "name-addr URI not in <> (lazy Contact fails 400)"},
    {"badaspec", "3.1.2.14", 400, "spaces within addr-spec"},
    {"baddn", "3.1.2.15", 400, "non-token characters in display name"},
    {"badvers", "3.1.2.16", 505, "unknown protocol version"},
    {"mismatch01", "3.1.2.17", 400, "start line and CSeq method mismatch"},
    {"mismatch02", "3.1.2.18", 400, "unknown method with CSeq mismatch (RFC: 501 or 400)"},
    {"bigcode", "3.1.2.19", 400, "overlarge response code (dropped)"},
    {"badbranch", "3.2.1", 0, "missing transaction ID: transaction layer decides"},
    {"insuf", "3.3.1", 400, "missing required header fields"},
    {"unkscm", "3.3.2", 0, "unknown Request-URI scheme: stack answers 416"},
    {"novelsc", "3.3.3", 0, "known but atypical scheme: stack answers 416"},
    {"unksm2", "3.3.4", 0, "unknown URI schemes in header fields"},
    {"bext01", "3.3.5", 0, "Require/Proxy-Require: stack answers 420"},
    {"invut", "3.3.6", 0, "unknown Content-Type: UA answers 415"},
    {"regaut01", "3.3.7", 0, "unknown authorization scheme: registrar answers 401"},
    {"multi01", "3.3.8", 400, "multiple values in single-value required fields"},
    {"mcl01", "3.3.9", 400, "multiple Content-Length values"},
    {"bcast", "3.3.10", 0, "broadcast Via in a response: transport drops"},
    {"zeromf", "3.3.11", 0, "Max-Forwards 0: proxy answers 483"},
    {"cparam01", "3.3.12", 0, "Contact with header params (addr-spec)"},
    {"cparam02", "3.3.13", 0, "Contact with URI params (name-addr)"},
    {"regescrt", "3.3.14", 0, "REGISTER Contact with escaped header: registrar decides"},
    {"sdp01", "3.3.15", 0, "unacceptable Accept: UA answers 406"},
    {"inv2543", "3.4.1", 0, "RFC 2543 syntax"},
};

class TortureTest : public testing::TestWithParam<TortureCase> {};

TEST_P(TortureTest, ParsesOrRejectsAsTheRfcSays) {
  const TortureCase& c = GetParam();
  absl::StatusOr<SipMessage> message = SipMessage::Parse(ReadDat(c.name));
  if (c.expect_code == 0) {
    ASSERT_TRUE(message.ok()) << c.section << " " << c.name << ": " << message.status();
    // Every accepted message re-serializes to something that parses to the same thing.
    std::string once = message->Serialize();
    absl::StatusOr<SipMessage> again = SipMessage::Parse(once);
    ASSERT_TRUE(again.ok()) << c.name << ": " << again.status() << "\n" << once;
    EXPECT_EQ(again->Serialize(), once) << c.name;
    EXPECT_EQ(again->vias().size(), message->vias().size());
    EXPECT_EQ(again->call_id(), message->call_id());
    EXPECT_EQ(again->body(), message->body());
  } else {
    ASSERT_FALSE(message.ok()) << c.section << " " << c.name << " should be rejected";
    EXPECT_EQ(SipCodeOf(message.status()), c.expect_code) << c.name << ": " << message.status();
  }
}

INSTANTIATE_TEST_SUITE_P(Rfc4475, TortureTest, testing::ValuesIn(kCases),
                         [](const testing::TestParamInfo<TortureCase>& info) {
                           return std::string(info.param.name);
                         });

SipMessage MustParse(const char* name) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(ReadDat(name));
  EXPECT_TRUE(m.ok()) << name << ": " << m.status();
  if (!m.ok()) std::abort();
  return std::move(*m);
}

TEST(Rfc4475Fields, Wsinv) {
  SipMessage m = MustParse("wsinv");
  EXPECT_EQ(m.method(), Method::kInvite);
  EXPECT_EQ(m.request_uri().user(), "vivekg");
  EXPECT_TRUE(m.request_uri().HasParam("unknownparam"));
  EXPECT_EQ(m.to_tag(), "1918181833n");
  EXPECT_EQ(m.from().DisplayName(), "J Rosenberg \\\"");
  EXPECT_EQ(m.from_tag(), "98asjd8");
  EXPECT_EQ(m.max_forwards(), 68);
  EXPECT_EQ(m.cseq(), 9u);
  EXPECT_EQ(m.cseq_method(), Method::kInvite);
  ASSERT_EQ(m.vias().size(), 3u);
  EXPECT_EQ(m.vias()[0].transport, "UDP");
  EXPECT_EQ(m.vias()[0].host, "192.0.2.2");
  EXPECT_EQ(m.vias()[0].branch, "390skdjuw");
  EXPECT_EQ(m.vias()[1].transport, "TCP");
  EXPECT_EQ(m.vias()[1].host, "spindle.example.com");
  EXPECT_EQ(m.vias()[1].branch, "z9hG4bK9ikj8");
  EXPECT_EQ(m.vias()[2].host, "192.168.255.111");
  EXPECT_EQ(m.vias()[2].branch, "z9hG4bK30239");
  EXPECT_EQ(m.content_length(), 150u);
  ASSERT_NE(m.FindHeader(HeaderId::kSubject), nullptr);
  EXPECT_EQ(m.FindHeader(HeaderId::kSubject)->value, "");
  ASSERT_NE(m.FindHeader("NewFangledHeader"), nullptr);
  // Folding becomes spaces; the continuation's text is kept.
  EXPECT_EQ(m.FindHeader("newfangledheader")->value,
            "newfangled value   continued newfangled value");
  EXPECT_EQ(m.FindHeader("UnknownHeaderWithUnusualValue")->value, ";;,,;;,;");
  ASSERT_EQ(m.routes().size(), 1u);
  EXPECT_TRUE(m.routes()[0].uri.lr());
  absl::StatusOr<std::vector<NameAddr>> contacts = m.GetContacts();
  ASSERT_TRUE(contacts.ok()) << contacts.status();
  ASSERT_EQ(contacts->size(), 1u);
  EXPECT_EQ((*contacts)[0].DisplayName(), "Quoted string \"\"");
  EXPECT_EQ((*contacts)[0].Param("newparam"), "newvalue");
  EXPECT_EQ((*contacts)[0].Param("secondparam"), "");
  EXPECT_EQ((*contacts)[0].Param("q"), "0.33");
}

TEST(Rfc4475Fields, Intmeth) {
  SipMessage m = MustParse("intmeth");
  EXPECT_EQ(m.method(), Method::kUnknown);
  EXPECT_EQ(m.method_text(), "!interesting-Method0123456789_*+`.%indeed'~");
  EXPECT_EQ(m.request_uri().user(), "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
  EXPECT_EQ(m.request_uri().password(), "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
  EXPECT_EQ(m.request_uri().host(), "example.com");
  EXPECT_EQ(m.vias()[0].branch, "z9hG4bK-.!%66*_+`'~");
  EXPECT_EQ(m.to().DisplayName(), std::string("BEL:\x07 NUL:\0 DEL:\x7f", 17));
  EXPECT_EQ(m.from().display_name, "token1~` token2'+_ token3*%!.-");
  EXPECT_EQ(m.from_tag(), "_token~1'+`*%!-.");
  EXPECT_TRUE(m.from().Param("fromParam''~+*_!.-%").has_value());
  EXPECT_EQ(m.call_id(), "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{");
  EXPECT_EQ(m.cseq(), 139122385u);
  EXPECT_EQ(m.max_forwards(), 255);
  ASSERT_NE(m.FindHeader("extensionHeader-!.%*+_`'~"), nullptr);
  EXPECT_EQ(m.FindHeader("extensionHeader-!.%*+_`'~")->value,
            "\xef\xbb\xbf\xe5\xa4\xa7\xe5\x81\x9c\xe9\x9b\xbb");
}

TEST(Rfc4475Fields, Escapes) {
  SipMessage esc01 = MustParse("esc01");
  EXPECT_EQ(esc01.request_uri().user(), "sips%3Auser%40example.com");
  EXPECT_EQ(UnescapeUri(esc01.request_uri().user()), "sips:user@example.com");
  EXPECT_EQ(UnescapeUri(esc01.to().uri.user()), "user");
  EXPECT_EQ(UnescapeUri(esc01.from().uri.user()), "I have spaces");
  absl::StatusOr<std::vector<NameAddr>> contacts = esc01.GetContacts();
  ASSERT_TRUE(contacts.ok());
  EXPECT_EQ((*contacts)[0].uri.Param("n%61me"), "v%61lue%25%34%31");
  // Not recursive: value%41 is not valueA (RFC 3986).
  EXPECT_EQ(UnescapeUri("v%61lue%25%34%31"), "value%41");

  SipMessage escnull = MustParse("escnull");
  EXPECT_EQ(UnescapeUri(escnull.to().uri.user()), std::string("null-\0-null", 11));
  contacts = escnull.GetContacts();
  ASSERT_TRUE(contacts.ok());
  ASSERT_EQ(contacts->size(), 2u);
  EXPECT_FALSE(UriEquivalent((*contacts)[0].uri, (*contacts)[1].uri));

  SipMessage esc02 = MustParse("esc02");
  EXPECT_EQ(esc02.method(), Method::kUnknown);
  EXPECT_EQ(esc02.method_text(), "RE%47IST%45R");
  EXPECT_EQ(esc02.to().DisplayName(), "%Z%45");
  contacts = esc02.GetContacts();
  ASSERT_TRUE(contacts.ok());
  EXPECT_EQ(contacts->size(), 2u);  // C%6Fntact is another header
  EXPECT_NE(esc02.FindHeader("C%6Fntact"), nullptr);
}

TEST(Rfc4475Fields, DisplayNamesAndUserParts) {
  EXPECT_EQ(MustParse("lwsdisp").from().DisplayName(), "caller");
  SipMessage semiuri = MustParse("semiuri");
  EXPECT_EQ(semiuri.request_uri().user(), "user;par=u%40example.net");
  EXPECT_TRUE(semiuri.request_uri().params().empty());
  SipMessage longreq = MustParse("longreq");
  EXPECT_EQ(longreq.vias().size(), 34u);
  EXPECT_EQ(longreq.vias()[0].host, "sip33.example.com");
  EXPECT_EQ(longreq.vias()[33].received, "192.0.2.5");
  EXPECT_EQ(longreq.to().uri.port(), 6000);
  EXPECT_EQ(longreq.to().uri.params().size(), 3u);
}

TEST(Rfc4475Fields, DatagramFraming) {
  SipMessage dblreq = MustParse("dblreq");
  EXPECT_EQ(dblreq.method(), Method::kRegister);
  EXPECT_TRUE(dblreq.body().empty());
  EXPECT_EQ(dblreq.Serialize().find("INVITE"), std::string::npos);
  SipMessage transports = MustParse("transports");
  ASSERT_EQ(transports.vias().size(), 5u);
  EXPECT_EQ(transports.vias()[1].transport, "SCTP");
  EXPECT_EQ(transports.vias()[3].transport, "UNKNOWN");
}

TEST(Rfc4475Fields, Multipart) {
  SipMessage m = MustParse("mpart01");
  EXPECT_EQ(m.content_length(), 553u);
  EXPECT_TRUE(m.vias()[0].rport);
  EXPECT_FALSE(m.vias()[0].rport_value.has_value());
  absl::StatusOr<MediaType> type = m.GetContentType();
  ASSERT_TRUE(type.ok());
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipartBody(m.FindHeader(HeaderId::kContentType)->value, m.body());
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].content_type(), "text/plain");
  EXPECT_EQ((*parts)[0].body, "Hello");
  EXPECT_EQ((*parts)[1].content_type(), "application/octet-stream");
  EXPECT_NE((*parts)[1].body.find('\0'), std::string_view::npos);  // binary survives framing
}

TEST(Rfc4475Fields, ReasonPhrases) {
  SipMessage unreason = MustParse("unreason");
  EXPECT_EQ(unreason.status_code(), 200);
  EXPECT_EQ(unreason.reason().substr(0, 14), "= 2**3 * 5**2 ");
  SipMessage noreason = MustParse("noreason");
  EXPECT_EQ(noreason.status_code(), 100);
  EXPECT_EQ(noreason.reason(), "");
}

TEST(Rfc4475Fields, SemanticCasesParseForTheStack) {
  EXPECT_EQ(MustParse("badbranch").vias()[0].branch, "z9hG4bK");
  EXPECT_EQ(MustParse("unkscm").request_uri().scheme(), UriScheme::kOther);
  SipMessage novelsc = MustParse("novelsc");
  EXPECT_EQ(novelsc.request_uri().scheme(), UriScheme::kOther);
  EXPECT_EQ(novelsc.request_uri().scheme_text(), "soap.beep");
  SipMessage unksm2 = MustParse("unksm2");
  EXPECT_EQ(unksm2.to().uri.scheme(), UriScheme::kOther);
  EXPECT_EQ(unksm2.from().uri.scheme_text(), "http");
  SipMessage require_message = MustParse("bext01");
  absl::StatusOr<std::vector<std::string_view>> require =
      require_message.GetTokens(HeaderId::kRequire);
  ASSERT_TRUE(require.ok());
  EXPECT_EQ(*require,
            (std::vector<std::string_view>{"nothingSupportsThis", "nothingSupportsThisEither"}));
  SipMessage auth_message = MustParse("regaut01");
  absl::StatusOr<std::vector<AuthValue>> auth = auth_message.GetAuth(HeaderId::kAuthorization);
  ASSERT_TRUE(auth.ok());
  EXPECT_EQ((*auth)[0].scheme, "NoOneKnowsThisScheme");
  EXPECT_EQ((*auth)[0].Param("opaque-data"), "here");
  EXPECT_EQ(MustParse("zeromf").max_forwards(), 0);
  EXPECT_EQ(MustParse("bcast").vias()[1].host, "255.255.255.255");
  SipMessage invut_message = MustParse("invut");
  absl::StatusOr<MediaType> invut = invut_message.GetContentType();
  ASSERT_TRUE(invut.ok());
  EXPECT_EQ(invut->subtype, "unknownformat");
}

TEST(Rfc4475Fields, ContactParams) {
  SipMessage c1_message = MustParse("cparam01");
  absl::StatusOr<std::vector<NameAddr>> c1 = c1_message.GetContacts();
  ASSERT_TRUE(c1.ok());
  EXPECT_TRUE((*c1)[0].uri.params().empty());  // addr-spec: the param is the header's
  EXPECT_TRUE((*c1)[0].Param("unknownparam").has_value());
  SipMessage c2_message = MustParse("cparam02");
  absl::StatusOr<std::vector<NameAddr>> c2 = c2_message.GetContacts();
  ASSERT_TRUE(c2.ok());
  EXPECT_TRUE((*c2)[0].uri.HasParam("unknownparam"));
  EXPECT_TRUE((*c2)[0].params.empty());
  SipMessage c3_message = MustParse("regescrt");
  absl::StatusOr<std::vector<NameAddr>> c3 = c3_message.GetContacts();
  ASSERT_TRUE(c3.ok());
  ASSERT_EQ((*c3)[0].uri.headers().size(), 1u);
  EXPECT_EQ((*c3)[0].uri.headers()[0].name, "Route");
  SipMessage bad_message = MustParse("regbadct");
  absl::StatusOr<std::vector<NameAddr>> bad = bad_message.GetContacts();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(SipCodeOf(bad.status()), 400);
}

TEST(Rfc4475Fields, Rfc2543) {
  SipMessage m = MustParse("inv2543");
  EXPECT_EQ(m.vias()[0].branch, "");
  EXPECT_EQ(m.from_tag(), "");
  EXPECT_FALSE(m.max_forwards().has_value());
  EXPECT_EQ(m.to().Param("user"), "phone");  // addr-spec: ;user=phone is a header param
  ASSERT_EQ(m.record_routes().size(), 1u);
  EXPECT_EQ(m.record_routes()[0].uri.maddr(), "ss1.example.com");
  EXPECT_EQ(m.body().substr(0, 3), "v=0");  // no Content-Length: the rest of the datagram
}

}  // namespace
}  // namespace causeway::sip
