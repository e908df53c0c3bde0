// URIs (RFC 3261 §19.1, RFC 3966), equivalence (§19.1.4 examples), name-addr, params, lists.

#include "sip/codec/uri.h"

#include <string>
#include <vector>

#include "core/status.h"
#include "gtest/gtest.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip {
namespace {

Uri MustUri(std::string_view text) {
  absl::StatusOr<Uri> uri = Uri::Parse(text);
  EXPECT_TRUE(uri.ok()) << text << ": " << uri.status();
  return uri.ok() ? *uri : Uri();
}

TEST(UriTest, SipParts) {
  Uri u =
      MustUri("sips:alice:secret@Example.COM:5061;transport=tcp;lr;maddr=10.0.0.1?subject=hi&x=");
  EXPECT_EQ(u.scheme(), UriScheme::kSips);
  EXPECT_EQ(u.user(), "alice");
  EXPECT_EQ(u.password(), "secret");
  EXPECT_EQ(u.host(), "Example.COM");
  EXPECT_EQ(u.port(), 5061);
  EXPECT_EQ(u.transport(), "tcp");
  EXPECT_TRUE(u.lr());
  EXPECT_EQ(u.maddr(), "10.0.0.1");
  EXPECT_EQ(u.Param("TRANSPORT"), "tcp");
  ASSERT_EQ(u.headers().size(), 2u);
  EXPECT_EQ(u.headers()[0].name, "subject");
  EXPECT_EQ(u.headers()[1].value, "");
  EXPECT_EQ(u.params().size(), 3u);
}

TEST(UriTest, HostOnlyAndIpv6) {
  Uri u = MustUri("sip:[2001:db8::10]:5070;transport=udp");
  EXPECT_FALSE(u.has_user());
  EXPECT_EQ(u.host(), "[2001:db8::10]");
  EXPECT_TRUE(u.is_ipv6_reference());
  EXPECT_EQ(u.port(), 5070);
  Uri v = MustUri("sip:[::ffff:192.0.2.1]");
  EXPECT_EQ(v.host(), "[::ffff:192.0.2.1]");
  EXPECT_FALSE(v.port().has_value());
  Uri w = MustUri("sip:registrar.example.com");
  EXPECT_EQ(w.host(), "registrar.example.com");
}

TEST(UriTest, Rejects) {
  for (std::string_view bad : {"",
                               "sip:",
                               "sip:user@",
                               "sip:host:99999",
                               "sip:host:",
                               "sip:[::1",
                               "sip:[zz::1]",
                               "sip:user@host;",
                               "sip:user@host;;lr",
                               "sip:us er@host",
                               "sip:%zzuser@host",
                               "sip:user@host?noequals",
                               "<sip:user@host>",
                               "1sip:host",
                               "tel:",
                               "tel:abc",
                               "tel:7042",
                               "sip:host;a=",
                               "sip:user@ho st",
                               "x:"}) {
    absl::StatusOr<Uri> uri = Uri::Parse(bad);
    EXPECT_FALSE(uri.ok()) << bad;
    if (!uri.ok()) {
      EXPECT_EQ(SipCodeOf(uri.status()), 400) << bad;
    }
  }
}

TEST(UriTest, ManyParamsSpillAndStayOrdered) {
  Uri u = MustUri("sip:u@h;a=1;b=2;c=3;d=4;e=5;transport=tls?x=1&y=2&z=3");
  ASSERT_EQ(u.params().size(), 6u);
  EXPECT_EQ(u.params()[4].name, "e");
  EXPECT_EQ(u.transport(), "tls");
  EXPECT_EQ(u.headers().size(), 3u);
  Uri copy = u;  // copies keep pointing at the same text
  EXPECT_EQ(copy.params()[5].value, "tls");
  EXPECT_TRUE(UriEquivalent(u, MustUri("sip:u@h;transport=TLS;e=5?z=3&y=2&x=1")));
  EXPECT_FALSE(UriEquivalent(u, MustUri("sip:u@h;transport=tls;e=6?z=3&y=2&x=1")));
}

TEST(UriTest, TelUris) {
  Uri g = MustUri("tel:+1-201-555-0123;ext=1234");
  EXPECT_EQ(g.scheme(), UriScheme::kTel);
  EXPECT_TRUE(g.is_global_number());
  EXPECT_EQ(g.user(), "+1-201-555-0123");
  EXPECT_EQ(g.Param("ext"), "1234");
  Uri l = MustUri("tel:7042;phone-context=example.com");
  EXPECT_FALSE(l.is_global_number());
  EXPECT_EQ(l.Param("phone-context"), "example.com");
  EXPECT_TRUE(UriEquivalent(MustUri("tel:+1-201-555-0123"), MustUri("tel:+1(201)5550123")));
  EXPECT_FALSE(UriEquivalent(MustUri("tel:+12015550123"), MustUri("tel:+12015550124")));
  EXPECT_FALSE(UriEquivalent(MustUri("tel:7042;phone-context=a.com"),
                             MustUri("tel:7042;phone-context=b.com")));
}

TEST(UriTest, OtherSchemesAreOpaque) {
  Uri u = MustUri("urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  EXPECT_EQ(u.scheme(), UriScheme::kOther);
  EXPECT_EQ(u.scheme_text(), "urn");
  EXPECT_EQ(u.opaque(), "uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6");
  EXPECT_TRUE(UriEquivalent(u, MustUri("URN:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6")));
}

TEST(UriTest, ToStringLowersSchemeOnly) {
  EXPECT_EQ(MustUri("SIP:Alice@Host;Lr").ToString(), "sip:Alice@Host;Lr");
  EXPECT_EQ(MustUri("TeL:+123").ToString(), "tel:+123");
}

TEST(UriTest, UnescapeKeepsMalformedEscapes) {
  EXPECT_EQ(UnescapeUri("a%20b%2"), "a b%2");
  EXPECT_EQ(UnescapeUri("%Z%45"), "%ZE");
  EXPECT_EQ(UnescapeUri("100%"), "100%");
}

// RFC 3261 §19.1.4: the equivalent and non-equivalent examples, verbatim.
TEST(UriEquivalenceTest, Rfc3261Examples) {
  const std::pair<const char*, const char*> equal[] = {
      {"sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com;security=on"},
      {"sip:carol@chicago.com;newparam=5", "sip:carol@chicago.com;security=on"},
      {"sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
       "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"},
      {"sip:alice@atlanta.com?subject=project%20x&priority=urgent",
       "sip:alice@atlanta.com?priority=urgent&subject=project%20x"},
  };
  for (const auto& [a, b] : equal) {
    EXPECT_TRUE(UriEquivalent(MustUri(a), MustUri(b))) << a << " vs " << b;
    EXPECT_TRUE(UriEquivalent(MustUri(b), MustUri(a))) << b << " vs " << a;
  }
  const std::pair<const char*, const char*> different[] = {
      {"SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"},
      {"sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"},
      {"sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"},
      {"sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"},
      {"sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"},
      {"sip:alice@atlanta.com", "sips:alice@atlanta.com"},
  };
  for (const auto& [a, b] : different) {
    EXPECT_FALSE(UriEquivalent(MustUri(a), MustUri(b))) << a << " vs " << b;
    EXPECT_FALSE(UriEquivalent(MustUri(b), MustUri(a))) << b << " vs " << a;
  }
}

TEST(NameAddrTest, Forms) {
  absl::StatusOr<NameAddr> a =
      ParseNameAddr("\"Alice \\\"A\\\"\" <sip:alice@atlanta.com>;tag=1928");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->DisplayName(), "Alice \"A\"");
  EXPECT_TRUE(a->angle_brackets);
  EXPECT_EQ(a->tag(), "1928");
  EXPECT_EQ(a->uri.user(), "alice");

  absl::StatusOr<NameAddr> b =
      ParseNameAddr("Bob Smith <sip:bob@biloxi.com;transport=tcp> ;expires = 60");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->DisplayName(), "Bob Smith");
  EXPECT_EQ(b->uri.transport(), "tcp");
  EXPECT_EQ(b->Param("expires"), "60");

  absl::StatusOr<NameAddr> c = ParseNameAddr("sip:carol@chicago.com;tag=xyz");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->angle_brackets);
  EXPECT_TRUE(c->uri.params().empty());
  EXPECT_EQ(c->tag(), "xyz");

  absl::StatusOr<NameAddr> star = ParseNameAddr(" * ", /*allow_wildcard=*/true);
  ASSERT_TRUE(star.ok());
  EXPECT_TRUE(star->wildcard);
  EXPECT_FALSE(ParseNameAddr("*").ok());

  absl::StatusOr<NameAddr> lync = ParseNameAddr(
      "<sip:user@contoso.com;opaque=user:epid:abc;gruu>;+sip.instance=\"<urn:uuid:1234>\"");
  ASSERT_TRUE(lync.ok()) << lync.status();
  EXPECT_TRUE(lync->uri.HasParam("gruu"));
  EXPECT_EQ(lync->Param("+sip.instance"), "\"<urn:uuid:1234>\"");
  EXPECT_EQ(lync->ToString(),
            "<sip:user@contoso.com;opaque=user:epid:abc;gruu>;+sip.instance=\"<urn:uuid:1234>\"");
}

TEST(NameAddrTest, Rejects) {
  for (std::string_view bad :
       {"", "\"unterminated <sip:a@b>", "Bell, Alexander <sip:a@b>", "<sip:a@b", "< sip:a@b >",
        "sip:a@b?x=y", "<sip:a@b>;", "<sip:a@b>;;", "<sip:a@b>;tag=", "\"x\" sip:a@b",
        "<sip:a@b> junk"}) {
    EXPECT_FALSE(ParseNameAddr(bad).ok()) << bad;
  }
}

TEST(ParamsTest, GenericParams) {
  GenericParams params;
  ASSERT_TRUE(ParseGenericParams(" ; a = b ;c; d=\"q s;,\" ;e=[::1]", &params).ok());
  ASSERT_EQ(params.size(), 4u);
  EXPECT_EQ(params[0].name, "a");
  EXPECT_EQ(params[0].value, "b");
  EXPECT_FALSE(params[1].has_value);
  EXPECT_EQ(params[2].value, "\"q s;,\"");
  EXPECT_EQ(FindParam(params, "E"), "[::1]");
  EXPECT_FALSE(FindParam(params, "z").has_value());
  GenericParams many;
  ASSERT_TRUE(ParseGenericParams(";a;b;c;d;e;f;g;h", &many).ok());
  EXPECT_EQ(many.size(), 8u);  // spills past the inline capacity
  EXPECT_EQ(many[7].name, "h");
  GenericParams bad;
  EXPECT_FALSE(ParseGenericParams("a=b", &bad).ok());
  EXPECT_FALSE(ParseGenericParams(";a=\"open", &bad).ok());
  EXPECT_FALSE(ParseGenericParams(";=b", &bad).ok());
}

TEST(ParamsTest, CommaLists) {
  std::vector<std::string_view> items;
  ASSERT_TRUE(SplitCommaList(" \"a, b\" <sip:x@y;p=1,2>, <sip:z@w> ,c", &items).ok());
  EXPECT_EQ(items, (std::vector<std::string_view>{"\"a, b\" <sip:x@y;p=1,2>", "<sip:z@w>", "c"}));
  items.clear();
  ASSERT_TRUE(SplitCommaList("   ", &items).ok());
  EXPECT_TRUE(items.empty());
  EXPECT_FALSE(SplitCommaList("a,,b", &items).ok());
  EXPECT_FALSE(SplitCommaList("a,", &items).ok());
  EXPECT_FALSE(SplitCommaList("\"open, x", &items).ok());
  EXPECT_FALSE(SplitCommaList("<sip:a@b, c", &items).ok());
  absl::StatusOr<std::vector<std::string_view>> tokens = ParseTokenList("timer, 100rel,path");
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(tokens->size(), 3u);
  EXPECT_FALSE(ParseTokenList("a b").ok());
}

TEST(ParamsTest, QuotedStrings) {
  EXPECT_EQ(UnquoteString("\"a\\\"b\\\\c\""), "a\"b\\c");
  EXPECT_EQ(QuoteString("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(UnquoteString(QuoteString("round \"trip\"")), "round \"trip\"");
}

TEST(AuthTest, DigestAndLync) {
  absl::StatusOr<AuthValue> digest = ParseAuthValue(
      "Digest username=\"bob\", realm=\"biloxi.com\", nonce=\"dcd98b\", "
      "uri=\"sip:bob@biloxi.com\", "
      "response=\"6629fae4\", algorithm=MD5, qop=auth, nc=00000001");
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->scheme, "Digest");
  EXPECT_EQ(digest->params.size(), 8u);
  EXPECT_EQ(digest->Param("realm"), "\"biloxi.com\"");
  EXPECT_EQ(digest->params[1].Unquoted(), "biloxi.com");
  EXPECT_EQ(digest->Param("algorithm"), "MD5");

  absl::StatusOr<AuthValue> ntlm = ParseAuthValue(
      "NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\", "
      "gssapi-data=\"TlRMTVNTUAACAAAAAAAAADgAAADzgpji+w==\", version=3");
  ASSERT_TRUE(ntlm.ok()) << ntlm.status();
  EXPECT_EQ(ntlm->scheme, "NTLM");
  EXPECT_EQ(ntlm->params[3].Unquoted(), "TlRMTVNTUAACAAAAAAAAADgAAADzgpji+w==");
  EXPECT_EQ(ntlm->Param("version"), "3");

  absl::StatusOr<AuthValue> bare = ParseAuthValue("Kerberos");
  ASSERT_TRUE(bare.ok());
  EXPECT_TRUE(bare->params.empty());
  EXPECT_FALSE(ParseAuthValue("").ok());
  EXPECT_FALSE(ParseAuthValue("Digest realm=\"open").ok());
  EXPECT_FALSE(ParseAuthValue("Digest a=b,,c=d").ok());
}

TEST(MediaTypeTest, Parses) {
  absl::StatusOr<MediaType> t = ParseMediaType("multipart/alternative; boundary=\"--=_a b\"");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->type, "multipart");
  EXPECT_EQ(t->subtype, "alternative");
  EXPECT_EQ(t->Param("boundary"), "\"--=_a b\"");
  EXPECT_FALSE(ParseMediaType("text").ok());
  EXPECT_FALSE(ParseMediaType("text/").ok());
  absl::StatusOr<TokenWithParams> event = ParseTokenWithParams("presence;id=7");
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->token, "presence");
  EXPECT_EQ(event->Param("id"), "7");
}

}  // namespace
}  // namespace causeway::sip
