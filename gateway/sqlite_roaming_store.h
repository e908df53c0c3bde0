#pragma once
// The Lync front end's roaming data (sip/lync/roaming_store.h) in the state database
// (gateway/state_db.h, migration 2): per user the contact list (deltaNum, groups, contacts and
// their group ids), the persistent presence categories, the ACL containers with their members and
// the presence subscribers. Contacts, groups, ACLs and published presence survive a restart.
//
// Users are keyed by their AOR ("sip:alice@example.test"), lower-cased; roaming rows do not
// reference the `users` table, because the front end may keep data for a user the directory does
// not list (an empty directory, a user added later). A trigger on `users` deletes a user's roaming
// data when the user is deleted (`causeway user del`, SqliteDirectory::Remove), so a user added
// again under the same URI starts empty. A daemon that still holds the deleted user's data in
// memory writes it back on that user's next change.
//
// Each Save* replaces that part of the user's data in one transaction; lists keep their order.
// Load reads one consistent snapshot. A row that cannot be valid (a value out of range, text that
// is not UTF-8: a file edited by hand or damaged) is skipped with a warning; the rest loads.
//
// Thread-safe: one connection of its own, guarded by a mutex (SQLite serializes it with the
// other connections and processes; a write waits up to the busy timeout for another writer).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/state_db.h"
#include "sip/lync/roaming_store.h"

namespace causeway::gateway {

class SqliteRoamingStore final : public sip::lync::RoamingStore {
 public:
  // Opens its own connection to <state_dir>/causeway.db (creating and migrating it).
  static absl::StatusOr<std::unique_ptr<SqliteRoamingStore>> Open(const std::string& state_dir);
  // Over an open database that has StateMigrations() applied (tests).
  static std::unique_ptr<SqliteRoamingStore> Create(std::unique_ptr<StateDb> db);

  // RoamingStore. InvalidArgument for an empty AOR or text that is not UTF-8 (nothing is
  // written); Internal for database errors (the transaction is rolled back).
  absl::StatusOr<sip::lync::RoamingData> Load(std::string_view aor) override;
  absl::Status SaveContacts(std::string_view aor, const sip::lync::ContactList& contacts) override;
  absl::Status SavePublications(std::string_view aor,
                                const std::vector<sip::lync::Category>& publications) override;
  absl::Status SaveContainers(std::string_view aor,
                              const std::vector<sip::lync::Container>& containers) override;
  absl::Status SaveSubscribers(std::string_view aor,
                               const std::vector<sip::lync::Subscriber>& subscribers) override;

 private:
  explicit SqliteRoamingStore(std::unique_ptr<StateDb> db) : db_(std::move(db)) {}

  absl::Mutex mu_;
  std::unique_ptr<StateDb> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace causeway::gateway
