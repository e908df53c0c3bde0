// The Lync roaming data in the state database: every field round trips, Save* replaces, users are
// isolated, data persists across connections and processes, damaged rows are skipped, a deleted
// user's data goes with the user.

#include "gateway/sqlite_roaming_store.h"

#include <sqlite3.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "gateway/sqlite_directory.h"
#include "gateway/state_db.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using sip::lync::Category;
using sip::lync::Contact;
using sip::lync::ContactGroup;
using sip::lync::ContactList;
using sip::lync::Container;
using sip::lync::RoamingData;
using sip::lync::Subscriber;
using testing::ScratchDir;

constexpr char kAlice[] = "sip:alice@example.test";
constexpr char kBob[] = "sip:bob@example.test";

std::unique_ptr<SqliteRoamingStore> OpenStore(const ScratchDir& dir) {
  absl::StatusOr<std::unique_ptr<SqliteRoamingStore>> store = SqliteRoamingStore::Open(dir.path());
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

// A raw second connection (as the sqlite3 shell would have: foreign keys off).
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

// Rows of every roaming table together (children included).
std::string CountAllRoamingRows(RawDb& raw) {
  return raw.Text(
      "SELECT (SELECT count(*) FROM roaming_users) + (SELECT count(*) FROM roaming_groups) + "
      "(SELECT count(*) FROM roaming_contacts) + (SELECT count(*) FROM roaming_contact_groups) + "
      "(SELECT count(*) FROM roaming_publications) + (SELECT count(*) FROM roaming_containers) + "
      "(SELECT count(*) FROM roaming_container_members) + "
      "(SELECT count(*) FROM roaming_subscribers)");
}

// Every field set, with values that break naive storage: non-ASCII, XML specials, quotes, empty
// strings, the largest 32-bit values, a contact in several groups, members without value.
RoamingData Sample() {
  RoamingData d;
  d.contacts.delta_num = 4294967295u;
  d.contacts.groups = {
      {1, "~", ""},
      {7, "Família & <Amigos> \"ß\" 'é' 日本語 🙂", "http://x.test/?a=1&b=<2>"},
      {4294967295u, "]]> </group> &amp;", ""},
  };
  Contact bob;
  bob.uri = "bob@example.test";
  bob.name = "Bob \"Builder\" <bob> & Søn — Ωμέγα";
  bob.group_ids = {7, 1, 4294967295u};
  bob.subscribed = true;
  bob.external_uri = "";
  Contact carol;
  carol.uri = "sip:Carol@Other.Test";
  carol.name = "";
  carol.group_ids = {};
  carol.subscribed = false;
  carol.external_uri = "tel:+15551234567;ext=<9>";
  d.contacts.contacts = {bob, carol};

  Category note;
  note.name = "note";
  note.instance = 0;
  note.container = 400;
  note.version = 3;
  note.publish_time = "2026-11-25T12:00:00.000Z";
  note.expire_type = "static";
  note.xml =
      "<note xmlns=\"http://schemas.microsoft.com/2006/09/sip/note\"><body type=\"personal\" "
      "uri=\"\">Out &amp; about — zurück um 15:00 &lt;wirklich&gt; ✈</body></note>";
  Category state;
  state.name = "state";
  state.instance = 4294967295u;
  state.container = 0;
  state.version = 4294967295u;
  state.publish_time = "";
  state.expire_type = "";
  state.xml = "";
  d.publications = {note, state};

  Container personal;
  personal.id = 400;
  personal.version = 12;
  personal.members = {
      {"user", "bob@example.test"}, {"domain", "über.example"}, {"sameEnterprise", ""}};
  Container blocked;
  blocked.id = 32000;
  blocked.version = 4294967295u;
  Container empty_id;
  empty_id.id = 0;
  empty_id.version = 0;
  empty_id.members = {{"publicCloud", ""}};
  d.containers = {personal, blocked, empty_id};

  Subscriber s1;
  s1.user = "bob@example.test";
  s1.display_name = "Bob & \"Co\" <Zoë>";
  s1.acknowledged = true;
  s1.type = "sameEnterprise";
  Subscriber s2;
  s2.user = "dave@far.test";
  s2.display_name = "";
  s2.acknowledged = false;
  s2.type = "";
  d.subscribers = {s1, s2};
  return d;
}

void ExpectSameContacts(const ContactList& want, const ContactList& got) {
  EXPECT_EQ(got.delta_num, want.delta_num);
  ASSERT_EQ(got.groups.size(), want.groups.size());
  for (size_t i = 0; i < want.groups.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("group ", i));
    EXPECT_EQ(got.groups[i].id, want.groups[i].id);
    EXPECT_EQ(got.groups[i].name, want.groups[i].name);
    EXPECT_EQ(got.groups[i].external_uri, want.groups[i].external_uri);
  }
  ASSERT_EQ(got.contacts.size(), want.contacts.size());
  for (size_t i = 0; i < want.contacts.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("contact ", i));
    EXPECT_EQ(got.contacts[i].uri, want.contacts[i].uri);
    EXPECT_EQ(got.contacts[i].name, want.contacts[i].name);
    EXPECT_EQ(got.contacts[i].group_ids, want.contacts[i].group_ids);
    EXPECT_EQ(got.contacts[i].subscribed, want.contacts[i].subscribed);
    EXPECT_EQ(got.contacts[i].external_uri, want.contacts[i].external_uri);
  }
}

void ExpectSamePublications(const std::vector<Category>& want, const std::vector<Category>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("publication ", i));
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].instance, want[i].instance);
    EXPECT_EQ(got[i].container, want[i].container);
    EXPECT_EQ(got[i].version, want[i].version);
    EXPECT_EQ(got[i].publish_time, want[i].publish_time);
    EXPECT_EQ(got[i].expire_type, want[i].expire_type);
    EXPECT_EQ(got[i].xml, want[i].xml);
  }
}

void ExpectSameContainers(const std::vector<Container>& want, const std::vector<Container>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("container ", i));
    EXPECT_EQ(got[i].id, want[i].id);
    EXPECT_EQ(got[i].version, want[i].version);
    EXPECT_EQ(got[i].members, want[i].members);
  }
}

void ExpectSameSubscribers(const std::vector<Subscriber>& want,
                           const std::vector<Subscriber>& got) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("subscriber ", i));
    EXPECT_EQ(got[i].user, want[i].user);
    EXPECT_EQ(got[i].display_name, want[i].display_name);
    EXPECT_EQ(got[i].acknowledged, want[i].acknowledged);
    EXPECT_EQ(got[i].type, want[i].type);
  }
}

void ExpectSame(const RoamingData& want, const RoamingData& got) {
  ExpectSameContacts(want.contacts, got.contacts);
  ExpectSamePublications(want.publications, got.publications);
  ExpectSameContainers(want.containers, got.containers);
  ExpectSameSubscribers(want.subscribers, got.subscribers);
}

void SaveAll(sip::lync::RoamingStore& store, const std::string& aor, const RoamingData& d) {
  ASSERT_TRUE(store.SaveContacts(aor, d.contacts).ok());
  ASSERT_TRUE(store.SavePublications(aor, d.publications).ok());
  ASSERT_TRUE(store.SaveContainers(aor, d.containers).ok());
  ASSERT_TRUE(store.SaveSubscribers(aor, d.subscribers).ok());
}

void ExpectEmpty(const RoamingData& d) {
  EXPECT_EQ(d.contacts.delta_num, ContactList{}.delta_num);
  EXPECT_TRUE(d.contacts.groups.empty());
  EXPECT_TRUE(d.contacts.contacts.empty());
  EXPECT_TRUE(d.publications.empty());
  EXPECT_TRUE(d.containers.empty());
  EXPECT_TRUE(d.subscribers.empty());
}

// Captures log lines (log::SetSinkForTesting takes a plain function).
std::mutex g_log_mu;
std::vector<std::string>* g_log_lines = nullptr;
void CaptureLine(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  if (g_log_lines != nullptr) g_log_lines->emplace_back(line);
}

TEST(SqliteRoamingStore, EveryFieldRoundTrips) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RoamingData sample = Sample();
  SaveAll(*store, kAlice, sample);
  absl::StatusOr<RoamingData> loaded = store->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(sample, *loaded);
}

TEST(SqliteRoamingStore, NothingStoredLoadsEmptyAndPartsAreIndependent) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<RoamingData> none = store->Load(kAlice);
  ASSERT_TRUE(none.ok()) << none.status();
  ExpectEmpty(*none);
  // Only publications saved: the contact list is still "never saved".
  RoamingData sample = Sample();
  ASSERT_TRUE(store->SavePublications(kAlice, sample.publications).ok());
  absl::StatusOr<RoamingData> some = store->Load(kAlice);
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(some->contacts.delta_num, ContactList{}.delta_num);
  EXPECT_TRUE(some->contacts.groups.empty());
  ExpectSamePublications(sample.publications, some->publications);
  EXPECT_TRUE(some->containers.empty());
  EXPECT_TRUE(some->subscribers.empty());
  // A saved deltaNum of 0 comes back as 0 (stored as given).
  ContactList zero;
  zero.delta_num = 0;
  ASSERT_TRUE(store->SaveContacts(kAlice, zero).ok());
  EXPECT_EQ(store->Load(kAlice)->contacts.delta_num, 0u);
}

TEST(SqliteRoamingStore, SaveReplacesThatPartOnly) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RoamingData sample = Sample();
  SaveAll(*store, kAlice, sample);

  // Fewer groups and contacts, one contact now in another group; deltaNum moves on.
  RoamingData next = sample;
  next.contacts.delta_num = 5;
  next.contacts.groups = {{1, "~", ""}, {9, "Neu", ""}};
  next.contacts.contacts = {sample.contacts.contacts[1]};
  next.contacts.contacts[0].group_ids = {9};
  ASSERT_TRUE(store->SaveContacts(kAlice, next.contacts).ok());
  absl::StatusOr<RoamingData> loaded = store->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(next, *loaded);  // publications, containers, subscribers untouched

  next.publications = {sample.publications[1]};
  next.publications[0].version = 8;
  ASSERT_TRUE(store->SavePublications(kAlice, next.publications).ok());
  next.containers = {sample.containers[2]};
  ASSERT_TRUE(store->SaveContainers(kAlice, next.containers).ok());
  next.subscribers = {sample.subscribers[1]};
  next.subscribers[0].acknowledged = true;
  ASSERT_TRUE(store->SaveSubscribers(kAlice, next.subscribers).ok());
  loaded = store->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(next, *loaded);

  // Empty saves clear each part; no orphan child rows are left.
  ASSERT_TRUE(store->SaveContacts(kAlice, ContactList{}).ok());
  ASSERT_TRUE(store->SavePublications(kAlice, {}).ok());
  ASSERT_TRUE(store->SaveContainers(kAlice, {}).ok());
  ASSERT_TRUE(store->SaveSubscribers(kAlice, {}).ok());
  loaded = store->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectEmpty(*loaded);
  ASSERT_TRUE(store->Flush().ok());
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(CountAllRoamingRows(raw), "1");  // the roaming_users row only
}

TEST(SqliteRoamingStore, UsersAreIsolatedAndKeyedLowerCase) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RoamingData alice = Sample();
  RoamingData bob;
  bob.contacts.delta_num = 2;
  bob.contacts.groups = {{1, "~", ""}};
  bob.contacts.contacts.push_back(Contact{"alice@example.test", "Alice", {1}, true, ""});
  bob.containers = {Container{200, 1, {{"user", "alice@example.test"}}}};
  SaveAll(*store, "SIP:Alice@Example.TEST", alice);
  SaveAll(*store, kBob, bob);

  absl::StatusOr<RoamingData> a = store->Load(kAlice);
  ASSERT_TRUE(a.ok()) << a.status();
  ExpectSame(alice, *a);
  absl::StatusOr<RoamingData> b = store->Load("sip:BOB@example.test");
  ASSERT_TRUE(b.ok()) << b.status();
  ExpectSame(bob, *b);
  // Replacing Bob's data leaves Alice's alone.
  ASSERT_TRUE(store->SaveContacts(kBob, ContactList{}).ok());
  ASSERT_TRUE(store->SaveContainers(kBob, {}).ok());
  a = store->Load(kAlice);
  ASSERT_TRUE(a.ok()) << a.status();
  ExpectSame(alice, *a);
  ExpectEmpty(*store->Load("sip:carol@example.test"));
}

TEST(SqliteRoamingStore, PersistsAcrossReopen) {
  ScratchDir dir;
  RoamingData sample = Sample();
  {
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    SaveAll(*store, kAlice, sample);
  }
  auto reopened = OpenStore(dir);
  ASSERT_NE(reopened, nullptr);
  absl::StatusOr<RoamingData> loaded = reopened->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(sample, *loaded);
}

// The other process of WritesOfAnotherProcessAreVisible: run only when that
// test starts this binary again with the state directory in the environment.
TEST(SqliteRoamingStore, DISABLED_OtherProcessWriter) {
  const char* path = std::getenv("CAUSEWAY_ROAMING_OTHER_PROCESS_DIR");
  ASSERT_NE(path, nullptr);
  RoamingData sample = Sample();
  absl::StatusOr<std::unique_ptr<SqliteRoamingStore>> store = SqliteRoamingStore::Open(path);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE((*store)->SaveContacts(kAlice, sample.contacts).ok());
  ASSERT_TRUE((*store)->SavePublications(kAlice, sample.publications).ok());
  ASSERT_TRUE((*store)->SaveContainers(kAlice, sample.containers).ok());
  ASSERT_TRUE((*store)->SaveSubscribers(kAlice, sample.subscribers).ok());
  ASSERT_TRUE((*store)->Flush().ok());
}

TEST(SqliteRoamingStore, WritesOfAnotherProcessAreVisible) {
  ScratchDir dir;
  RoamingData sample = Sample();
  // The reader exists before the writer runs: it must see the other process's commit.
  auto reader = OpenStore(dir);
  ASSERT_NE(reader, nullptr);
  ExpectEmpty(*reader->Load(kAlice));
  // A fresh process (exec, not a bare fork: this one has threads whose locks a
  // forked child would inherit held).
  std::string env = "CAUSEWAY_ROAMING_OTHER_PROCESS_DIR=" + dir.path();
  std::vector<std::string> args = {"/proc/self/exe", "--gtest_also_run_disabled_tests",
                                   "--gtest_filter=SqliteRoamingStore.DISABLED_OtherProcessWriter"};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) envp.push_back(*e);
  envp.push_back(env.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), envp.data()), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  absl::StatusOr<RoamingData> seen = reader->Load(kAlice);
  ASSERT_TRUE(seen.ok()) << seen.status();
  ExpectSame(sample, *seen);
  auto fresh = OpenStore(dir);
  ASSERT_NE(fresh, nullptr);
  absl::StatusOr<RoamingData> loaded = fresh->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(sample, *loaded);
}

TEST(SqliteRoamingStore, ConcurrentSavesFromThreadsAndConnections) {
  ScratchDir dir;
  auto first = OpenStore(dir);
  auto second = OpenStore(dir);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  constexpr int kThreads = 4;
  constexpr int kRounds = 40;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      SqliteRoamingStore& store = t % 2 == 0 ? *first : *second;
      std::string aor = absl::StrCat("sip:user", t, "@example.test");
      for (int round = 1; round <= kRounds; ++round) {
        ContactList list;
        list.delta_num = static_cast<uint32_t>(round);
        list.groups = {{1, "~", ""}};
        list.contacts.push_back(Contact{absl::StrCat("c", round, "@x.test"), "", {1}, true, ""});
        if (!store.SaveContacts(aor, list).ok()) ++failures[t];
        Subscriber s{absl::StrCat("s", round, "@x.test"), "", false, ""};
        if (!store.SaveSubscribers(aor, {s}).ok()) ++failures[t];
        absl::StatusOr<RoamingData> back = store.Load(aor);
        if (!back.ok() || back->contacts.delta_num != list.delta_num) ++failures[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  // Another store's queue is not visible before it is written.
  ASSERT_TRUE(first->Flush().ok());
  ASSERT_TRUE(second->Flush().ok());
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(failures[t], 0) << "thread " << t;
    absl::StatusOr<RoamingData> d = first->Load(absl::StrCat("sip:user", t, "@example.test"));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_EQ(d->contacts.delta_num, static_cast<uint32_t>(kRounds));
    ASSERT_EQ(d->contacts.contacts.size(), 1u);
    EXPECT_EQ(d->contacts.contacts[0].uri, absl::StrCat("c", kRounds, "@x.test"));
    ASSERT_EQ(d->subscribers.size(), 1u);
    EXPECT_EQ(d->subscribers[0].user, absl::StrCat("s", kRounds, "@x.test"));
  }
}

TEST(SqliteRoamingStore, DamagedRowsAreSkippedWithALogLine) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RoamingData sample = Sample();
  SaveAll(*store, kAlice, sample);
  ASSERT_TRUE(store->Flush().ok());
  {
    // What a hand edit bypassing the CHECKs could leave: values out of range, text not UTF-8.
    RawDb raw(dir / "causeway.db");
    ASSERT_EQ(raw.Exec("PRAGMA ignore_check_constraints = ON;"
                       "UPDATE roaming_publications SET instance = -1 WHERE position = 0;"
                       "UPDATE roaming_contacts SET name = CAST(x'ff' AS TEXT) WHERE position = 0;"
                       "UPDATE roaming_containers SET version = 4294967296 WHERE position = 0;"
                       "UPDATE roaming_subscribers SET acknowledged = 2 WHERE position = 1;"
                       "UPDATE roaming_groups SET group_id = -5 WHERE position = 2;"),
              "ok");
  }
  std::vector<std::string> lines;
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = &lines;
  }
  log::SetSinkForTesting(&CaptureLine);
  absl::StatusOr<RoamingData> loaded = store->Load(kAlice);
  log::SetSinkForTesting(nullptr);
  {
    std::lock_guard<std::mutex> lock(g_log_mu);
    g_log_lines = nullptr;
  }
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  RoamingData want = sample;
  want.publications.erase(want.publications.begin());
  want.contacts.contacts.erase(want.contacts.contacts.begin());  // with its group links
  want.containers.erase(want.containers.begin());                // with its members
  want.subscribers.pop_back();
  want.contacts.groups.pop_back();
  ExpectSame(want, *loaded);
  ASSERT_EQ(lines.size(), 5u);
  for (const std::string& line : lines) {
    EXPECT_NE(line.find("roaming data row skipped"), std::string::npos) << line;
    EXPECT_NE(line.find(kAlice), std::string::npos) << line;
  }
}

TEST(SqliteRoamingStore, InvalidInputIsRefusedAndWritesNothing) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  RoamingData sample = Sample();
  SaveAll(*store, kAlice, sample);
  ContactList bad = sample.contacts;
  bad.contacts[1].name = std::string("\xc3\x28", 2);  // not UTF-8
  absl::Status st = store->SaveContacts(kAlice, bad);
  EXPECT_TRUE(absl::IsInvalidArgument(st)) << st;
  std::vector<Category> bad_pub = sample.publications;
  bad_pub[0].xml = std::string("<note>\xff</note>");
  EXPECT_TRUE(absl::IsInvalidArgument(store->SavePublications(kAlice, bad_pub)));
  EXPECT_TRUE(absl::IsInvalidArgument(store->SaveSubscribers("", sample.subscribers)));
  EXPECT_TRUE(absl::IsInvalidArgument(store->Load("").status()));
  absl::StatusOr<RoamingData> loaded = store->Load(kAlice);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSame(sample, *loaded);
}

TEST(SqliteRoamingStore, DatabaseErrorsAreStatuses) {
  ScratchDir dir;
  EXPECT_FALSE(SqliteRoamingStore::Open(dir / "missing/dir").ok());
  // A database whose roaming tables were dropped: every call answers with an error.
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  SaveAll(*store, kAlice, Sample());
  ASSERT_TRUE(store->Flush().ok());
  {
    RawDb raw(dir / "causeway.db");
    ASSERT_EQ(raw.Exec("DROP TABLE roaming_subscribers; DROP TABLE roaming_contact_groups;"), "ok");
  }
  EXPECT_FALSE(store->Load(kAlice).ok());
  // Saves are queued; the writer's failure comes from Flush, once.
  EXPECT_TRUE(store->SaveSubscribers(kAlice, Sample().subscribers).ok());
  EXPECT_TRUE(store->SaveContacts(kAlice, Sample().contacts).ok());
  EXPECT_FALSE(store->Flush().ok());
  EXPECT_TRUE(store->Flush().ok());
  // Alice's parts, rolled back together when they went in one batch.
  EXPECT_GE(store->stats().failed, 1u);
  EXPECT_LE(store->stats().failed, 2u);
  // Failed saves rolled back (no transaction left open): other writes still work.
  EXPECT_TRUE(store->SavePublications(kBob, Sample().publications).ok());
  EXPECT_TRUE(store->Flush().ok());
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM roaming_publications"), "4");
}

TEST(SqliteRoamingStore, WritesAreQueuedCoalescedAndSeenByLoad) {
  ScratchDir dir;
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  constexpr uint32_t kSaves = 200;
  for (uint32_t round = 1; round <= kSaves; ++round) {
    ContactList list;
    list.delta_num = round;
    ASSERT_TRUE(store->SaveContacts(kAlice, list).ok());
    absl::StatusOr<RoamingData> back = store->Load(kAlice);  // queued, in a batch or committed
    ASSERT_TRUE(back.ok()) << back.status();
    ASSERT_EQ(back->contacts.delta_num, round);
  }
  ASSERT_TRUE(store->Flush().ok());
  SqliteRoamingStore::Stats stats = store->stats();
  EXPECT_EQ(stats.queued, kSaves);
  EXPECT_EQ(stats.written + stats.coalesced, kSaves);  // each save was written or replaced
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_GE(stats.batches, 1u);
  EXPECT_LE(stats.batches, stats.written);
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(raw.Text("SELECT delta_num FROM roaming_users"), "200");
}

TEST(SqliteRoamingStore, DestructorWritesWhatIsQueued) {
  ScratchDir dir;
  RoamingData sample = Sample();
  {
    auto store = OpenStore(dir);
    ASSERT_NE(store, nullptr);
    SaveAll(*store, kAlice, sample);
  }
  RawDb raw(dir / "causeway.db");
  EXPECT_EQ(raw.Text("SELECT count(*) FROM roaming_publications"),
            std::to_string(sample.publications.size()));
}

TEST(SqliteRoamingStore, DeletingAUserDeletesTheirRoamingData) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> directory = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(directory.ok()) << directory.status();
  for (const char* uri : {kAlice, kBob, "sip:carol@example.test"}) {
    NewUser user;
    user.uri = uri;
    user.password = "Password";
    ASSERT_TRUE((*directory)->Add(user).ok());
  }
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  SaveAll(*store, kAlice, Sample());
  SaveAll(*store, kBob, Sample());
  SaveAll(*store, "sip:carol@example.test", Sample());
  // Data for a URI the directory does not list is accepted (no foreign key to users).
  SaveAll(*store, "sip:nobody@example.test", Sample());
  ASSERT_TRUE(store->Flush().ok());

  ASSERT_TRUE((*directory)->Remove("sip:Alice@example.test").ok());
  ExpectEmpty(*store->Load(kAlice));
  absl::StatusOr<RoamingData> bob = store->Load(kBob);
  ASSERT_TRUE(bob.ok()) << bob.status();
  ExpectSame(Sample(), *bob);

  RawDb raw(dir / "causeway.db");
  std::string per_user = CountAllRoamingRows(raw);
  // A connection without foreign keys (the sqlite3 shell) removes every child row too.
  ASSERT_EQ(raw.Text("PRAGMA foreign_keys"), "0");
  ASSERT_EQ(raw.Exec("DELETE FROM users WHERE uri = 'sip:carol@example.test'"), "ok");
  ExpectEmpty(*store->Load("sip:carol@example.test"));
  // Three users' data left before (bob, carol, nobody), two after: a third of the rows went.
  EXPECT_EQ(std::stoi(CountAllRoamingRows(raw)) * 3, std::stoi(per_user) * 2);
  EXPECT_EQ(raw.Text("SELECT count(*) FROM roaming_users"), "2");
}

TEST(SqliteRoamingStore, MigratesADatabaseWithUsersOnly) {
  ScratchDir dir;
  std::string path = dir / "causeway.db";
  {
    std::vector<Migration> v1 = {StateMigrations().front()};
    absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::OpenFile(path, v1);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)
                    ->Exec("INSERT INTO users (uri, nt_hash, ha1_md5, ha1_sha256, created_at, "
                           "updated_at) VALUES ('sip:alice@example.test', zeroblob(16), "
                           "printf('%32s', ''), printf('%64s', ''), 0, 0)")
                    .ok());
  }
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  SaveAll(*store, kAlice, Sample());
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> directory = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(directory.ok()) << directory.status();
  EXPECT_NE((*directory)->FindByUri(kAlice), nullptr);
  RawDb raw(path);
  EXPECT_EQ(raw.Text("PRAGMA user_version"), std::to_string(StateMigrations().size()));
  EXPECT_EQ(raw.Text("SELECT uri FROM users"), kAlice);
}

// The daemon's directory polls PRAGMA data_version, which every roaming write moves: it must
// reload only for changes to the directory itself.
TEST(SqliteRoamingStore, DirectoryRefreshIgnoresRoamingWrites) {
  ScratchDir dir;
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> daemon = SqliteDirectory::Open(dir.path());
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto store = OpenStore(dir);
  ASSERT_NE(store, nullptr);
  SaveAll(*store, kAlice, Sample());
  absl::StatusOr<bool> reloaded = (*daemon)->Refresh();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_FALSE(*reloaded);
  {
    absl::StatusOr<std::unique_ptr<SqliteDirectory>> cli = SqliteDirectory::Open(dir.path());
    ASSERT_TRUE(cli.ok()) << cli.status();
    NewUser user;
    user.uri = kBob;
    user.password = "Password";
    user.phone_numbers = {"+15551230009"};
    ASSERT_TRUE((*cli)->Add(user).ok());
  }
  SaveAll(*store, kBob, Sample());  // a roaming write after the directory change
  reloaded = (*daemon)->Refresh();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded);
  EXPECT_NE((*daemon)->FindByUri(kBob), nullptr);
  ASSERT_TRUE(store->SaveContacts(kBob, ContactList{}).ok());
  EXPECT_FALSE(*(*daemon)->Refresh());
  // Phones count as directory changes too, also from a plain SQLite connection.
  RawDb raw(dir / "causeway.db");
  ASSERT_EQ(raw.Exec("UPDATE user_phones SET number = '+15551230008'"), "ok");
  EXPECT_TRUE(*(*daemon)->Refresh());
  EXPECT_NE((*daemon)->FindByPhone("+15551230008"), nullptr);
  ASSERT_EQ(raw.Exec("DELETE FROM user_phones"), "ok");
  EXPECT_TRUE(*(*daemon)->Refresh());
  EXPECT_EQ((*daemon)->FindByPhone("+15551230008"), nullptr);
  EXPECT_FALSE(*(*daemon)->Refresh());
}

}  // namespace
}  // namespace causeway::gateway
