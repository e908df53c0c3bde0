#include "sip/lync/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace causeway::sip::lync {
namespace {

inline uint32_t Rotl(uint32_t x, int s) { return (x << s) | (x >> (32 - s)); }

void Md4Block(uint32_t state[4], const uint8_t block[64]) {
  uint32_t x[16];
  for (int i = 0; i < 16; ++i) {
    x[i] = uint32_t{block[i * 4]} | (uint32_t{block[i * 4 + 1]} << 8) |
           (uint32_t{block[i * 4 + 2]} << 16) | (uint32_t{block[i * 4 + 3]} << 24);
  }
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  auto f = [](uint32_t x, uint32_t y, uint32_t z) { return (x & y) | (~x & z); };
  auto g = [](uint32_t x, uint32_t y, uint32_t z) { return (x & y) | (x & z) | (y & z); };
  auto h = [](uint32_t x, uint32_t y, uint32_t z) { return x ^ y ^ z; };
  // Round 1.
  static constexpr int kR1[4] = {3, 7, 11, 19};
  for (int i = 0; i < 16; i += 4) {
    a = Rotl(a + f(b, c, d) + x[i], kR1[0]);
    d = Rotl(d + f(a, b, c) + x[i + 1], kR1[1]);
    c = Rotl(c + f(d, a, b) + x[i + 2], kR1[2]);
    b = Rotl(b + f(c, d, a) + x[i + 3], kR1[3]);
  }
  // Round 2.
  static constexpr int kR2[4] = {3, 5, 9, 13};
  for (int i = 0; i < 4; ++i) {
    a = Rotl(a + g(b, c, d) + x[i] + 0x5A827999u, kR2[0]);
    d = Rotl(d + g(a, b, c) + x[i + 4] + 0x5A827999u, kR2[1]);
    c = Rotl(c + g(d, a, b) + x[i + 8] + 0x5A827999u, kR2[2]);
    b = Rotl(b + g(c, d, a) + x[i + 12] + 0x5A827999u, kR2[3]);
  }
  // Round 3.
  static constexpr int kR3[4] = {3, 9, 11, 15};
  static constexpr int kOrder[4] = {0, 2, 1, 3};
  for (int j = 0; j < 4; ++j) {
    int i = kOrder[j];
    a = Rotl(a + h(b, c, d) + x[i] + 0x6ED9EBA1u, kR3[0]);
    d = Rotl(d + h(a, b, c) + x[i + 8] + 0x6ED9EBA1u, kR3[1]);
    c = Rotl(c + h(d, a, b) + x[i + 4] + 0x6ED9EBA1u, kR3[2]);
    b = Rotl(b + h(c, d, a) + x[i + 12] + 0x6ED9EBA1u, kR3[3]);
  }
  state[0] += a;
  state[1] += b;
  state[2] += c;
  state[3] += d;
}

}  // namespace

Bytes16 Md4(std::span<const uint8_t> data) {
  uint32_t state[4] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u};
  size_t full = data.size() / 64;
  for (size_t i = 0; i < full; ++i) Md4Block(state, data.data() + i * 64);
  uint8_t tail[128] = {};
  size_t rest = data.size() - full * 64;
  if (rest > 0) std::memcpy(tail, data.data() + full * 64, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest < 56 ? 64 : 128;
  uint64_t bits = uint64_t{data.size()} * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 8 + i] = static_cast<uint8_t>(bits >> (8 * i));
  Md4Block(state, tail);
  if (tail_len == 128) Md4Block(state, tail + 64);
  Bytes16 out;
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) out[i * 4 + j] = static_cast<uint8_t>(state[i] >> (8 * j));
  }
  return out;
}

Bytes16 Md5(std::span<const uint8_t> data) {
  Bytes16 out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_md5(), nullptr);
  return out;
}

Bytes16 HmacMd5(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes16 out{};
  unsigned int len = 0;
  HMAC(EVP_md5(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), out.data(),
       &len);
  return out;
}

void Rc4InPlace(std::span<const uint8_t> key, std::span<uint8_t> data) {
  uint8_t s[256];
  for (int i = 0; i < 256; ++i) s[i] = static_cast<uint8_t>(i);
  if (!key.empty()) {
    uint8_t j = 0;
    for (int i = 0; i < 256; ++i) {
      j = static_cast<uint8_t>(j + s[i] + key[i % key.size()]);
      std::swap(s[i], s[j]);
    }
  }
  uint8_t i = 0, j = 0;
  for (uint8_t& b : data) {
    i = static_cast<uint8_t>(i + 1);
    j = static_cast<uint8_t>(j + s[i]);
    std::swap(s[i], s[j]);
    b ^= s[static_cast<uint8_t>(s[i] + s[j])];
  }
}

std::string Rc4(std::span<const uint8_t> key, std::string_view data) {
  std::string out(data);
  Rc4InPlace(key, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
  return out;
}

bool ConstantTimeEquals(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool RandomBytes(std::span<uint8_t> out) {
  if (out.empty()) return true;
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

std::string HexEncode(std::span<const uint8_t> data, bool upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 15]);
  }
  return out;
}

bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  out->clear();
  out->reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>((hi << 4) | lo));
  }
  return true;
}

}  // namespace causeway::sip::lync
