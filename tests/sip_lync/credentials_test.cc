#include "sip/lync/credentials.h"

#include <string>

#include "gtest/gtest.h"

namespace causeway::sip::lync {
namespace {

std::string Hex(const std::array<uint8_t, 16>& hash) {
  return HexLower(std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size()));
}

TEST(Credentials, NtHashOfKnownPasswords) {
  // MS-NLMP 4.2.2.1.2 / the classic test vector.
  absl::StatusOr<std::array<uint8_t, 16>> hash = NtHash("Password");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(Hex(*hash), "a4f49c406510bdcab6824ee7c30fd852");
  // Non-ASCII, including a code point outside the BMP (a surrogate pair in UTF-16). Verified with
  //   printf 'pässwörd€😀' | iconv -f UTF-8 -t UTF-16LE | openssl dgst -md4 -provider legacy
  hash = NtHash("p\xc3\xa4ssw\xc3\xb6rd\xe2\x82\xac\xf0\x9f\x98\x80");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(Hex(*hash), "343b5f56098bef0de4739d82d102f3ca");
}

TEST(Credentials, Utf16Conversion) {
  EXPECT_EQ(*Utf8ToUtf16Le("Ab"), std::string("A\0b\0", 4));
  EXPECT_EQ(*Utf8ToUtf16Le("\xc3\xa4"), std::string("\xe4\0", 2));
  EXPECT_EQ(*Utf8ToUtf16Le("\xe2\x82\xac"), std::string("\xac\x20", 2));
  EXPECT_EQ(*Utf8ToUtf16Le("\xf0\x9f\x98\x80"), std::string("\x3d\xd8\x00\xde", 4));
  EXPECT_EQ(*Utf8ToUtf16Le(""), "");
  for (std::string_view bad : {
           std::string_view("\x80"),                                 // continuation byte first
           std::string_view("\xc3"),                                 // truncated
           std::string_view("\xe2\x82"),                             // truncated
           std::string_view("\xc0\xaf"),                             // overlong '/'
           std::string_view("\xed\xa0\x80"),                         // surrogate U+D800
           std::string_view("\xf4\x90\x80\x80"),                     // above U+10FFFF
           std::string_view("\xff"), std::string_view("a\xc3(", 3),  // bad continuation
       }) {
    EXPECT_FALSE(Utf8ToUtf16Le(bad).ok()) << HexLower(bad);
  }
}

TEST(Credentials, DeriveAll) {
  absl::StatusOr<Credentials> creds = DeriveCredentials("alice", "example.test", "Password");
  ASSERT_TRUE(creds.ok()) << creds.status();
  EXPECT_EQ(Hex(creds->nt_hash), "a4f49c406510bdcab6824ee7c30fd852");
  // python3 -c "import hashlib; print(hashlib.md5(b'alice:example.test:Password').hexdigest())"
  EXPECT_EQ(creds->ha1_md5, "0fc847d19e7a8f14073d14232c3013e0");
  EXPECT_EQ(creds->ha1_sha256, "cd6a89971ccadf112ec436f3e2f5393fd8a77b3b66745b385ec334b2757ab527");
  // The realm and user are part of HA1, not of the NT hash.
  absl::StatusOr<Credentials> other = DeriveCredentials("alice", "example.com", "Password");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->nt_hash, creds->nt_hash);
  EXPECT_NE(other->ha1_md5, creds->ha1_md5);
  EXPECT_NE(other->ha1_sha256, creds->ha1_sha256);
}

TEST(Credentials, RejectsBadInputWithoutEchoingThePassword) {
  EXPECT_TRUE(absl::IsInvalidArgument(DeriveCredentials("a", "b.c", "").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DeriveCredentials("", "b.c", "pw").status()));
  EXPECT_TRUE(absl::IsInvalidArgument(DeriveCredentials("a", "", "pw").status()));
  EXPECT_TRUE(
      absl::IsInvalidArgument(DeriveCredentials("a", "b.c", std::string(1025, 'x')).status()));
  EXPECT_TRUE(DeriveCredentials("a", "b.c", std::string(1024, 'x')).ok());
  absl::Status bad = DeriveCredentials("a", "b.c", "secret\xff").status();
  EXPECT_TRUE(absl::IsInvalidArgument(bad));
  EXPECT_EQ(bad.message().find("secret"), std::string::npos) << bad;
}

}  // namespace
}  // namespace causeway::sip::lync
