#pragma once
// The Lync front end's roaming data (sip/lync/roaming_store.h) in the state
// database (gateway/state_db.h, migration 2): per user the contact list
// (deltaNum, groups, contacts and their group ids), the persistent presence
// categories, the ACL containers with their members and the presence
// subscribers. Contacts, groups, ACLs and published presence survive a restart.
//
// Users are keyed by their AOR ("sip:alice@example.test"), lower-cased; roaming
// rows do not reference the `users` table, because the front end may keep data
// for a user the directory does not list (an empty directory, a user added
// later). A trigger on `users` deletes a user's roaming data when the user is
// deleted (`causeway user del`, SqliteDirectory::Remove), so a user added again
// under the same URI starts empty. A daemon that still holds the deleted user's
// data in memory writes it back on that user's next change.
//
// Each Save* checks its input and queues the part; a writer thread of the
// store's own replaces the queued parts in batches (one transaction per batch,
// only the newest value of each user's part), so the workers that call Save*
// never wait for the disk (a commit, a WAL checkpoint's fsync). Load reads one
// consistent snapshot with the queued parts laid over it, so a caller always
// sees its own writes. Flush() waits for the queue and reports write errors;
// the destructor writes what is queued. A crash loses at most the batch being
// written. Lists keep their order. A row that cannot be valid (a value out of
// range, text that is not UTF-8: a file edited by hand or damaged) is skipped
// with a warning; the rest loads.
//
// Thread-safe: one connection of its own, guarded by a mutex (SQLite serializes
// it with the other connections and processes; a write waits up to the busy
// timeout for another writer).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "gateway/state_db.h"
#include "sip/lync/roaming_store.h"

namespace causeway::gateway {

class SqliteRoamingStore final : public sip::lync::RoamingStore {
public:
  // Opens its own connection to <state_dir>/causeway.db (creating and migrating
  // it).
  static absl::StatusOr<std::unique_ptr<SqliteRoamingStore>>
  Open(const std::string &state_dir);
  // Over an open database that has StateMigrations() applied; opens a second
  // connection to the same file for Load.
  static absl::StatusOr<std::unique_ptr<SqliteRoamingStore>>
  Create(std::unique_ptr<StateDb> db);

  ~SqliteRoamingStore()
      override; // writes what is queued, then stops the writer

  // RoamingStore. Load: Internal for database errors. Save*: InvalidArgument
  // for an empty AOR or text that is not UTF-8 (nothing is queued); database
  // errors come from Flush().
  absl::StatusOr<sip::lync::RoamingData> Load(std::string_view aor) override;
  absl::Status SaveContacts(std::string_view aor,
                            const sip::lync::ContactList &contacts) override;
  absl::Status SavePublications(
      std::string_view aor,
      const std::vector<sip::lync::Category> &publications) override;
  absl::Status
  SaveContainers(std::string_view aor,
                 const std::vector<sip::lync::Container> &containers) override;
  absl::Status SaveSubscribers(
      std::string_view aor,
      const std::vector<sip::lync::Subscriber> &subscribers) override;

  // Waits until every part queued before the call is committed. Returns the
  // first write error since the previous Flush (a failed part is rolled back
  // and dropped, the others commit).
  absl::Status Flush();

  struct Stats {
    uint64_t queued = 0; // parts given to Save*
    uint64_t coalesced =
        0; // replaced in the queue by a newer value before being written
    uint64_t written = 0;
    uint64_t failed = 0;
    uint64_t batches = 0; // transactions
  };
  Stats stats() const;

private:
  // The newest unwritten value of each part of one user's data.
  struct PendingUser {
    std::optional<sip::lync::ContactList> contacts;
    std::optional<std::vector<sip::lync::Category>> publications;
    std::optional<std::vector<sip::lync::Container>> containers;
    std::optional<std::vector<sip::lync::Subscriber>> subscribers;
  };
  using PendingMap = absl::flat_hash_map<std::string, PendingUser>;

  SqliteRoamingStore(std::unique_ptr<StateDb> writer,
                     std::unique_ptr<StateDb> reader);
  void Enqueue(const std::string &key,
               absl::FunctionRef<void(PendingUser &)> set);
  void WriterLoop();
  static void Overlay(const PendingUser &pending, PendingUser &onto);
  static void Overlay(const PendingUser &pending, sip::lync::RoamingData &data);

  // Two connections: in WAL mode Load's reads never wait for the writer's
  // commits.
  std::unique_ptr<StateDb> writer_db_; // the writer thread's only
  absl::Mutex reader_mu_;
  std::unique_ptr<StateDb> reader_db_ ABSL_GUARDED_BY(reader_mu_);

  mutable absl::Mutex queue_mu_; // never held while touching the database
  PendingMap pending_ ABSL_GUARDED_BY(queue_mu_);
  PendingMap writing_ ABSL_GUARDED_BY(queue_mu_); // the batch being committed
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  absl::Status write_error_ ABSL_GUARDED_BY(queue_mu_);
  Stats stats_ ABSL_GUARDED_BY(queue_mu_);
  std::thread writer_; // last: started once everything above exists
};

} // namespace causeway::gateway
