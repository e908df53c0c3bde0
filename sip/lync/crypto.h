#pragma once
// The small set of primitives NTLM (MS-NLMP) needs. MD4 and RC4 are "legacy" in OpenSSL 3 (not in
// the default provider), so they are implemented here (tested against RFC 1320 and the MS-NLMP
// vectors); MD5 and HMAC-MD5 come from OpenSSL. Nothing here is secret-safe beyond what NTLM
// itself offers: these exist only to speak MS-NLMP.

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace causeway::sip::lync {

using Bytes16 = std::array<uint8_t, 16>;

// RFC 1320 MD4.
Bytes16 Md4(std::span<const uint8_t> data);
// RFC 1321 MD5 (OpenSSL).
Bytes16 Md5(std::span<const uint8_t> data);
// RFC 2104 HMAC-MD5 (OpenSSL).
Bytes16 HmacMd5(std::span<const uint8_t> key, std::span<const uint8_t> data);
// RC4 keystream applied to `data` (encrypt == decrypt), with a fresh state from `key`.
std::string Rc4(std::span<const uint8_t> key, std::string_view data);
void Rc4InPlace(std::span<const uint8_t> key, std::span<uint8_t> data);

// Constant-time comparison of equal-length buffers (false when lengths differ).
bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b);

// Fills `out` with cryptographically strong random bytes (OpenSSL RAND_bytes). Returns false if
// the generator failed (then `out` must not be used).
bool RandomBytes(std::span<uint8_t> out);

// Helpers for text <-> bytes.
inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
std::string HexEncode(std::span<const uint8_t> data, bool upper = true);
// Accepts upper or lower case; false on odd length or a non-hex character.
bool HexDecode(std::string_view hex, std::string* out);

}  // namespace causeway::sip::lync
