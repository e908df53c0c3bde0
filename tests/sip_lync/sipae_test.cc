#include "sip/lync/sipae.h"

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "core/clock.h"
#include "core/status.h"
#include "core/strings.h"
#include "gtest/gtest.h"
#include "sip/lync/credentials.h"
#include "sip/codec/message.h"
#include "sip/lync/crypto.h"
#include "sip/lync/ntlm.h"

namespace causeway::sip::lync {
namespace testclient {
std::string NtlmAuthenticateForTest(std::string_view challenge, std::string_view user,
                                    std::string_view domain, std::string_view password,
                                    Bytes16* exported);
}  // namespace testclient

namespace {

// The stored form of a password (sip/lync/credentials.h), for the test users.
Bytes16 TestNtHash(std::string_view password) { return *NtHash(password); }


SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

std::string Unhex(std::string_view hex) {
  std::string out;
  EXPECT_TRUE(HexDecode(hex, &out));
  return out;
}

// ---- An independent re-implementation of what pidgin-sipe does with the raw text. ----

// The first header `name` (case-insensitive) of raw SIP text, as SIPE's parser sees it.
std::string RawHeader(const std::string& text, std::string_view name) {
  size_t pos = text.find("\r\n") + 2;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string::npos || end == pos) break;
    std::string line = text.substr(pos, end - pos);
    size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string n = line.substr(0, colon);
      if (n.size() == name.size() &&
          std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) ==
                   std::tolower(static_cast<unsigned char>(b));
          })) {
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        return line.substr(v);
      }
    }
    pos = end + 2;
  }
  return "";
}

std::string Part(const std::string& hdr, const std::string& before, const std::string& after) {
  size_t s = 0;
  if (!before.empty()) {
    s = hdr.find(before);
    if (s == std::string::npos) return "";
    s += before.size();
  }
  size_t e = after.empty() ? std::string::npos : hdr.find(after, s);
  return e == std::string::npos ? hdr.substr(s) : hdr.substr(s, e - s);
}

// sipmsg_breakdown for version 4, values from `auth_hdr` (the signature header) and the text.
std::string SipeBreakdown(const std::string& text, const std::string& auth_hdr) {
  std::string first = text.substr(0, text.find("\r\n"));
  bool response = first.rfind("SIP/2.0 ", 0) == 0;
  std::string cseq = RawHeader(text, "CSeq");
  std::string method =
      response ? cseq.substr(cseq.find(' ') + 1) : first.substr(0, first.find(' '));
  std::string from = RawHeader(text, "From"), to = RawHeader(text, "To");
  std::string pai = RawHeader(text, "P-Asserted-Identity");
  std::string pai_uri = Part(pai, "<", ">");
  std::string pai_sip = pai_uri.rfind("sip:", 0) == 0 ? pai_uri : "";
  std::string out =
      "<" + auth_hdr.substr(0, auth_hdr.find(' ')) + "><" + Part(auth_hdr, "rand=\"", "\"") + "><" +
      Part(auth_hdr, "num=\"", "\"") + "><" + Part(auth_hdr, "realm=\"", "\"") + "><" +
      Part(auth_hdr, "targetname=\"", "\"") + "><" + RawHeader(text, "Call-ID") + "><" +
      cseq.substr(0, cseq.find(' ')) + "><" + method + "><" + Part(from, "<", ">") + "><" +
      (from.find(";tag=") == std::string::npos ? "" : Part(from, ";tag=", ";")) + "><" +
      Part(to, "<", ">") + "><" +
      (to.find(";tag=") == std::string::npos ? "" : Part(to, ";tag=", ";")) + "><" + pai_sip +
      "><><" + RawHeader(text, "Expires") + ">";
  if (response) out += "<" + first.substr(8, 3) + ">";
  return out;
}

struct Keys {
  Bytes16 client_sign, client_seal, server_sign, server_seal;
};

Keys KeysFrom(const Bytes16& esk) {
  auto md5cat = [](std::string_view a, std::string_view b) {
    return Md5(AsBytes(std::string(a) + std::string(b)));
  };
  std::string k(reinterpret_cast<const char*>(esk.data()), 16);
  std::string_view c = "session key to client-to-server signing key magic constant";
  std::string_view s = "session key to server-to-client signing key magic constant";
  std::string_view cs = "session key to client-to-server sealing key magic constant";
  std::string_view ss = "session key to server-to-client sealing key magic constant";
  auto z = [](std::string_view m) { return std::string(m) + std::string(1, '\0'); };
  return Keys{md5cat(k, z(c)), md5cat(k, z(cs)), md5cat(k, z(s)), md5cat(k, z(ss))};
}

// SIPE's MAC(): extended session security, key exchange, datagram, sequence 100.
std::string SipeMac(const Bytes16& sign, const Bytes16& seal, const std::string& buffer) {
  std::string seq("\x64\0\0\0", 4);
  Bytes16 hmac = HmacMd5(sign, AsBytes(seq + buffer));
  std::string seal_s(reinterpret_cast<const char*>(seal.data()), 16);
  Bytes16 rc4_key = Md5(AsBytes(seal_s + seq));
  std::string checksum = Rc4(rc4_key, std::string(reinterpret_cast<const char*>(hmac.data()), 8));
  return HexEncode(AsBytes(std::string("\x01\0\0\0", 4) + checksum + seq));
}

// ---- Header parsing and formatting ----

TEST(SipaeHeadersTest, ParsesCredentials) {
  absl::StatusOr<SipaeAuthParams> p = ParseSipaeAuth(
      "NTLM qop=\"auth\", realm=\"SIP Communications Service\", opaque=\"2BDBAC9D\", "
      "targetname=\"cosmo-ocs-r2.cosmo.local\", version=4, gssapi-data=\"TlRM\", "
      "crand=\"13317733\", cnum=\"1\", response=\"0100000029618e9651b65a7764000000\"");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->scheme, "NTLM");
  EXPECT_EQ(p->realm, "SIP Communications Service");
  EXPECT_EQ(p->opaque, "2BDBAC9D");
  EXPECT_EQ(p->version, 4);
  EXPECT_EQ(p->crand, "13317733");
  EXPECT_EQ(p->cnum, "1");
  EXPECT_TRUE(p->has_gssapi_data);
  EXPECT_TRUE(p->has_response);
  absl::StatusOr<SipaeAuthParams> empty = ParseSipaeAuth(
      "NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"fe\", "
      "gssapi-data=\"\", version=4");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->has_gssapi_data);
  EXPECT_EQ(empty->gssapi_data, "");
  EXPECT_FALSE(empty->has_response);
  EXPECT_FALSE(ParseSipaeAuth("NTLM version=x4").ok());
}

TEST(SipaeHeadersTest, FormatsWhatSipeFillAuthParses) {
  EXPECT_EQ(FormatSipaeOffer(kSipaeRealm, "fe01.contoso.com", 4),
            "NTLM realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\", "
            "version=4");
  EXPECT_EQ(FormatSipaeChallenge("ABCD0123", "TlRMTVNTUAACAAAA==", kSipaeRealm, "fe", 4),
            "NTLM opaque=\"ABCD0123\", gssapi-data=\"TlRMTVNTUAACAAAA==\", targetname=\"fe\", "
            "realm=\"SIP Communications Service\", version=4");
}

// ---- Signature buffers: pidgin-sipe's vectors ----

constexpr char kOcRequest[] =
    "REGISTER sip:cosmo.local SIP/2.0\r\n"
    "Via: SIP/2.0/TLS 192.168.172.6:12723\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n"
    "To: <sip:user@cosmo.local>\r\n"
    "Call-ID: 4037df9284354df39065195bd57a4b14\r\n"
    "CSeq: 3 REGISTER\r\n"
    "Contact: <sip:192.168.172.6:12723;transport=tls;ms-opaque=fad3dfab32>;methods=\"INVITE, "
    "MESSAGE, INFO, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";proxy=replace;"
    "+sip.instance=\"<urn:uuid:34D859DB-6585-5F91-A3B4-DE853C15347D>\"\r\n"
    "User-Agent: UCCAPI/3.5.6907.0 OC/3.5.6907.0 (Microsoft Office Communicator 2007 R2)\r\n"
    "Supported: gruu-10, adhoclist, msrtc-event-categories\r\n"
    "Supported: ms-forking\r\n"
    "ms-keep-alive: UAC;hop-hop=yes\r\n"
    "Event: registration\r\n"
    "Proxy-Authorization: NTLM qop=\"auth\", realm=\"SIP Communications Service\", "
    "opaque=\"2BDBAC9D\", targetname=\"cosmo-ocs-r2.cosmo.local\", version=4, "
    "gssapi-data=\"TlRMTVNTUAADAAAAGAAYAHIAAADGAMYAigAAAAoACgBIAAAACAAIAFIAAAAYABgAWgAAABAAEABQAQ"
    "AAVYKYYgUCzg4AAAAPQwBPAFMATQBPAFUAcwBlAHIAQwBPAFMATQBPAC0ATwBDAFMALQBSADIAoeku/k4Hi/fFwASazG"
    "Fmwtauh1yw/apBjcDIAK527KYG0rn769BHMQEBAAAAAAAAWVGaFye5ygHWrodcsP2qQQAAAAACAAoAQwBPAFMATQBPAA"
    "EAGABDAE8AUwBNAE8ALQBPAEMAUwAtAFIAMgAEABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAMAMABjAG8AcwBtAG8ALQ"
    "BvAGMAcwAtAHIAMgAuAGMAbwBzAG0AbwAuAGwAbwBjAGEAbAAFABYAYwBvAHMAbQBvAC4AbABvAGMAYQBsAAAAAAAAAA"
    "AAMctznhyoCkmFkeiueXEV5A==\", crand=\"13317733\", cnum=\"1\", "
    "response=\"0100000029618e9651b65a7764000000\"\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

constexpr char kOcResponseNoAuthInfo[] =
    "SIP/2.0 200 OK\r\n"
    "ms-keep-alive: UAS; tcp=no; hop-hop=yes; end-end=no; timeout=300\r\n"
    "From: \"User\"<sip:user@cosmo.local>;tag=3e49177a52;epid=c8ca638a15\r\n"
    "To: <sip:user@cosmo.local>;tag=5E61CCD925D17E043D9A74835A88F664\r\n"
    "Call-ID: 4037df9284354df39065195bd57a4b14\r\n"
    "CSeq: 3 REGISTER\r\n"
    "Via: SIP/2.0/TLS 192.168.172.6:12723;ms-received-port=12723;ms-received-cid=2600\r\n"
    "Contact: <sip:192.168.172.6:12723;transport=tls;ms-opaque=fad3dfab32;ms-received-cid=2600>;"
    "expires=7200;+sip.instance=\"<urn:uuid:34d859db-6585-5f91-a3b4-de853c15347d>\";gruu=\"sip:"
    "user@cosmo.local;opaque=user:epid:21nYNIVlkV-jtN6FPBU0fQAA;gruu\"\r\n"
    "Expires: 7200\r\n"
    "presence-state: register-action=\"added\"\r\n"
    "Server: RTC/3.5\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

TEST(SipaeBufferTest, MatchesSipeBreakdownVectors) {
  SipMessage req = Parse(kOcRequest);
  SipaeSignatureContext c{"NTLM", "13317733", "1", "SIP Communications Service",
                          "cosmo-ocs-r2.cosmo.local"};
  EXPECT_EQ(BuildSipaeSignatureBuffer(req, c, 4),
            "<NTLM><13317733><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
            "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
            "<sip:user@cosmo.local><><><><>");
  SipMessage resp = Parse(kOcResponseNoAuthInfo);
  SipaeSignatureContext s{"NTLM", "9616454F", "1", "SIP Communications Service",
                          "cosmo-ocs-r2.cosmo.local"};
  EXPECT_EQ(BuildSipaeSignatureBuffer(resp, s, 4),
            "<NTLM><9616454F><1><SIP Communications Service><cosmo-ocs-r2.cosmo.local>"
            "<4037df9284354df39065195bd57a4b14><3><REGISTER><sip:user@cosmo.local><3e49177a52>"
            "<sip:user@cosmo.local><5E61CCD925D17E043D9A74835A88F664><><><7200><200>");
  // Version 2 layout (OCS 2007 example in SIPE's tests).
  SipMessage v2 = Parse(
      "SIP/2.0 200 OK\r\n"
      "From: \"Gabriel Burt\"<sip:gabriel@ocs.provo.novell.com>;tag=2947328781;epid=1234567890\r\n"
      "To: <sip:gabriel@ocs.provo.novell.com>;tag=B816D65C2300A32CFA6D371F2AF537FD\r\n"
      "Call-ID: 8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx\r\n"
      "CSeq: 3 REGISTER\r\n"
      "Via: SIP/2.0/TLS 164.99.194.49:10409;branch=z9hG4bKE0E37DBAF252C3255BAD\r\n"
      "Expires: 900\r\n"
      "Content-Length: 0\r\n\r\n");
  SipaeSignatureContext g{"NTLM", "0878F41B", "1", "SIP Communications Service",
                          "ocs1.ocs.provo.novell.com"};
  EXPECT_EQ(BuildSipaeSignatureBuffer(v2, g, 2),
            "<NTLM><0878F41B><1><SIP Communications Service><ocs1.ocs.provo.novell.com>"
            "<8592g5DCBa1694i5887m0D0Bt2247b3F38xAE9Fx><3><REGISTER>"
            "<sip:gabriel@ocs.provo.novell.com><2947328781><B816D65C2300A32CFA6D371F2AF537FD>"
            "<900><200>");
  // Upper-case header names and P-Asserted-Identity (SIPE's Symbian capture).
  SipMessage symbian = Parse(
      "SIP/2.0 180 Ringing\r\n"
      "Via: SIP/2.0/tls 192.168.44.10:50230;received=10.117.245.254;ms-received-port=50230\r\n"
      "FROM: \"Sender\"<sip:sender@company.com>;tag=2420628112;epid=54392f1bbf01\r\n"
      "TO: \"recipient\"<sip:recipient@company.com>;tag=7aee15546a;epid=3102EB8BD1\r\n"
      "CSEQ: 1 INVITE\r\n"
      "CALL-ID: 41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x\r\n"
      "CONTENT-LENGTH: 0\r\n"
      "P-ASSERTED-IDENTITY: \"recipient\"<SIP:recipient@company.com>\r\n\r\n");
  SipaeSignatureContext y{"NTLM", "1B6D47A1", "11", "SIP Communications Service",
                          "LOC-COMPANYT-FE03.COMPANY.COM"};
  EXPECT_EQ(BuildSipaeSignatureBuffer(symbian, y, 4),
            "<NTLM><1B6D47A1><11><SIP Communications Service><LOC-COMPANYT-FE03.COMPANY.COM>"
            "<41CEg82ECa0AC8i3DD7mE673t9CF4b19DAxF780x><1><INVITE><sip:sender@company.com>"
            "<2420628112><sip:recipient@company.com><7aee15546a><SIP:recipient@company.com><><>"
            "<180>");
}

// ---- The security association on the Communicator 2007 R2 capture ----

constexpr std::string_view kOcsChallenge =
    "4E544C4D53535000020000000000000038000000F38298E2DD1BAAF4E7E218D1000000000000000096009600380"
    "000000502CE0E0000000F02000A0043004F0053004D004F000100180043004F0053004D004F002D004F0043005300"
    "2D00520032000400160063006F0073006D006F002E006C006F00630061006C000300300063006F0073006D006F00"
    "2D006F00630073002D00720032002E0063006F0073006D006F002E006C006F00630061006C000500160063006F00"
    "73006D006F002E006C006F00630061006C0000000000";

std::unique_ptr<SecurityAssociation> OcsAssociation() {
  NtlmChallengeState st;
  st.challenge_message = Unhex(kOcsChallenge);
  std::memcpy(st.server_challenge.data(), st.challenge_message.data() + 24, 8);
  st.flags = 0xE29882F3;
  SipMessage req = Parse(kOcRequest);
  absl::StatusOr<SipaeAuthParams> cred =
      ParseSipaeAuth(req.HeaderValues(HeaderId::kProxyAuthorization).at(0));
  std::string token;
  EXPECT_TRUE(absl::Base64Unescape(ToAbsl(cred->gssapi_data), &token));
  absl::StatusOr<NtlmAuthResult> auth = VerifyNtlmAuthenticate(
      st, token, [](std::string_view u, std::string_view d) -> std::optional<Bytes16> {
        if (u == "User" && d == "COSMO") return TestNtHash("Pa$$word");
        return std::nullopt;
      });
  EXPECT_TRUE(auth.ok()) << auth.status();
  return std::make_unique<SecurityAssociation>(auth->keys, auth->user, auth->domain, "2BDBAC9D",
                                               std::string(kSipaeRealm), "cosmo-ocs-r2.cosmo.local",
                                               4, [] { return 0x9616454Fu; });
}

TEST(SecurityAssociationTest, VerifiesClientAndSignsLikeOcs) {
  std::unique_ptr<SecurityAssociation> sa = OcsAssociation();
  SipMessage req = Parse(kOcRequest);
  EXPECT_TRUE(sa->VerifyIncoming(req).ok()) << sa->VerifyIncoming(req);
  // The same cnum again is a replay.
  absl::Status replay = sa->VerifyIncoming(req);
  EXPECT_EQ(SipCodeOf(replay), 403) << replay;
  EXPECT_EQ(sa->highest_client_sequence(), 1u);

  SipMessage resp = Parse(kOcResponseNoAuthInfo);
  EXPECT_EQ(sa->SignatureHeader(resp),
            "NTLM rspauth=\"01000000E615438A917661BE64000000\", srand=\"9616454F\", snum=\"1\", "
            "opaque=\"2BDBAC9D\", qop=\"auth\", targetname=\"cosmo-ocs-r2.cosmo.local\", "
            "realm=\"SIP Communications Service\"");
  EXPECT_EQ(sa->server_sequence(), 1u);
}

TEST(SecurityAssociationTest, TamperedOrForeignMessagesFail) {
  std::unique_ptr<SecurityAssociation> sa = OcsAssociation();
  std::string text = kOcRequest;
  text.replace(text.find("CSeq: 3"), 7, "CSeq: 4");
  EXPECT_EQ(SipCodeOf(sa->VerifyIncoming(Parse(text))), 403);
  std::string other_opaque = kOcRequest;
  other_opaque.replace(other_opaque.find("2BDBAC9D"), 8, "2BDBAC9E");
  EXPECT_EQ(SipCodeOf(sa->VerifyIncoming(Parse(other_opaque))), 401);
  std::string bad_sig = kOcRequest;
  bad_sig.replace(bad_sig.find("0100000029618e96"), 16, "0100000029618e97");
  EXPECT_EQ(SipCodeOf(sa->VerifyIncoming(Parse(bad_sig))), 403);
  std::string unsigned_text = kOcRequest;
  unsigned_text.erase(unsigned_text.find("Proxy-Authorization"),
                      unsigned_text.find("Content-Length") - unsigned_text.find("Proxy-Auth"));
  EXPECT_EQ(SipCodeOf(sa->VerifyIncoming(Parse(unsigned_text))), 401);
  // The untouched message still verifies (the failures above did not consume its cnum).
  EXPECT_TRUE(sa->VerifyIncoming(Parse(kOcRequest)).ok());
}

// ---- The REGISTER handshake, end to end with a SIPE-like client ----

class SipaeHandshakeTest : public ::testing::Test {
 protected:
  SipaeHandshakeTest() {
    config_.targetname = "fe01.contoso.com";
    config_.names.netbios_domain = "CONTOSO";
    config_.names.netbios_computer = "FE01";
    config_.max_pending = 4;
    auth_ = std::make_unique<SipaeAuthenticator>(
        config_, clock_,
        [](std::string_view u, std::string_view d) -> std::optional<Bytes16> {
          if (u == "alice" && d == "CONTOSO") return TestNtHash("S3cret!");
          return std::nullopt;
        },
        [this](std::span<uint8_t> out) {
          for (uint8_t& b : out) b = static_cast<uint8_t>(++counter_ * 37);
        });
  }

  std::string Register(int cseq, std::string_view authorization) {
    std::string text =
        "REGISTER sip:contoso.com SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 10.0.0.5:50000;branch=z9hG4bK" +
        std::to_string(cseq) +
        "\r\n"
        "From: <sip:alice@contoso.com>;tag=abc123;epid=e1\r\n"
        "To: <sip:alice@contoso.com>\r\n"
        "Max-Forwards: 70\r\n"
        "CSeq: " +
        std::to_string(cseq) +
        " REGISTER\r\n"
        "User-Agent: Pidgin Sipe/1.25.0\r\n"
        "Call-ID: reg-call-1\r\n";
    if (!authorization.empty()) text += "Authorization: " + std::string(authorization) + "\r\n";
    text += "Content-Length: 0\r\n\r\n";
    return text;
  }

  // SIPE's fill_auth(): name="value" / name=number after the scheme.
  static std::string FillAuth(const std::string& hdr, const std::string& name) {
    std::string quoted = Part(hdr, name + "=\"", "\"");
    if (hdr.find(name + "=\"") != std::string::npos) return quoted;
    return Part(hdr, name + "=", ",");
  }

  // Runs steps 1-3 and returns the association; `password` is what the client types.
  SipaeRegisterResult Handshake(std::string_view password, Keys* keys, std::string* opaque) {
    SipaeRegisterResult first = auth_->HandleRegister(Parse(Register(1, "")));
    EXPECT_EQ(first.kind, SipaeRegisterResult::Kind::kChallenge);
    EXPECT_EQ(first.sip_code, 401);
    EXPECT_EQ(first.www_authenticate,
              "NTLM realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\", "
              "version=4");
    std::string step2 =
        "NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\""
        ", gssapi-data=\"\", version=4";
    SipaeRegisterResult second = auth_->HandleRegister(Parse(Register(2, step2)));
    EXPECT_EQ(second.kind, SipaeRegisterResult::Kind::kChallenge);
    *opaque = FillAuth(second.www_authenticate, "opaque");
    EXPECT_EQ(opaque->size(), 8u);
    EXPECT_EQ(FillAuth(second.www_authenticate, "version"), "4");
    std::string challenge;
    EXPECT_TRUE(absl::Base64Unescape(FillAuth(second.www_authenticate, "gssapi-data"), &challenge));
    Bytes16 esk{};
    std::string authenticate =
        testclient::NtlmAuthenticateForTest(challenge, "alice", "CONTOSO", password, &esk);
    *keys = KeysFrom(esk);
    // SIPE signs the final REGISTER (version 4) before adding its Authorization header.
    std::string unsigned_text = Register(3, "");
    std::string sign_hdr = "NTLM qop=\"auth\", opaque=\"" + *opaque +
                           "\", realm=\"SIP Communications Service\", "
                           "targetname=\"fe01.contoso.com\", crand=\"0badcafe\", cnum=\"1\"";
    std::string mac =
        SipeMac(keys->client_sign, keys->client_seal, SipeBreakdown(unsigned_text, sign_hdr));
    std::string step3 = "NTLM qop=\"auth\", opaque=\"" + *opaque +
                        "\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\""
                        ", gssapi-data=\"" +
                        absl::Base64Escape(ToAbsl(authenticate)) +
                        "\", version=4, crand=\"0badcafe\", cnum=\"1\", response=\"" + mac + "\"";
    return auth_->HandleRegister(Parse(Register(3, step3)));
  }

  SipaeConfig config_;
  SimulatedClock clock_;
  int counter_ = 0;
  std::unique_ptr<SipaeAuthenticator> auth_;
};

TEST_F(SipaeHandshakeTest, SipeClientRegistersAndSignaturesCheckBothWays) {
  Keys keys;
  std::string opaque;
  SipaeRegisterResult done = Handshake("S3cret!", &keys, &opaque);
  ASSERT_EQ(done.kind, SipaeRegisterResult::Kind::kAuthenticated) << done.reason;
  ASSERT_NE(done.sa, nullptr);
  SecurityAssociation& sa = *done.sa;
  EXPECT_EQ(sa.user(), "alice");
  EXPECT_EQ(sa.domain(), "CONTOSO");
  EXPECT_EQ(sa.opaque(), opaque);
  EXPECT_EQ(auth_->pending_count(), 0u);

  // The 200 OK, signed by us, checked the way SIPE checks it (on the serialized text).
  SipMessage reg = Parse(Register(3, ""));
  SipMessage ok = MakeResponse(reg, 200, "OK", "srvtag1");
  ASSERT_TRUE(ok.AppendHeader(HeaderId::kExpires, "7200").ok());
  ASSERT_TRUE(sa.Sign(&ok).ok());
  std::string wire = ok.Serialize();
  std::string info = RawHeader(wire, "Authentication-Info");
  ASSERT_FALSE(info.empty()) << wire;
  EXPECT_EQ(Part(info, "snum=\"", "\""), "1");
  EXPECT_EQ(Part(info, "rspauth=\"", "\""),
            SipeMac(keys.server_sign, keys.server_seal, SipeBreakdown(wire, info)));

  // A server-originated request (BENOTIFY) is signed the same way, snum advances.
  SipMessage notify = Parse(
      "BENOTIFY sip:10.0.0.5:50000;transport=tls SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 10.0.0.1:5061;branch=z9hG4bKsrv1\r\n"
      "From: <sip:alice@contoso.com>;tag=srvtag9\r\n"
      "To: <sip:alice@contoso.com>;tag=abc123;epid=e1\r\n"
      "Call-ID: sub-1\r\n"
      "CSeq: 7 BENOTIFY\r\n"
      "Max-Forwards: 70\r\n"
      "P-Asserted-Identity: \"Bob\" <sip:bob@contoso.com>\r\n"
      "Content-Length: 0\r\n\r\n");
  ASSERT_TRUE(sa.Sign(&notify).ok());
  wire = notify.Serialize();
  info = RawHeader(wire, "Authentication-Info");
  EXPECT_EQ(Part(info, "snum=\"", "\""), "2");
  EXPECT_NE(SipeBreakdown(wire, info).find("<sip:bob@contoso.com>"), std::string::npos);
  EXPECT_EQ(Part(info, "rspauth=\"", "\""),
            SipeMac(keys.server_sign, keys.server_seal, SipeBreakdown(wire, info)));
  // Re-signing replaces our header rather than adding a second one.
  ASSERT_TRUE(sa.Sign(&notify).ok());
  EXPECT_EQ(notify.HeaderValues(HeaderId::kAuthenticationInfo).size(), 1u);

  // A later client request (cnum 2) verifies; a replay or a changed field does not.
  std::string msg_text =
      "MESSAGE sip:bob@contoso.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 10.0.0.5:50000;branch=z9hG4bKm1\r\n"
      "From: <sip:alice@contoso.com>;tag=m1tag;epid=e1\r\n"
      "To: <sip:bob@contoso.com>\r\n"
      "Max-Forwards: 70\r\n"
      "CSeq: 1 MESSAGE\r\n"
      "Call-ID: im-1\r\n"
      "Content-Length: 0\r\n\r\n";
  std::string hdr = "NTLM qop=\"auth\", opaque=\"" + opaque +
                    "\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\", "
                    "crand=\"11223344\", cnum=\"2\"";
  std::string mac = SipeMac(keys.client_sign, keys.client_seal, SipeBreakdown(msg_text, hdr));
  std::string signed_text = msg_text;
  signed_text.insert(signed_text.find("Content-Length"),
                     "Authorization: " + hdr + ", response=\"" + mac + "\"\r\n");
  EXPECT_TRUE(sa.VerifyIncoming(Parse(signed_text)).ok());
  EXPECT_EQ(SipCodeOf(sa.VerifyIncoming(Parse(signed_text))), 403);
  std::string changed = signed_text;
  changed.replace(changed.find("tag=m1tag"), 9, "tag=m2tag");
  EXPECT_EQ(SipCodeOf(sa.VerifyIncoming(Parse(changed))), 403);
}

TEST_F(SipaeHandshakeTest, WrongPasswordIsRejectedWithAFreshOffer) {
  Keys keys;
  std::string opaque;
  SipaeRegisterResult r = Handshake("wrong", &keys, &opaque);
  EXPECT_EQ(r.kind, SipaeRegisterResult::Kind::kRejected);
  EXPECT_EQ(r.sip_code, 401);
  EXPECT_EQ(r.sa, nullptr);
  EXPECT_NE(r.www_authenticate.find("NTLM realm="), std::string::npos);
  // The context is gone: the same AUTHENTICATE cannot be retried.
  EXPECT_EQ(auth_->pending_count(), 0u);
}

TEST_F(SipaeHandshakeTest, PendingContextsExpireAndAreBounded) {
  std::string step2 =
      "NTLM qop=\"auth\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\""
      ", gssapi-data=\"\", version=4";
  std::vector<std::string> opaques;
  for (int i = 0; i < 6; ++i) {
    SipaeRegisterResult r = auth_->HandleRegister(Parse(Register(2, step2)));
    ASSERT_EQ(r.kind, SipaeRegisterResult::Kind::kChallenge);
    opaques.push_back(FillAuth(r.www_authenticate, "opaque"));
    EXPECT_LE(auth_->pending_count(), 4u);
  }
  EXPECT_EQ(auth_->pending_count(), 4u);
  clock_.Advance(std::chrono::seconds(31));
  // Any call expires the stale contexts; an AUTHENTICATE for one of them gets a new offer.
  Bytes16 esk{};
  std::string fake = "NTLMSSP";
  fake.push_back('\0');
  fake += std::string("\x03\0\0\0", 4) + std::string(60, '\0');
  std::string step3 = "NTLM qop=\"auth\", opaque=\"" + opaques.back() +
                      "\", realm=\"SIP Communications Service\", targetname=\"fe01.contoso.com\""
                      ", gssapi-data=\"" +
                      absl::Base64Escape(ToAbsl(fake)) + "\", version=4";
  SipaeRegisterResult late = auth_->HandleRegister(Parse(Register(3, step3)));
  EXPECT_EQ(late.kind, SipaeRegisterResult::Kind::kRejected);
  EXPECT_EQ(late.sip_code, 401);
  EXPECT_EQ(auth_->pending_count(), 0u);
  (void)esk;
}

TEST_F(SipaeHandshakeTest, HandshakeDetection) {
  EXPECT_FALSE(IsSipaeHandshake(Parse(Register(1, ""))));
  EXPECT_FALSE(HasSipaeSignature(Parse(Register(1, ""))));
  EXPECT_FALSE(HasSipaeSignature(Parse(Register(
      2, "NTLM qop=\"auth\", realm=\"x\", targetname=\"y\", gssapi-data=\"\", version=4"))));
  EXPECT_TRUE(HasSipaeSignature(
      Parse(Register(2,
                     "NTLM qop=\"auth\", opaque=\"A\", realm=\"x\", targetname=\"y\", crand=\"1\", "
                     "cnum=\"1\", response=\"00\""))));
  // SIPE's 8-hourly re-authentication (unsigned REGISTER) gets the NTLM offer.
  SipaeRegisterResult again = auth_->HandleRegister(Parse(Register(5, "")));
  EXPECT_EQ(again.kind, SipaeRegisterResult::Kind::kChallenge);
  EXPECT_EQ(again.www_authenticate.rfind("NTLM realm=", 0), 0u);
  EXPECT_TRUE(IsSipaeHandshake(Parse(Register(
      2, "NTLM qop=\"auth\", realm=\"x\", targetname=\"y\", gssapi-data=\"\", version=4"))));
  EXPECT_FALSE(IsSipaeHandshake(
      Parse(Register(2,
                     "NTLM qop=\"auth\", opaque=\"A\", realm=\"x\", targetname=\"y\", crand=\"1\", "
                     "cnum=\"1\", response=\"00\""))));
  EXPECT_EQ(auth_->HandleRegister(Parse(Register(2, "NTLM gssapi-data=\"%%%\""))).sip_code, 400);
}

}  // namespace
}  // namespace causeway::sip::lync
