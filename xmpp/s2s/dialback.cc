#include "xmpp/s2s/dialback.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <array>
#include <cstdint>

namespace causeway::xmpp::s2s {
namespace {

std::string Hex(const unsigned char* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string DialbackKey(std::string_view secret, std::string_view receiving_domain,
                        std::string_view originating_domain, std::string_view stream_id) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> secret_digest;
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(),
         secret_digest.data());
  // XEP-0185's example keys the HMAC with the hex form of the digest.
  const std::string hmac_key = Hex(secret_digest.data(), secret_digest.size());

  std::string input;
  input.reserve(receiving_domain.size() + originating_domain.size() + stream_id.size() + 2);
  input.append(receiving_domain)
      .append(" ")
      .append(originating_domain)
      .append(" ")
      .append(stream_id);

  std::array<unsigned char, EVP_MAX_MD_SIZE> mac;
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), hmac_key.data(), static_cast<int>(hmac_key.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac.data(), &mac_size);
  return Hex(mac.data(), mac_size);
}

bool DialbackKeysEqual(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string RandomStreamId() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // The OS source failing is not recoverable here; a fixed id would make keys guessable.
    OPENSSL_die("RAND_bytes failed for an XMPP stream id", __FILE__, __LINE__);
  }
  return Hex(bytes.data(), bytes.size());
}

}  // namespace causeway::xmpp::s2s
