#include "gateway/state_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"

namespace causeway::gateway {
namespace {

// How long a statement waits for another connection's write lock before failing with "database
// is locked". `causeway user add` and the daemon's refresh hold it for milliseconds.
constexpr int kBusyTimeoutMs = 5000;

// Version 1: the embedded user directory. Phone numbers are unique across users (a number routes
// to one person); `position` keeps the order they were given in.
constexpr std::string_view kUsersV1 = R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  uri TEXT NOT NULL UNIQUE CHECK (uri = lower(uri) AND uri LIKE 'sip:%@%'),
  display_name TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  nt_hash BLOB NOT NULL CHECK (length(nt_hash) = 16),
  ha1_md5 TEXT NOT NULL CHECK (length(ha1_md5) = 32),
  ha1_sha256 TEXT NOT NULL CHECK (length(ha1_sha256) = 64),
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE user_phones (
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  number TEXT NOT NULL UNIQUE,
  PRIMARY KEY (user_id, position)
);
)sql";

// Version 2: the Lync front end's roaming data (gateway/sqlite_roaming_store.h), per user keyed by
// the lower-case AOR. No foreign key to `users` (the front end may keep data for users the
// directory does not list); the trigger deletes a user's roaming data with the user. Lists keep
// their order in `position`; the 32-bit protocol values are checked to fit. STRICT: a column
// holds only its declared type.
constexpr std::string_view kRoamingV2 = R"sql(
CREATE TABLE roaming_users (
  id INTEGER PRIMARY KEY,
  aor TEXT NOT NULL UNIQUE CHECK (aor = lower(aor) AND aor <> ''),
  delta_num INTEGER CHECK (delta_num BETWEEN 0 AND 4294967295)  -- NULL: no contact list saved
) STRICT;
CREATE TABLE roaming_groups (
  user_id INTEGER NOT NULL REFERENCES roaming_users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  group_id INTEGER NOT NULL CHECK (group_id BETWEEN 0 AND 4294967295),
  name TEXT NOT NULL,
  external_uri TEXT NOT NULL,
  PRIMARY KEY (user_id, position)
) STRICT;
CREATE TABLE roaming_contacts (
  user_id INTEGER NOT NULL REFERENCES roaming_users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  uri TEXT NOT NULL,
  name TEXT NOT NULL,
  subscribed INTEGER NOT NULL CHECK (subscribed IN (0, 1)),
  external_uri TEXT NOT NULL,
  PRIMARY KEY (user_id, position)
) STRICT;
CREATE TABLE roaming_contact_groups (
  user_id INTEGER NOT NULL,
  contact_position INTEGER NOT NULL,
  position INTEGER NOT NULL,
  group_id INTEGER NOT NULL CHECK (group_id BETWEEN 0 AND 4294967295),
  PRIMARY KEY (user_id, contact_position, position),
  FOREIGN KEY (user_id, contact_position) REFERENCES roaming_contacts(user_id, position)
    ON DELETE CASCADE
) STRICT;
CREATE TABLE roaming_publications (
  user_id INTEGER NOT NULL REFERENCES roaming_users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  instance INTEGER NOT NULL CHECK (instance BETWEEN 0 AND 4294967295),
  container INTEGER NOT NULL CHECK (container BETWEEN 0 AND 4294967295),
  version INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
  publish_time TEXT NOT NULL,
  expire_type TEXT NOT NULL,
  xml TEXT NOT NULL,
  PRIMARY KEY (user_id, position)
) STRICT;
CREATE TABLE roaming_containers (
  user_id INTEGER NOT NULL REFERENCES roaming_users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  container_id INTEGER NOT NULL CHECK (container_id BETWEEN 0 AND 4294967295),
  version INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
  PRIMARY KEY (user_id, position)
) STRICT;
CREATE TABLE roaming_container_members (
  user_id INTEGER NOT NULL,
  container_position INTEGER NOT NULL,
  position INTEGER NOT NULL,
  type TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (user_id, container_position, position),
  FOREIGN KEY (user_id, container_position) REFERENCES roaming_containers(user_id, position)
    ON DELETE CASCADE
) STRICT;
CREATE TABLE roaming_subscribers (
  user_id INTEGER NOT NULL REFERENCES roaming_users(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  user TEXT NOT NULL,
  display_name TEXT NOT NULL,
  acknowledged INTEGER NOT NULL CHECK (acknowledged IN (0, 1)),
  type TEXT NOT NULL,
  PRIMARY KEY (user_id, position)
) STRICT;
-- Spelled out rather than left to ON DELETE CASCADE: a connection without foreign_keys (the
-- sqlite3 shell) deletes everything too.
CREATE TRIGGER users_delete_roaming AFTER DELETE ON users
BEGIN
  DELETE FROM roaming_contact_groups
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_container_members
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_groups WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_contacts
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_publications
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_containers
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_subscribers
    WHERE user_id IN (SELECT id FROM roaming_users WHERE aor = OLD.uri);
  DELETE FROM roaming_users WHERE aor = OLD.uri;
END;
)sql";

// Version 3: a counter that every change to the user directory bumps (triggers), so the daemon
// reloads its snapshot when users changed rather than on any commit of another connection
// (PRAGMA data_version also moves on every roaming-data write).
constexpr std::string_view kDirectoryVersionV3 = R"sql(
CREATE TABLE directory_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
) STRICT;
INSERT INTO directory_version (id, version) VALUES (1, 0);
CREATE TRIGGER users_insert_version AFTER INSERT ON users
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER users_update_version AFTER UPDATE ON users
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER users_delete_version AFTER DELETE ON users
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER user_phones_insert_version AFTER INSERT ON user_phones
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER user_phones_update_version AFTER UPDATE ON user_phones
BEGIN UPDATE directory_version SET version = version + 1; END;
CREATE TRIGGER user_phones_delete_version AFTER DELETE ON user_phones
BEGIN UPDATE directory_version SET version = version + 1; END;
)sql";

}  // namespace

const std::vector<Migration>& StateMigrations() {
  static const std::vector<Migration> kMigrations = {
      {1, "user directory (users, user_phones)", kUsersV1},
      {2, "Lync roaming data (roaming_users, roaming_groups, roaming_contacts, ...)", kRoamingV2},
      {3, "user directory change counter (directory_version)", kDirectoryVersionV3},
  };
  return kMigrations;
}

// --- Statement ---

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_error_(std::move(other.bind_error_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_ != nullptr) sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_error_ = std::move(other.bind_error_);
  }
  return *this;
}

Statement::~Statement() {
  if (stmt_ != nullptr) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, std::string_view text) {
  if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = absl::InternalError(absl::StrCat("bind ", index, ": ", sqlite3_errmsg(db_)));
  }
  return *this;
}

Statement& Statement::BindBlob(int index, std::string_view bytes) {
  if (sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()),
                        SQLITE_TRANSIENT) != SQLITE_OK &&
      bind_error_.ok()) {
    bind_error_ = absl::InternalError(absl::StrCat("bind ", index, ": ", sqlite3_errmsg(db_)));
  }
  return *this;
}

Statement& Statement::Bind(int index, int64_t value) {
  if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK && bind_error_.ok()) {
    bind_error_ = absl::InternalError(absl::StrCat("bind ", index, ": ", sqlite3_errmsg(db_)));
  }
  return *this;
}

absl::StatusOr<bool> Statement::Step() {
  if (!bind_error_.ok()) return bind_error_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string message = sqlite3_errmsg(db_);
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(message);
  return absl::InternalError(message);
}

absl::Status Statement::Run() {
  // Bounded by the rows the statement produces; statements run this way produce none or few.
  while (true) {
    absl::StatusOr<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return absl::OkStatus();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = absl::OkStatus();
}

std::string Statement::ColumnText(int column) const {
  const unsigned char* text = sqlite3_column_text(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (text == nullptr || size <= 0) return {};
  return std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size));
}

std::string Statement::ColumnBlob(int column) const {
  const void* blob = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (blob == nullptr || size <= 0) return {};
  return std::string(static_cast<const char*>(blob), static_cast<size_t>(size));
}

int64_t Statement::ColumnInt(int column) const { return sqlite3_column_int64(stmt_, column); }

// --- StateDb ---

absl::StatusOr<std::unique_ptr<StateDb>> StateDb::Open(const std::string& state_dir) {
  return OpenFile(absl::StrCat(ToAbsl(state_dir), "/", ToAbsl(kStateDbFileName)),
                  StateMigrations());
}

absl::StatusOr<std::unique_ptr<StateDb>> StateDb::OpenFile(
    const std::string& path, const std::vector<Migration>& migrations) {
  // Password material lives here: create the file 0600 ourselves (SQLite would use 0644); its
  // -wal and -shm files take the database file's mode.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat(path, ": cannot create: ", std::strerror(errno)));
  }
  ::close(fd);
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = raw != nullptr ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    sqlite3_close(raw);
    return absl::InternalError(absl::StrCat(path, ": cannot open: ", message));
  }
  std::unique_ptr<StateDb> db(new StateDb(raw, path));
  sqlite3_busy_timeout(raw, kBusyTimeoutMs);
  sqlite3_extended_result_codes(raw, 1);
  // journal_mode answers with the mode in force: anything but "wal" (e.g. a file system without
  // shared memory) is an error rather than a silent slow path.
  {
    absl::StatusOr<Statement> wal = db->Prepare("PRAGMA journal_mode = WAL");
    if (!wal.ok()) return wal.status();
    absl::StatusOr<bool> row = wal->Step();
    if (!row.ok()) return db->Error("cannot enable WAL");
    if (!*row || wal->ColumnText(0) != "wal") {
      return absl::InternalError(absl::StrCat(path, ": cannot enable WAL journal mode"));
    }
  }  // the statement must be finalized before a transaction can commit
  if (absl::Status st = db->Exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;");
      !st.ok()) {
    return st;
  }
  if (absl::Status st = db->Migrate(migrations); !st.ok()) return st;
  return db;
}

StateDb::~StateDb() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
}

absl::Status StateDb::Error(std::string_view what) const {
  return absl::InternalError(absl::StrCat(path_, ": ", ToAbsl(what), ": ", sqlite3_errmsg(db_)));
}

absl::Status StateDb::Exec(std::string_view sql) {
  std::string text(sql);
  char* message = nullptr;
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string error = message != nullptr ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return absl::InternalError(absl::StrCat(path_, ": ", error));
  }
  return absl::OkStatus();
}

absl::StatusOr<Statement> StateDb::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK) {
    return Error(absl::StrCat("cannot prepare '", ToAbsl(sql), "'"));
  }
  return Statement(db_, stmt);
}

absl::Status StateDb::Begin() { return Exec("BEGIN IMMEDIATE"); }
absl::Status StateDb::Commit() { return Exec("COMMIT"); }
void StateDb::Rollback() {
  if (sqlite3_get_autocommit(db_) == 0) (void)Exec("ROLLBACK");
}

absl::StatusOr<int> StateDb::SchemaVersion() {
  absl::StatusOr<Statement> stmt = Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? static_cast<int>(stmt->ColumnInt(0)) : 0;
}

absl::StatusOr<int64_t> StateDb::DataVersion() {
  absl::StatusOr<Statement> stmt = Prepare("PRAGMA data_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnInt(0) : 0;
}

int64_t StateDb::Changes() const { return sqlite3_changes64(db_); }
int64_t StateDb::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

absl::Status StateDb::Migrate(const std::vector<Migration>& migrations) {
  int latest = 0;
  for (const Migration& m : migrations) {
    if (m.version != latest + 1) {
      return absl::InternalError(
          absl::StrCat("migration list out of order at version ", m.version));
    }
    latest = m.version;
  }
  // Cheap check first: an up-to-date database needs no write lock.
  absl::StatusOr<int> version = SchemaVersion();
  if (!version.ok()) return version.status();
  if (*version == latest) return absl::OkStatus();
  // Another process may be migrating too: take the write lock, then read the version again.
  if (absl::Status st = Begin(); !st.ok()) return st;
  version = SchemaVersion();
  if (!version.ok()) {
    Rollback();
    return version.status();
  }
  if (*version > latest) {
    Rollback();
    return absl::FailedPreconditionError(absl::StrCat(
        path_, ": schema version ", *version, " is newer than this causeway understands (", latest,
        "): use a newer causeway or another state_dir"));
  }
  for (const Migration& m : migrations) {
    if (m.version <= *version) continue;
    absl::Status st = Exec(m.sql);
    if (st.ok()) st = Exec(absl::StrCat("PRAGMA user_version = ", m.version));
    if (!st.ok()) {
      Rollback();
      return absl::InternalError(
          absl::StrCat("migration ", m.version, " (", ToAbsl(m.what), ") failed: ", st.message()));
    }
    log::Debug("gateway", "state database migrated",
               {{"db", path_}, {"version", m.version}, {"what", m.what}});
  }
  return Commit();
}

}  // namespace causeway::gateway
