#pragma once
// The embedded user directory: users in the `users`/`user_phones` tables of the state database
// (gateway/state_db.h), served to the data path as an in-memory snapshot (core/directory.h).
//
// The daemon opens it at start and calls Refresh() every few seconds from one thread; Refresh()
// reloads the snapshot only when another connection committed (PRAGMA data_version), e.g. a
// `causeway user add` while the daemon runs, and that commit changed the directory (the
// `directory_version` counter; roaming data and other state do not count). Lookups (the
// UserDirectory methods) are thread-safe and never touch the database. The write methods (for
// the CLI) reload the snapshot themselves. All non-lookup methods belong to one thread at a time.
//
// Only password material is stored (sip/lync/credentials.h); the password is neither stored nor
// logged nor put in an error message.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/directory.h"
#include "gateway/state_db.h"

namespace causeway::gateway {

struct NewUser {
  std::string uri;  // "sip:alice@example.test" (any case; stored lower-case)
  std::string display_name;
  std::vector<std::string> phone_numbers;  // E.164
  std::string password;
  bool enabled = true;
};

// Validation shared with the CLI; InvalidArgument errors name the field.
// "sip:user@domain" -> lower-cased; user part of letters, digits and -_.!~*'+ (at most 64),
// domain a host name (gateway/names.h).
absl::StatusOr<std::string> NormalizeUserUri(std::string_view uri);
// "+" and 2..15 digits, the first not 0.
absl::Status ValidatePhoneNumber(std::string_view number);
// At most 256 bytes of UTF-8 without control characters.
absl::Status ValidateDisplayName(std::string_view name);

class SqliteDirectory : public UserDirectory {
 public:
  // Opens <state_dir>/causeway.db (creating and migrating it) and loads the snapshot.
  static absl::StatusOr<std::unique_ptr<SqliteDirectory>> Open(const std::string& state_dir);
  // Over an open database (tests).
  static absl::StatusOr<std::unique_ptr<SqliteDirectory>> Create(std::unique_ptr<StateDb> db);

  // Reloads the snapshot if another connection changed the database since the last load.
  // Returns whether it reloaded. On error the previous snapshot stays in service.
  absl::StatusOr<bool> Refresh();
  // Reloads unconditionally.
  absl::Status Reload();

  // AlreadyExists for a known URI or a phone number another user has.
  absl::Status Add(const NewUser& user);
  // NotFound for an unknown URI.
  absl::Status Remove(std::string_view uri);
  absl::Status SetPassword(std::string_view uri, std::string_view password);
  absl::Status SetEnabled(std::string_view uri, bool enabled);
  // Every user, enabled or not, sorted by URI (password material included: callers that print
  // must not print it).
  absl::StatusOr<std::vector<UserRecord>> List();

  // UserDirectory: answered from the snapshot.
  UserRef FindByUri(std::string_view uri) const override { return snapshot_.FindByUri(uri); }
  UserRef FindByPhone(std::string_view e164) const override { return snapshot_.FindByPhone(e164); }
  absl::StatusOr<UserRef> FindByLogin(std::string_view user,
                                      std::string_view domain = {}) const override {
    return snapshot_.FindByLogin(user, domain);
  }
  std::vector<std::string> Domains() const override { return snapshot_.Domains(); }
  size_t Size() const override { return snapshot_.Size(); }

  StateDb& db() { return *db_; }

 private:
  explicit SqliteDirectory(std::unique_ptr<StateDb> db) : db_(std::move(db)) {}
  absl::StatusOr<int64_t> UserId(const std::string& uri);
  // The directory_version counter (bumped by triggers on every change to users/user_phones).
  absl::StatusOr<int64_t> DirectoryVersion();

  std::unique_ptr<StateDb> db_;
  SnapshotDirectory snapshot_;
  int64_t data_version_ = -1;
  int64_t directory_version_ = -1;  // of the loaded snapshot
};

}  // namespace causeway::gateway
