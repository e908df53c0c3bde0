#include "sip/stack/digest_auth.h"

#include <chrono>
#include <string>

#include "core/clock.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "sip/codec/name_addr.h"

namespace causeway::sip {
namespace {

using std::chrono::seconds;

std::string HexOf(const std::array<uint8_t, 32>& b) {
  static constexpr char kD[] = "0123456789abcdef";
  std::string out;
  for (uint8_t x : b) {
    out.push_back(kD[x >> 4]);
    out.push_back(kD[x & 15]);
  }
  return out;
}

TEST(DigestHashTest, KnownVectors) {
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kMd5, ""), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kMd5, "abc"), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kMd5,
                          "1234567890123456789012345678901234567890123456789012345678901234567890"
                          "1234567890"),
            "57edf4a22be3c955ac49da2e2107b67a");
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kSha256, ""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kSha256, "abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(DigestHashHex(DigestAlgorithm::kSha256,
                          "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexOf(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

// RFC 7616 §3.9.1 (the password is "Circle of Life", errata 4495).
TEST(DigestHashTest, Rfc7616Examples) {
  constexpr std::string_view kNonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
  constexpr std::string_view kCnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
  std::string md5_ha1 =
      DigestHa1(DigestAlgorithm::kMd5, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(DigestResponse(DigestAlgorithm::kMd5, md5_ha1, kNonce, "00000001", kCnonce, "auth",
                           "GET", "/dir/index.html"),
            "8ca523f5e9506fed4657c9700eebdbec");
  std::string sha_ha1 =
      DigestHa1(DigestAlgorithm::kSha256, "Mufasa", "http-auth@example.org", "Circle of Life");
  EXPECT_EQ(DigestResponse(DigestAlgorithm::kSha256, sha_ha1, kNonce, "00000001", kCnonce, "auth",
                           "GET", "/dir/index.html"),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1");
  // RFC 2617 §3.5.
  std::string ha1 =
      DigestHa1(DigestAlgorithm::kMd5, "Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(DigestResponse(DigestAlgorithm::kMd5, ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                           "00000001", "0a4f113b", "auth", "GET", "/dir/index.html"),
            "6629fae49393a05397450978507c4ef1");
}

class DigestAuthenticatorTest : public ::testing::Test {
 protected:
  DigestAuthenticatorTest() { Reset(); }

  void Reset() {
    auth_ = std::make_unique<DigestAuthenticator>(
        config_, clock_,
        [](std::string_view user, std::string_view realm) -> std::optional<DigestHa1Set> {
          if (user != "alice") return std::nullopt;
          return DigestHa1Set{DigestHa1(DigestAlgorithm::kMd5, user, realm, "wonderland"),
                              DigestHa1(DigestAlgorithm::kSha256, user, realm, "wonderland")};
        },
        [this](std::span<uint8_t> out) {
          for (uint8_t& b : out) b = static_cast<uint8_t>(++counter_);
        });
  }

  static std::string Param(const std::string& header, std::string_view name) {
    absl::StatusOr<AuthValue> v = ParseAuthValue(header);
    EXPECT_TRUE(v.ok());
    std::optional<std::string_view> p = v->Param(name);
    if (!p) return "";
    std::string s(*p);
    if (s.size() >= 2 && s.front() == '"') s = s.substr(1, s.size() - 2);
    return s;
  }

  // A client answer for `challenge` with qop=auth.
  static std::string Answer(const std::string& challenge, std::string_view password,
                            std::string_view nc, std::string_view uri = "sip:example.com",
                            std::string_view user = "alice", std::string_view method = "REGISTER") {
    bool sha = Param(challenge, "algorithm") == "SHA-256";
    DigestAlgorithm alg = sha ? DigestAlgorithm::kSha256 : DigestAlgorithm::kMd5;
    std::string realm = Param(challenge, "realm"), nonce = Param(challenge, "nonce");
    std::string ha1 = DigestHa1(alg, user, realm, password);
    std::string resp = DigestResponse(alg, ha1, nonce, nc, "c0ffee", "auth", method, uri);
    return "Digest username=\"" + std::string(user) + "\", realm=\"" + realm + "\", nonce=\"" +
           nonce + "\", uri=\"" + std::string(uri) +
           "\", algorithm=" + std::string(sha ? "SHA-256" : "MD5") +
           ", qop=auth, nc=" + std::string(nc) + ", cnonce=\"c0ffee\", response=\"" + resp + "\"";
  }

  DigestVerdict Check(const std::string& credentials, std::string_view peer = "192.0.2.1") {
    return auth_->Verify(credentials, "REGISTER", "sip:example.com", peer, false);
  }

  DigestServerConfig config_{.realm = "example.com", .secret = "0123456789abcdef0123456789abcdef"};
  SimulatedClock clock_;
  int counter_ = 0;
  std::unique_ptr<DigestAuthenticator> auth_;
};

TEST_F(DigestAuthenticatorTest, ChallengesOfferSha256ThenMd5) {
  std::vector<std::string> c = auth_->Challenges();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(Param(c[0], "algorithm"), "SHA-256");
  EXPECT_EQ(Param(c[1], "algorithm"), "MD5");
  EXPECT_EQ(Param(c[0], "qop"), "auth");
  EXPECT_EQ(Param(c[0], "realm"), "example.com");
  EXPECT_EQ(Param(c[0], "nonce"), Param(c[1], "nonce"));
  EXPECT_EQ(Param(c[0], "stale"), "");
  EXPECT_EQ(Param(auth_->Challenges(true)[1], "stale"), "true");
  EXPECT_NE(Param(auth_->Challenges()[0], "nonce"), Param(c[0], "nonce"));
}

TEST_F(DigestAuthenticatorTest, AcceptsBothAlgorithmsAndDetectsReplays) {
  // Both headers share one nonce, so the count goes on across algorithms.
  std::vector<std::string> both = auth_->Challenges();
  for (size_t i = 0; i < both.size(); ++i) {
    DigestVerdict ok = Check(Answer(both[i], "wonderland", i == 0 ? "00000001" : "00000002"));
    EXPECT_EQ(ok.kind, DigestVerdict::Kind::kOk) << ok.reason;
    EXPECT_EQ(ok.user, "alice");
  }
  std::string challenge = auth_->Challenges()[0];
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "00000001")).kind, DigestVerdict::Kind::kOk);
  DigestVerdict replay = Check(Answer(challenge, "wonderland", "00000001"));
  EXPECT_EQ(replay.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(replay.sip_code, 401);
  EXPECT_EQ(Param(replay.challenges[0], "stale"), "true");
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "00000002")).kind, DigestVerdict::Kind::kOk);
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "00000002")).kind,
            DigestVerdict::Kind::kChallenge);
}

TEST_F(DigestAuthenticatorTest, OnlyConfiguredAlgorithmsAreOfferedAndAccepted) {
  std::string sha_challenge = auth_->Challenges()[0];
  config_.algorithms = {DigestAlgorithm::kMd5};
  Reset();
  std::vector<std::string> md5_only = auth_->Challenges();
  ASSERT_EQ(md5_only.size(), 1u);
  EXPECT_EQ(Param(md5_only[0], "algorithm"), "MD5");
  EXPECT_EQ(Check(Answer(md5_only[0], "wonderland", "00000001")).kind, DigestVerdict::Kind::kOk);
  // A correct SHA-256 answer (to a nonce this realm and secret issued) is still refused.
  DigestVerdict sha = Check(Answer(sha_challenge, "wonderland", "00000001"));
  EXPECT_EQ(sha.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(sha.reason, "algorithm not offered");
  ASSERT_EQ(sha.challenges.size(), 1u);

  config_.algorithms = {DigestAlgorithm::kMd5, DigestAlgorithm::kSha256};
  Reset();
  std::vector<std::string> md5_first = auth_->Challenges();
  ASSERT_EQ(md5_first.size(), 2u);
  EXPECT_EQ(Param(md5_first[0], "algorithm"), "MD5");
  EXPECT_EQ(Param(md5_first[1], "algorithm"), "SHA-256");
}

TEST(DigestAlgorithmTest, NamesParseCaseInsensitively) {
  DigestAlgorithm alg = DigestAlgorithm::kMd5;
  EXPECT_TRUE(ParseDigestAlgorithm("sha-256", &alg));
  EXPECT_EQ(alg, DigestAlgorithm::kSha256);
  EXPECT_TRUE(ParseDigestAlgorithm("MD5", &alg));
  EXPECT_EQ(alg, DigestAlgorithm::kMd5);
  EXPECT_FALSE(ParseDigestAlgorithm("SHA-512-256", &alg));
  EXPECT_FALSE(ParseDigestAlgorithm("MD5-sess", &alg));
}

TEST_F(DigestAuthenticatorTest, ExpiredNonceIsStaleOnlyWithTheRightPassword) {
  std::string challenge = auth_->Challenges()[1];
  clock_.Advance(seconds(301));
  DigestVerdict stale = Check(Answer(challenge, "wonderland", "00000001"));
  EXPECT_EQ(stale.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(Param(stale.challenges[0], "stale"), "true");
  DigestVerdict wrong = Check(Answer(challenge, "guess", "00000001"));
  EXPECT_EQ(wrong.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(Param(wrong.challenges[0], "stale"), "");
}

TEST_F(DigestAuthenticatorTest, NonceFromTheFutureIsNotFresh) {
  // Issued by an instance whose clock is ahead (same secret), checked by one that is behind.
  SimulatedClock ahead(SimulatedClock::kDefaultStart + std::chrono::hours(1));
  DigestAuthenticator other(config_, ahead, nullptr);
  std::string challenge = other.Challenges()[0];
  DigestVerdict v = Check(Answer(challenge, "wonderland", "00000001"));
  EXPECT_EQ(v.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(v.reason, "nonce from the future (clock reset?)");
}

TEST_F(DigestAuthenticatorTest, ForgedNonceAndUnknownUsers) {
  std::string challenge = auth_->Challenges()[0];
  std::string forged = Answer(challenge, "wonderland", "00000001");
  size_t at = forged.find("nonce=\"") + 7;
  forged[at] = forged[at] == 'a' ? 'b' : 'a';
  DigestVerdict v = Check(forged);
  EXPECT_EQ(v.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(Param(v.challenges[0], "stale"), "");
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "00000001", "sip:example.com", "mallory")).kind,
            DigestVerdict::Kind::kChallenge);
  // Malformed: no response parameter; uri not the Request-URI.
  EXPECT_EQ(
      Check("Digest username=\"alice\", realm=\"example.com\", nonce=\"x\", uri=\"u\"").sip_code,
      400);
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "00000001", "sip:other.example.com")).sip_code,
            400);
  EXPECT_EQ(Check(Answer(challenge, "wonderland", "1")).sip_code, 400);  // nc not 8 hex digits
  EXPECT_EQ(Check("Basic YWxpY2U6d29uZGVybGFuZA==").kind, DigestVerdict::Kind::kChallenge);
}

TEST_F(DigestAuthenticatorTest, BruteForceIsLimitedPerUserAndPeer) {
  for (int i = 1; i <= 4; ++i) {
    DigestVerdict v = Check(Answer(auth_->Challenges()[0], "guess", "00000001"));
    EXPECT_EQ(v.kind, DigestVerdict::Kind::kChallenge) << i;
  }
  EXPECT_EQ(Check(Answer(auth_->Challenges()[0], "guess", "00000001")).sip_code, 403);
  // Locked even with the right password, from that peer only.
  EXPECT_EQ(Check(Answer(auth_->Challenges()[0], "wonderland", "00000001")).sip_code, 403);
  EXPECT_EQ(Check(Answer(auth_->Challenges()[0], "wonderland", "00000001"), "192.0.2.99").kind,
            DigestVerdict::Kind::kOk);
  clock_.Advance(seconds(301));
  EXPECT_EQ(Check(Answer(auth_->Challenges()[0], "wonderland", "00000001")).kind,
            DigestVerdict::Kind::kOk);
}

TEST_F(DigestAuthenticatorTest, PidginSipeStyleAnswerWithoutQop) {
  // sip-sec-digest.c: MD5, no qop/cnonce, nc="1" quoted, upper-case hex response.
  std::string challenge = auth_->Challenges()[0];  // SIPE takes the first header
  std::string nonce = Param(challenge, "nonce");
  std::string ha1 = DigestHa1(DigestAlgorithm::kMd5, "alice", "example.com", "wonderland");
  std::string resp = DigestResponse(DigestAlgorithm::kMd5, ha1, nonce, "", "", "", "INVITE",
                                    "sip:bob@example.com");
  for (char& c : resp) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  std::string cred = "Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
                     "\", uri=\"sip:bob@example.com\", nc=\"1\", response=\"" + resp + "\"";
  DigestVerdict ok = auth_->Verify(cred, "INVITE", "sip:bob@example.com", "192.0.2.1", true);
  EXPECT_EQ(ok.kind, DigestVerdict::Kind::kOk) << ok.reason;
  DigestVerdict again = auth_->Verify(cred, "INVITE", "sip:bob@example.com", "192.0.2.1", true);
  EXPECT_EQ(again.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(again.sip_code, 407);
  config_.allow_no_qop = false;
  Reset();
  std::string n2 = Param(auth_->Challenges()[0], "nonce");
  std::string r2 =
      DigestResponse(DigestAlgorithm::kMd5, ha1, n2, "", "", "", "INVITE", "sip:bob@example.com");
  EXPECT_EQ(auth_
                ->Verify("Digest username=\"alice\", realm=\"example.com\", nonce=\"" + n2 +
                             "\", uri=\"sip:bob@example.com\", response=\"" + r2 + "\"",
                         "INVITE", "sip:bob@example.com", "192.0.2.1", true)
                .kind,
            DigestVerdict::Kind::kChallenge);
}

TEST_F(DigestAuthenticatorTest, PidginSipe125Answer) {
  // sip-sec-digest.c in 1.25: MD5, qop=auth, nc=00000001, cnonce "%04x%04x", and the uri taken
  // from the 407 (a NULL target printed as "(null)").
  config_.require_uri_match = false;
  Reset();
  std::string nonce = Param(auth_->Challenges()[0], "nonce");
  std::string ha1 = DigestHa1(DigestAlgorithm::kMd5, "alice", "example.com", "wonderland");
  std::string resp = DigestResponse(DigestAlgorithm::kMd5, ha1, nonce, "00000001", "1a2b3c4d",
                                    "auth", "INVITE", "(null)");
  std::string cred = "Digest username=\"alice\", realm=\"example.com\", nonce=\"" + nonce +
                     "\", uri=\"(null)\", qop=auth, nc=00000001, cnonce=\"1a2b3c4d\", response=\"" +
                     resp + "\"";
  DigestVerdict ok = auth_->Verify(cred, "INVITE", "sip:bob@example.com", "192.0.2.1", true);
  EXPECT_EQ(ok.kind, DigestVerdict::Kind::kOk) << ok.reason;
  // With the strict default the same answer is a 400.
  config_.require_uri_match = true;
  Reset();
  EXPECT_EQ(auth_->Verify(cred, "INVITE", "sip:bob@example.com", "192.0.2.1", true).sip_code, 400);
}

TEST_F(DigestAuthenticatorTest, TablesStayBoundedAndEvictedNoncesAreStale) {
  config_.max_tracked_nonces = 3;
  config_.max_tracked_peers = 2;
  Reset();
  std::vector<std::string> challenges;
  for (int i = 0; i < 5; ++i) {
    challenges.push_back(auth_->Challenges()[0]);
    clock_.Advance(seconds(1));
  }
  for (const std::string& c : challenges) {
    EXPECT_EQ(Check(Answer(c, "wonderland", "00000001")).kind, DigestVerdict::Kind::kOk);
    EXPECT_LE(auth_->tracked_nonces(), 3u);
  }
  // The first nonce's history was evicted: a replay of it is not accepted as fresh.
  DigestVerdict v = Check(Answer(challenges[0], "wonderland", "00000002"));
  EXPECT_EQ(v.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(Param(v.challenges[0], "stale"), "true");
  for (int i = 0; i < 10; ++i) {
    Check(Answer(challenges[4], "guess", "00000009"), "198.51.100." + std::to_string(i));
    EXPECT_LE(auth_->tracked_peers(), 2u);
  }
}

TEST_F(DigestAuthenticatorTest, VerifyRequestUsesTheMatchingHeader) {
  std::string challenge = auth_->Challenges()[0];
  std::string text =
      "REGISTER sip:example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bK1\r\n"
      "From: <sip:alice@example.com>;tag=1\r\n"
      "To: <sip:alice@example.com>\r\n"
      "Call-ID: c1\r\n"
      "CSeq: 1 REGISTER\r\n"
      "Authorization: Digest username=\"alice\", realm=\"elsewhere\", nonce=\"x\", uri=\"y\", "
      "response=\"z\"\r\n"
      "Authorization: " +
      Answer(challenge, "wonderland", "00000001") +
      "\r\n"
      "Content-Length: 0\r\n\r\n";
  absl::StatusOr<SipMessage> m = SipMessage::Parse(text);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(auth_->VerifyRequest(*m, "192.0.2.1", false).kind, DigestVerdict::Kind::kOk);
  DigestVerdict proxy = auth_->VerifyRequest(*m, "192.0.2.1", true);
  EXPECT_EQ(proxy.kind, DigestVerdict::Kind::kChallenge);
  EXPECT_EQ(proxy.sip_code, 407);
}

}  // namespace
}  // namespace causeway::sip
