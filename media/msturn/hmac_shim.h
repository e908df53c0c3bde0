#pragma once
// TEMPORARY: HMAC over several pieces through per-thread OpenSSL EVP_MAC contexts.
//
// media/stun/stun_message.cc has exactly this helper (`Hmac`, per-thread contexts, pieces fed
// without copying) but keeps it in an anonymous namespace, and its public verifiers only cover
// RFC 8489's byte range. MS-TURN covers a different range (zero padding to 64 bytes after the
// attributes, RFC 3489 style), so it needs the primitive itself. Once media/stun exports
//   size_t stun::HmacPieces(stun::HmacDigest, std::string_view key,
//                           std::initializer_list<std::string_view> pieces, unsigned char* out);
// (see media/msturn/README.md, "Needed from media/stun"), delete this file and call that.

#include <cstddef>
#include <initializer_list>
#include <string_view>

namespace causeway::msturn::internal {

enum class HmacDigest : unsigned char { kSha1, kSha256 };

// Writes the MAC (20 or 32 bytes) to `out` (room for 64 bytes); returns its length, 0 on failure.
size_t HmacPieces(HmacDigest digest, std::string_view key,
                  std::initializer_list<std::string_view> pieces, unsigned char* out);

}  // namespace causeway::msturn::internal
