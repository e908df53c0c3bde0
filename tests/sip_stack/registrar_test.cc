#include "sip/stack/registrar.h"

#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/clock.h"
#include "core/status.h"
#include "gtest/gtest.h"

namespace causeway::sip {
namespace {

using std::chrono::seconds;

// A REGISTER for `user`@example.com with the given extra header lines (each ending in \r\n).
SipMessage Register(std::string_view extra, uint32_t cseq = 1, std::string_view call_id = "reg-1",
                    std::string_view user = "alice", std::string_view domain = "example.com") {
  std::string text = absl::StrCat(
      "REGISTER sip:", std::string(domain), " SIP/2.0\r\n",
      "Via: SIP/2.0/UDP 127.0.0.2:5062;branch=z9hG4bK-reg", cseq, "\r\n",
      "From: <sip:", std::string(user), "@", std::string(domain), ">;tag=ft1;epid=ep42\r\n",
      "To: <sip:", std::string(user), "@", std::string(domain), ">\r\n",
      "Call-ID: ", std::string(call_id), "\r\n",
      "CSeq: ", cseq, " REGISTER\r\n",
      "Max-Forwards: 70\r\n", std::string(extra), "Content-Length: 0\r\n\r\n");
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

class RegistrarTest : public ::testing::Test {
 protected:
  RegistrarTest() {
    info_.kind = TransportKind::kUdp;
    info_.source = *NetAddress::Parse("127.0.0.2:5062");
    info_.local = *NetAddress::Parse("127.0.0.1:5060");
    Reset({});
  }

  void Reset(RegistrarOptions options) {
    if (options.domains.empty()) options.domains = {"example.com"};
    options.wall_clock = [] { return absl::FromUnixSeconds(1289690940); };
    registrar_ = std::make_unique<Registrar>(store_, clock_, std::move(options), authorizer_);
  }

  SipMessage Send(const SipMessage& request) { return registrar_->Handle(request, info_); }

  std::vector<std::string_view> Contacts(const SipMessage& response) {
    return response.HeaderValues(HeaderId::kContact);
  }

  SimulatedClock clock_;
  LocationStore store_;
  RegisterAuthorizer* authorizer_ = nullptr;
  std::unique_ptr<Registrar> registrar_;
  ReceiveInfo info_;
};

TEST_F(RegistrarTest, AddsBindingWithDefaultExpiresAndDate) {
  SipMessage r = Send(Register("Contact: <sip:alice@127.0.0.2:5062>\r\n"));
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_FALSE(r.to_tag().empty());
  ASSERT_EQ(Contacts(r).size(), 1u);
  EXPECT_EQ(Contacts(r)[0], "<sip:alice@127.0.0.2:5062>;expires=3600");
  const Header* date = r.FindHeader(HeaderId::kDate);
  ASSERT_NE(date, nullptr);
  EXPECT_EQ(date->value, "Sat, 13 Nov 2010 23:29:00 GMT");
  auto bindings = store_.Lookup("sip:alice@example.com", clock_.Now());
  ASSERT_EQ(bindings.size(), 1u);
  EXPECT_EQ(bindings[0].epid, "ep42");
  EXPECT_EQ(bindings[0].flow.source, info_.source);
  EXPECT_EQ(registrar_->stats().accepted, 1u);
}

TEST_F(RegistrarTest, ExpiresParamBeatsHeader) {
  SipMessage r = Send(Register("Contact: <sip:a@127.0.0.2>;expires=120, <sip:b@127.0.0.2>\r\n"
                               "Expires: 300\r\n"));
  ASSERT_EQ(r.status_code(), 200);
  auto contacts = Contacts(r);
  ASSERT_EQ(contacts.size(), 2u);
  // Order is by q then recency: both q=1, b was added last.
  EXPECT_EQ(contacts[0], "<sip:b@127.0.0.2>;expires=300");
  EXPECT_EQ(contacts[1], "<sip:a@127.0.0.2>;expires=120");
}

TEST_F(RegistrarTest, RefreshRemoveAndQuery) {
  ASSERT_EQ(Send(Register("Contact: <sip:a@127.0.0.2>;expires=600\r\n", 1)).status_code(), 200);
  clock_.Advance(seconds(100));
  // Query: no Contact lists what is bound, with the remaining time.
  SipMessage q = Send(Register("", 2));
  ASSERT_EQ(q.status_code(), 200);
  ASSERT_EQ(Contacts(q).size(), 1u);
  EXPECT_EQ(Contacts(q)[0], "<sip:a@127.0.0.2>;expires=500");
  // Refresh (the same URI, differently spelled host case) replaces the binding.
  SipMessage refresh = Send(Register("Contact: <sip:a@127.0.0.2>;expires=900\r\n", 3));
  ASSERT_EQ(Contacts(refresh).size(), 1u);
  EXPECT_EQ(Contacts(refresh)[0], "<sip:a@127.0.0.2>;expires=900");
  SipMessage removed = Send(Register("Contact: <sip:a@127.0.0.2>;expires=0\r\n", 4));
  EXPECT_EQ(removed.status_code(), 200);
  EXPECT_TRUE(Contacts(removed).empty());
  EXPECT_EQ(store_.aor_count(), 0u);
}

TEST_F(RegistrarTest, HostCaseDoesNotCreateASecondBinding) {
  ASSERT_EQ(Send(Register("Contact: <sip:a@Host.Example>\r\n", 1)).status_code(), 200);
  SipMessage r = Send(Register("Contact: <sip:a@host.example>\r\n", 2));
  EXPECT_EQ(Contacts(r).size(), 1u);
}

TEST_F(RegistrarTest, WildcardRemovesEverything) {
  ASSERT_EQ(Send(Register("Contact: <sip:a@h1>, <sip:b@h2>\r\n", 1)).status_code(), 200);
  EXPECT_EQ(Send(Register("Contact: *\r\n", 2)).status_code(), 400);  // no Expires: 0
  EXPECT_EQ(Send(Register("Contact: *\r\nExpires: 10\r\n", 2)).status_code(), 400);
  EXPECT_EQ(Send(Register("Contact: *, <sip:c@h>\r\nExpires: 0\r\n", 2)).status_code(), 400);
  EXPECT_EQ(store_.binding_count(), 2u);
  SipMessage r = Send(Register("Contact: *\r\nExpires: 0\r\n", 2));
  EXPECT_EQ(r.status_code(), 200);
  EXPECT_TRUE(Contacts(r).empty());
  EXPECT_EQ(store_.binding_count(), 0u);
  EXPECT_EQ(registrar_->stats().removed_all, 1u);
}

TEST_F(RegistrarTest, TooShortGets423WithMinExpires) {
  SipMessage r = Send(Register("Contact: <sip:a@h>;expires=30\r\n"));
  EXPECT_EQ(r.status_code(), 423);
  const Header* min = r.FindHeader(HeaderId::kMinExpires);
  ASSERT_NE(min, nullptr);
  EXPECT_EQ(min->value, "60");
  EXPECT_EQ(store_.binding_count(), 0u);
  // Exactly the minimum is fine.
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>;expires=60\r\n", 2)).status_code(), 200);
}

TEST_F(RegistrarTest, LongExpiresIsClamped) {
  RegistrarOptions options;
  options.max_expires = seconds(7200);
  Reset(options);
  SipMessage r = Send(Register("Contact: <sip:a@h>\r\nExpires: 999999\r\n"));
  ASSERT_EQ(Contacts(r).size(), 1u);
  EXPECT_EQ(Contacts(r)[0], "<sip:a@h>;expires=7200");
}

TEST_F(RegistrarTest, OutOfOrderCSeqFailsWith500) {
  ASSERT_EQ(Send(Register("Contact: <sip:a@h>\r\n", 5)).status_code(), 200);
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>\r\n", 5)).status_code(), 500);
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>\r\n", 4)).status_code(), 500);
  // Another Call-ID (a rebooted UA) may use any CSeq.
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>\r\n", 1, "reg-2")).status_code(), 200);
  EXPECT_EQ(registrar_->stats().rejected, 2u);
}

TEST_F(RegistrarTest, BindingsExpire) {
  ASSERT_EQ(Send(Register("Contact: <sip:a@h>;expires=60\r\n")).status_code(), 200);
  clock_.Advance(seconds(59));
  EXPECT_EQ(store_.Lookup("sip:alice@example.com", clock_.Now()).size(), 1u);
  clock_.Advance(seconds(1));
  EXPECT_TRUE(store_.Lookup("sip:alice@example.com", clock_.Now()).empty());
  SipMessage q = Send(Register("", 2));
  EXPECT_TRUE(Contacts(q).empty());
}

TEST_F(RegistrarTest, ForeignDomainIs404) {
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>\r\n", 1, "c", "alice", "other.org")).status_code(),
            404);
}

TEST_F(RegistrarTest, EmptyDomainListAcceptsAny) {
  RegistrarOptions options;
  options.wall_clock = [] { return absl::UnixEpoch(); };
  Registrar any(store_, clock_, options);
  ReceiveInfo info;
  EXPECT_EQ(any.Handle(Register("Contact: <sip:a@h>\r\n", 1, "c", "bob", "other.org"), info)
                .status_code(),
            200);
  EXPECT_EQ(store_.Lookup("sip:bob@other.org", clock_.Now()).size(), 1u);
}

TEST_F(RegistrarTest, QValuesAndInstanceAreEchoed) {
  SipMessage r = Send(Register(
      "Contact: <sip:a@h;transport=tcp>;q=0.5;+sip.instance=\"<urn:uuid:0001>\";reg-id=1\r\n"
      "Supported: outbound, path\r\n"));
  ASSERT_EQ(r.status_code(), 200);
  ASSERT_EQ(Contacts(r).size(), 1u);
  EXPECT_EQ(Contacts(r)[0],
            "<sip:a@h;transport=tcp>;expires=3600;q=0.500;+sip.instance=\"<urn:uuid:0001>\""
            ";reg-id=1");
  const Header* require = r.FindHeader(HeaderId::kRequire);
  ASSERT_NE(require, nullptr);
  EXPECT_EQ(require->value, "outbound");
  auto b = store_.Lookup("sip:alice@example.com", clock_.Now());
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].instance_id, "<urn:uuid:0001>");
  EXPECT_EQ(b[0].q_milli, 500);
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>;q=2\r\n", 2)).status_code(), 400);
}

TEST_F(RegistrarTest, GruusAreIssuedInTheFormTheClientAsksFor) {
  // RFC 5627: Supported: gruu -> pub-gruu built from the instance id.
  SipMessage standard = Send(Register(
      "Contact: <sip:a@h;transport=tcp>;+sip.instance=\"<urn:uuid:0001>\"\r\n"
      "Supported: gruu\r\n"));
  ASSERT_EQ(standard.status_code(), 200);
  ASSERT_EQ(Contacts(standard).size(), 1u);
  EXPECT_EQ(Contacts(standard)[0],
            "<sip:a@h;transport=tcp>;expires=3600;+sip.instance=\"<urn:uuid:0001>\""
            ";pub-gruu=\"sip:alice@example.com;gr=urn:uuid:0001\"");
  // Lync (MS-SIPREGE): Supported: gruu-10 -> gruu built from the From epid.
  SipMessage lync = Send(Register(
      "Contact: <sip:a@h;transport=tcp>;+sip.instance=\"<urn:uuid:0001>\"\r\n"
      "Supported: gruu-10\r\n", 2));
  ASSERT_EQ(lync.status_code(), 200);
  EXPECT_EQ(Contacts(lync)[0],
            "<sip:a@h;transport=tcp>;expires=3600;+sip.instance=\"<urn:uuid:0001>\""
            ";gruu=\"sip:alice@example.com;opaque=user:epid:ep42;gruu\"");
  // Neither asked for: no GRUU; no instance: nothing to name.
  EXPECT_EQ(Contacts(Send(Register(
                "Contact: <sip:a@h;transport=tcp>;+sip.instance=\"<urn:uuid:0001>\"\r\n", 3)))[0],
            "<sip:a@h;transport=tcp>;expires=3600;+sip.instance=\"<urn:uuid:0001>\"");
  EXPECT_EQ(Contacts(Send(Register("Contact: <sip:b@h>\r\nSupported: gruu\r\n", 4,
                                   "reg-2", "bob")))[0],
            "<sip:b@h>;expires=3600");
}

TEST_F(RegistrarTest, OneContactGetsAnExpiresHeaderAndTheDecoratorRuns) {
  RegistrarOptions options;
  int calls = 0;
  options.decorate_accepted = [&calls](const SipMessage& request, SipMessage& response) {
    ++calls;
    EXPECT_EQ(request.method(), Method::kRegister);
    (void)response.AppendHeader("Allow-Events", "presence");
  };
  Reset(std::move(options));
  SipMessage r = Send(Register("Contact: <sip:a@h>;expires=600\r\n"));
  ASSERT_EQ(r.status_code(), 200);
  const Header* expires = r.FindHeader(HeaderId::kExpires);
  ASSERT_NE(expires, nullptr);
  EXPECT_EQ(expires->value, "600");
  const Header* events = r.FindHeader("Allow-Events");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->value, "presence");
  // Two contacts: no single lifetime to state. A rejected REGISTER is not decorated.
  SipMessage two = Send(Register("Contact: <sip:a@h>, <sip:b@h>\r\n", 2));
  EXPECT_EQ(two.FindHeader(HeaderId::kExpires), nullptr);
  EXPECT_EQ(Send(Register("Contact: <sip:a@h>;expires=5\r\n", 3)).status_code(), 423);
  EXPECT_EQ(calls, 2);
}

TEST(Gruu, ParsesBothFormsAndMatchesBindings) {
  auto gr = Uri::Parse("sip:alice@example.com;gr=urn:uuid:0001");
  ASSERT_TRUE(gr.ok());
  std::optional<GruuTarget> t = GruuOf(*gr);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->instance_id, "<urn:uuid:0001>");
  Binding b;
  b.instance_id = "<urn:uuid:0001>";
  b.epid = "AbC123";
  EXPECT_TRUE(BindingMatches(b, *t));
  auto lync = Uri::Parse("sip:alice@example.com;opaque=user:epid:abc123;gruu");
  ASSERT_TRUE(lync.ok());
  t = GruuOf(*lync);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->epid, "abc123");
  EXPECT_TRUE(BindingMatches(b, *t));  // epids compare case-insensitively
  b.epid = "other";
  EXPECT_FALSE(BindingMatches(b, *t));
  // Not GRUUs: a plain AOR, an opaque without the gruu flag, a bare gr (temporary GRUUs,
  // which this registrar does not issue).
  for (const char* text : {"sip:alice@example.com", "sip:alice@example.com;opaque=user:epid:x",
                           "sip:alice@example.com;gr"}) {
    auto u = Uri::Parse(text);
    ASSERT_TRUE(u.ok());
    EXPECT_FALSE(GruuOf(*u).has_value()) << text;
  }
  EXPECT_EQ(PublicGruu("sip:a@b", "<urn:uuid:9>"), "sip:a@b;gr=urn:uuid:9");
  EXPECT_EQ(LyncGruu("sip:a@b", "e1"), "sip:a@b;opaque=user:epid:e1;gruu");
}

TEST_F(RegistrarTest, PathIsStoredAndEchoedOnlyWhenSupported) {
  SipMessage r = Send(Register("Contact: <sip:a@h>\r\nPath: <sip:edge.example.com;lr>\r\n"));
  ASSERT_EQ(r.status_code(), 200);
  EXPECT_EQ(r.FindHeader(HeaderId::kPath), nullptr);
  auto b = store_.Lookup("sip:alice@example.com", clock_.Now());
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(b[0].path.size(), 1u);
  EXPECT_EQ(b[0].path[0], "<sip:edge.example.com;lr>");
  SipMessage r2 = Send(Register(
      "Contact: <sip:a@h>\r\nPath: <sip:edge.example.com;lr>\r\nSupported: path\r\n", 2));
  ASSERT_NE(r2.FindHeader(HeaderId::kPath), nullptr);
}

class DenyAll : public RegisterAuthorizer {
 public:
  absl::Status Authorize(const SipMessage&, std::string_view aor, const ReceiveInfo&,
                         std::vector<std::pair<std::string, std::string>>* headers) override {
    last_aor = std::string(aor);
    headers->emplace_back("WWW-Authenticate", "NTLM realm=\"SIP Communications Service\"");
    return SipError(401, "challenge");
  }
  std::string last_aor;
};

TEST_F(RegistrarTest, AuthorizerIsConsultedBeforeTheStore) {
  DenyAll deny;
  authorizer_ = &deny;
  Reset({});
  SipMessage r = Send(Register("Contact: <sip:a@h>\r\n"));
  EXPECT_EQ(r.status_code(), 401);
  EXPECT_EQ(deny.last_aor, "sip:alice@example.com");
  ASSERT_NE(r.FindHeader(HeaderId::kWwwAuthenticate), nullptr);
  EXPECT_EQ(store_.binding_count(), 0u);
}

TEST(CanonicalAor, StripsParametersAndNormalizes) {
  auto uri = Uri::Parse("sips:%61lice@Example.COM;transport=tcp?subject=x");
  ASSERT_TRUE(uri.ok());
  EXPECT_EQ(*CanonicalAor(*uri), "sip:alice@example.com");
  auto with_port = Uri::Parse("sip:bob@example.com:5070");
  EXPECT_EQ(*CanonicalAor(*with_port), "sip:bob@example.com:5070");
  auto tel = Uri::Parse("tel:+15551234");
  EXPECT_FALSE(CanonicalAor(*tel).ok());
}

TEST(ContactKey, KeepsParametersThatMustMatch) {
  auto a = Uri::Parse("sip:a@HOST:5060;transport=TCP;foo=1");
  auto b = Uri::Parse("sip:a@host:5060;transport=tcp");
  auto c = Uri::Parse("sip:a@host:5060;transport=udp");
  EXPECT_EQ(ContactKey(*a), ContactKey(*b));
  EXPECT_NE(ContactKey(*a), ContactKey(*c));
}

}  // namespace
}  // namespace causeway::sip
