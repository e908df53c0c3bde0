#pragma once
// The gateway's persistent state: one SQLite database, <state_dir>/causeway.db.
//
// Opened in WAL mode (readers never block the writer; the daemon and `causeway user ...` share the
// file while the daemon runs), with a busy timeout (a writer waits for another instead of failing)
// and foreign keys on. The schema is an ordered list of migrations (kStateMigrations in
// state_db.cc); PRAGMA user_version records how many have been applied, and Open() applies the
// missing ones in one transaction. A later feature adds a table by appending a migration, never
// by editing an applied one. A database newer than this binary is refused.
//
// A StateDb (and its Statements) belongs to one thread at a time; SQLite serializes access
// between processes and connections.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace causeway::gateway {

inline constexpr std::string_view kStateDbFileName = "causeway.db";

struct Migration {
  int version;            // 1, 2, 3, ... in order; the database's user_version after it runs
  std::string_view what;  // one line for the log
  std::string_view sql;   // one or more statements
};

// The gateway's migrations, oldest first.
const std::vector<Migration>& StateMigrations();

// A prepared statement; Bind* take 1-based parameter indexes, Column* 0-based columns.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  Statement& Bind(int index, std::string_view text);
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& Bind(int index, int64_t value);
  // true: a row is available; false: done. Errors name the statement's SQL.
  absl::StatusOr<bool> Step();
  // Runs to completion, ignoring rows.
  absl::Status Run();
  // Resets for re-execution with new bindings.
  void Reset();

  std::string ColumnText(int column) const;
  std::string ColumnBlob(int column) const;
  int64_t ColumnInt(int column) const;

 private:
  friend class StateDb;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  absl::Status bind_error_;
};

class StateDb {
 public:
  // Opens (creating, mode 0600) <state_dir>/causeway.db and applies StateMigrations().
  static absl::StatusOr<std::unique_ptr<StateDb>> Open(const std::string& state_dir);
  // Any file and migration list (tests).
  static absl::StatusOr<std::unique_ptr<StateDb>> OpenFile(
      const std::string& path, const std::vector<Migration>& migrations);

  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;
  ~StateDb();

  // Runs one or more statements without results.
  absl::Status Exec(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);

  // BEGIN IMMEDIATE (takes the write lock up front, so a read-then-write cannot deadlock with
  // another writer); Commit; Rollback (harmless when no transaction is open).
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // PRAGMA user_version: the number of migrations applied.
  absl::StatusOr<int> SchemaVersion();
  // PRAGMA data_version: changes when another connection commits to the database.
  absl::StatusOr<int64_t> DataVersion();
  // sqlite3_changes(): rows the last statement changed.
  int64_t Changes() const;
  // sqlite3_last_insert_rowid(): the rowid of the last INSERT on this connection.
  int64_t LastInsertId() const;

  const std::string& path() const { return path_; }
  sqlite3* handle() { return db_; }

 private:
  StateDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  absl::Status Migrate(const std::vector<Migration>& migrations);
  absl::Status Error(std::string_view what) const;

  sqlite3* db_ = nullptr;
  std::string path_;
};

// Runs `body` (returning absl::Status) inside BEGIN IMMEDIATE ... COMMIT, rolling back on error.
template <typename Body>
absl::Status InTransaction(StateDb& db, Body body) {
  if (absl::Status st = db.Begin(); !st.ok()) return st;
  absl::Status st = body();
  if (st.ok()) st = db.Commit();
  if (!st.ok()) db.Rollback();
  return st;
}

}  // namespace causeway::gateway
