#include "sip/lync/security_layer.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "core/clock.h"
#include "core/directory.h"
#include "core/status.h"
#include "core/strings.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "sip/lync/credentials.h"
#include "sip/lync/crypto.h"
#include "sip/lync/ntlm.h"
#include "sip/lync/sipae.h"
#include "sip/stack/digest_auth.h"

namespace causeway::sip::lync {
namespace testclient {
// tests/sip_lync/ntlm_test.cc (same binary): an independent NTLMv2 client.
std::string NtlmAuthenticateForTest(std::string_view challenge, std::string_view user,
                                    std::string_view domain, std::string_view password,
                                    Bytes16* exported);
std::string NtlmAuthenticateForTestAt(std::string_view challenge, std::string_view user,
                                      std::string_view domain, std::string_view password,
                                      uint64_t timestamp, Bytes16* exported);
}  // namespace testclient

namespace {

using Headers = SecurityLayer::ResponseHeaders;

constexpr std::string_view kTarget = "fe.example.test";
constexpr std::string_view kAlice = "sip:alice@example.test";

SipMessage Parse(const std::string& text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
  EXPECT_TRUE(m.ok()) << m.status() << "\n" << text;
  return std::move(*m);
}

UserRecord User(std::string_view user, std::string_view password) {
  UserRecord r;
  r.uri = "sip:" + std::string(user) + "@example.test";
  absl::StatusOr<Credentials> c = DeriveCredentials(user, "example.test", password);
  EXPECT_TRUE(c.ok());
  r.nt_hash = c->nt_hash;
  r.ha1_md5 = c->ha1_md5;
  r.ha1_sha256 = c->ha1_sha256;
  return r;
}

// The value of parameter `name` in an auth header ("name=\"v\"" or "name=v").
std::string Param(const std::string& header, const std::string& name) {
  size_t at = header.find(name + "=");
  if (at == std::string::npos) return "";
  at += name.size() + 1;
  if (header[at] == '"') {
    size_t end = header.find('"', at + 1);
    return header.substr(at + 1, end - at - 1);
  }
  size_t end = header.find(',', at);
  return header.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::vector<std::string> Values(const Headers& headers, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& [n, v] : headers) {
    if (n == name) out.push_back(v);
  }
  return out;
}

// A client's side of one MS-SIPAE association: the keys and the numbers it signs with.
struct ClientKeys {
  NtlmSessionKeys keys;
  std::string opaque;
  int cnum = 0;
};

class SecurityLayerTest : public ::testing::Test {
 protected:
  SecurityLayerTest() {
    directory_.Publish({User("alice", "alice-pw"), User("bob", "bob-pw")});
    SecurityLayerOptions options;
    options.sipae.targetname = std::string(kTarget);
    options.sipae.names.netbios_domain = "EXAMPLE";
    options.sipae.names.netbios_computer = "FE";
    options.sipae.names.dns_domain = "example.test";
    options.sipae.names.dns_computer = std::string(kTarget);
    options.digest_secret = "test secret";
    options.max_failures = 3;
    options.failure_window = std::chrono::seconds(300);
    layer_ = std::make_unique<SecurityLayer>(options, clock_, directory_);
  }

  static ReceiveInfo Tls(ConnectionId connection, std::string_view ip = "10.0.0.5") {
    ReceiveInfo info;
    info.kind = TransportKind::kTls;
    info.source = *NetAddress::Parse(std::string(ip) + ":50000");
    info.connection = connection;
    return info;
  }
  static ReceiveInfo Udp(std::string_view ip = "10.0.0.9") {
    ReceiveInfo info;
    info.kind = TransportKind::kUdp;
    info.source = *NetAddress::Parse(std::string(ip) + ":5060");
    return info;
  }

  static std::string Request(std::string_view method, std::string_view ruri, std::string_view from,
                             std::string_view to, int cseq, std::string_view extra = "",
                             std::string_view branch = "") {
    std::string b = branch.empty() ? "z9hG4bK" + std::string(method) + std::to_string(cseq)
                                   : std::string(branch);
    return std::string(method) + " " + std::string(ruri) + " SIP/2.0\r\n" +
           "Via: SIP/2.0/TLS 10.0.0.5:50000;branch=" + b + "\r\n" + "From: <" + std::string(from) +
           ">;tag=f" + std::to_string(cseq) + "\r\n" + "To: <" + std::string(to) + ">\r\n" +
           "Call-ID: call-" + std::string(method) + "\r\n" + "CSeq: " + std::to_string(cseq) + " " +
           std::string(method) + "\r\n" + "Max-Forwards: 70\r\n" + std::string(extra) +
           "Content-Length: 0\r\n\r\n";
  }
  static std::string Register(int cseq, std::string_view extra = "",
                              std::string_view aor = kAlice) {
    return Request("REGISTER", "sip:example.test", aor, aor, cseq, extra);
  }

  // What the gateway does with a REGISTER: OnIncoming, then (if it passes) the registrar's
  // Authorize for the To AOR. Returns the SIP code (200 for OK).
  int RegisterThrough(const std::string& text, ReceiveInfo info, Headers* headers,
                      std::string_view aor = kAlice) {
    SipMessage m = Parse(text);
    absl::Status in = layer_->OnIncoming(m, &info, headers);
    if (!in.ok()) return SipCodeOf(in).value_or(-1);
    absl::Status auth = layer_->Authorize(m, aor, info, headers);
    return auth.ok() ? 200 : SipCodeOf(auth).value_or(-1);
  }

  // Adds the client's MS-SIPAE signature (version 4) to `text` as SIPE does.
  static std::string ClientSign(const std::string& text, ClientKeys& client,
                                std::string_view extra_params = "") {
    ++client.cnum;
    SipaeSignatureContext ctx;
    ctx.rand = "0badcafe";
    ctx.num = std::to_string(client.cnum);
    ctx.realm = std::string(kSipaeRealm);
    ctx.targetname = std::string(kTarget);
    std::string buffer = BuildSipaeSignatureBuffer(Parse(text), ctx, 4);
    std::array<uint8_t, 16> mac = NtlmMac(client.keys.flags, client.keys.client_sign_key,
                                          client.keys.client_seal_key, kSipaeNtlmSequence, buffer);
    std::string header = "Authorization: NTLM qop=\"auth\", opaque=\"" + client.opaque +
                         "\", realm=\"" + ctx.realm + "\", targetname=\"" + ctx.targetname + "\"" +
                         std::string(extra_params) + ", crand=\"" + ctx.rand + "\", cnum=\"" +
                         ctx.num + "\", response=\"" + HexEncode(mac) + "\"\r\n";
    std::string out = text;
    out.insert(out.find("Content-Length:"), header);
    return out;
  }

  // The whole NTLM sign-in of alice on `connection`; the client's keys come back.
  ClientKeys SignIn(ConnectionId connection, std::string_view password = "alice-pw",
                    int* final_code = nullptr, std::string_view ip = "10.0.0.5") {
    Headers h1;
    EXPECT_EQ(RegisterThrough(Register(1), Tls(connection, ip), &h1), 401);
    std::vector<std::string> offers = Values(h1, "WWW-Authenticate");
    EXPECT_EQ(offers.size(), 3u);  // Digest SHA-256, Digest MD5, NTLM
    EXPECT_EQ(offers.back().rfind("NTLM realm=", 0), 0u) << offers.back();
    Headers h2;
    std::string step2 =
        "Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", "
        "targetname=\"fe.example.test\", gssapi-data=\"\", version=4\r\n";
    EXPECT_EQ(RegisterThrough(Register(2, step2), Tls(connection, ip), &h2), 401);
    std::vector<std::string> challenge = Values(h2, "WWW-Authenticate");
    EXPECT_EQ(challenge.size(), 1u);
    ClientKeys client;
    if (challenge.empty()) return client;
    client.opaque = Param(challenge[0], "opaque");
    std::string type2;
    EXPECT_TRUE(absl::Base64Unescape(Param(challenge[0], "gssapi-data"), &type2));
    Bytes16 exported{};
    // The layer checks the NTLMv2 timestamp against the wall clock.
    std::string type3 = testclient::NtlmAuthenticateForTestAt(
        type2, "alice@example.test", "", password,
        FileTimeFromUnix(std::chrono::system_clock::now()), &exported);
    uint32_t flags = 0;
    for (int i = 0; i < 4; ++i) flags |= uint32_t{static_cast<uint8_t>(type3[60 + i])} << (8 * i);
    client.keys = DeriveNtlmSessionKeys(flags, exported);
    std::string gssapi = ", gssapi-data=\"" + absl::Base64Escape(ToAbsl(type3)) + "\", version=4";
    Headers h3;
    int code = RegisterThrough(ClientSign(Register(3), client, gssapi), Tls(connection, ip), &h3);
    if (final_code != nullptr) {
      *final_code = code;
    } else {
      EXPECT_EQ(code, 200);
    }
    return client;
  }

  // The Digest answer of a standard UA to `challenge` (one WWW-/Proxy-Authenticate value).
  static std::string DigestAnswer(const std::string& challenge, std::string_view user,
                                  std::string_view password, std::string_view method,
                                  std::string_view uri, std::string_view nc = "00000001") {
    DigestAlgorithm alg = Param(challenge, "algorithm") == "SHA-256" ? DigestAlgorithm::kSha256
                                                                     : DigestAlgorithm::kMd5;
    std::string realm = Param(challenge, "realm"), nonce = Param(challenge, "nonce");
    std::string ha1 = DigestHa1(alg, user, realm, password);
    std::string response = DigestResponse(alg, ha1, nonce, nc, "c0ffee", "auth", method, uri);
    return "Digest username=\"" + std::string(user) + "\", realm=\"" + realm + "\", nonce=\"" +
           nonce + "\", uri=\"" + std::string(uri) + "\", response=\"" + response +
           "\", algorithm=" + std::string(DigestAlgorithmName(alg)) +
           ", qop=auth, nc=" + std::string(nc) + ", cnonce=\"c0ffee\"";
  }

  bool Signed(ConnectionId connection, const std::string& text) {
    Destination to;
    to.kind = TransportKind::kTls;
    to.connection = connection;
    std::string bytes = text;
    EXPECT_TRUE(layer_->OnOutgoing(to, bytes));
    return bytes.find("Authentication-Info: NTLM rspauth=") != std::string::npos;
  }

  SimulatedClock clock_;
  SnapshotDirectory directory_;
  std::unique_ptr<SecurityLayer> layer_;
};

const std::string kNotify =
    "BENOTIFY sip:10.0.0.5:50000;transport=tls SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKsrv1\r\n"
    "From: <sip:alice@example.test>;tag=srv\r\n"
    "To: <sip:alice@example.test>;tag=f1\r\n"
    "Call-ID: sub-1\r\n"
    "CSeq: 7 BENOTIFY\r\n"
    "Max-Forwards: 70\r\n"
    "Content-Length: 0\r\n\r\n";

TEST_F(SecurityLayerTest, NtlmSignInVerifiesSignsAndRefreshes) {
  ClientKeys alice = SignIn(1);
  EXPECT_TRUE(layer_->HasAssociation(1));
  EXPECT_EQ(layer_->stats().authenticated, 1u);

  // A signed MESSAGE names its user.
  std::string message = ClientSign(
      Request("MESSAGE", "sip:bob@example.test", kAlice, "sip:bob@example.test", 1), alice);
  ReceiveInfo info = Tls(1);
  Headers headers;
  ASSERT_TRUE(layer_->OnIncoming(Parse(message), &info, &headers).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  // Replayed or tampered: 403, no user.
  info = Tls(1);
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(message), &info, &headers)), 403);
  EXPECT_TRUE(info.authenticated_user.empty());
  // Unsigned on the associated connection: 401.
  info = Tls(1);
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(Request("MESSAGE", "sip:bob@example.test", kAlice,
                                                       "sip:bob@example.test", 2)),
                                         &info, &headers)),
            401);

  // A signed refresh for the own AOR passes; for bob's AOR it is refused.
  Headers h;
  EXPECT_EQ(RegisterThrough(ClientSign(Register(4), alice), Tls(1), &h), 200);
  EXPECT_EQ(RegisterThrough(ClientSign(Register(5, "", "sip:bob@example.test"), alice), Tls(1), &h,
                            "sip:bob@example.test"),
            403);
  EXPECT_FALSE(layer_->Reauthenticating(1));

  // What we send is signed on the associated connection only, with the server keys.
  Destination to;
  to.kind = TransportKind::kTls;
  to.connection = 1;
  std::string bytes = kNotify;
  ASSERT_TRUE(layer_->OnOutgoing(to, bytes));
  SipMessage out = Parse(bytes);
  std::vector<std::string_view> auth_info = out.HeaderValues(HeaderId::kAuthenticationInfo);
  ASSERT_EQ(auth_info.size(), 1u);
  std::string info_value(auth_info[0]);
  SipaeSignatureContext ctx;
  ctx.rand = Param(info_value, "srand");
  ctx.num = Param(info_value, "snum");
  ctx.realm = std::string(kSipaeRealm);
  ctx.targetname = std::string(kTarget);
  std::array<uint8_t, 16> mac =
      NtlmMac(alice.keys.flags, alice.keys.server_sign_key, alice.keys.server_seal_key,
              kSipaeNtlmSequence, BuildSipaeSignatureBuffer(out, ctx, 4));
  EXPECT_TRUE(absl::EqualsIgnoreCase(Param(info_value, "rspauth"), HexEncode(mac)));
  EXPECT_FALSE(Signed(2, kNotify));  // another connection
  Destination udp;
  bytes = kNotify;
  ASSERT_TRUE(layer_->OnOutgoing(udp, bytes));
  EXPECT_EQ(bytes, kNotify);
}

TEST_F(SecurityLayerTest, UnsignedReauthenticationGetsTheOfferAndReplacesTheAssociation) {
  ClientKeys old_keys = SignIn(1);
  // SIPE's 8-hourly REGISTER: no Authorization at all, on the same connection.
  Headers h;
  EXPECT_EQ(RegisterThrough(Register(10), Tls(1), &h), 401);
  std::vector<std::string> offers = Values(h, "WWW-Authenticate");
  ASSERT_FALSE(offers.empty());
  EXPECT_EQ(offers.back(),
            "NTLM realm=\"SIP Communications Service\", targetname=\"fe.example.test\", "
            "version=4");
  EXPECT_TRUE(layer_->Reauthenticating(1));
  EXPECT_EQ(layer_->stats().reauthentications, 1u);
  // During the re-handshake nothing is signed (the client may hold no keys or only new ones).
  EXPECT_FALSE(Signed(1, kNotify));

  // The race: a message the client signed with the old keys still verifies...
  std::string old_signed = ClientSign(
      Request("MESSAGE", "sip:bob@example.test", kAlice, "sip:bob@example.test", 11), old_keys);
  ReceiveInfo info = Tls(1);
  ASSERT_TRUE(layer_->OnIncoming(Parse(old_signed), &info, &h).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  // ...and one it could not sign must prove itself like any UA (407 Digest), not pass.
  info = Tls(1);
  Headers challenge;
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(Request("MESSAGE", "sip:bob@example.test", kAlice,
                                                       "sip:bob@example.test", 12)),
                                         &info, &challenge)),
            407);
  EXPECT_EQ(Values(challenge, "Proxy-Authenticate").size(), 2u);

  // The new handshake completes on the same connection: only the new keys count from now on.
  ClientKeys new_keys = SignIn(1);
  EXPECT_FALSE(layer_->Reauthenticating(1));
  EXPECT_EQ(layer_->stats().authenticated, 2u);
  EXPECT_TRUE(Signed(1, kNotify));
  info = Tls(1);
  EXPECT_EQ(
      SipCodeOf(layer_->OnIncoming(Parse(ClientSign(Request("MESSAGE", "sip:bob@example.test",
                                                            kAlice, "sip:bob@example.test", 13),
                                                    old_keys)),
                                   &info, &h)),
      401);  // the old opaque names no association any more
  info = Tls(1);
  EXPECT_TRUE(layer_
                  ->OnIncoming(Parse(ClientSign(Request("MESSAGE", "sip:bob@example.test", kAlice,
                                                        "sip:bob@example.test", 14),
                                                new_keys)),
                               &info, &h)
                  .ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
}

TEST_F(SecurityLayerTest, AbandonedReauthenticationEndsAfterThePendingTimeout) {
  SignIn(1);
  Headers h;
  EXPECT_EQ(RegisterThrough(Register(10), Tls(1), &h), 401);
  EXPECT_TRUE(layer_->Reauthenticating(1));
  clock_.Advance(std::chrono::seconds(31));
  EXPECT_FALSE(layer_->Reauthenticating(1));
  EXPECT_TRUE(Signed(1, kNotify));
  ReceiveInfo info = Tls(1);
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(Request("MESSAGE", "sip:bob@example.test", kAlice,
                                                       "sip:bob@example.test", 12)),
                                         &info, &h)),
            401);
}

TEST_F(SecurityLayerTest, NtlmBruteForceIsLimitedPerLoginAndPeer) {
  int code = 0;
  for (int i = 0; i < 3; ++i) {
    SignIn(1, "wrong", &code);
    EXPECT_NE(code, 200);
    EXPECT_FALSE(layer_->HasAssociation(1));
  }
  EXPECT_EQ(layer_->stats().locked_out, 0u);
  // Locked: even the right password gets 403 without NTLM being run.
  SignIn(1, "alice-pw", &code);
  EXPECT_EQ(code, 403);
  EXPECT_FALSE(layer_->HasAssociation(1));
  EXPECT_EQ(layer_->stats().locked_out, 1u);
  // Another peer address is not locked out.
  SignIn(2, "alice-pw", &code, "10.0.0.6");
  EXPECT_EQ(code, 200);
  // After the window the first peer may try again.
  clock_.Advance(std::chrono::seconds(301));
  SignIn(1, "alice-pw", &code);
  EXPECT_EQ(code, 200);
}

TEST(FailureLimiterTest, CountsWithinTheWindowAndStaysBounded) {
  SimulatedClock clock;
  FailureLimiter limiter(2, std::chrono::seconds(60), 4);
  EXPECT_FALSE(limiter.Locked("a", clock.Now()));
  EXPECT_EQ(limiter.Fail("a", clock.Now()), 1);
  EXPECT_FALSE(limiter.Locked("a", clock.Now()));
  EXPECT_EQ(limiter.Fail("a", clock.Now()), 2);
  EXPECT_TRUE(limiter.Locked("a", clock.Now()));
  clock.Advance(std::chrono::seconds(60));
  EXPECT_FALSE(limiter.Locked("a", clock.Now()));
  for (int i = 0; i < 1000; ++i) limiter.Fail("k" + std::to_string(i), clock.Now());
  EXPECT_LE(limiter.size(), 4u);
  EXPECT_TRUE(limiter.Fail("k999", clock.Now()) == 2);  // the newest survived eviction
  limiter.Clear("k999");
  EXPECT_FALSE(limiter.Locked("k999", clock.Now()));
}

TEST_F(SecurityLayerTest, DigestRegisterOverUdp) {
  Headers h;
  ASSERT_EQ(RegisterThrough(Register(1), Udp(), &h), 401);
  std::vector<std::string> challenges = Values(h, "WWW-Authenticate");
  ASSERT_EQ(challenges.size(), 2u);  // no NTLM over UDP
  EXPECT_EQ(Param(challenges[0], "algorithm"), "SHA-256");
  EXPECT_EQ(Param(challenges[1], "algorithm"), "MD5");
  EXPECT_EQ(Param(challenges[0], "realm"), "example.test");

  // MD5 and SHA-256 answers both sign in.
  // (One nonce serves both challenges, so the second answer counts on.)
  for (const std::string& challenge : challenges) {
    std::string nc = challenge == challenges[0] ? "00000001" : "00000002";
    std::string auth =
        "Authorization: " +
        DigestAnswer(challenge, "alice", "alice-pw", "REGISTER", "sip:example.test", nc) + "\r\n";
    Headers ok;
    EXPECT_EQ(RegisterThrough(Register(2, auth), Udp(), &ok), 200) << challenge;
  }
  EXPECT_EQ(layer_->stats().digest_authenticated, 2u);
  EXPECT_FALSE(layer_->HasAssociation(0));

  // Alice's valid credentials for bob's AOR: 403.
  h.clear();
  ASSERT_EQ(
      RegisterThrough(Register(3, "", "sip:bob@example.test"), Udp(), &h, "sip:bob@example.test"),
      401);
  std::string auth = "Authorization: " +
                     DigestAnswer(Values(h, "WWW-Authenticate")[1], "alice", "alice-pw", "REGISTER",
                                  "sip:example.test") +
                     "\r\n";
  Headers forbidden;
  EXPECT_EQ(RegisterThrough(Register(4, auth, "sip:bob@example.test"), Udp(), &forbidden,
                            "sip:bob@example.test"),
            403);

  // Wrong password: 401 with a fresh challenge.
  h.clear();
  ASSERT_EQ(RegisterThrough(Register(5), Udp(), &h), 401);
  auth = "Authorization: " +
         DigestAnswer(Values(h, "WWW-Authenticate")[1], "alice", "nope", "REGISTER",
                      "sip:example.test") +
         "\r\n";
  Headers again;
  EXPECT_EQ(RegisterThrough(Register(6, auth), Udp(), &again), 401);
  std::vector<std::string> fresh = Values(again, "WWW-Authenticate");
  ASSERT_EQ(fresh.size(), 2u);
  EXPECT_NE(Param(fresh[1], "nonce"), Param(Values(h, "WWW-Authenticate")[1], "nonce"));
}

TEST_F(SecurityLayerTest, DigestStaleReplayAndBruteForce) {
  Headers h;
  ASSERT_EQ(RegisterThrough(Register(1), Tls(5), &h), 401);
  EXPECT_EQ(Values(h, "WWW-Authenticate").size(), 3u);  // Digest x2 and the NTLM offer
  const std::string challenge = Values(h, "WWW-Authenticate")[1];
  std::string auth = "Authorization: " +
                     DigestAnswer(challenge, "alice", "alice-pw", "REGISTER", "sip:example.test") +
                     "\r\n";
  Headers ok;
  ASSERT_EQ(RegisterThrough(Register(2, auth), Tls(5), &ok), 200);
  // Digest over TLS creates no MS-SIPAE association.
  EXPECT_FALSE(layer_->HasAssociation(5));

  // The same nonce-count again: replay -> 401 stale=true.
  Headers replay;
  EXPECT_EQ(RegisterThrough(Register(3, auth), Tls(5), &replay), 401);
  ASSERT_FALSE(Values(replay, "WWW-Authenticate").empty());
  EXPECT_NE(Values(replay, "WWW-Authenticate")[0].find("stale=true"), std::string::npos);
  // A higher nonce-count on the same nonce is fine.
  std::string auth2 =
      "Authorization: " +
      DigestAnswer(challenge, "alice", "alice-pw", "REGISTER", "sip:example.test", "00000002") +
      "\r\n";
  EXPECT_EQ(RegisterThrough(Register(4, auth2), Tls(5), &ok), 200);

  // The nonce expires: 401 stale=true.
  clock_.Advance(std::chrono::seconds(301));
  std::string auth3 =
      "Authorization: " +
      DigestAnswer(challenge, "alice", "alice-pw", "REGISTER", "sip:example.test", "00000003") +
      "\r\n";
  Headers stale;
  EXPECT_EQ(RegisterThrough(Register(5, auth3), Tls(5), &stale), 401);
  ASSERT_FALSE(Values(stale, "WWW-Authenticate").empty());
  EXPECT_NE(Values(stale, "WWW-Authenticate")[0].find("stale=true"), std::string::npos);

  // Brute force: the third wrong password is refused with 403, and so is the right one then.
  std::string current = Values(stale, "WWW-Authenticate")[1];
  int codes[3];
  for (int i = 0; i < 3; ++i) {
    Headers r;
    std::string wrong = "Authorization: " +
                        DigestAnswer(current, "alice", "guess" + std::to_string(i), "REGISTER",
                                     "sip:example.test") +
                        "\r\n";
    codes[i] = RegisterThrough(Register(10 + i, wrong), Tls(5), &r);
    if (!Values(r, "WWW-Authenticate").empty()) current = Values(r, "WWW-Authenticate")[1];
  }
  EXPECT_EQ(codes[0], 401);
  EXPECT_EQ(codes[1], 401);
  EXPECT_EQ(codes[2], 403);
  Headers locked;
  std::string right = "Authorization: " +
                      DigestAnswer(current, "alice", "alice-pw", "REGISTER", "sip:example.test") +
                      "\r\n";
  EXPECT_EQ(RegisterThrough(Register(20, right), Tls(5), &locked), 403);
  // Another peer is not affected.
  EXPECT_EQ(RegisterThrough(Register(21, right), Tls(6, "10.0.0.7"), &locked), 200);
}

TEST_F(SecurityLayerTest, RequestsFromOurUsersWithoutAssociationNeedDigestProof) {
  const std::string message =
      Request("MESSAGE", "sip:bob@example.test", kAlice, "sip:bob@example.test", 1);
  ReceiveInfo info = Udp();
  Headers h;
  absl::Status status = layer_->OnIncoming(Parse(message), &info, &h);
  ASSERT_EQ(SipCodeOf(status), 407);
  EXPECT_TRUE(info.authenticated_user.empty());
  std::vector<std::string> challenges = Values(h, "Proxy-Authenticate");
  ASSERT_EQ(challenges.size(), 2u);
  EXPECT_EQ(Param(challenges[0], "realm"), "example.test");

  // With Proxy-Authorization (uri as pidgin-sipe fills it: not the Request-URI).
  std::string proven = message;
  proven.insert(proven.find("Content-Length:"),
                "Proxy-Authorization: " +
                    DigestAnswer(challenges[1], "alice", "alice-pw", "MESSAGE", "(null)") + "\r\n");
  info = Udp();
  Headers none;
  ASSERT_TRUE(layer_->OnIncoming(Parse(proven), &info, &none).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  EXPECT_TRUE(none.empty());
  // A UDP retransmission (same branch, same credentials) passes again...
  info = Udp();
  ASSERT_TRUE(layer_->OnIncoming(Parse(proven), &info, &none).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  // ...but the credentials in a new transaction are a replay: 407 stale.
  std::string replayed = proven;
  replayed.replace(replayed.find("branch=z9hG4bKMESSAGE1"), 22, "branch=z9hG4bKother99");
  info = Udp();
  Headers stale;
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(replayed), &info, &stale)), 407);
  ASSERT_FALSE(Values(stale, "Proxy-Authenticate").empty());
  EXPECT_NE(Values(stale, "Proxy-Authenticate")[0].find("stale=true"), std::string::npos);
  // On TCP the same request again is a replay as well (no retransmissions on streams).
  info = Tls(3);
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(proven), &info, &stale)), 407);

  // Bob's credentials on a request claiming to be from alice: 403.
  std::string bobs = message;
  bobs.insert(bobs.find("Content-Length:"),
              "Proxy-Authorization: " +
                  DigestAnswer(challenges[1], "bob", "bob-pw", "MESSAGE", "(null)", "00000002") +
                  "\r\n");
  info = Udp();
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(bobs), &info, &h)), 403);
  EXPECT_TRUE(info.authenticated_user.empty());

  // SUBSCRIBE from a Digest UA: proven, so the front end can trust authenticated_user.
  std::string subscribe = Request("SUBSCRIBE", "sip:alice@example.test", kAlice, kAlice, 5,
                                  "Event: vnd-microsoft-roaming-contacts\r\n");
  info = Tls(4);
  Headers sub_challenge;
  ASSERT_EQ(SipCodeOf(layer_->OnIncoming(Parse(subscribe), &info, &sub_challenge)), 407);
  subscribe.insert(subscribe.find("Content-Length:"),
                   "Proxy-Authorization: " +
                       DigestAnswer(Values(sub_challenge, "Proxy-Authenticate")[0], "alice",
                                    "alice-pw", "SUBSCRIBE", "sip:alice@example.test") +
                       "\r\n");
  info = Tls(4);
  ASSERT_TRUE(layer_->OnIncoming(Parse(subscribe), &info, &h).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
}

TEST_F(SecurityLayerTest, AckCancelResponsesAndForeignSendersAreNotChallenged) {
  Headers h;
  for (std::string_view method : {"ACK", "CANCEL"}) {
    ReceiveInfo info = Udp();
    EXPECT_TRUE(layer_
                    ->OnIncoming(Parse(Request(method, "sip:bob@example.test", kAlice,
                                               "sip:bob@example.test", 1)),
                                 &info, &h)
                    .ok())
        << method;
    EXPECT_TRUE(info.authenticated_user.empty());
  }
  // A caller that is not one of our users: policy decides later, not sign-in security.
  ReceiveInfo info = Udp();
  EXPECT_TRUE(layer_
                  ->OnIncoming(Parse(Request("INVITE", "sip:bob@example.test",
                                             "sip:carol@partner.test", "sip:bob@example.test", 1)),
                               &info, &h)
                  .ok());
  EXPECT_TRUE(info.authenticated_user.empty());
  // A response from a UA without association passes.
  SipMessage request =
      Parse(Request("MESSAGE", "sip:carol@partner.test", kAlice, "sip:carol@partner.test", 2));
  SipMessage response = MakeResponse(request, 200, "OK", "t1");
  info = Udp();
  EXPECT_TRUE(layer_->OnIncoming(response, &info, &h).ok());
  EXPECT_TRUE(h.empty());
}

TEST_F(SecurityLayerTest, SendersOfOurDomainsMustBeOurUsers) {
  // Unknown user of our domain, no association: forged, refused with a reason and counted.
  for (ReceiveInfo info : {Udp(), Tls(8)}) {
    Headers h;
    absl::Status status =
        layer_->OnIncoming(Parse(Request("MESSAGE", "sip:bob@example.test",
                                         "sip:nobody@Example.Test", "sip:bob@example.test", 1)),
                           &info, &h);
    EXPECT_EQ(SipCodeOf(status), 403);
    EXPECT_EQ(status.message(), "Not a User of This Domain");
    EXPECT_TRUE(h.empty());  // nothing to prove: no challenge
    EXPECT_TRUE(info.authenticated_user.empty());
  }
  EXPECT_EQ(layer_->stats().unknown_senders, 2u);
  EXPECT_EQ(layer_->stats().digest_challenged, 0u);

  // A user that is no longer in the directory is as unknown as a made-up one.
  directory_.Publish({User("alice", "alice-pw")});
  ReceiveInfo info = Udp();
  Headers h;
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(Request("INVITE", "sip:alice@example.test",
                                                       "sip:bob@example.test", kAlice, 2)),
                                         &info, &h)),
            403);
  EXPECT_EQ(layer_->stats().unknown_senders, 3u);

  // A foreign domain passes (policy decides later), unproven.
  info = Udp();
  EXPECT_TRUE(layer_
                  ->OnIncoming(Parse(Request("MESSAGE", "sip:alice@example.test",
                                             "sip:nobody@partner.test", kAlice, 3)),
                               &info, &h)
                  .ok());
  EXPECT_TRUE(info.authenticated_user.empty());
  EXPECT_TRUE(h.empty());

  // A known user without credentials is challenged, not refused.
  info = Udp();
  Headers challenge;
  EXPECT_EQ(SipCodeOf(layer_->OnIncoming(Parse(Request("MESSAGE", "sip:nobody@partner.test", kAlice,
                                                       "sip:x@partner.test", 4)),
                                         &info, &challenge)),
            407);
  EXPECT_EQ(Values(challenge, "Proxy-Authenticate").size(), 2u);

  // ACK, CANCEL and REGISTER keep their own rules.
  for (std::string_view method : {"ACK", "CANCEL"}) {
    info = Udp();
    EXPECT_TRUE(layer_
                    ->OnIncoming(Parse(Request(method, "sip:alice@example.test",
                                               "sip:nobody@example.test", kAlice, 5)),
                                 &info, &h)
                    .ok())
        << method;
  }
  info = Udp();
  EXPECT_TRUE(
      layer_->OnIncoming(Parse(Register(6, "", "sip:nobody@example.test")), &info, &h).ok());
  EXPECT_EQ(layer_->stats().unknown_senders, 3u);
}

TEST_F(SecurityLayerTest, SignedInUsersSendOnlyAsThemselves) {
  ClientKeys alice = SignIn(1);
  for (std::string_view from :
       {"sip:bob@example.test", "sip:nobody@example.test", "sip:alice@partner.test"}) {
    ReceiveInfo info = Tls(1);
    Headers h;
    absl::Status status = layer_->OnIncoming(
        Parse(ClientSign(
            Request("MESSAGE", "sip:carol@partner.test", from, "sip:carol@partner.test", 1),
            alice)),
        &info, &h);
    EXPECT_EQ(SipCodeOf(status), 403) << from;
    EXPECT_EQ(status.message(), "From Is Not the Signed-In User");
    EXPECT_TRUE(info.authenticated_user.empty()) << from;
  }
  EXPECT_EQ(layer_->stats().impersonations, 3u);

  // As herself (the user part in another case is still her) it passes.
  ReceiveInfo info = Tls(1);
  Headers h;
  ASSERT_TRUE(layer_
                  ->OnIncoming(Parse(ClientSign(
                                   Request("MESSAGE", "sip:carol@partner.test",
                                           "sip:Alice@EXAMPLE.test", "sip:carol@partner.test", 2),
                                   alice)),
                               &info, &h)
                  .ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  // In a dialog From is the local URI the caller chose (here a number): not checked.
  std::string bye = Request("BYE", "sip:carol@10.0.0.7", "sip:+15551234@example.test;user=phone",
                            "sip:carol@partner.test", 3);
  bye.replace(bye.find("<sip:carol@partner.test>"), 24, "<sip:carol@partner.test>;tag=c1");
  info = Tls(1);
  ASSERT_TRUE(layer_->OnIncoming(Parse(ClientSign(bye, alice)), &info, &h).ok());
  EXPECT_EQ(info.authenticated_user, kAlice);
  EXPECT_EQ(layer_->stats().impersonations, 3u);
}

TEST_F(SecurityLayerTest, ConnectionCloseDropsTheAssociation) {
  ClientKeys alice = SignIn(7);
  ASSERT_TRUE(layer_->HasAssociation(7));
  EXPECT_TRUE(Signed(7, kNotify));
  layer_->OnConnectionClosed(7);
  EXPECT_FALSE(layer_->HasAssociation(7));
  EXPECT_EQ(layer_->association_count(), 0u);
  EXPECT_FALSE(Signed(7, kNotify));
  // A signature for the gone association proves nothing: alice must prove herself (407).
  ReceiveInfo info = Tls(7);
  Headers h;
  EXPECT_EQ(
      SipCodeOf(layer_->OnIncoming(Parse(ClientSign(Request("MESSAGE", "sip:bob@example.test",
                                                            kAlice, "sip:bob@example.test", 1),
                                                    alice)),
                                   &info, &h)),
      407);
  EXPECT_TRUE(info.authenticated_user.empty());
}

TEST(RemoveConsumedCredentials, OurCredentialsStayHereOthersTravelOn) {
  SipMessage invite = Parse(
      "INVITE sip:bob@example.test SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bKcred\r\n"
      "From: <sip:alice@example.test>;tag=a\r\nTo: <sip:bob@example.test>\r\n"
      "Call-ID: cred\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\n"
      "Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", opaque=\"1\", "
      "crand=\"2\", cnum=\"3\", response=\"4\"\r\n"
      "Proxy-Authorization: Digest username=\"alice\", realm=\"example.test\", nonce=\"n\", "
      "uri=\"sip:bob@example.test\", response=\"r\"\r\n"
      "Proxy-Authorization: Digest username=\"alice\", realm=\"upstream.example\", nonce=\"m\", "
      "uri=\"sip:bob@example.test\", response=\"s\"\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(RemoveConsumedCredentials(invite, {"example.test"}), 2u);
  EXPECT_TRUE(invite.HeaderValues(HeaderId::kAuthorization).empty());
  std::vector<std::string_view> left = invite.HeaderValues(HeaderId::kProxyAuthorization);
  ASSERT_EQ(left.size(), 1u);
  EXPECT_NE(left[0].find("upstream.example"), std::string_view::npos);

  SipMessage reg = Parse(
      "REGISTER sip:example.test SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 127.0.0.1:4000;branch=z9hG4bKreg\r\n"
      "From: <sip:alice@example.test>;tag=a\r\nTo: <sip:alice@example.test>\r\n"
      "Call-ID: reg\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n"
      "Authorization: NTLM qop=\"auth\", opaque=\"1\", gssapi-data=\"x\"\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_EQ(RemoveConsumedCredentials(reg, {"example.test"}), 0u);  // the registrar needs it
  EXPECT_EQ(reg.HeaderValues(HeaderId::kAuthorization).size(), 1u);
}

}  // namespace
}  // namespace causeway::sip::lync
