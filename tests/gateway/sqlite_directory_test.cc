// The state database (migrations, pragmas) and the SQLite user directory over it.

#include "gateway/sqlite_directory.h"

#include <sqlite3.h>

#include <string>
#include <vector>

#include "gateway/state_db.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::FileMode;
using testing::ReadFile;
using testing::ScratchDir;

// A raw second connection, as another process (`causeway user add`) would have.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~RawDb() { sqlite3_close(db_); }
  std::string Exec(const std::string& sql) {
    char* error = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) == SQLITE_OK) return "ok";
    std::string message = error != nullptr ? error : "?";
    sqlite3_free(error);
    return message;
  }
  std::string Text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return "error";
    if (sqlite3_step(stmt) == SQLITE_ROW) {
      const unsigned char* text = sqlite3_column_text(stmt, 0);
      out = text != nullptr ? reinterpret_cast<const char*>(text) : "";
    }
    sqlite3_finalize(stmt);
    return out;
  }

 private:
  sqlite3* db_ = nullptr;
};

NewUser Alice() {
  NewUser user;
  user.uri = "sip:Alice@Example.Test";
  user.display_name = "Alice Liddell";
  user.phone_numbers = {"+15551230001", "+15551230002"};
  user.password = "Password";
  return user;
}

TEST(StateDb, CreatesMigratesAndReopens) {
  ScratchDir dir;
  {
    absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::Open(dir.path());
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ((*db)->path(), dir / "causeway.db");
    EXPECT_EQ(*(*db)->SchemaVersion(), static_cast<int>(StateMigrations().size()));
  }
  EXPECT_EQ(FileMode(dir / "causeway.db"), 0600u);
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(raw.Text("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(raw.Text("PRAGMA user_version"), std::to_string(StateMigrations().size()));
  EXPECT_EQ(raw.Text("SELECT name FROM sqlite_master WHERE name = 'users'"), "users");
  // Opening again applies nothing and keeps the data.
  EXPECT_EQ(raw.Exec("INSERT INTO users (uri, nt_hash, ha1_md5, ha1_sha256, created_at, "
                     "updated_at) VALUES ('sip:x@y.z', zeroblob(16), printf('%32s', ''), "
                     "printf('%64s', ''), 0, 0)"),
            "ok");
  absl::StatusOr<std::unique_ptr<StateDb>> again = StateDb::Open(dir.path());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(raw.Text("SELECT count(*) FROM users"), "1");
  // Foreign keys are on for our connection: a phone for a user that does not exist fails.
  EXPECT_FALSE((*again)->Exec("INSERT INTO user_phones VALUES (999, 0, '+15550000')").ok());
}

TEST(StateDb, UpgradesFromOlderVersionsInOrder) {
  ScratchDir dir;
  std::string path = dir / "test.db";
  std::vector<Migration> v1 = {{1, "t1", "CREATE TABLE t1 (a INTEGER);"}};
  std::vector<Migration> v3 = {
      {1, "t1", "CREATE TABLE t1 (a INTEGER);"},
      {2, "t2", "CREATE TABLE t2 (b INTEGER); INSERT INTO t1 VALUES (2);"},
      {3, "t1.c", "ALTER TABLE t1 ADD COLUMN c TEXT DEFAULT 'three';"},
  };
  {
    // Version 0: an empty file (as a crashed first start could leave).
    testing::WriteFile(path, "", 0600);
    absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::OpenFile(path, v1);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ(*(*db)->SchemaVersion(), 1);
    ASSERT_TRUE((*db)->Exec("INSERT INTO t1 VALUES (1)").ok());
  }
  {
    absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::OpenFile(path, v3);
    ASSERT_TRUE(db.ok()) << db.status();
    EXPECT_EQ(*(*db)->SchemaVersion(), 3);
  }
  RawDb raw(path);
  EXPECT_EQ(raw.Text("SELECT group_concat(a || c, ',') FROM t1"), "1three,2three");
  // A binary that knows fewer migrations refuses the newer database.
  absl::StatusOr<std::unique_ptr<StateDb>> old = StateDb::OpenFile(path, v1);
  ASSERT_FALSE(old.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(old.status())) << old.status();
  EXPECT_NE(old.status().message().find("schema version 3 is newer"), std::string::npos);
}

TEST(StateDb, FailedMigrationRollsBackEntirely) {
  ScratchDir dir;
  std::string path = dir / "test.db";
  std::vector<Migration> broken = {
      {1, "ok", "CREATE TABLE t1 (a INTEGER);"},
      {2, "broken", "CREATE TABLE t2 (b INTEGER); INSERT INTO nope VALUES (1);"},
  };
  absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::OpenFile(path, broken);
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("migration 2 (broken) failed"), std::string::npos)
      << db.status();
  RawDb raw(path);
  EXPECT_EQ(raw.Text("PRAGMA user_version"), "0");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM sqlite_master"), "0");
  std::vector<Migration> gap = {{1, "a", "SELECT 1;"}, {3, "b", "SELECT 1;"}};
  EXPECT_FALSE(StateDb::OpenFile(dir / "gap.db", gap).ok());
}

TEST(UserValidation, UrisPhonesDisplayNames) {
  EXPECT_EQ(*NormalizeUserUri("SIP:Alice.Smith@Example.TEST"), "sip:alice.smith@example.test");
  EXPECT_EQ(*NormalizeUserUri("sip:a+b_c-d@x.y"), "sip:a+b_c-d@x.y");
  for (const char* bad :
       {"alice@example.test", "sips:alice@example.test", "sip:@example.test", "sip:alice@",
        "sip:alice", "sip:al ice@example.test", "sip:alice@exa_mple.test", "sip:a@b@example.test",
        "sip:alice@example.test;transport=tls", "sip:a:pw@example.test"}) {
    absl::StatusOr<std::string> uri = NormalizeUserUri(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(uri.status())) << bad;
  }
  EXPECT_FALSE(NormalizeUserUri("sip:" + std::string(65, 'a') + "@x.y").ok());
  EXPECT_TRUE(ValidatePhoneNumber("+15551234567").ok());
  EXPECT_TRUE(ValidatePhoneNumber("+123456789012345").ok());
  for (const char* bad : {"15551234567", "+", "+1", "+0555", "+1555-123", "+1234567890123456",
                          "tel:+15551234567", ""}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ValidatePhoneNumber(bad))) << bad;
  }
  EXPECT_TRUE(ValidateDisplayName("").ok());
  EXPECT_TRUE(ValidateDisplayName("J\xc3\xbcrgen M\xc3\xbcller").ok());
  EXPECT_FALSE(ValidateDisplayName("a\tb").ok());
  EXPECT_FALSE(ValidateDisplayName("a\nb").ok());
  EXPECT_FALSE(ValidateDisplayName("\xff").ok());
  EXPECT_FALSE(ValidateDisplayName(std::string(257, 'a')).ok());
}

TEST(SqliteDirectory, AddListLookupRemove) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> opened = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  SqliteDirectory& users = **opened;
  EXPECT_EQ(users.Size(), 0u);
  ASSERT_TRUE(users.Add(Alice()).ok());
  NewUser bob{"sip:bob@other.org", "", {}, "hunter2", true};
  ASSERT_TRUE(users.Add(bob).ok());

  // The snapshot follows our own writes at once.
  EXPECT_EQ(users.Size(), 2u);
  UserRef alice = users.FindByUri("sip:alice@example.test");
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->display_name, "Alice Liddell");
  EXPECT_EQ(alice->phone_numbers, (std::vector<std::string>{"+15551230001", "+15551230002"}));
  EXPECT_EQ(alice->ha1_md5, "0fc847d19e7a8f14073d14232c3013e0");
  EXPECT_EQ(alice->nt_hash[0], 0xa4);
  EXPECT_EQ(alice->nt_hash[15], 0x52);
  EXPECT_EQ(users.FindByPhone("+15551230002"), alice);
  EXPECT_EQ(users.FindByLogin("alice", "EXAMPLE").value_or(nullptr), alice);
  EXPECT_EQ(users.Domains(), (std::vector<std::string>{"example.test", "other.org"}));

  absl::StatusOr<std::vector<UserRecord>> list = users.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].uri, "sip:alice@example.test");
  EXPECT_EQ((*list)[1].uri, "sip:bob@other.org");

  // Conflicts: same URI in another case, a phone number someone has, bad input.
  absl::Status dup = users.Add(Alice());
  EXPECT_TRUE(absl::IsAlreadyExists(dup)) << dup;
  NewUser clash{"sip:carol@example.test", "", {"+15551230002"}, "pw", true};
  absl::Status phone = users.Add(clash);
  EXPECT_TRUE(absl::IsAlreadyExists(phone)) << phone;
  EXPECT_NE(phone.message().find("sip:alice@example.test"), std::string::npos) << phone;
  clash.phone_numbers = {"+15559990000", "+15559990000"};
  EXPECT_TRUE(absl::IsInvalidArgument(users.Add(clash)));
  clash.phone_numbers = {};
  clash.password = "";
  EXPECT_TRUE(absl::IsInvalidArgument(users.Add(clash)));
  EXPECT_EQ(users.Size(), 2u);

  EXPECT_TRUE(users.Remove("SIP:ALICE@example.test").ok());
  EXPECT_TRUE(absl::IsNotFound(users.Remove("sip:alice@example.test")));
  EXPECT_EQ(users.FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_EQ(users.FindByPhone("+15551230001"), nullptr);
  EXPECT_EQ(alice->uri, "sip:alice@example.test");  // a held reference stays valid
  // Phones went with the user (ON DELETE CASCADE): the number is free again.
  clash.password = "pw";
  clash.phone_numbers = {"+15551230001"};
  EXPECT_TRUE(users.Add(clash).ok());
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM user_phones"), "1");
}

TEST(SqliteDirectory, PasswordAndEnabled) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> opened = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(opened.ok()) << opened.status();
  SqliteDirectory& users = **opened;
  ASSERT_TRUE(users.Add(Alice()).ok());
  std::string old_md5 = users.FindByUri("sip:alice@example.test")->ha1_md5;
  ASSERT_TRUE(users.SetPassword("sip:alice@example.test", "NewPassword!").ok());
  EXPECT_NE(users.FindByUri("sip:alice@example.test")->ha1_md5, old_md5);
  EXPECT_TRUE(absl::IsNotFound(users.SetPassword("sip:nobody@example.test", "x")));
  EXPECT_TRUE(absl::IsInvalidArgument(users.SetPassword("sip:alice@example.test", "")));

  ASSERT_TRUE(users.SetEnabled("sip:alice@example.test", false).ok());
  EXPECT_EQ(users.FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_TRUE(users.Domains().empty());
  absl::StatusOr<std::vector<UserRecord>> list = users.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_FALSE((*list)[0].enabled);
  ASSERT_TRUE(users.SetEnabled("sip:alice@example.test", true).ok());
  EXPECT_NE(users.FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_TRUE(absl::IsNotFound(users.SetEnabled("sip:nobody@example.test", true)));

  // The password is nowhere in the files.
  users.db().Exec("PRAGMA wal_checkpoint(TRUNCATE)").IgnoreError();
  for (const char* file : {"causeway.db", "causeway.db-wal"}) {
    std::string bytes = ReadFile(dir / file);
    EXPECT_EQ(bytes.find("NewPassword!"), std::string::npos) << file;
    EXPECT_EQ(bytes.find("Password"), std::string::npos) << file;
  }
}

TEST(SqliteDirectory, RefreshSeesAnotherConnectionsCommit) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> daemon = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  // Nothing changed: no reload.
  EXPECT_FALSE(*(*daemon)->Refresh());
  {
    // Another process's `causeway user add`.
    absl::StatusOr<std::unique_ptr<SqliteDirectory>> cli = SqliteDirectory::Open(dir.path());
    ASSERT_TRUE(cli.ok()) << cli.status();
    ASSERT_TRUE((*cli)->Add(Alice()).ok());
  }
  EXPECT_EQ((*daemon)->FindByUri("sip:alice@example.test"), nullptr);  // not until Refresh
  absl::StatusOr<bool> reloaded = (*daemon)->Refresh();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded);
  EXPECT_NE((*daemon)->FindByUri("sip:alice@example.test"), nullptr);
  EXPECT_FALSE(*(*daemon)->Refresh());

  // A raw write by a plain SQLite connection is seen too.
  RawDb raw(dir / "causeway.db");
  ASSERT_EQ(raw.Exec("UPDATE users SET display_name = 'Renamed'"), "ok");
  EXPECT_TRUE(*(*daemon)->Refresh());
  EXPECT_EQ((*daemon)->FindByUri("sip:alice@example.test")->display_name, "Renamed");
  ASSERT_EQ(raw.Exec("DELETE FROM users"), "ok");
  EXPECT_TRUE(*(*daemon)->Refresh());
  EXPECT_EQ((*daemon)->Size(), 0u);
}

}  // namespace
}  // namespace causeway::gateway
