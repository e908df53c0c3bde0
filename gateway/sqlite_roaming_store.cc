#include "gateway/sqlite_roaming_store.h"

#include <cstdint>
#include <initializer_list>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"
#include "core/utf8.h"
#include "sip/lync/xml.h"

namespace causeway::gateway {
namespace {

using sip::lync::Category;
using sip::lync::Contact;
using sip::lync::ContactGroup;
using sip::lync::ContactList;
using sip::lync::Container;
using sip::lync::ContainerMember;
using sip::lync::RoamingData;
using sip::lync::Subscriber;

constexpr std::string_view kLog = "roaming";
constexpr int64_t kMaxUint32 = 0xffffffff;

// One user's rows, in list order; the first column is the row's position (for
// log lines).
constexpr std::string_view kSelectGroups =
    "SELECT position, group_id, name, external_uri FROM roaming_groups WHERE "
    "user_id = ? "
    "ORDER BY position";
constexpr std::string_view kSelectContacts =
    "SELECT position, uri, name, subscribed, external_uri FROM "
    "roaming_contacts "
    "WHERE user_id = ? ORDER BY position";
constexpr std::string_view kSelectContactGroups =
    "SELECT contact_position, group_id FROM roaming_contact_groups WHERE "
    "user_id = ? "
    "ORDER BY contact_position, position";
constexpr std::string_view kSelectPublications =
    "SELECT position, name, instance, container, version, publish_time, "
    "expire_type, xml "
    "FROM roaming_publications WHERE user_id = ? ORDER BY position";
constexpr std::string_view kSelectContainers =
    "SELECT position, container_id, version FROM roaming_containers WHERE "
    "user_id = ? "
    "ORDER BY position";
constexpr std::string_view kSelectMembers =
    "SELECT container_position, type, value FROM roaming_container_members "
    "WHERE user_id = ? "
    "ORDER BY container_position, position";
constexpr std::string_view kSelectSubscribers =
    "SELECT position, user, display_name, acknowledged, type FROM "
    "roaming_subscribers "
    "WHERE user_id = ? ORDER BY position";

absl::StatusOr<std::string> Key(std::string_view aor) {
  if (aor.empty())
    return absl::InvalidArgumentError("roaming data: empty AOR");
  if (!IsValidUtf8(aor))
    return absl::InvalidArgumentError("roaming data: AOR not UTF-8");
  return absl::AsciiStrToLower(ToAbsl(aor));
}

// Everything we store is text of XML documents: it must be UTF-8 to be written
// back out.
absl::Status CheckUtf8(std::string_view what, std::string_view text) {
  if (IsValidUtf8(text))
    return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("roaming data: ", ToAbsl(what), " is not UTF-8"));
}

// Reads the columns of one row, remembering the first value that cannot be
// valid.
class RowReader {
public:
  explicit RowReader(const Statement &stmt) : stmt_(stmt) {}
  int64_t Int(int column) const { return stmt_.ColumnInt(column); }
  uint32_t Uint32(int column, std::string_view name) {
    int64_t value = stmt_.ColumnInt(column);
    if (value < 0 || value > kMaxUint32) {
      Fail(absl::StrCat(ToAbsl(name), " out of range (", value, ")"));
      return 0;
    }
    return static_cast<uint32_t>(value);
  }
  bool Bool(int column, std::string_view name) {
    int64_t value = stmt_.ColumnInt(column);
    if (value != 0 && value != 1)
      Fail(absl::StrCat(ToAbsl(name), " not 0 or 1 (", value, ")"));
    return value == 1;
  }
  std::string Text(int column, std::string_view name) {
    std::string text = stmt_.ColumnText(column);
    if (!IsValidUtf8(text))
      Fail(absl::StrCat(ToAbsl(name), " not UTF-8"));
    return text;
  }
  bool ok() const { return why_.empty(); }
  const std::string &why() const { return why_; }

private:
  void Fail(std::string why) {
    if (why_.empty())
      why_ = std::move(why);
  }
  const Statement &stmt_;
  std::string why_;
};

void SkipRow(const std::string &aor, std::string_view table, int64_t position,
             std::string_view why) {
  log::Warn(
      kLog, "roaming data row skipped",
      {{"user", aor}, {"table", table}, {"position", position}, {"why", why}});
}

// A query over one user's rows.
absl::StatusOr<Statement> Query(StateDb &db, std::string_view sql,
                                int64_t user_id) {
  absl::StatusOr<Statement> stmt = db.Prepare(sql);
  if (stmt.ok())
    stmt->Bind(1, user_id);
  return stmt;
}

// The roaming_users id of `aor`, inserting the row when missing (inside a write
// transaction).
absl::StatusOr<int64_t> UserId(StateDb &db, const std::string &aor) {
  absl::StatusOr<Statement> insert =
      db.Prepare("INSERT INTO roaming_users (aor) VALUES (?) ON CONFLICT (aor) "
                 "DO NOTHING");
  if (!insert.ok())
    return insert.status();
  insert->Bind(1, aor);
  if (absl::Status st = insert->Run(); !st.ok())
    return st;
  absl::StatusOr<Statement> select =
      db.Prepare("SELECT id FROM roaming_users WHERE aor = ?");
  if (!select.ok())
    return select.status();
  select->Bind(1, aor);
  absl::StatusOr<bool> row = select->Step();
  if (!row.ok())
    return row.status();
  if (!*row)
    return absl::InternalError(absl::StrCat("roaming data: no row for ", aor));
  return select->ColumnInt(0);
}

// Deletes the user's rows from each table, children first (not relying on
// foreign_keys).
absl::Status DeleteRows(StateDb &db, int64_t user_id,
                        std::initializer_list<std::string_view> tables) {
  for (std::string_view table : tables) {
    absl::StatusOr<Statement> del = Query(
        db, absl::StrCat("DELETE FROM ", ToAbsl(table), " WHERE user_id = ?"),
        user_id);
    if (!del.ok())
      return del.status();
    if (absl::Status st = del->Run(); !st.ok())
      return st;
  }
  return absl::OkStatus();
}

// Runs a query over one user's rows and calls `fn` with a reader for each row;
// bounded by the rows the query yields.
template <typename Fn>
absl::Status ReadRows(StateDb &db, std::string_view sql, int64_t user_id,
                      Fn fn) {
  absl::StatusOr<Statement> stmt = Query(db, sql, user_id);
  if (!stmt.ok())
    return stmt.status();
  while (true) {
    absl::StatusOr<bool> row = stmt->Step();
    if (!row.ok())
      return row.status();
    if (!*row)
      return absl::OkStatus();
    RowReader reader(*stmt);
    fn(reader);
  }
}

// Reads everything stored for `aor` into `data` (inside a read transaction).
absl::Status LoadRows(StateDb &db, const std::string &aor, RoamingData &data) {
  absl::StatusOr<Statement> user =
      db.Prepare("SELECT id, delta_num IS NULL, coalesce(delta_num, 0) FROM "
                 "roaming_users WHERE aor = ?");
  if (!user.ok())
    return user.status();
  user->Bind(1, aor);
  absl::StatusOr<bool> found = user->Step();
  if (!found.ok())
    return found.status();
  if (!*found)
    return absl::OkStatus();
  const int64_t id = user->ColumnInt(0);
  if (user->ColumnInt(1) == 0) { // a contact list was saved
    RowReader r(*user);
    uint32_t delta_num = r.Uint32(2, "delta_num");
    if (r.ok()) {
      data.contacts.delta_num = delta_num;
    } else {
      SkipRow(aor, "roaming_users", 0, r.why());
    }
  }

  absl::Status st = ReadRows(db, kSelectGroups, id, [&](RowReader &r) {
    ContactGroup g;
    g.id = r.Uint32(1, "group_id");
    g.name = r.Text(2, "name");
    g.external_uri = r.Text(3, "external_uri");
    if (!r.ok())
      return SkipRow(aor, "roaming_groups", r.Int(0), r.why());
    data.contacts.groups.push_back(std::move(g));
  });
  if (!st.ok())
    return st;

  absl::flat_hash_map<int64_t, size_t>
      contact_at; // position -> index in data.contacts
  st = ReadRows(db, kSelectContacts, id, [&](RowReader &r) {
    Contact c;
    c.uri = r.Text(1, "uri");
    c.name = r.Text(2, "name");
    c.subscribed = r.Bool(3, "subscribed");
    c.external_uri = r.Text(4, "external_uri");
    if (!r.ok())
      return SkipRow(aor, "roaming_contacts", r.Int(0), r.why());
    contact_at[r.Int(0)] = data.contacts.contacts.size();
    data.contacts.contacts.push_back(std::move(c));
  });
  if (!st.ok())
    return st;
  st = ReadRows(db, kSelectContactGroups, id, [&](RowReader &r) {
    uint32_t group = r.Uint32(1, "group_id");
    if (!r.ok())
      return SkipRow(aor, "roaming_contact_groups", r.Int(0), r.why());
    auto it = contact_at.find(r.Int(0));
    if (it == contact_at.end())
      return; // its contact was skipped
    data.contacts.contacts[it->second].group_ids.push_back(group);
  });
  if (!st.ok())
    return st;

  st = ReadRows(db, kSelectPublications, id, [&](RowReader &r) {
    Category c;
    c.name = r.Text(1, "name");
    c.instance = r.Uint32(2, "instance");
    c.container = r.Uint32(3, "container");
    c.version = r.Uint32(4, "version");
    c.publish_time = r.Text(5, "publish_time");
    c.expire_type = r.Text(6, "expire_type");
    c.xml = r.Text(7, "xml");
    if (!r.ok())
      return SkipRow(aor, "roaming_publications", r.Int(0), r.why());
    data.publications.push_back(std::move(c));
  });
  if (!st.ok())
    return st;

  absl::flat_hash_map<int64_t, size_t>
      container_at; // position -> index in data.containers
  st = ReadRows(db, kSelectContainers, id, [&](RowReader &r) {
    Container c;
    c.id = r.Uint32(1, "container_id");
    c.version = r.Uint32(2, "version");
    if (!r.ok())
      return SkipRow(aor, "roaming_containers", r.Int(0), r.why());
    container_at[r.Int(0)] = data.containers.size();
    data.containers.push_back(std::move(c));
  });
  if (!st.ok())
    return st;
  st = ReadRows(db, kSelectMembers, id, [&](RowReader &r) {
    ContainerMember m;
    m.type = r.Text(1, "type");
    m.value = r.Text(2, "value");
    if (!r.ok())
      return SkipRow(aor, "roaming_container_members", r.Int(0), r.why());
    auto it = container_at.find(r.Int(0));
    if (it == container_at.end())
      return; // its container was skipped
    data.containers[it->second].members.push_back(std::move(m));
  });
  if (!st.ok())
    return st;

  return ReadRows(db, kSelectSubscribers, id, [&](RowReader &r) {
    Subscriber s;
    s.user = r.Text(1, "user");
    s.display_name = r.Text(2, "display_name");
    s.acknowledged = r.Bool(3, "acknowledged");
    s.type = r.Text(4, "type");
    if (!r.ok())
      return SkipRow(aor, "roaming_subscribers", r.Int(0), r.why());
    data.subscribers.push_back(std::move(s));
  });
}

// The writer thread's side of each Save*: replaces that part of the user's
// rows.
absl::Status WriteContacts(StateDb &db, const std::string &key,
                           const ContactList &contacts) {
  absl::StatusOr<int64_t> id = UserId(db, key);
  if (!id.ok())
    return id.status();
  absl::StatusOr<Statement> delta =
      db.Prepare("UPDATE roaming_users SET delta_num = ? WHERE id = ?");
  if (!delta.ok())
    return delta.status();
  delta->Bind(1, int64_t{contacts.delta_num}).Bind(2, *id);
  if (absl::Status st = delta->Run(); !st.ok())
    return st;
  if (absl::Status st = DeleteRows(
          db, *id,
          {"roaming_contact_groups", "roaming_contacts", "roaming_groups"});
      !st.ok()) {
    return st;
  }
  absl::StatusOr<Statement> group =
      db.Prepare("INSERT INTO roaming_groups (user_id, position, group_id, "
                 "name, external_uri) "
                 "VALUES (?, ?, ?, ?, ?)");
  if (!group.ok())
    return group.status();
  for (size_t i = 0; i < contacts.groups.size(); ++i) {
    const ContactGroup &g = contacts.groups[i];
    group->Reset();
    group->Bind(1, *id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, int64_t{g.id})
        .Bind(4, g.name)
        .Bind(5, g.external_uri);
    if (absl::Status st = group->Run(); !st.ok())
      return st;
  }
  absl::StatusOr<Statement> contact =
      db.Prepare("INSERT INTO roaming_contacts (user_id, position, uri, name, "
                 "subscribed, external_uri) "
                 "VALUES (?, ?, ?, ?, ?, ?)");
  if (!contact.ok())
    return contact.status();
  absl::StatusOr<Statement> link =
      db.Prepare("INSERT INTO roaming_contact_groups (user_id, "
                 "contact_position, position, group_id) "
                 "VALUES (?, ?, ?, ?)");
  if (!link.ok())
    return link.status();
  for (size_t i = 0; i < contacts.contacts.size(); ++i) {
    const Contact &c = contacts.contacts[i];
    contact->Reset();
    contact->Bind(1, *id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, c.uri)
        .Bind(4, c.name)
        .Bind(5, int64_t{c.subscribed ? 1 : 0})
        .Bind(6, c.external_uri);
    if (absl::Status st = contact->Run(); !st.ok())
      return st;
    for (size_t j = 0; j < c.group_ids.size(); ++j) {
      link->Reset();
      link->Bind(1, *id)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, static_cast<int64_t>(j))
          .Bind(4, int64_t{c.group_ids[j]});
      if (absl::Status st = link->Run(); !st.ok())
        return st;
    }
  }
  return absl::OkStatus();
}

absl::Status WritePublications(StateDb &db, const std::string &key,
                               const std::vector<Category> &publications) {
  absl::StatusOr<int64_t> id = UserId(db, key);
  if (!id.ok())
    return id.status();
  if (absl::Status st = DeleteRows(db, *id, {"roaming_publications"}); !st.ok())
    return st;
  absl::StatusOr<Statement> insert =
      db.Prepare("INSERT INTO roaming_publications (user_id, position, name, "
                 "instance, container, "
                 "version, publish_time, expire_type, xml) VALUES (?, ?, ?, ?, "
                 "?, ?, ?, ?, ?)");
  if (!insert.ok())
    return insert.status();
  for (size_t i = 0; i < publications.size(); ++i) {
    const Category &c = publications[i];
    insert->Reset();
    insert->Bind(1, *id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, c.name)
        .Bind(4, int64_t{c.instance})
        .Bind(5, int64_t{c.container})
        .Bind(6, int64_t{c.version})
        .Bind(7, c.publish_time)
        .Bind(8, c.expire_type)
        .Bind(9, c.xml);
    if (absl::Status st = insert->Run(); !st.ok())
      return st;
  }
  return absl::OkStatus();
}

absl::Status WriteContainers(StateDb &db, const std::string &key,
                             const std::vector<Container> &containers) {
  absl::StatusOr<int64_t> id = UserId(db, key);
  if (!id.ok())
    return id.status();
  if (absl::Status st = DeleteRows(
          db, *id, {"roaming_container_members", "roaming_containers"});
      !st.ok()) {
    return st;
  }
  absl::StatusOr<Statement> container =
      db.Prepare("INSERT INTO roaming_containers (user_id, position, "
                 "container_id, version) "
                 "VALUES (?, ?, ?, ?)");
  if (!container.ok())
    return container.status();
  absl::StatusOr<Statement> member =
      db.Prepare("INSERT INTO roaming_container_members (user_id, "
                 "container_position, position, type, "
                 "value) VALUES (?, ?, ?, ?, ?)");
  if (!member.ok())
    return member.status();
  for (size_t i = 0; i < containers.size(); ++i) {
    const Container &c = containers[i];
    container->Reset();
    container->Bind(1, *id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, int64_t{c.id})
        .Bind(4, int64_t{c.version});
    if (absl::Status st = container->Run(); !st.ok())
      return st;
    for (size_t j = 0; j < c.members.size(); ++j) {
      member->Reset();
      member->Bind(1, *id)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, static_cast<int64_t>(j))
          .Bind(4, c.members[j].type)
          .Bind(5, c.members[j].value);
      if (absl::Status st = member->Run(); !st.ok())
        return st;
    }
  }
  return absl::OkStatus();
}

absl::Status WriteSubscribers(StateDb &db, const std::string &key,
                              const std::vector<Subscriber> &subscribers) {
  absl::StatusOr<int64_t> id = UserId(db, key);
  if (!id.ok())
    return id.status();
  if (absl::Status st = DeleteRows(db, *id, {"roaming_subscribers"}); !st.ok())
    return st;
  absl::StatusOr<Statement> insert =
      db.Prepare("INSERT INTO roaming_subscribers (user_id, position, user, "
                 "display_name, acknowledged, "
                 "type) VALUES (?, ?, ?, ?, ?, ?)");
  if (!insert.ok())
    return insert.status();
  for (size_t i = 0; i < subscribers.size(); ++i) {
    const Subscriber &s = subscribers[i];
    insert->Reset();
    insert->Bind(1, *id)
        .Bind(2, static_cast<int64_t>(i))
        .Bind(3, s.user)
        .Bind(4, s.display_name)
        .Bind(5, int64_t{s.acknowledged ? 1 : 0})
        .Bind(6, s.type);
    if (absl::Status st = insert->Run(); !st.ok())
      return st;
  }
  return absl::OkStatus();
}

} // namespace

absl::StatusOr<std::unique_ptr<SqliteRoamingStore>>
SqliteRoamingStore::Open(const std::string &state_dir) {
  absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::Open(state_dir);
  if (!db.ok())
    return db.status();
  return Create(std::move(*db));
}

absl::StatusOr<std::unique_ptr<SqliteRoamingStore>>
SqliteRoamingStore::Create(std::unique_ptr<StateDb> db) {
  absl::StatusOr<std::unique_ptr<StateDb>> reader =
      StateDb::OpenFile(db->path(), StateMigrations());
  if (!reader.ok())
    return reader.status();
  return std::unique_ptr<SqliteRoamingStore>(
      new SqliteRoamingStore(std::move(db), std::move(*reader)));
}

SqliteRoamingStore::SqliteRoamingStore(std::unique_ptr<StateDb> writer,
                                       std::unique_ptr<StateDb> reader)
    : writer_db_(std::move(writer)), reader_db_(std::move(reader)) {
  writer_ = std::thread([this] { WriterLoop(); });
}

SqliteRoamingStore::~SqliteRoamingStore() {
  {
    absl::MutexLock lock(&queue_mu_);
    stopping_ = true;
  }
  writer_.join();
  absl::MutexLock lock(&queue_mu_);
  if (!write_error_.ok()) {
    log::Error(kLog, "roaming data not written",
               {{"error", write_error_.ToString()}});
  }
}

void SqliteRoamingStore::Enqueue(const std::string &key,
                                 absl::FunctionRef<void(PendingUser &)> set) {
  absl::MutexLock lock(&queue_mu_);
  PendingUser &pending = pending_[key];
  // A part still queued is replaced: only the newest state of a list matters.
  auto before = [](const PendingUser &p) {
    return int{p.contacts.has_value()} + int{p.publications.has_value()} +
           int{p.containers.has_value()} + int{p.subscribers.has_value()};
  };
  int had = before(pending);
  set(pending);
  if (before(pending) == had)
    ++stats_.coalesced;
  ++stats_.queued;
}

void SqliteRoamingStore::WriterLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&queue_mu_);
      queue_mu_.Await(absl::Condition(
          +[](SqliteRoamingStore *self)
               ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->queue_mu_) {
                 return self->stopping_ || !self->pending_.empty();
               },
          this));
      if (pending_.empty())
        return; // stopping and nothing left
    }
    {
      absl::MutexLock lock(&queue_mu_);
      writing_.swap(pending_);
    }
    StateDb &db = *writer_db_;
    uint64_t written = 0, failed = 0;
    absl::Status first_error;
    absl::Status st = db.Begin();
    for (const auto &[key, part] : writing_) {
      if (!st.ok())
        break;
      // One savepoint per user: a part that fails is rolled back alone.
      if (st = db.Exec("SAVEPOINT part"); !st.ok())
        break;
      absl::Status wrote = absl::OkStatus();
      if (wrote.ok() && part.contacts)
        wrote = WriteContacts(db, key, *part.contacts);
      if (wrote.ok() && part.publications)
        wrote = WritePublications(db, key, *part.publications);
      if (wrote.ok() && part.containers)
        wrote = WriteContainers(db, key, *part.containers);
      if (wrote.ok() && part.subscribers)
        wrote = WriteSubscribers(db, key, *part.subscribers);
      if (wrote.ok()) {
        st = db.Exec("RELEASE part");
        ++written;
      } else {
        st = db.Exec("ROLLBACK TO part");
        if (st.ok())
          st = db.Exec("RELEASE part");
        ++failed;
        if (first_error.ok())
          first_error = wrote;
        log::Warn(kLog, "roaming data not written",
                  {{"user", key}, {"error", wrote.ToString()}});
      }
    }
    if (st.ok())
      st = db.Commit();
    if (!st.ok()) {
      db.Rollback();
      failed += writing_.size() - failed;
      written = 0;
      if (first_error.ok())
        first_error = st;
      log::Error(kLog, "roaming data batch not written",
                 {{"users", writing_.size()}, {"error", st.ToString()}});
    }
    absl::MutexLock lock(&queue_mu_);
    writing_.clear();
    stats_.written += written;
    stats_.failed += failed;
    ++stats_.batches;
    if (write_error_.ok())
      write_error_ = first_error;
  }
}

absl::Status SqliteRoamingStore::Flush() {
  absl::MutexLock lock(&queue_mu_);
  queue_mu_.Await(absl::Condition(
      +[](SqliteRoamingStore *self)
           ABSL_EXCLUSIVE_LOCKS_REQUIRED(self->queue_mu_) {
             return self->pending_.empty() && self->writing_.empty();
           },
      this));
  absl::Status error = std::move(write_error_);
  write_error_ = absl::OkStatus();
  return error;
}

SqliteRoamingStore::Stats SqliteRoamingStore::stats() const {
  absl::MutexLock lock(&queue_mu_);
  return stats_;
}

void SqliteRoamingStore::Overlay(const PendingUser &pending,
                                 PendingUser &onto) {
  if (pending.contacts)
    onto.contacts = pending.contacts;
  if (pending.publications)
    onto.publications = pending.publications;
  if (pending.containers)
    onto.containers = pending.containers;
  if (pending.subscribers)
    onto.subscribers = pending.subscribers;
}

void SqliteRoamingStore::Overlay(const PendingUser &pending,
                                 RoamingData &data) {
  if (pending.contacts)
    data.contacts = *pending.contacts;
  if (pending.publications)
    data.publications = *pending.publications;
  if (pending.containers)
    data.containers = *pending.containers;
  if (pending.subscribers)
    data.subscribers = *pending.subscribers;
}

absl::StatusOr<RoamingData> SqliteRoamingStore::Load(std::string_view aor) {
  absl::StatusOr<std::string> key = Key(aor);
  if (!key.ok())
    return key.status();
  // The unwritten parts are copied BEFORE the read: a part committed after the
  // copy is in the read; one committed before it is in the read or newer in the
  // copy. Either way the newest wins.
  PendingUser unwritten;
  {
    absl::MutexLock lock(&queue_mu_);
    if (auto it = writing_.find(*key); it != writing_.end())
      Overlay(it->second, unwritten);
    if (auto it = pending_.find(*key); it != pending_.end())
      Overlay(it->second, unwritten);
  }
  RoamingData data;
  {
    absl::MutexLock lock(&reader_mu_);
    StateDb &db = *reader_db_;
    // One read transaction: every table from the same committed state.
    if (absl::Status st = db.Exec("BEGIN"); !st.ok())
      return st;
    absl::Status st = LoadRows(db, *key, data);
    db.Rollback(); // read-only: ends the read transaction
    if (!st.ok())
      return st;
  }
  Overlay(unwritten, data);
  return data;
}

absl::Status SqliteRoamingStore::SaveContacts(std::string_view aor,
                                              const ContactList &contacts) {
  absl::StatusOr<std::string> key = Key(aor);
  if (!key.ok())
    return key.status();
  for (const ContactGroup &g : contacts.groups) {
    if (absl::Status st = CheckUtf8("group name", g.name); !st.ok())
      return st;
    if (absl::Status st = CheckUtf8("group externalURI", g.external_uri);
        !st.ok())
      return st;
  }
  for (const Contact &c : contacts.contacts) {
    if (absl::Status st = CheckUtf8("contact URI", c.uri); !st.ok())
      return st;
    if (absl::Status st = CheckUtf8("contact name", c.name); !st.ok())
      return st;
    if (absl::Status st = CheckUtf8("contact externalURI", c.external_uri);
        !st.ok())
      return st;
  }
  Enqueue(*key, [&](PendingUser &pending) { pending.contacts = contacts; });
  return absl::OkStatus();
}

absl::Status SqliteRoamingStore::SavePublications(
    std::string_view aor, const std::vector<Category> &publications) {
  absl::StatusOr<std::string> key = Key(aor);
  if (!key.ok())
    return key.status();
  for (const Category &c : publications) {
    for (std::string_view text :
         {std::string_view(c.name), std::string_view(c.publish_time),
          std::string_view(c.expire_type), std::string_view(c.xml)}) {
      if (absl::Status st = CheckUtf8("category", text); !st.ok())
        return st;
    }
  }
  Enqueue(*key,
          [&](PendingUser &pending) { pending.publications = publications; });
  return absl::OkStatus();
}

absl::Status
SqliteRoamingStore::SaveContainers(std::string_view aor,
                                   const std::vector<Container> &containers) {
  absl::StatusOr<std::string> key = Key(aor);
  if (!key.ok())
    return key.status();
  for (const Container &c : containers) {
    for (const ContainerMember &m : c.members) {
      if (absl::Status st = CheckUtf8("member type", m.type); !st.ok())
        return st;
      if (absl::Status st = CheckUtf8("member value", m.value); !st.ok())
        return st;
    }
  }
  Enqueue(*key, [&](PendingUser &pending) { pending.containers = containers; });
  return absl::OkStatus();
}

absl::Status SqliteRoamingStore::SaveSubscribers(
    std::string_view aor, const std::vector<Subscriber> &subscribers) {
  absl::StatusOr<std::string> key = Key(aor);
  if (!key.ok())
    return key.status();
  for (const Subscriber &s : subscribers) {
    if (absl::Status st = CheckUtf8("subscriber user", s.user); !st.ok())
      return st;
    if (absl::Status st = CheckUtf8("subscriber displayName", s.display_name);
        !st.ok()) {
      return st;
    }
    if (absl::Status st = CheckUtf8("subscriber type", s.type); !st.ok())
      return st;
  }
  Enqueue(*key,
          [&](PendingUser &pending) { pending.subscribers = subscribers; });
  return absl::OkStatus();
}

} // namespace causeway::gateway
