#include "media/turn/credentials.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "media/stun/stun_message.h"

namespace causeway::turn {
namespace {

std::string DerivedPassword(std::string_view secret, std::string_view username) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha1(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), digest, &length);
  return absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

// "<expiry>:<user>" or a bare "<expiry>" (both accepted by coturn's --use-auth-secret).
std::optional<int64_t> DerivedExpiry(std::string_view username) {
  const size_t colon = username.find(':');
  int64_t expiry = 0;
  if (!absl::SimpleAtoi(ToAbsl(username.substr(0, colon)), &expiry) || expiry <= 0) return std::nullopt;
  return expiry;
}

}  // namespace

Credentials::Credentials(CredentialOptions options) : options_(std::move(options)) {}

std::string_view Credentials::UserOf(std::string_view username) {
  if (!DerivedExpiry(username)) return username;
  const size_t colon = username.find(':');
  return colon == std::string_view::npos ? std::string_view() : username.substr(colon + 1);
}

absl::StatusOr<std::string> Credentials::PasswordFor(std::string_view username,
                                                     absl::Time now) const {
  if (auto it = options_.static_users.find(ToAbsl(username)); it != options_.static_users.end()) {
    return it->second;
  }
  if (options_.secret.empty()) return absl::NotFoundError("unknown TURN user");
  const std::optional<int64_t> expiry = DerivedExpiry(username);
  if (!expiry) return absl::NotFoundError("unknown TURN user");
  if (absl::FromUnixSeconds(*expiry) < now) {
    return absl::DeadlineExceededError("TURN credentials expired");
  }
  return DerivedPassword(options_.secret, username);
}

absl::StatusOr<std::string> Credentials::KeyFor(std::string_view username, absl::Time now) const {
  absl::StatusOr<std::string> password = PasswordFor(username, now);
  if (!password.ok()) return password.status();
  return stun::LongTermKey(username, options_.realm, *password);
}

absl::StatusOr<IssuedCredential> Credentials::Issue(std::string_view user, absl::Duration ttl,
                                                    absl::Time now) const {
  if (options_.secret.empty()) {
    return absl::FailedPreconditionError("no TURN secret configured: cannot issue credentials");
  }
  if (user.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError("TURN user names cannot contain ':'");
  }
  IssuedCredential issued;
  issued.expires = absl::FromUnixSeconds(absl::ToUnixSeconds(now + ttl));
  issued.username = absl::StrCat(absl::ToUnixSeconds(issued.expires), ":", ToAbsl(user));
  issued.password = DerivedPassword(options_.secret, issued.username);
  return issued;
}

}  // namespace causeway::turn
