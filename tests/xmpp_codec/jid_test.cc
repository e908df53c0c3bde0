// JIDs (RFC 7622): splitting, normalization, limits, forbidden characters, equality and hash;
// PRECIS profiles and IDNA2008 for non-ASCII parts, cross-checked with precis-i18n.

#include "xmpp/codec/jid.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/hash/hash.h"
#include "absl/strings/escaping.h"
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
  // Non-ASCII goes through IDNA2008 (UTS #46 mapping): lower-cased like the ASCII letters.
  EXPECT_EQ(MustParse("\xC3\x89XAMPLE.com").domain(), "\xC3\xA9xample.com");
}

TEST(JidTest, InvalidUtf8AndControlsAreMalformed) {
  ExpectMalformed("al\xFFice@example.com");
  ExpectMalformed("alice@exa\xC0\xAFmple.com");
  ExpectMalformed("alice@example.com/r\xED\xA0\x80");
  ExpectMalformed("alice@example.com/r\n");
  ExpectMalformed("alice@example.com/r\x7F");
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

// ---------------------------------------------------------------------------------------------
// PRECIS (RFC 8264/8265) and IDNA2008 preparation of non-ASCII parts.

std::string StatusMessage(std::string_view text) {
  absl::StatusOr<Jid> jid = Jid::Parse(text);
  return jid.ok() ? std::string("accepted") : std::string(jid.status().message());
}

TEST(JidTest, Rfc7622ValidExamples) {
  // RFC 7622 §3.5.1, in order.
  EXPECT_EQ(MustParse("juliet@example.com").ToString(), "juliet@example.com");
  EXPECT_EQ(MustParse("juliet@example.com/foo").resource(), "foo");
  EXPECT_EQ(MustParse("juliet@example.com/foo bar").resource(), "foo bar");
  EXPECT_EQ(MustParse("juliet@example.com/foo@bar").resource(), "foo@bar");
  EXPECT_EQ(MustParse("foo\\20bar@example.com").node(), "foo\\20bar");  // XEP-0106 escape
  EXPECT_EQ(MustParse("fussball@example.com").node(), "fussball");
  EXPECT_EQ(MustParse("fußball@example.com").node(), "fußball");  // ß is PVALID, not folded
  EXPECT_EQ(MustParse("π@example.com").node(), "π");
  Jid capital_sigma = MustParse("Σ@example.com/foo");
  EXPECT_EQ(capital_sigma.node(), "σ");  // toLowerCase; not final (no preceding letter)
  EXPECT_EQ(capital_sigma, MustParse("σ@example.com/foo"));
  EXPECT_EQ(MustParse("ς@example.com/foo").node(), "ς");  // final sigma is its own letter
  EXPECT_NE(MustParse("ς@example.com/foo"), capital_sigma);
  EXPECT_EQ(MustParse("king@example.com/♚").resource(), "♚");
  EXPECT_EQ(MustParse("example.com").domain(), "example.com");
  EXPECT_EQ(MustParse("example.com/foobar").resource(), "foobar");
  Jid k = MustParse("a.example.com/b@example.net");
  EXPECT_EQ(k.domain(), "a.example.com");
  EXPECT_EQ(k.resource(), "b@example.net");
}

TEST(JidTest, Rfc7622InvalidExamples) {
  // RFC 7622 §3.5.2.
  ExpectMalformed("\"juliet\"@example.com");
  ExpectMalformed("foo bar@example.com");
  ExpectMalformed("@example.com/");
  ExpectMalformed("henry\u2163@example.com");  // ROMAN NUMERAL FOUR: see CompatibilityCharacters
  ExpectMalformed("♚@example.com");            // a symbol: ID_DIS in the IdentifierClass
  ExpectMalformed("juliet@");
  ExpectMalformed("/foobar");
  // The one example we do not follow: "juliet@example.com/ foo" is listed as invalid for its
  // leading space, but the OpaqueString profile (RFC 8265 §4.2) has no rule against it, and
  // precis-i18n (AgreesWithPrecisI18n) accepts it too. The space is kept.
  EXPECT_EQ(MustParse("juliet@example.com/ foo").resource(), " foo");
}

TEST(JidTest, FullwidthAndHalfwidthMapInTheLocalpartOnly) {
  // UsernameCaseMapped's width mapping, then toLowerCase.
  Jid fullwidth = MustParse("ＪＵＬＩＥＴ@example.com");
  EXPECT_EQ(fullwidth.node(), "juliet");
  EXPECT_EQ(fullwidth, MustParse("juliet@example.com"));
  EXPECT_EQ(MustParse("ｶ@example.com").node(), "カ");  // halfwidth katakana ka
  // Fullwidth '＠' maps to '@', which RFC 7622 forbids in a localpart.
  EXPECT_FALSE(Jid::Make("a＠b", "example.com").ok());
  // OpaqueString has no width mapping: a resource keeps its fullwidth letters.
  EXPECT_EQ(MustParse("juliet@example.com/Ｊｕｌｉｅｔ").resource(), "Ｊｕｌｉｅｔ");
}

TEST(JidTest, GreekAndCyrillicCaseMapping) {
  // Unicode toLowerCase with its Final_Sigma context: the last capital sigma of a word becomes ς.
  EXPECT_EQ(MustParse("ΣΑΣ@example.com").node(), "σας");
  EXPECT_EQ(MustParse("ΣΑΣ@example.com"), MustParse("σας@example.com"));
  EXPECT_NE(MustParse("ΣΑΣ@example.com"), MustParse("σασ@example.com"));
  EXPECT_EQ(MustParse("ПРИВЕТ@example.com").node(), "привет");
  EXPECT_EQ(MustParse("Привет@example.com"), MustParse("пРИВЕТ@EXAMPLE.COM"));
  EXPECT_EQ(MustParse("JÜRGEN@example.com").node(), "jürgen");
  EXPECT_EQ(MustParse("ü@example.com"), MustParse("Ü@example.com"));
  EXPECT_EQ(MustParse("ẞ@example.com").node(), "ß");  // capital sharp s lowers to ß, not "ss"
  // Resources keep their case.
  EXPECT_EQ(MustParse("a@example.com/ΣΑΣ").resource(), "ΣΑΣ");
}

TEST(JidTest, NfcComposition) {
  Jid decomposed = MustParse("cafe\u0301@example.com/cafe\u0301");
  EXPECT_EQ(decomposed.node(), "caf\u00E9");
  EXPECT_EQ(decomposed.resource(), "caf\u00E9");
  EXPECT_EQ(decomposed, MustParse("caf\u00E9@example.com/caf\u00E9"));
  EXPECT_EQ(MustParse("\u212B@example.com").node(), "\u00E5");        // ANGSTROM SIGN -> å
  EXPECT_EQ(MustParse("\u1100\u1161@example.com").node(), "\uAC00");  // conjoining jamo -> 가
  // RFC 7622 counts the 1023 bytes after normalization: 1024 bytes in, 1023 out.
  std::string node = std::string(1021, 'a') + "e\u0301";
  ASSERT_EQ(node.size(), 1024u);
  EXPECT_EQ(MustParse(node + "@example.com").node().size(), 1023u);
}

TEST(JidTest, CompatibilityCharacters) {
  // U+2163 ROMAN NUMERAL FOUR has a compatibility decomposition ("IV"), not a <wide>/<narrow>
  // one, so UsernameCaseMapped's width mapping leaves it alone (RFC 8265 §3.3.1) and the
  // IdentifierClass refuses it as HasCompat (RFC 8264 §9.17: ID_DIS). It is not mapped to "iv".
  ExpectMalformed("henry\u2163@example.com");
  ExpectMalformed("\u2460@example.com");    // CIRCLED DIGIT ONE
  ExpectMalformed("\u00B5@example.com");    // MICRO SIGN (NFKC: μ)
  ExpectMalformed("\u01C5@example.com");    // Dž titlecase lowers to dž, itself HasCompat
  ExpectMalformed("a\u00A0b@example.com");  // NO-BREAK SPACE
  // The FreeformClass takes them (FREE_PVAL): a resource keeps them unchanged.
  EXPECT_EQ(MustParse("henry@example.com/\u2163 \u2460").resource(), "\u2163 \u2460");
}

TEST(JidTest, DisallowedCodePoints) {
  for (std::string part : {"\u00AD",     // SOFT HYPHEN: default ignorable
                           "x\uFE0F",    // VARIATION SELECTOR-16: default ignorable
                           "\u200B",     // ZERO WIDTH SPACE
                           "\u0378",     // unassigned
                           "\uE000",     // private use
                           "\u0085",     // C1 control
                           "\u2028",     // LINE SEPARATOR
                           "\u1100",     // old Hangul jamo, alone
                           "\u0640"}) {  // ARABIC TATWEEL (RFC 5892 exception)
    EXPECT_FALSE(Jid::Make(part, "example.com").ok()) << "localpart " << part;
    EXPECT_FALSE(Jid::Make("a", "example.com", part).ok()) << "resourcepart " << part;
  }
}

TEST(JidTest, ContextualRules) {
  // RFC 5892 Appendix A, applied by both PRECIS classes.
  EXPECT_EQ(MustParse("col\u00B7la@example.com").node(), "col\u00B7la");  // A.3 Catalan l·l
  EXPECT_NE(StatusMessage("co\u00B7lla@example.com").find("context rule"), std::string::npos);
  // A.2: ZERO WIDTH JOINER only after a virama (Devanagari ka + virama + ZWJ + ssa).
  EXPECT_TRUE(Jid::Make("\u0915\u094D\u200D\u0937", "example.com").ok());
  EXPECT_NE(StatusMessage("a\u200Db@example.com").find("context rule"), std::string::npos);
  // A.1: ZERO WIDTH NON-JOINER between joining letters (Persian "mi-khaham").
  EXPECT_TRUE(Jid::Make("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645", "example.com").ok());
  // A.4: Greek keraia before a Greek letter only.
  EXPECT_TRUE(Jid::Make("\u0375\u03B1", "example.com").ok());
  EXPECT_FALSE(Jid::Make("\u0375a", "example.com").ok());
  // A.7: katakana middle dot needs some Hiragana, Katakana or Han.
  EXPECT_TRUE(Jid::Make("\u30FB\u30AB", "example.com").ok());
  EXPECT_FALSE(Jid::Make("a\u30FB", "example.com").ok());
  // A.8/A.9: Arabic-Indic and Extended Arabic-Indic digits do not mix (checked in a resource,
  // which has no bidi rule to fail first).
  EXPECT_TRUE(Jid::Make("a", "example.com", "\u0661\u0662").ok());
  absl::StatusOr<Jid> mixed = Jid::Make("a", "example.com", "\u0661\u06F1");
  ASSERT_FALSE(mixed.ok());
  EXPECT_NE(mixed.status().message().find("context rule"), std::string::npos);
}

TEST(JidTest, BidiRuleInTheLocalpart) {
  EXPECT_EQ(MustParse("\u05D0\u05D1@example.com").node(), "\u05D0\u05D1");  // Hebrew
  EXPECT_TRUE(Jid::Make("\u05D01", "example.com").ok());       // RTL label may end with EN
  EXPECT_TRUE(Jid::Make("\u0628\u0661", "example.com").ok());  // Arabic letter, Arabic digit
  for (std::string node : {"\u05D0a",                          // L in an RTL label
                           "a\u05D0",                          // R in an LTR label
                           "1\u05D0",                          // starts with EN
                           "\u0628\u0661\u06F1"}) {            // EN and AN together in an RTL label
    absl::StatusOr<Jid> jid = Jid::Make(node, "example.com");
    ASSERT_FALSE(jid.ok()) << node;
    EXPECT_NE(jid.status().message().find("bidi"), std::string::npos) << jid.status();
  }
  // OpaqueString has no directionality rule: the same strings are fine as resources.
  EXPECT_EQ(MustParse("a@example.com/\u05D0a").resource(), "\u05D0a");
}

TEST(JidTest, InternationalizedDomains) {
  // Stored as lower-case U-labels (RFC 7622 §3.2.1), whatever form came in.
  Jid unicode = MustParse("bob@ÄÖÜ.example/phone");
  EXPECT_EQ(unicode.domain(), "äöü.example");
  EXPECT_EQ(MustParse("bob@xn--4ca0bs.example/phone"), unicode);
  EXPECT_EQ(MustParse("bob@XN--4CA0BS.EXAMPLE./phone"), unicode);
  EXPECT_EQ(MustParse("bob@äöü.example/phone"), unicode);
  EXPECT_EQ(MustParse("ｅｘａｍｐｌｅ.com").domain(), "example.com");  // UTS #46 width mapping
  EXPECT_EQ(MustParse("Straße.example").domain(), "straße.example");   // non-transitional: ß kept
  EXPECT_EQ(MustParse("\u05D0\u05D1.example").domain(), "\u05D0\u05D1.example");
  EXPECT_EQ(MustParse("_xmpp.äöü.example").domain(), "_xmpp.äöü.example");
  // The A-label form is for DNS, SNI and certificates.
  EXPECT_EQ(*DomainpartToAscii(unicode.domain()), "xn--4ca0bs.example");
  EXPECT_EQ(*DomainpartToAscii("example.com"), "example.com");
  EXPECT_FALSE(DomainpartToAscii("a\xFF.example").ok());

  ExpectMalformed("xn--.example");                 // empty Punycode
  ExpectMalformed("xn--abc.example");              // decodes to code points IDNA2008 disallows
  ExpectMalformed("ab--c.äöü.example");            // hyphens in positions 3 and 4 of a label
  ExpectMalformed("-a.äöü.example");               // leading hyphen
  ExpectMalformed("a\u200Db.example");             // ZWJ without a virama (CONTEXTJ)
  ExpectMalformed("\uFF1C.example");               // fullwidth '<' maps to '<'
  ExpectMalformed("a\uFF0Fb.example");             // fullwidth '/' maps to '/'
  ExpectMalformed("ä..example");                   // empty label
  ExpectMalformed("[2001:db8::\u00E4]");           // no IDNA inside an IP literal
  ExpectMalformed(std::string(64, 'a') + ".äöü");  // a label over 63 bytes in DNS
}

TEST(JidTest, ResourceKeepsSpacesAndSymbols) {
  Jid jid = MustParse("a@example.com/ Balcony & <Phone> @ 'home' #2 ");
  EXPECT_EQ(jid.resource(), " Balcony & <Phone> @ 'home' #2 ");
  EXPECT_EQ(MustParse("a@example.com/Balcony \u260E \U0001F600").resource(),
            "Balcony \u260E \U0001F600");
  // Non-ASCII spaces become U+0020 (OpaqueString's additional mapping rule).
  EXPECT_EQ(MustParse("a@example.com/a\u00A0b\u3000c\u2003d").resource(), "a b c d");
}

TEST(JidTest, Xep0106EscapedNodesParse) {
  // XEP-0106 §5 examples: escapes are ASCII, which the IdentifierClass holds.
  for (std::string node :
       {"space\\20cadet", "call\\20me\\20\\22ishmael\\22", "at\\26t\\20guy", "d\\27artagnan",
        "\\2plus\\2is\\4", "foo\\bar", "c\\3a\\5cnet", "cool\\5cdude"}) {
    EXPECT_EQ(MustParse(node + "@example.com").node(), node);
  }
}

TEST(JidTest, PreparedJidsParseBackToThemselves) {
  for (std::string text :
       {"ΣΑΣ@ÄÖÜ.example/ Ⅳ", "ＪＵＬＩＥＴ@xn--4ca0bs.example/Ｊ", "e\u0301@example.com/e\u0301",
        "\u212B@Straße.example", "\u05D0\u05D1@\u05D0\u05D1.example/\u05D0a",
        "a@example.com/a\u00A0b", "\u0130@example.com"}) {
    Jid jid = MustParse(text);
    absl::StatusOr<Jid> again = Jid::Parse(jid.ToString());
    ASSERT_TRUE(again.ok()) << jid.ToString() << ": " << again.status();
    EXPECT_EQ(*again, jid) << text;
  }
}

// The localpart and resourcepart preparation against precis-i18n (Debian python3-precis-i18n),
// an independent implementation of RFC 8264/8265, over inputs exercising every rule.
TEST(JidTest, AgreesWithPrecisI18n) {
  constexpr const char* kPython = "/usr/bin/python3";
  if (access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is not installed";
  struct Case {
    bool localpart;  // else resourcepart
    std::string input;
  };
  std::vector<Case> cases;
  for (std::string s : {"juliet",
                        "Juliet",
                        "ΣΑΣ",
                        "Σ",
                        "ς",
                        "σας",
                        "ΣΑΣ Α",
                        "ПРИВЕТ",
                        "fußball",
                        "ẞ",
                        "π",
                        "ＪＵＬＩＥＴ",
                        "ｶ",
                        "e\u0301",
                        "\u212B",
                        "\u2126",
                        "\u0130",
                        "ÅSTRÖM",
                        "col\u00B7la",
                        "a\u00B7b",
                        "\u05D0\u05D1",
                        "\u05D0a",
                        "a\u05D0",
                        "\u05D01",
                        "1\u05D0",
                        "\u05D0\u0307",
                        "\u0628\u0661",
                        "\u0628\u0661\u06F1",
                        "\u0915\u094D\u200D\u0937",
                        "a\u200Db",
                        "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645",
                        "a\u200Cb",
                        "\u00AD",
                        "x\uFE0F",
                        "\u1100\u1161",
                        "\u1100",
                        "\uFF01",
                        "\uFF20",
                        "a\u00A0b",
                        "\u0378",
                        "\uE000",
                        "\u01C5",
                        "\u01C8",
                        "\u03D0",
                        "\u00B5",
                        "\u2460",
                        "henry\u2163",
                        "\u265A",
                        "\u0375\u03B1",
                        "\u0375a",
                        "\u30FB\u30AB",
                        "a\u30FB",
                        "\u0085",
                        "\u0640",
                        "\u3007",
                        "\u00DF",
                        "\u0661\u0662",
                        "\u06F1\u06F2",
                        "foo\\20bar",
                        "a\"b",
                        "a:b",
                        "a\uFF1Ab"}) {
    cases.push_back({true, s});
  }
  for (std::string s :
       {" foo",       "foo bar",  "Foo Bar",      "\u265A",         "a\u00A0b", "a\u3000b",
        "a\u2003b",   "\u2163",   "Ｊｕｌｉｅｔ", "e\u0301",        "x\uFE0F",  "\u00AD",
        "a\u200Db",   "\u0378",   "\uE000",       "\u0085",         "\u2028",   "\u05D0a",
        "\U0001F600", "\u1100",   "\u0661\u06F1", "Balcony \u260E", "\u200B",   "ΣΑΣ",
        "\u00B7",     "l\u00B7l", "<&'\"@/>"}) {
    cases.push_back({false, s});
  }

  // Per process: other build trees may run this test at the same time.
  const std::string prefix = testing::TempDir() + "/jid_precis_" + std::to_string(getpid());
  const std::string script_path = prefix + ".py";
  const std::string input_path = prefix + ".txt";
  {
    std::ofstream script(script_path);
    script << R"(import sys
try:
    from precis_i18n import get_profile
except ImportError:
    print("skip")
    sys.exit(0)
profiles = {"local": get_profile("UsernameCaseMapped"), "resource": get_profile("OpaqueString")}
for line in open(sys.argv[1]):
    kind, hexed = line.split()
    try:
        out = profiles[kind].enforce(bytes.fromhex(hexed).decode("utf-8"))
    except UnicodeEncodeError as e:
        print("error", e.reason)
        continue
    if kind == "local" and any(c in out for c in "\"&'/:<>@"):
        print("error RFC7622")  # RFC 7622 section 3.3.1
        continue
    print("ok", out.encode("utf-8").hex())
)";
    std::ofstream inputs(input_path);
    for (const Case& c : cases) {
      inputs << (c.localpart ? "local " : "resource ") << absl::BytesToHexString(c.input) << "\n";
    }
  }
  const std::string command = std::string(kPython) + " " + script_path + " " + input_path;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  ASSERT_NE(pipe, nullptr);
  std::vector<std::string> lines;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe.get()) != nullptr) {
    std::string line(buffer);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    lines.push_back(line);
  }
  pipe.reset();
  std::remove(script_path.c_str());
  std::remove(input_path.c_str());
  if (lines.size() == 1 && lines[0] == "skip") GTEST_SKIP() << "precis_i18n is not installed";
  ASSERT_EQ(lines.size(), cases.size());

  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    absl::StatusOr<Jid> ours =
        c.localpart ? Jid::Make(c.input, "example.com") : Jid::Make("a", "example.com", c.input);
    const std::string& theirs = lines[i];
    const std::string label = (c.localpart ? "localpart " : "resourcepart ") + c.input;
    if (theirs.starts_with("ok ")) {
      ASSERT_TRUE(ours.ok()) << label << ": precis-i18n accepts, we say " << ours.status();
      const std::string& prepared = c.localpart ? ours->node() : ours->resource();
      EXPECT_EQ(absl::BytesToHexString(prepared), theirs.substr(3)) << label;
    } else {
      EXPECT_FALSE(ours.ok()) << label << ": precis-i18n says " << theirs << ", we accept "
                              << ours->ToString();
    }
  }
}

}  // namespace
}  // namespace causeway::xmpp
