#include "sip/lync/credentials.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "sip/lync/crypto.h"

namespace causeway::sip::lync {
namespace {

absl::StatusOr<std::string> Digest(const EVP_MD* md, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, md, nullptr) != 1) {
    return absl::InternalError("digest computation failed");
  }
  return HexLower(std::string_view(reinterpret_cast<const char*>(out), len));
}

void PutUnit(std::string& out, uint32_t unit) {
  out.push_back(static_cast<char>(unit & 0xff));
  out.push_back(static_cast<char>((unit >> 8) & 0xff));
}

}  // namespace

std::string HexLower(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 0x0f]);
  }
  return hex;
}

absl::StatusOr<std::string> Utf8ToUtf16Le(std::string_view utf8) {
  std::string out;
  out.reserve(utf8.size() * 2);
  size_t i = 0;
  while (i < utf8.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(utf8[k]); };
    unsigned char lead = byte(i);
    size_t extra = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (lead < 0x80) {
      cp = lead;
    } else if ((lead & 0xe0) == 0xc0) {
      extra = 1, cp = lead & 0x1f, min = 0x80;
    } else if ((lead & 0xf0) == 0xe0) {
      extra = 2, cp = lead & 0x0f, min = 0x800;
    } else if ((lead & 0xf8) == 0xf0) {
      extra = 3, cp = lead & 0x07, min = 0x10000;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", i));
    }
    if (i + extra >= utf8.size()) {
      return absl::InvalidArgumentError(absl::StrCat("truncated UTF-8 sequence at byte ", i));
    }
    for (size_t k = 1; k <= extra; ++k) {
      if ((byte(i + k) & 0xc0) != 0x80) {
        return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 at byte ", i + k));
      }
      cp = (cp << 6) | (byte(i + k) & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return absl::InvalidArgumentError(absl::StrCat("invalid UTF-8 code point at byte ", i));
    }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      PutUnit(out, 0xd800 + (cp >> 10));
      PutUnit(out, 0xdc00 + (cp & 0x3ff));
    } else {
      PutUnit(out, cp);
    }
    i += extra + 1;
  }
  return out;
}

absl::StatusOr<std::array<uint8_t, 16>> NtHash(std::string_view password) {
  absl::StatusOr<std::string> utf16 = Utf8ToUtf16Le(password);
  if (!utf16.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("password: ", utf16.status().message()));
  }
  // MD4 is legacy in OpenSSL 3 (EVP needs the legacy provider): sip/lync/crypto has its own.
  const Bytes16 hash = Md4(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(utf16->data()), utf16->size()));
  OPENSSL_cleanse(utf16->data(), utf16->size());
  return hash;
}

absl::StatusOr<Credentials> DeriveCredentials(std::string_view uri_user, std::string_view domain,
                                              std::string_view password) {
  if (password.empty()) return absl::InvalidArgumentError("password: empty");
  if (password.size() > kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: longer than ", kMaxPasswordBytes, " bytes"));
  }
  if (uri_user.empty() || domain.empty()) {
    return absl::InvalidArgumentError("credentials need a user and a domain");
  }
  Credentials creds;
  absl::StatusOr<std::array<uint8_t, 16>> nt = NtHash(password);
  if (!nt.ok()) return nt.status();
  creds.nt_hash = *nt;
  std::string a1 = absl::StrCat(ToAbsl(uri_user), ":", ToAbsl(domain), ":", ToAbsl(password));
  absl::StatusOr<std::string> md5 = Digest(EVP_md5(), a1);
  absl::StatusOr<std::string> sha256 = Digest(EVP_sha256(), a1);
  // Wipe the only copy of the password this function made.
  OPENSSL_cleanse(a1.data(), a1.size());
  if (!md5.ok()) return md5.status();
  if (!sha256.ok()) return sha256.status();
  creds.ha1_md5 = std::move(*md5);
  creds.ha1_sha256 = std::move(*sha256);
  return creds;
}

}  // namespace causeway::sip::lync
