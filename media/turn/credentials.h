#pragma once
// TURN long-term credentials (RFC 8489 §9.2): static users from the config, and time-limited
// credentials derived from a shared secret — the scheme coturn calls the TURN REST API
// (draft-uberti-behave-turn-rest): username "<unix expiry>:<user>", password
// base64(HMAC-SHA1(secret, username)). The same issued pair serves RFC 8656 clients and the
// Lync MRAS answer (MS-AVEDGEA), which hands the pair to the client as opaque strings.
//
// Immutable after construction: shared by every worker without locks.

#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace causeway::turn {

struct CredentialOptions {
  std::string realm;                                        // REALM the relay challenges with
  std::string secret;                                       // empty = no secret-derived users
  absl::flat_hash_map<std::string, std::string> static_users;  // username -> password
};

struct IssuedCredential {
  std::string username;  // "<expiry>:<user>"
  std::string password;  // base64(HMAC-SHA1(secret, username))
  absl::Time expires;
};

class Credentials {
 public:
  explicit Credentials(CredentialOptions options);

  const std::string& realm() const { return options_.realm; }
  bool can_issue() const { return !options_.secret.empty(); }

  // The password for `username` at `now`: a static user's, or the derived one when the username
  // has the "<expiry>:<user>" form with an expiry not yet passed. NotFound for unknown users,
  // DeadlineExceeded for expired secret-derived usernames.
  absl::StatusOr<std::string> PasswordFor(std::string_view username, absl::Time now) const;
  // MD5(username ":" realm ":" password), the long-term key MESSAGE-INTEGRITY uses.
  absl::StatusOr<std::string> KeyFor(std::string_view username, absl::Time now) const;

  // The user a username stands for: "alice" for "1700000000:alice", the name itself for static
  // users. Quotas count per user, so fresh credentials do not open a fresh quota.
  static std::string_view UserOf(std::string_view username);

  // A pair valid until now + ttl. FailedPrecondition when no secret is configured.
  absl::StatusOr<IssuedCredential> Issue(std::string_view user, absl::Duration ttl,
                                         absl::Time now) const;

 private:
  CredentialOptions options_;
};

}  // namespace causeway::turn
