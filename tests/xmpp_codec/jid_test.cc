// JIDs (RFC 7622): splitting, normalization, limits, forbidden characters, equality and hash.

#include "xmpp/codec/jid.h"

#include <string>

#include "absl/hash/hash.h"
#include "gtest/gtest.h"
#include "xmpp/codec/errors.h"

namespace causeway::xmpp {
namespace {

Jid MustParse(std::string_view text) {
  absl::StatusOr<Jid> jid = Jid::Parse(text);
  EXPECT_TRUE(jid.ok()) << text << ": " << jid.status();
  return jid.ok() ? *jid : Jid();
}

void ExpectMalformed(std::string_view text) {
  absl::StatusOr<Jid> jid = Jid::Parse(text);
  ASSERT_FALSE(jid.ok()) << "accepted: " << text;
  EXPECT_EQ(StanzaErrorOf(jid.status()), StanzaErrorCondition::kJidMalformed) << text;
  EXPECT_EQ(jid.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(JidTest, PartsAndForms) {
  Jid full = MustParse("Juliet@Example.COM/Balcony Phone");
  EXPECT_EQ(full.node(), "juliet");
  EXPECT_EQ(full.domain(), "example.com");
  EXPECT_EQ(full.resource(), "Balcony Phone");  // resource keeps its case
  EXPECT_FALSE(full.is_bare());
  EXPECT_EQ(full.ToString(), "juliet@example.com/Balcony Phone");
  EXPECT_EQ(full.BareString(), "juliet@example.com");
  EXPECT_EQ(full.Bare().ToString(), "juliet@example.com");
  EXPECT_TRUE(full.Bare().is_bare());

  Jid domain = MustParse("lync.test");
  EXPECT_EQ(domain.node(), "");
  EXPECT_EQ(domain.ToString(), "lync.test");
  EXPECT_EQ(MustParse("lync.test/res").ToString(), "lync.test/res");
  EXPECT_TRUE(Jid().empty());
}

TEST(JidTest, SplitsAtTheFirstSlashThenTheFirstAt) {
  // RFC 7622 §3.2: a resource may hold '@' and '/'.
  Jid j = MustParse("a@b.example/c@d/e f");
  EXPECT_EQ(j.node(), "a");
  EXPECT_EQ(j.domain(), "b.example");
  EXPECT_EQ(j.resource(), "c@d/e f");
  Jid k = MustParse("b.example/x@y");
  EXPECT_EQ(k.node(), "");
  EXPECT_EQ(k.resource(), "x@y");
  ExpectMalformed("a@b@c.example");  // second '@' lands in the domain
}

TEST(JidTest, EmptyPartsAreMalformed) {
  ExpectMalformed("");
  ExpectMalformed("@example.com");
  ExpectMalformed("alice@");
  ExpectMalformed("alice@example.com/");
  ExpectMalformed("/resource");
  ExpectMalformed("alice@/res");
  ExpectMalformed(".");
  ExpectMalformed("a..b");
  ExpectMalformed(".example.com");
}

TEST(JidTest, TrailingDotIsStripped) {
  EXPECT_EQ(MustParse("alice@example.com.").domain(), "example.com");
  EXPECT_EQ(MustParse("example.com./r").ToString(), "example.com/r");
  EXPECT_EQ(MustParse("alice@example.com."), MustParse("alice@EXAMPLE.com"));
}

TEST(JidTest, ForbiddenLocalpartCharacters) {
  for (char c : std::string("\"&'/:<>@ ")) {
    // '/' and '@' change the split instead; build the JID from parts to test them directly.
    absl::StatusOr<Jid> jid = Jid::Make(std::string("al") + c + "ice", "example.com");
    EXPECT_FALSE(jid.ok()) << "accepted localpart with '" << c << "'";
    EXPECT_EQ(StanzaErrorOf(jid.status()), StanzaErrorCondition::kJidMalformed);
  }
  ExpectMalformed("al\"ice@example.com");
  ExpectMalformed("al:ice@example.com");
  ExpectMalformed("al ice@example.com");
  ExpectMalformed("al<ice@example.com");
  ExpectMalformed("al\x01ice@example.com");
  EXPECT_EQ(MustParse("al.i-c_e+tag@example.com").node(), "al.i-c_e+tag");
}

TEST(JidTest, LengthLimitsPerPart) {
  std::string max(1023, 'a');
  std::string over(1024, 'a');
  EXPECT_EQ(MustParse(max + "@example.com").node().size(), 1023u);
  ExpectMalformed(over + "@example.com");
  EXPECT_EQ(MustParse("example.com/" + max).resource().size(), 1023u);
  ExpectMalformed("example.com/" + over);
  // A domain of 1023 bytes in 63-byte labels passes, one more byte does not.
  std::string domain;
  while (domain.size() + 64 <= 1023) domain += std::string(63, 'd') + ".";
  domain += std::string(1023 - domain.size(), 'e');
  ASSERT_EQ(domain.size(), 1023u);
  EXPECT_EQ(MustParse(domain).domain().size(), 1023u);
  ExpectMalformed(domain + "e");
  // The length counts bytes, not characters: 512 two-byte characters are 1024 bytes.
  std::string wide;
  for (int i = 0; i < 512; ++i) wide += "\xC3\xA9";
  ExpectMalformed(wide + "@example.com");
}

TEST(JidTest, DomainForms) {
  EXPECT_EQ(MustParse("127.0.0.1").domain(), "127.0.0.1");
  EXPECT_EQ(MustParse("alice@[2001:DB8::1]/r").domain(), "[2001:db8::1]");
  ExpectMalformed("[2001:db8::1");
  ExpectMalformed("[]");
  ExpectMalformed("[zz::1]");
  ExpectMalformed("exa mple.com");
  ExpectMalformed("example.com:5222");
  ExpectMalformed("exa<mple.com");
  // Non-ASCII passes through, only ASCII letters are lower-cased (no IDNA).
  EXPECT_EQ(MustParse("\xC3\x89XAMPLE.com").domain(), "\xC3\x89xample.com");
}

TEST(JidTest, InvalidUtf8AndControlsAreMalformed) {
  ExpectMalformed("al\xFFice@example.com");
  ExpectMalformed("alice@exa\xC0\xAFmple.com");
  ExpectMalformed("alice@example.com/r\xED\xA0\x80");
  ExpectMalformed("alice@example.com/r\n");
  ExpectMalformed("alice@example.com/r\x7F");
}

TEST(JidTest, CaseFoldingIsAsciiOnly) {
  // The localpart folds ASCII; non-ASCII case is kept (PRECIS UsernameCaseMapped not implemented).
  EXPECT_EQ(MustParse("J\xC3\x9CRGEN@example.com").node(), "j\xC3\x9Crgen");
  EXPECT_NE(MustParse("\xC3\xBC@example.com"), MustParse("\xC3\x9C@example.com"));
}

TEST(JidTest, EqualityAndHash) {
  Jid a = MustParse("Alice@Lync.Test/Office");
  Jid b = MustParse("alice@lync.test/Office");
  Jid c = MustParse("alice@lync.test/office");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);  // resources are case-sensitive
  EXPECT_EQ(absl::Hash<Jid>{}(a), absl::Hash<Jid>{}(b));
  EXPECT_NE(absl::Hash<Jid>{}(a), absl::Hash<Jid>{}(c));
  EXPECT_NE(a.Bare(), a);
  EXPECT_EQ(a.Bare(), c.Bare());
  // node="ab", domain="c" differs from node="a", domain="bc".
  EXPECT_NE(absl::Hash<Jid>{}(MustParse("ab@c")), absl::Hash<Jid>{}(MustParse("a@bc")));
}

TEST(JidTest, MakeFromParts) {
  absl::StatusOr<Jid> j = Jid::Make("Bob", "XMPP.test", "phone");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->ToString(), "bob@xmpp.test/phone");
  EXPECT_EQ(*j, MustParse("bob@xmpp.test/phone"));
  EXPECT_FALSE(Jid::Make("bob", "").ok());
}

}  // namespace
}  // namespace causeway::xmpp
