#pragma once
// Password material for MS-SIPAE NTLM and RFC 7616 Digest, derived once when a password is set so
// the password itself is never stored:
//   NT hash     = MD4(UTF-16LE(password))                    (MS-NLMP 3.3.1 NTOWFv1; v2 builds on
//   it) HA1 MD5     = hex MD5("user:realm:password")             (RFC 2617 / RFC 7616 3.4.2) HA1
//   SHA-256 = hex SHA-256("user:realm:password")         (RFC 7616)
// with user = the SIP URI's user part and realm = its domain, as bytes of the UTF-8 strings.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace causeway::sip::lync {

struct Credentials {
  std::array<uint8_t, 16> nt_hash{};
  std::string ha1_md5;     // 32 lower-case hex digits
  std::string ha1_sha256;  // 64 lower-case hex digits
};

// The password must be non-empty, valid UTF-8 (no overlong forms or surrogates) and at most
// kMaxPasswordBytes; errors are InvalidArgument and never contain the password.
inline constexpr size_t kMaxPasswordBytes = 1024;
absl::StatusOr<Credentials> DeriveCredentials(std::string_view uri_user, std::string_view domain,
                                              std::string_view password);

// UTF-8 -> UTF-16LE bytes (code points above U+FFFF become surrogate pairs).
absl::StatusOr<std::string> Utf8ToUtf16Le(std::string_view utf8);

// MD4(UTF-16LE(password)).
absl::StatusOr<std::array<uint8_t, 16>> NtHash(std::string_view password);

// Lower-case hex of `bytes`.
std::string HexLower(std::string_view bytes);

}  // namespace causeway::sip::lync
