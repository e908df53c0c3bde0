#include "mappings/address_map.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "mappings/sip_im.h"
#include "sip/codec/uri.h"

namespace causeway::mappings {
namespace {

std::string Escaped(std::string_view in) {
  absl::StatusOr<std::string> out = EscapeJidNode(in);
  EXPECT_TRUE(out.ok()) << in << ": " << out.status();
  return out.ok() ? *out : std::string("<error>");
}

// XEP-0106 §5.1 "JID Examples": user input and the escaped node on the wire.
struct XepExample {
  int number;
  std::string_view input;
  std::string_view escaped;
};
constexpr XepExample kXepExamples[] = {
    {1, "space cadet", "space\\20cadet"},
    {2, "call me \"ishmael\"", "call\\20me\\20\\22ishmael\\22"},
    {3, "at&t guy", "at\\26t\\20guy"},
    {4, "d'artagnan", "d\\27artagnan"},
    {5, "/.fanboy", "\\2f.fanboy"},
    {6, "::foo::", "\\3a\\3afoo\\3a\\3a"},
    {7, "<foo>", "\\3cfoo\\3e"},
    {8, "user@host", "user\\40host"},
    {9, "c:\\net", "c\\3a\\5cnet"},
    {10, "c:\\\\net", "c\\3a\\5c\\5cnet"},
    {11, "c:\\cool stuff", "c\\3a\\5ccool\\20stuff"},
    {12, "c:\\5commas", "c\\3a\\5c5commas"},
};

TEST(JidEscaping, EveryXepExampleUnescapesToTheUserInput) {
  for (const XepExample& e : kXepExamples) {
    EXPECT_EQ(UnescapeJidNode(e.escaped), e.input) << "example " << e.number;
  }
}

TEST(JidEscaping, XepExamplesWithoutStrayBackslashesEscapeExactlyAsTheTable) {
  for (const XepExample& e : kXepExamples) {
    if (e.number >= 9 && e.number <= 11) continue;  // see the next test
    EXPECT_EQ(Escaped(e.input), e.escaped) << "example " << e.number;
  }
}

// Examples 9-11 escape backslashes that start no escape sequence, which §4.3 says MUST be left
// alone ("foo\bar is not modified"); we follow §4.3 and both forms unescape to the same input.
TEST(JidEscaping, BackslashesThatStartNoEscapeSequenceStay) {
  EXPECT_EQ(Escaped("c:\\net"), "c\\3a\\net");
  EXPECT_EQ(Escaped("c:\\\\net"), "c\\3a\\\\net");
  EXPECT_EQ(Escaped("c:\\cool stuff"), "c\\3a\\cool\\20stuff");
  for (const XepExample& e : kXepExamples) {
    EXPECT_EQ(UnescapeJidNode(Escaped(e.input)), e.input) << "example " << e.number;
  }
}

TEST(JidEscaping, XepExceptionsAreNotModifiedEitherWay) {
  for (std::string_view s : {"\\2plus\\2is\\4", "foo\\bar", "foob\\41r"}) {
    EXPECT_EQ(Escaped(s), s);
    EXPECT_EQ(UnescapeJidNode(s), s);
  }
}

TEST(JidEscaping, SequencesInTheSourceAddressGetTheirBackslashEscaped) {
  // §4.2 step 3, the IMPS example: wv:\3and\2is\5cool@example.com.
  EXPECT_EQ(Escaped("\\3and\\2is\\5cool"), "\\5c3and\\2is\\5c5cool");
  EXPECT_EQ(UnescapeJidNode("\\5c3and\\2is\\5c5cool"), "\\3and\\2is\\5cool");
  EXPECT_EQ(Escaped("\\5c"), "\\5c5c");
  EXPECT_EQ(Escaped("\\27"), "\\5c27");
}

TEST(JidEscaping, MailAndImpsExamples) {
  EXPECT_EQ(Escaped("here's_a_wild_&_/cr%zy/_address"),
            "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address");
  EXPECT_EQ(Escaped("here's_a_wild_&_/cr%zy/_address_for:<wv>(\"IMPS\")"),
            "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address_for\\3a\\3cwv\\3e(\\22IMPS\\22)");
}

TEST(JidEscaping, CaseIsSignificant) {
  EXPECT_EQ(UnescapeJidNode("a\\2Fb\\3Ac"), "a\\2Fb\\3Ac");
  EXPECT_EQ(Escaped("a\\2Fb"), "a\\2Fb");
}

TEST(JidEscaping, NodeMayNotStartOrEndWithAnEscapedSpace) {
  EXPECT_FALSE(EscapeJidNode(" bob").ok());
  EXPECT_FALSE(EscapeJidNode("bob ").ok());
  EXPECT_FALSE(EscapeJidNode(" ").ok());
  EXPECT_EQ(Escaped("bob smith"), "bob\\20smith");
  // A literal "\20" in the source is not a space: its backslash is escaped, so it may lead.
  EXPECT_EQ(Escaped("\\20bob"), "\\5c20bob");
}

// Every string over an alphabet rich in escape fragments survives escape + unescape, and the
// escaped form never holds a character a JID node cannot.
TEST(JidEscaping, RoundTripsEveryShortString) {
  constexpr std::string_view kAlphabet = "\\25cf0 @'";
  std::vector<std::string> level = {""};
  int checked = 0;
  for (int length = 1; length <= 5; ++length) {
    std::vector<std::string> next;
    for (const std::string& prefix : level) {
      for (const char c : kAlphabet) next.push_back(prefix + c);
    }
    for (const std::string& s : next) {
      absl::StatusOr<std::string> escaped = EscapeJidNode(s);
      if (s.front() == ' ' || s.back() == ' ') {
        EXPECT_FALSE(escaped.ok()) << s;
        continue;
      }
      ASSERT_TRUE(escaped.ok()) << s;
      EXPECT_EQ(escaped->find_first_of(" \"&'/:<>@"), std::string::npos) << s;
      EXPECT_EQ(UnescapeJidNode(*escaped), s) << s << " -> " << *escaped;
      ++checked;
    }
    level = std::move(next);
  }
  EXPECT_GT(checked, 50000);
}

// ---- DomainMap and addresses ----

DomainMap Map(DomainMapConfig config) {
  absl::StatusOr<DomainMap> map = DomainMap::Create(config);
  EXPECT_TRUE(map.ok()) << map.status();
  return *std::move(map);
}

DomainMapConfig Lab() {
  DomainMapConfig c;
  c.local = {{"lync.test", "lync.test"}, {"corp.example", "xmpp.corp.example"}};
  c.open_federation = true;
  return c;
}

Address Sip(std::string user, std::string domain, std::string resource = "") {
  return Address{Network::kSip, std::move(user), std::move(domain), std::move(resource)};
}
Address Xmpp(std::string user, std::string domain, std::string resource = "") {
  return Address{Network::kXmpp, std::move(user), std::move(domain), std::move(resource)};
}

TEST(DomainMap, LocalDomainsMapBothWaysAndRemoteOnesPassThrough) {
  const DomainMap map = Map(Lab());
  EXPECT_EQ(*map.XmppDomainFor("lync.test"), "lync.test");
  EXPECT_EQ(*map.XmppDomainFor("corp.example"), "xmpp.corp.example");
  EXPECT_EQ(*map.SipDomainFor("xmpp.corp.example"), "corp.example");
  EXPECT_EQ(*map.XmppDomainFor("xmpp.test"), "xmpp.test");
  EXPECT_EQ(*map.SipDomainFor("xmpp.test"), "xmpp.test");
  EXPECT_EQ(*map.XmppDomainFor("Corp.EXAMPLE"), "xmpp.corp.example");
  EXPECT_TRUE(map.IsLocalSipDomain("CORP.example"));
  EXPECT_FALSE(map.IsLocalSipDomain("xmpp.corp.example"));
  EXPECT_TRUE(map.IsLocalXmppDomain("xmpp.corp.example"));
}

TEST(DomainMap, ALocalNameIsNeverARemoteDomainOnTheOtherSide) {
  const DomainMap map = Map(Lab());
  // corp.example is the SIP name of a local domain: an XMPP JID there would alias its users.
  EXPECT_EQ(map.SipDomainFor("corp.example").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(map.XmppDomainFor("xmpp.corp.example").status().code(), absl::StatusCode::kNotFound);
}

TEST(DomainMap, FederationIsClosedOrAnAllowList) {
  DomainMapConfig closed = Lab();
  closed.open_federation = false;
  const DomainMap none = Map(closed);
  EXPECT_EQ(none.XmppDomainFor("xmpp.test").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(none.SipDomainFor("xmpp.test").status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(none.XmppDomainFor("lync.test").ok());

  closed.federated_domains = {"XMPP.test"};
  const DomainMap allow = Map(closed);
  EXPECT_EQ(*allow.XmppDomainFor("xmpp.test"), "xmpp.test");
  EXPECT_EQ(*allow.SipDomainFor("xmpp.TEST"), "xmpp.test");
  EXPECT_EQ(allow.XmppDomainFor("jabber.test").status().code(), absl::StatusCode::kNotFound);
}

TEST(DomainMap, AnInternationalDomainListedInEitherFormMatchesJidsAndHosts) {
  // XMPP addresses carry U-labels (RFC 7622 §3.2), DNS and SIP hosts A-labels.
  const std::string u_label = "\xC3\xA4\xC3\xB6\xC3\xBC.example";  // "äöü.example"
  for (const std::string& listed : {std::string("xn--4ca0bs.example"), u_label}) {
    DomainMapConfig closed = Lab();
    closed.open_federation = false;
    closed.federated_domains = {listed};
    const DomainMap allow = Map(closed);
    EXPECT_TRUE(allow.SipDomainFor(u_label).ok()) << listed;
    EXPECT_TRUE(allow.XmppDomainFor("xn--4ca0bs.example").ok()) << listed;
    DomainMapConfig open = Lab();
    open.blocked_domains = {listed};
    const DomainMap blocked = Map(open);
    EXPECT_EQ(blocked.SipDomainFor(u_label).status().code(), absl::StatusCode::kNotFound) << listed;
  }
}

TEST(DomainMap, ABlockedDomainIsUnreachableBothWaysEvenUnderOpenFederation) {
  DomainMapConfig c = Lab();  // open federation
  c.blocked_domains = {"Spam.TEST"};
  const DomainMap map = Map(c);
  EXPECT_EQ(map.XmppDomainFor("spam.test").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(map.SipDomainFor("SPAM.test").status().code(), absl::StatusCode::kNotFound);
  // Exact names only: neighbours and subdomains still federate.
  EXPECT_EQ(*map.SipDomainFor("chat.spam.test"), "chat.spam.test");
  EXPECT_EQ(*map.XmppDomainFor("xmpp.test"), "xmpp.test");
  EXPECT_EQ(XmppAddressFromSip(Sip("mallory", "spam.test"), map).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(SipAddressFromXmpp(Xmpp("mallory", "spam.test", "bot"), map).status().code(),
            absl::StatusCode::kNotFound);
  // Local domains are untouched by the block list.
  EXPECT_EQ(*map.XmppDomainFor("lync.test"), "lync.test");
}

TEST(DomainMap, BlockedDomainsMustBeRemoteAndOverrideTheAllowList) {
  DomainMapConfig c = Lab();
  c.blocked_domains = {"lync.test"};
  EXPECT_EQ(DomainMap::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c.blocked_domains = {"xmpp.corp.example"};  // the XMPP name of a local pair
  EXPECT_EQ(DomainMap::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c.blocked_domains = {"bad domain"};
  EXPECT_EQ(DomainMap::Create(c).status().code(), absl::StatusCode::kInvalidArgument);
  c.open_federation = false;
  c.federated_domains = {"xmpp.test"};
  c.blocked_domains = {"XMPP.test"};
  const DomainMap both = Map(c);
  EXPECT_EQ(both.SipDomainFor("xmpp.test").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(both.XmppDomainFor("xmpp.test").status().code(), absl::StatusCode::kNotFound);
  c.blocked_domains = {"spam.test"};
  EXPECT_EQ(*Map(c).SipDomainFor("xmpp.test"), "xmpp.test");
}

TEST(DomainMap, RejectsAmbiguousOrMalformedConfiguration) {
  DomainMapConfig c;
  c.local = {{"a.test", "x.test"}, {"A.TEST", "y.test"}};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.local = {{"a.test", "x.test"}, {"b.test", "X.test"}};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.local = {{"a.test", "x.test"}};
  c.federated_domains = {"x.test"};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.federated_domains = {};
  c.local = {{"", "x.test"}};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.local = {{"a test", "x.test"}};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.local = {{"a.test", "bob@x.test"}};
  EXPECT_FALSE(DomainMap::Create(c).ok());
  c.local = {{"[2001:db8::1]", "x.test"}};
  EXPECT_TRUE(DomainMap::Create(c).ok());
}

TEST(XmppAddressFromSip, EscapesLowerCasesAndMapsTheDomain) {
  const DomainMap map = Map(Lab());
  EXPECT_EQ(*XmppAddressFromSip(Sip("alice", "lync.test"), map), Xmpp("alice", "lync.test"));
  EXPECT_EQ(*XmppAddressFromSip(Sip("Alice", "corp.example"), map),
            Xmpp("alice", "xmpp.corp.example"));
  EXPECT_EQ(*XmppAddressFromSip(Sip("D'Artagnan", "lync.test"), map),
            Xmpp("d\\27artagnan", "lync.test"));
  // Folding happens before escaping: "\5C" is not an escape sequence, "\5c" would be.
  EXPECT_EQ(*XmppAddressFromSip(Sip("C:\\5Commas", "lync.test"), map),
            Xmpp("c\\3a\\5c5commas", "lync.test"));
}

TEST(XmppAddressFromSip, RemoteXmppContactOfALyncUserPassesThrough) {
  const DomainMap map = Map(Lab());
  EXPECT_EQ(*XmppAddressFromSip(Sip("bob", "xmpp.test"), map), Xmpp("bob", "xmpp.test"));
}

TEST(XmppAddressFromSip, GruuIsNotAResource) {
  const DomainMap map = Map(Lab());
  absl::StatusOr<Address> a = XmppAddressFromSip(
      Sip("alice", "lync.test", "urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6"), map);
  ASSERT_TRUE(a.ok());
  EXPECT_TRUE(a->is_bare());
}

TEST(XmppAddressFromSip, TelephoneNumbersAreNeverLeakedAsJids) {
  const DomainMap map = Map(Lab());
  EXPECT_EQ(
      XmppAddressFromSip(Address{Network::kPstn, "+15551234567", "", ""}, map).status().code(),
      absl::StatusCode::kInvalidArgument);
  for (std::string_view user : {"+15551234567", "+1-555-123-4567", "+1.555.(123)4567"}) {
    EXPECT_EQ(XmppAddressFromSip(Sip(std::string(user), "lync.test"), map).status().code(),
              absl::StatusCode::kInvalidArgument)
        << user;
  }
  // Not global numbers: a '+' user name, an extension.
  EXPECT_TRUE(XmppAddressFromSip(Sip("+bob", "lync.test"), map).ok());
  EXPECT_TRUE(XmppAddressFromSip(Sip("4711", "lync.test"), map).ok());

  absl::StatusOr<sip::Uri> tel = sip::Uri::Parse("tel:+15551234567");
  ASSERT_TRUE(tel.ok());
  absl::StatusOr<Address> pstn = AddressFromSipUri(*tel);
  ASSERT_TRUE(pstn.ok());
  EXPECT_FALSE(XmppAddressFromSip(*pstn, map).ok());
  absl::StatusOr<sip::Uri> phone = sip::Uri::Parse("sip:+15551234567@lync.test;user=phone");
  ASSERT_TRUE(phone.ok());
  absl::StatusOr<Address> sip_phone = AddressFromSipUri(*phone);
  ASSERT_TRUE(sip_phone.ok());
  EXPECT_FALSE(XmppAddressFromSip(*sip_phone, map).ok());
}

TEST(XmppAddressFromSip, Refusals) {
  const DomainMap map = Map(Lab());
  DomainMapConfig closed;
  closed.local = {DomainPair{"lync.test", "lync.test"}};
  EXPECT_EQ(XmppAddressFromSip(Sip("alice", "unknown.test"), Map(closed)).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(XmppAddressFromSip(Sip("", "lync.test"), map).ok());
  EXPECT_FALSE(XmppAddressFromSip(Sip(" alice", "lync.test"), map).ok());
  EXPECT_FALSE(XmppAddressFromSip(Sip("ali\nce", "lync.test"), map).ok());
  EXPECT_FALSE(XmppAddressFromSip(Xmpp("alice", "lync.test"), map).ok());
  EXPECT_TRUE(XmppAddressFromSip(Sip(std::string(1023, 'a'), "lync.test"), map).ok());
  EXPECT_FALSE(XmppAddressFromSip(Sip(std::string(1024, 'a'), "lync.test"), map).ok());
  EXPECT_FALSE(XmppAddressFromSip(Sip(std::string(400, '\''), "lync.test"), map).ok());
}

TEST(XmppAddressFromSip, XepSipExampleFromTheWire) {
  // XEP-0106 §5.3: the URI is %-decoded first, then escaped.
  absl::StatusOr<sip::Uri> uri =
      sip::Uri::Parse("sip:here%27s_a_wild_%26_%2Fcr%25zy%2F_address@example.com");
  ASSERT_TRUE(uri.ok()) << uri.status();
  absl::StatusOr<Address> sip = AddressFromSipUri(*uri);
  ASSERT_TRUE(sip.ok());
  absl::StatusOr<Address> jid = XmppAddressFromSip(*sip, Map(Lab()));
  ASSERT_TRUE(jid.ok()) << jid.status();
  EXPECT_EQ(jid->user, "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address");
  EXPECT_EQ(jid->domain, "example.com");
}

TEST(SipAddressFromXmpp, UnescapesAndMapsTheDomain) {
  const DomainMap map = Map(Lab());
  EXPECT_EQ(*SipAddressFromXmpp(Xmpp("d\\27artagnan", "lync.test"), map),
            Sip("d'artagnan", "lync.test"));
  EXPECT_EQ(*SipAddressFromXmpp(Xmpp("alice", "xmpp.corp.example", "laptop"), map),
            Sip("alice", "corp.example"));
  EXPECT_EQ(*SipAddressFromXmpp(Xmpp("treville\\40musketeers.lit", "xmpp.test"), map),
            Sip("treville@musketeers.lit", "xmpp.test"));
  // Escaped the XEP table's way (example 9) or ours, the same SIP user.
  EXPECT_EQ(SipAddressFromXmpp(Xmpp("c\\3a\\5cnet", "xmpp.test"), map)->user, "c:\\net");
  EXPECT_EQ(SipAddressFromXmpp(Xmpp("c\\3a\\net", "xmpp.test"), map)->user, "c:\\net");
}

TEST(SipAddressFromXmpp, Refusals) {
  const DomainMap map = Map(Lab());
  EXPECT_FALSE(SipAddressFromXmpp(Xmpp("", "xmpp.test"), map).ok());  // a server, not a user
  EXPECT_FALSE(SipAddressFromXmpp(Xmpp("\\20bob", "xmpp.test"), map).ok());
  EXPECT_FALSE(SipAddressFromXmpp(Xmpp("bob\\20", "xmpp.test"), map).ok());
  EXPECT_FALSE(SipAddressFromXmpp(Xmpp("bo\x01"
                                       "b",
                                       "xmpp.test"),
                                  map)
                   .ok());
  EXPECT_EQ(SipAddressFromXmpp(Xmpp("+15551234567", "xmpp.test"), map).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(SipAddressFromXmpp(Sip("bob", "xmpp.test"), map).ok());
  EXPECT_EQ(SipAddressFromXmpp(Xmpp("bob", "corp.example"), map).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Addresses, SipUsersRoundTripThroughXmpp) {
  const DomainMap map = Map(Lab());
  for (std::string_view user :
       {"alice", "o'hara", "at&t guy", "c:\\5commas", "user@host", "a/b:c<d>e\"f", "\\27x"}) {
    for (std::string_view domain : {"lync.test", "corp.example", "xmpp.test"}) {
      const Address sip = Sip(std::string(user), std::string(domain));
      absl::StatusOr<Address> jid = XmppAddressFromSip(sip, map);
      ASSERT_TRUE(jid.ok()) << user << "@" << domain << ": " << jid.status();
      absl::StatusOr<Address> back = SipAddressFromXmpp(*jid, map);
      ASSERT_TRUE(back.ok()) << jid->ToString();
      EXPECT_EQ(*back, sip) << jid->ToString();
    }
  }
}

}  // namespace
}  // namespace causeway::mappings
