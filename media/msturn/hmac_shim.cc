#include "media/msturn/hmac_shim.h"

#include <openssl/evp.h>
#include <openssl/params.h>

#include <memory>

namespace causeway::msturn::internal {
namespace {

struct MacContextDeleter {
  void operator()(EVP_MAC_CTX* context) const { EVP_MAC_CTX_free(context); }
};
using MacContext = std::unique_ptr<EVP_MAC_CTX, MacContextDeleter>;

EVP_MAC_CTX* NewMacContext(const char* digest_name) {
  static EVP_MAC* const hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (hmac == nullptr) return nullptr;
  EVP_MAC_CTX* context = EVP_MAC_CTX_new(hmac);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string("digest", const_cast<char*>(digest_name), 0),
      OSSL_PARAM_construct_end()};
  if (context != nullptr && EVP_MAC_CTX_set_params(context, params) != 1) {
    EVP_MAC_CTX_free(context);
    return nullptr;
  }
  return context;
}

}  // namespace

size_t HmacPieces(HmacDigest digest, std::string_view key,
                  std::initializer_list<std::string_view> pieces, unsigned char* out) {
  thread_local MacContext sha1(NewMacContext("SHA1"));
  thread_local MacContext sha256(NewMacContext("SHA256"));
  EVP_MAC_CTX* context = digest == HmacDigest::kSha1 ? sha1.get() : sha256.get();
  if (context == nullptr) return 0;
  static const unsigned char kEmpty = 0;  // EVP_MAC_init needs a non-null key to re-key
  const unsigned char* key_bytes =
      key.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(key.data());
  if (EVP_MAC_init(context, key_bytes, key.size(), nullptr) != 1) return 0;
  for (std::string_view piece : pieces) {
    if (EVP_MAC_update(context, reinterpret_cast<const unsigned char*>(piece.data()),
                       piece.size()) != 1) {
      return 0;
    }
  }
  size_t length = 0;
  if (EVP_MAC_final(context, out, &length, EVP_MAX_MD_SIZE) != 1) return 0;
  return length;
}

}  // namespace causeway::msturn::internal
