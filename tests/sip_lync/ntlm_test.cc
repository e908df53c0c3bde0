#include "sip/lync/ntlm.h"

#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "sip/lync/credentials.h"
#include "sip/lync/crypto.h"

namespace causeway::sip::lync {
namespace {

// The stored form of a password (sip/lync/credentials.h), for the test users.
Bytes16 TestNtHash(std::string_view password) { return *NtHash(password); }


std::string Unhex(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(HexDecode(hex, &out)) << hex;
  return out;
}
std::string Hex(std::span<const uint8_t> b) { return HexEncode(b); }
std::string Hex(std::string_view s) { return HexEncode(AsBytes(s)); }

TEST(NtlmCryptoTest, Md4Rfc1320Vectors) {
  EXPECT_EQ(Hex(Md4(AsBytes(""))), "31D6CFE0D16AE931B73C59D7E0C089C0");
  EXPECT_EQ(Hex(Md4(AsBytes("a"))), "BDE52CB31DE33E46245E05FBDBD6FB24");
  EXPECT_EQ(Hex(Md4(AsBytes("abc"))), "A448017AAF21D8525FC10AE87AA6729D");
  EXPECT_EQ(Hex(Md4(AsBytes("message digest"))), "D9130A8164549FE818874806E1C7014B");
  EXPECT_EQ(Hex(Md4(AsBytes("abcdefghijklmnopqrstuvwxyz"))), "D79E1C308AA5BBCDEEA8ED63DF412DA9");
  EXPECT_EQ(Hex(Md4(AsBytes("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"))),
            "043F8582F241DB351CE627E153E7F0E4");
  EXPECT_EQ(Hex(Md4(AsBytes("1234567890123456789012345678901234567890123456789012345678901234"
                            "5678901234567890"))),
            "E33B4DDC9C38F2199C3E7B164FCC0536");
}

TEST(NtlmCryptoTest, Md5HmacAndRc4) {
  EXPECT_EQ(Hex(Md5(AsBytes("message digest"))), "F96B697D7CB7938D525A2F31AAF161D0");
  std::string key(16, '\x0b');
  EXPECT_EQ(Hex(HmacMd5(AsBytes(key), AsBytes("Hi There"))), "9294727A3638BB1C13F48EF8158BFC9D");
  // MS-NLMP 4.2.4.2.3: RC4K(KeyExchangeKey, RandomSessionKey).
  std::string kx = Unhex("8DE40CCADBC14A82F15CB0AD0DE95CA3");
  EXPECT_EQ(Hex(Rc4(AsBytes(kx), std::string(16, '\x55'))), "C5DAD2544FC9799094CE1CE90BC9D03E");
  // RC4 is its own inverse.
  EXPECT_EQ(Rc4(AsBytes(kx), Rc4(AsBytes(kx), "hello")), "hello");
}

TEST(NtlmTest, NtHashAndNtowfV2) {
  Bytes16 nt = TestNtHash("Password");
  EXPECT_EQ(Hex(nt), "A4F49C406510BDCAB6824EE7C30FD852");
  EXPECT_EQ(Hex(NtowfV2(nt, "User", "Domain")), "0C868A403BFD7A93A3001EF22EF02E3F");
  // User names are uppercased, domains are not.
  EXPECT_EQ(Hex(NtowfV2(nt, "user", "Domain")), "0C868A403BFD7A93A3001EF22EF02E3F");
  EXPECT_NE(Hex(NtowfV2(nt, "User", "DOMAIN")), "0C868A403BFD7A93A3001EF22EF02E3F");
}

TEST(NtlmTest, Utf16RoundTrip) {
  std::string s =
      "Gr\xC3\xBC\xC3\x9F"
      "e \xF0\x9F\x98\x80";
  std::string u16 = NtlmUtf16Le(s);
  EXPECT_EQ(u16.size(), 2u * 8);
  EXPECT_EQ(NtlmUtf8FromUtf16Le(u16), s);
}

// MS-NLMP 4.2.4: NTLMv2 with the server challenge 0123456789abcdef; the AUTHENTICATE bytes are
// the ones MS-NLMP shows (as dumped in pidgin-sipe's sip-sec-ntlm-tests.c).
constexpr std::string_view kNlmpChallenge =
    "4e544c4d53535000020000000c000c003800000033828ae20123456789abcdef00000000000000002400240044"
    "000000060070170000000f53006500720076006500720002000c0044006f006d00610069006e0001000c005300"
    "6500720076006500720000000000";

NtlmChallengeState StateFrom(std::string_view challenge_hex) {
  NtlmChallengeState s;
  s.challenge_message = Unhex(challenge_hex);
  std::memcpy(s.server_challenge.data(), s.challenge_message.data() + 24, 8);
  s.flags = static_cast<uint8_t>(s.challenge_message[20]) |
            (static_cast<uint8_t>(s.challenge_message[21]) << 8) |
            (static_cast<uint8_t>(s.challenge_message[22]) << 16) |
            (static_cast<uint32_t>(static_cast<uint8_t>(s.challenge_message[23])) << 24);
  return s;
}

NtHashLookup LookupFor(std::string user, std::string domain, std::string password) {
  return [=](std::string_view u, std::string_view d) -> std::optional<Bytes16> {
    if (u == user && d == domain) return TestNtHash(password);
    return std::nullopt;
  };
}

TEST(NtlmTest, MsNlmpNtlmV2Vector) {
  const std::string auth = Unhex(
      "4e544c4d5353500003000000180018006c00000054005400840000000c000c00480000000800080054000000"
      "100010005c00000010001000d8000000358288e20501280a0000000f44006f006d00610069006e0055007300"
      "6500720043004f004d005000550054004500520086c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa68"
      "cd0ab851e51c96aabc927bebef6a1c01010000000000000000000000000000aaaaaaaaaaaaaaaa0000000002"
      "000c0044006f006d00610069006e0001000c005300650072007600650072000000000000000000c5dad2544fc9"
      "799094ce1ce90bc9d03e");
  NtlmChallengeState state = StateFrom(kNlmpChallenge);
  EXPECT_EQ(Hex(std::span<const uint8_t>(state.server_challenge)), "0123456789ABCDEF");
  absl::StatusOr<NtlmAuthResult> r =
      VerifyNtlmAuthenticate(state, auth, LookupFor("User", "Domain", "Password"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->user, "User");
  EXPECT_EQ(r->domain, "Domain");
  EXPECT_EQ(r->workstation, "COMPUTER");
  EXPECT_EQ(Hex(r->keys.exported_session_key), "55555555555555555555555555555555");
  EXPECT_EQ(Hex(r->keys.client_sign_key), "4788DC861B4782F35D43FD98FE1A2D39");
  EXPECT_EQ(Hex(r->keys.client_seal_key), "59F600973CC4960A25480A7C196E4C58");
  // MS-NLMP 4.2.4.4 checksum without the RC4 step (SIPE's test: MAC w/o key exchange, seq 0).
  std::string plaintext = NtlmUtf16Le("Plaintext");
  EXPECT_EQ(Hex(NtlmMac(r->keys.flags & ~kNtlmNegotiateKeyExchange, r->keys.client_sign_key,
                        r->keys.client_seal_key, 0, plaintext)),
            "0100000070352851F256430900000000");

  // Wrong password, unknown user, another challenge: all refused.
  EXPECT_TRUE(absl::IsPermissionDenied(
      VerifyNtlmAuthenticate(state, auth, LookupFor("User", "Domain", "password")).status()));
  EXPECT_TRUE(absl::IsPermissionDenied(
      VerifyNtlmAuthenticate(state, auth, LookupFor("Other", "Domain", "Password")).status()));
  NtlmChallengeState other = state;
  other.server_challenge[0] ^= 1;
  EXPECT_FALSE(VerifyNtlmAuthenticate(other, auth, LookupFor("User", "Domain", "Password")).ok());
  // A flipped bit in the NTLMv2 blob breaks the proof.
  std::string tampered = auth;
  tampered[0x84 + 16 + 8] ^= 1;
  EXPECT_FALSE(
      VerifyNtlmAuthenticate(state, tampered, LookupFor("User", "Domain", "Password")).ok());
  // Truncated messages are refused, never read out of bounds.
  for (size_t n : {0u, 8u, 40u, 64u, 100u, 200u}) {
    EXPECT_FALSE(VerifyNtlmAuthenticate(state, std::string_view(auth).substr(0, n),
                                        LookupFor("User", "Domain", "Password"))
                     .ok());
  }
}

// pidgin-sipe's capture of Office Communicator 2007 R2 against OCS 2007 R2 (connectionless).
constexpr std::string_view kOcsChallenge =
    "4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D1000000000000000096009600380"
    "000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F0043005300"
    "2D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F00"
    "2D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F00"
    "73006D006F002E006C006F00630061006C0000000000";
constexpr std::string_view kOcsAuthenticate =
    "4E544C4D53535000030000001800180072000000C600C6008A0000000A000A004800000008000800520000001800"
    "18005A0000001000100050010000558298620502CE0E0000000F43004F0053004D004F0055007300650072004300"
    "4F0053004D004F002D004F00430053002D0052003200A1E92EFE4E078BF7C5C0049ACC6166C2D6AE875CB0FDAA41"
    "8DC0C800AE76ECA606D2B9FBEBD04731010100000000000059519A1727B9CA01D6AE875CB0FDAA41000000000200"
    "0A0043004F0053004D004F000100180043004F0053004D004F002D004F00430053002D0052003200040016006300"
    "6F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F002D006F00630073002D007200"
    "32002E0063006F0073006D006F002E006C006F00630061006C000500160063006F0073006D006F002E006C006F00"
    "630061006C00000000000000000031CB739E1CA80A498591E8AE797115E4";

TEST(NtlmTest, Communicator2007R2ConnectionlessVector) {
  NtlmChallengeState state = StateFrom(kOcsChallenge);
  absl::StatusOr<NtlmAuthResult> r = VerifyNtlmAuthenticate(state, Unhex(kOcsAuthenticate),
                                                            LookupFor("User", "COSMO", "Pa$$word"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->workstation, "COSMO-OCS-R2");
  EXPECT_TRUE(r->keys.flags & kNtlmNegotiateDatagram);
  // The client's MS-SIPAE signature of its REGISTER and the server's of the 200 OK (sequence 100).
  std::string request_sig =
      "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
      "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
      "<sip:user@cosmo.local><><><><>";
  EXPECT_EQ(Hex(NtlmMac(r->keys.flags, r->keys.client_sign_key, r->keys.client_seal_key, 100,
                        request_sig)),
            "0100000029618E9651B65A7764000000");
  std::string response_sig =
      "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
      "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
      "<sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>";
  EXPECT_EQ(Hex(NtlmMac(r->keys.flags, r->keys.server_sign_key, r->keys.server_seal_key, 100,
                        response_sig)),
            "01000000E615438A917661BE64000000");
  // One changed character changes the MAC.
  response_sig[10] = 'X';
  EXPECT_NE(Hex(NtlmMac(r->keys.flags, r->keys.server_sign_key, r->keys.server_seal_key, 100,
                        response_sig)),
            "01000000E615438A917661BE64000000");
}

// --- A client written here from MS-NLMP, independent of the server code paths. ---

struct ClientOut {
  std::string authenticate;
  Bytes16 exported{};
};

void P16(std::string* o, uint16_t v) {
  o->push_back(static_cast<char>(v & 0xff));
  o->push_back(static_cast<char>(v >> 8));
}
void P32(std::string* o, uint32_t v) {
  for (int i = 0; i < 4; ++i) o->push_back(static_cast<char>(v >> (8 * i)));
}
uint32_t G32(std::string_view b, size_t at) {
  return static_cast<uint8_t>(b[at]) | (static_cast<uint8_t>(b[at + 1]) << 8) |
         (static_cast<uint8_t>(b[at + 2]) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[at + 3])) << 24);
}

// Builds an NTLMv2 AUTHENTICATE for `challenge`. `nt_v1` sends a 24-byte (v1-shaped) response;
// `av_extra` is appended to the target info before EOL; `mic` adds a correct MIC field.
ClientOut MakeAuthenticate(std::string_view challenge, std::string_view user,
                           std::string_view domain, std::string_view password, uint64_t timestamp,
                           bool nt_v1 = false, bool mic = false) {
  uint32_t flags = G32(challenge, 20);
  flags = (flags & (kNtlmNegotiateUnicode | kNtlmNegotiateNtlm | kNtlmNegotiateAlwaysSign |
                    kNtlmNegotiateExtendedSessionSecurity | kNtlmNegotiateTargetInfo |
                    kNtlmNegotiateVersion | kNtlm128 | kNtlm56 | kNtlmNegotiateSign |
                    kNtlmNegotiateDatagram | kNtlmNegotiateIdentify | kNtlmNegotiateKeyExchange)) |
          kNtlmRequestTarget;
  if (flags & kNtlm128) flags &= ~kNtlm56;
  std::string server_challenge(challenge.substr(24, 8));
  uint16_t ti_len = static_cast<uint16_t>(static_cast<uint8_t>(challenge[40]) |
                                          (static_cast<uint8_t>(challenge[41]) << 8));
  uint32_t ti_off = G32(challenge, 44);
  std::string target_info(challenge.substr(ti_off, ti_len));
  if (mic) {
    // Insert MsvAvFlags = 2 before EOL.
    target_info.resize(target_info.size() - 4);
    P16(&target_info, 6);
    P16(&target_info, 4);
    P32(&target_info, 2);
    target_info.append(4, '\0');
  }
  std::string client_challenge = "\x11\x22\x33\x44\x55\x66\x77\x88";
  Bytes16 nt_hash = Md4(AsBytes(NtlmUtf16Le(password)));
  std::string upper(user);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  Bytes16 key = HmacMd5(nt_hash, AsBytes(NtlmUtf16Le(upper) + NtlmUtf16Le(domain)));
  std::string temp = std::string("\x01\x01", 2) + std::string(6, '\0');
  for (int i = 0; i < 8; ++i) temp.push_back(static_cast<char>(timestamp >> (8 * i)));
  temp += client_challenge + std::string(4, '\0') + target_info + std::string(4, '\0');
  Bytes16 proof = HmacMd5(key, AsBytes(server_challenge + temp));
  std::string nt(reinterpret_cast<const char*>(proof.data()), 16);
  nt += temp;
  if (nt_v1) nt.resize(24);
  Bytes16 base = HmacMd5(key, proof);
  Bytes16 hmac_lm = HmacMd5(key, AsBytes(server_challenge + client_challenge));
  std::string lm(reinterpret_cast<const char*>(hmac_lm.data()), 16);
  lm += client_challenge;
  ClientOut out;
  for (int i = 0; i < 16; ++i) out.exported[i] = static_cast<uint8_t>(0xA0 + i);
  std::string enc =
      Rc4(base, std::string_view(reinterpret_cast<const char*>(out.exported.data()), 16));
  std::string d16 = NtlmUtf16Le(domain), u16 = NtlmUtf16Le(user), h16 = NtlmUtf16Le("WS");
  uint32_t off = mic ? 88 : 72;
  std::string& m = out.authenticate;
  m.append("NTLMSSP\0", 8);
  P32(&m, 3);
  std::string payload;
  auto field = [&](const std::string& data) {
    P16(&m, static_cast<uint16_t>(data.size()));
    P16(&m, static_cast<uint16_t>(data.size()));
    P32(&m, off + static_cast<uint32_t>(payload.size()));
    payload += data;
  };
  field(lm);
  field(nt);
  field(d16);
  field(u16);
  field(h16);
  field(enc);
  P32(&m, flags);
  m.append("\x06\x01\xb1\x1d\0\0\0\x0f", 8);
  if (mic) m.append(16, '\0');
  m += payload;
  if (mic) {
    Bytes16 v = HmacMd5(out.exported, AsBytes(std::string(challenge) + m));
    std::memcpy(m.data() + 72, v.data(), 16);
  }
  return out;
}

class NtlmRoundTripTest : public ::testing::Test {
 protected:
  NtlmRoundTripTest() {
    names_.netbios_domain = "CONTOSO";
    names_.netbios_computer = "FE01";
    names_.dns_domain = "contoso.com";
    names_.dns_computer = "fe01.contoso.com";
  }
  NtlmChallengeState Challenge(uint64_t now = 0) {
    absl::StatusOr<NtlmChallengeState> s =
        BuildNtlmChallenge(names_, "", now, {1, 2, 3, 4, 5, 6, 7, 8});
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  NtlmServerNames names_;
  NtHashLookup lookup_ = LookupFor("alice", "CONTOSO", "S3cret!");
};

TEST_F(NtlmRoundTripTest, ChallengeLayout) {
  NtlmChallengeState s = Challenge();
  const std::string& m = s.challenge_message;
  ASSERT_GE(m.size(), 56u);
  EXPECT_EQ(m.substr(0, 8), std::string("NTLMSSP\0", 8));
  EXPECT_EQ(G32(m, 8), 2u);
  EXPECT_EQ(G32(m, 20), kNtlmConnectionlessServerFlags);
  EXPECT_EQ(m.substr(24, 8), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  // TargetName is the NetBIOS domain in UTF-16LE at offset 56.
  EXPECT_EQ(G32(m, 16), 56u);
  EXPECT_EQ(m.substr(56, 14), NtlmUtf16Le("CONTOSO"));
}

TEST_F(NtlmRoundTripTest, ClientAndServerAgreeOnKeys) {
  NtlmChallengeState s = Challenge();
  ClientOut c = MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "S3cret!", 1234);
  absl::StatusOr<NtlmAuthResult> r = VerifyNtlmAuthenticate(s, c.authenticate, lookup_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->user, "alice");
  EXPECT_EQ(r->keys.exported_session_key, c.exported);
  NtlmSessionKeys mine = DeriveNtlmSessionKeys(r->keys.flags, c.exported);
  EXPECT_EQ(mine.server_sign_key, r->keys.server_sign_key);
  EXPECT_NE(r->keys.client_sign_key, r->keys.server_sign_key);
  // Wrong password.
  ClientOut bad = MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "s3cret!", 1234);
  EXPECT_TRUE(
      absl::IsPermissionDenied(VerifyNtlmAuthenticate(s, bad.authenticate, lookup_).status()));
}

TEST_F(NtlmRoundTripTest, RejectsNtlmV1) {
  NtlmChallengeState s = Challenge();
  ClientOut c = MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "S3cret!", 0, true);
  absl::Status st = VerifyNtlmAuthenticate(s, c.authenticate, lookup_).status();
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  EXPECT_NE(st.message().find("NTLMv1"), std::string_view::npos) << st;
}

TEST_F(NtlmRoundTripTest, TimestampSkew) {
  uint64_t now = 133000000000000000ULL;
  NtlmChallengeState s = Challenge(now);
  NtlmVerifyOptions opt;
  opt.now_filetime = now;
  opt.max_clock_skew = std::chrono::minutes(5);
  ClientOut fresh =
      MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "S3cret!", now + 10000000ULL);
  EXPECT_TRUE(VerifyNtlmAuthenticate(s, fresh.authenticate, lookup_, opt).ok());
  ClientOut old = MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "S3cret!",
                                   now - 3600ULL * 10000000ULL);
  EXPECT_FALSE(VerifyNtlmAuthenticate(s, old.authenticate, lookup_, opt).ok());
}

TEST_F(NtlmRoundTripTest, MicCheckedWhenFlagged) {
  NtlmChallengeState s = Challenge();
  ClientOut c =
      MakeAuthenticate(s.challenge_message, "alice", "CONTOSO", "S3cret!", 99, false, true);
  ASSERT_TRUE(VerifyNtlmAuthenticate(s, c.authenticate, lookup_).ok());
  std::string bad = c.authenticate;
  bad[72] ^= 0x40;
  EXPECT_TRUE(absl::IsPermissionDenied(VerifyNtlmAuthenticate(s, bad, lookup_).status()));
}

TEST_F(NtlmRoundTripTest, NegotiateDrivesFlags) {
  std::string negotiate("NTLMSSP\0", 8);
  P32(&negotiate, 1);
  P32(&negotiate, kNtlmNegotiateUnicode | kNtlmNegotiateSign | kNtlmRequestTarget | kNtlm128);
  negotiate.append(16, '\0');
  absl::StatusOr<NtlmChallengeState> s =
      BuildNtlmChallenge(names_, negotiate, 0, {9, 9, 9, 9, 9, 9, 9, 9});
  ASSERT_TRUE(s.ok());
  EXPECT_TRUE(s->flags & kNtlmNegotiateSign);
  EXPECT_FALSE(s->flags & kNtlmNegotiateDatagram);
  EXPECT_TRUE(s->flags & kNtlmNegotiateExtendedSessionSecurity);
  EXPECT_FALSE(BuildNtlmChallenge(names_, "garbage", 0, {}).ok());
}

}  // namespace

// Exposed to sipae_test.cc (same test binary): the client above, for the REGISTER handshake.
namespace testclient {
std::string NtlmAuthenticateForTest(std::string_view challenge, std::string_view user,
                                    std::string_view domain, std::string_view password,
                                    Bytes16* exported) {
  ClientOut c = MakeAuthenticate(challenge, user, domain, password, 0);
  *exported = c.exported;
  return c.authenticate;
}
// The same with an NTLMv2 timestamp (FILETIME), for servers that check the clock skew.
std::string NtlmAuthenticateForTestAt(std::string_view challenge, std::string_view user,
                                      std::string_view domain, std::string_view password,
                                      uint64_t timestamp, Bytes16* exported) {
  ClientOut c = MakeAuthenticate(challenge, user, domain, password, timestamp);
  *exported = c.exported;
  return c.authenticate;
}
}  // namespace testclient

}  // namespace causeway::sip::lync
