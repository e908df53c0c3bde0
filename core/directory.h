#pragma once
// The user directory as the data path sees it: who exists, their display name, phone numbers and
// the password material authentication needs (never the password itself).
//
// Callers hold a `UserDirectory&` and do synchronous, non-blocking lookups: an implementation
// answers from memory (the embedded SQLite store in gateway/ keeps a snapshot; an LDAP/Active
// Directory backend would keep a cache), never from disk or the network on the calling thread.
// `SnapshotDirectory` is the in-memory implementation backends publish into: every lookup takes a
// short mutex only to copy a `shared_ptr<const DirectorySnapshot>`, then reads the immutable
// snapshot with no lock, so worker threads may look up concurrently while a backend publishes.
//
// Only enabled users are visible to lookups: a disabled user cannot authenticate, is not routed
// to, does not make a short login ambiguous, and does not add its domain to Domains().

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace causeway {

struct UserRecord {
  std::string uri;                         // "sip:alice@example.test", lower-case
  std::string display_name;                // may be empty
  std::vector<std::string> phone_numbers;  // E.164, "+15551234567"
  bool enabled = true;
  // Password material, derived once from the password (sip/lync/credentials.h):
  std::array<uint8_t, 16> nt_hash{};  // MD4(UTF-16LE(password)): what NTLM needs
  std::string ha1_md5;                // hex MD5(user:realm:password), user = URI user part,
  std::string ha1_sha256;             // realm = URI domain; hex SHA-256 of the same

  // "alice" and "example.test" for "sip:alice@example.test" (empty if the URI is malformed).
  std::string_view UserPart() const;
  std::string_view Domain() const;
};

// An immutable, indexed set of enabled users. Build once, share as shared_ptr<const>.
class DirectorySnapshot {
 public:
  // Disabled users are dropped; for a URI or phone number given twice, the first record wins.
  explicit DirectorySnapshot(std::vector<UserRecord> users);

  // nullptr when absent. The URI is compared case-insensitively (ASCII).
  const UserRecord* FindByUri(std::string_view uri) const;
  // An exact E.164 number ("+15551234567").
  const UserRecord* FindByPhone(std::string_view e164) const;
  // See UserDirectory::FindByLogin.
  absl::StatusOr<const UserRecord*> FindByLogin(std::string_view user,
                                                std::string_view domain) const;

  // Sorted, distinct domains of the users.
  const std::vector<std::string>& Domains() const { return domains_; }
  const std::vector<UserRecord>& Users() const { return users_; }
  size_t Size() const { return users_.size(); }

 private:
  // Index value for a key that matches more than one user.
  static constexpr size_t kAmbiguous = static_cast<size_t>(-1);
  static void AddKey(absl::flat_hash_map<std::string, size_t>& index, std::string key, size_t i);
  absl::StatusOr<const UserRecord*> LoginResult(const UserRecord* user,
                                                std::string_view login) const;

  std::vector<UserRecord> users_;
  std::vector<std::string> domains_;
  absl::flat_hash_map<std::string, size_t> by_uri_;
  absl::flat_hash_map<std::string, size_t> by_phone_;
  absl::flat_hash_map<std::string, size_t> by_user_;     // "alice" -> one index or kAmbiguous
  absl::flat_hash_map<std::string, size_t> by_netbios_;  // "example\\alice" -> ... likewise
};

// Returned records stay valid for as long as the caller holds the pointer, even after the
// directory moved on to a new snapshot.
using UserRef = std::shared_ptr<const UserRecord>;

// What callers (registrar, NTLM/Digest authentication, routing) see. Every method is
// thread-safe and non-blocking.
class UserDirectory {
 public:
  virtual ~UserDirectory() = default;

  virtual UserRef FindByUri(std::string_view uri) const = 0;
  virtual UserRef FindByPhone(std::string_view e164) const = 0;
  // The user an NTLM or Digest login names, case-insensitively:
  //   ("alice", "")                -> the only user "alice" across all domains
  //   ("alice@example.test", "")   -> UPN form: sip:alice@example.test
  //   ("EXAMPLE\\alice", "")       -> NetBIOS form in one string (as below)
  //   ("alice", "EXAMPLE")         -> NetBIOS form: the user whose domain's first DNS label is
  //                                   "example" (example.test, example.com, ...)
  //   ("alice", "example.test")    -> a full DNS domain: sip:alice@example.test
  // NotFound when no enabled user matches; FailedPrecondition when several do (the message
  // names the login, never a password).
  virtual absl::StatusOr<UserRef> FindByLogin(std::string_view user,
                                              std::string_view domain = {}) const = 0;
  // Sorted, distinct domains of the enabled users.
  virtual std::vector<std::string> Domains() const = 0;
  virtual size_t Size() const = 0;
};

// The in-memory directory: lookups over the current snapshot, Publish() swaps in a new one.
class SnapshotDirectory : public UserDirectory {
 public:
  SnapshotDirectory();

  // Replaces the snapshot; lookups already running finish on the old one.
  void Publish(std::shared_ptr<const DirectorySnapshot> snapshot);
  void Publish(std::vector<UserRecord> users) {
    Publish(std::make_shared<const DirectorySnapshot>(std::move(users)));
  }
  std::shared_ptr<const DirectorySnapshot> Snapshot() const;

  UserRef FindByUri(std::string_view uri) const override;
  UserRef FindByPhone(std::string_view e164) const override;
  absl::StatusOr<UserRef> FindByLogin(std::string_view user,
                                      std::string_view domain = {}) const override;
  std::vector<std::string> Domains() const override;
  size_t Size() const override;

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const DirectorySnapshot> snapshot_ ABSL_GUARDED_BY(mu_);
};

}  // namespace causeway
