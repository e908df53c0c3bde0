#include "gateway/sqlite_directory.h"

#include <time.h>

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "gateway/names.h"
#include "sip/lync/credentials.h"

namespace causeway::gateway {
namespace {

constexpr std::string_view kSipScheme = "sip:";
constexpr size_t kMaxUserPart = 64;
constexpr size_t kMaxDisplayName = 256;
constexpr size_t kMaxPhones = 16;

bool IsUserChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         std::string_view("-_.!~*'+").find(c) != std::string_view::npos;
}

int64_t Now() { return static_cast<int64_t>(::time(nullptr)); }

std::string_view AsBytes(const std::array<uint8_t, 16>& hash) {
  return std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

}  // namespace

absl::StatusOr<std::string> NormalizeUserUri(std::string_view uri) {
  std::string lower = absl::AsciiStrToLower(ToAbsl(uri));
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("user URI '", ToAbsl(uri), "': ", ToAbsl(why)));
  };
  if (!std::string_view(lower).starts_with(kSipScheme)) {
    return invalid("expected sip:user@domain");
  }
  std::string_view rest = std::string_view(lower).substr(kSipScheme.size());
  size_t at = rest.find('@');
  if (at == std::string_view::npos) return invalid("expected sip:user@domain");
  std::string_view user = rest.substr(0, at);
  std::string_view domain = rest.substr(at + 1);
  if (user.empty()) return invalid("empty user part");
  if (user.size() > kMaxUserPart) return invalid("user part longer than 64 characters");
  if (!std::all_of(user.begin(), user.end(), IsUserChar)) {
    return invalid("user part may contain only letters, digits and -_.!~*'+");
  }
  if (!IsValidHostname(domain)) return invalid("domain is not a valid host name");
  return lower;
}

absl::Status ValidatePhoneNumber(std::string_view number) {
  bool ok =
      number.size() >= 3 && number.size() <= 16 && number[0] == '+' && number[1] != '0' &&
      std::all_of(number.begin() + 1, number.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("phone number '", ToAbsl(number), "': expected E.164, '+' and up to 15 digits"));
}

absl::Status ValidateDisplayName(std::string_view name) {
  if (name.size() > kMaxDisplayName) {
    return absl::InvalidArgumentError("display name: longer than 256 bytes");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError("display name: control characters are not allowed");
    }
  }
  // Valid UTF-8 (the converter also rejects overlong forms and surrogates).
  if (!sip::lync::Utf8ToUtf16Le(name).ok()) {
    return absl::InvalidArgumentError("display name: not valid UTF-8");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<SqliteDirectory>> SqliteDirectory::Open(
    const std::string& state_dir) {
  absl::StatusOr<std::unique_ptr<StateDb>> db = StateDb::Open(state_dir);
  if (!db.ok()) return db.status();
  return Create(std::move(*db));
}

absl::StatusOr<std::unique_ptr<SqliteDirectory>> SqliteDirectory::Create(
    std::unique_ptr<StateDb> db) {
  std::unique_ptr<SqliteDirectory> directory(new SqliteDirectory(std::move(db)));
  absl::StatusOr<bool> loaded = directory->Refresh();
  if (!loaded.ok()) return loaded.status();
  return directory;
}

absl::StatusOr<bool> SqliteDirectory::Refresh() {
  absl::StatusOr<int64_t> version = db_->DataVersion();
  if (!version.ok()) return version.status();
  if (*version == data_version_) return false;
  // Another connection committed: the directory, or only other state (roaming data)?
  absl::StatusOr<int64_t> directory_version = DirectoryVersion();
  if (!directory_version.ok()) return directory_version.status();
  if (*directory_version == directory_version_) {
    data_version_ = *version;
    return false;
  }
  if (absl::Status st = Reload(); !st.ok()) return st;
  data_version_ = *version;
  return true;
}

absl::Status SqliteDirectory::Reload() {
  // Read first: a change committed between the two reads is reloaded again next time, never
  // missed.
  absl::StatusOr<int64_t> directory_version = DirectoryVersion();
  if (!directory_version.ok()) return directory_version.status();
  absl::StatusOr<std::vector<UserRecord>> users = List();
  if (!users.ok()) return users.status();
  snapshot_.Publish(std::move(*users));
  directory_version_ = *directory_version;
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteDirectory::DirectoryVersion() {
  absl::StatusOr<Statement> stmt = db_->Prepare("SELECT version FROM directory_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->ColumnInt(0) : 0;
}

absl::StatusOr<std::vector<UserRecord>> SqliteDirectory::List() {
  std::vector<UserRecord> users;
  // One read transaction: users and phones from the same committed state.
  if (absl::Status st = db_->Exec("BEGIN"); !st.ok()) return st;
  absl::Status st = [&]() -> absl::Status {
    absl::StatusOr<Statement> rows = db_->Prepare(
        "SELECT id, uri, display_name, enabled, nt_hash, ha1_md5, ha1_sha256 FROM users "
        "ORDER BY uri");
    if (!rows.ok()) return rows.status();
    absl::flat_hash_map<int64_t, size_t> by_id;
    // Bounded by the table's rows.
    while (true) {
      absl::StatusOr<bool> row = rows->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      UserRecord user;
      user.uri = rows->ColumnText(1);
      user.display_name = rows->ColumnText(2);
      user.enabled = rows->ColumnInt(3) != 0;
      std::string nt = rows->ColumnBlob(4);
      if (nt.size() == user.nt_hash.size()) std::copy(nt.begin(), nt.end(), user.nt_hash.begin());
      user.ha1_md5 = rows->ColumnText(5);
      user.ha1_sha256 = rows->ColumnText(6);
      by_id.emplace(rows->ColumnInt(0), users.size());
      users.push_back(std::move(user));
    }
    absl::StatusOr<Statement> phones =
        db_->Prepare("SELECT user_id, number FROM user_phones ORDER BY user_id, position");
    if (!phones.ok()) return phones.status();
    while (true) {
      absl::StatusOr<bool> row = phones->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      auto it = by_id.find(phones->ColumnInt(0));
      if (it != by_id.end()) users[it->second].phone_numbers.push_back(phones->ColumnText(1));
    }
    return absl::OkStatus();
  }();
  db_->Rollback();  // read-only: ends the read transaction
  if (!st.ok()) return st;
  return users;
}

absl::StatusOr<int64_t> SqliteDirectory::UserId(const std::string& uri) {
  absl::StatusOr<Statement> stmt = db_->Prepare("SELECT id FROM users WHERE uri = ?");
  if (!stmt.ok()) return stmt.status();
  stmt->Bind(1, uri);
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::NotFoundError(absl::StrCat("no user ", uri));
  return stmt->ColumnInt(0);
}

absl::Status SqliteDirectory::Add(const NewUser& user) {
  absl::StatusOr<std::string> uri = NormalizeUserUri(user.uri);
  if (!uri.ok()) return uri.status();
  if (absl::Status st = ValidateDisplayName(user.display_name); !st.ok()) return st;
  if (user.phone_numbers.size() > kMaxPhones) {
    return absl::InvalidArgumentError("at most 16 phone numbers per user");
  }
  for (size_t i = 0; i < user.phone_numbers.size(); ++i) {
    if (absl::Status st = ValidatePhoneNumber(user.phone_numbers[i]); !st.ok()) return st;
    for (size_t j = 0; j < i; ++j) {
      if (user.phone_numbers[j] == user.phone_numbers[i]) {
        return absl::InvalidArgumentError(
            absl::StrCat("phone number '", user.phone_numbers[i], "' given twice"));
      }
    }
  }
  std::string_view rest = std::string_view(*uri).substr(kSipScheme.size());
  size_t at = rest.find('@');
  absl::StatusOr<sip::lync::Credentials> creds =
      sip::lync::DeriveCredentials(rest.substr(0, at), rest.substr(at + 1), user.password);
  if (!creds.ok()) return creds.status();

  absl::Status st = InTransaction(*db_, [&]() -> absl::Status {
    absl::StatusOr<int64_t> existing = UserId(*uri);
    if (existing.ok()) return absl::AlreadyExistsError(absl::StrCat("user ", *uri, " exists"));
    if (!absl::IsNotFound(existing.status())) return existing.status();
    absl::StatusOr<Statement> owner = db_->Prepare(
        "SELECT users.uri FROM user_phones JOIN users ON users.id = user_phones.user_id "
        "WHERE number = ?");
    if (!owner.ok()) return owner.status();
    for (const std::string& phone : user.phone_numbers) {
      owner->Reset();
      owner->Bind(1, phone);
      absl::StatusOr<bool> row = owner->Step();
      if (!row.ok()) return row.status();
      if (*row) {
        return absl::AlreadyExistsError(
            absl::StrCat("phone number ", phone, " belongs to ", owner->ColumnText(0)));
      }
    }
    absl::StatusOr<Statement> insert = db_->Prepare(
        "INSERT INTO users (uri, display_name, enabled, nt_hash, ha1_md5, ha1_sha256, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert.ok()) return insert.status();
    int64_t now = Now();
    insert->Bind(1, *uri)
        .Bind(2, user.display_name)
        .Bind(3, int64_t{user.enabled ? 1 : 0})
        .BindBlob(4, AsBytes(creds->nt_hash))
        .Bind(5, creds->ha1_md5)
        .Bind(6, creds->ha1_sha256)
        .Bind(7, now)
        .Bind(8, now);
    if (absl::Status s = insert->Run(); !s.ok()) return s;
    int64_t id = db_->LastInsertId();
    absl::StatusOr<Statement> phone =
        db_->Prepare("INSERT INTO user_phones (user_id, position, number) VALUES (?, ?, ?)");
    if (!phone.ok()) return phone.status();
    for (size_t i = 0; i < user.phone_numbers.size(); ++i) {
      phone->Reset();
      phone->Bind(1, id).Bind(2, static_cast<int64_t>(i)).Bind(3, user.phone_numbers[i]);
      if (absl::Status s = phone->Run(); !s.ok()) return s;
    }
    return absl::OkStatus();
  });
  if (!st.ok()) return st;
  return Reload();
}

absl::Status SqliteDirectory::Remove(std::string_view uri) {
  absl::StatusOr<std::string> normalized = NormalizeUserUri(uri);
  if (!normalized.ok()) return normalized.status();
  absl::StatusOr<Statement> del = db_->Prepare("DELETE FROM users WHERE uri = ?");
  if (!del.ok()) return del.status();
  del->Bind(1, *normalized);
  if (absl::Status st = del->Run(); !st.ok()) return st;
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no user ", *normalized));
  return Reload();
}

absl::Status SqliteDirectory::SetPassword(std::string_view uri, std::string_view password) {
  absl::StatusOr<std::string> normalized = NormalizeUserUri(uri);
  if (!normalized.ok()) return normalized.status();
  std::string_view rest = std::string_view(*normalized).substr(kSipScheme.size());
  size_t at = rest.find('@');
  absl::StatusOr<sip::lync::Credentials> creds =
      sip::lync::DeriveCredentials(rest.substr(0, at), rest.substr(at + 1), password);
  if (!creds.ok()) return creds.status();
  absl::StatusOr<Statement> update = db_->Prepare(
      "UPDATE users SET nt_hash = ?, ha1_md5 = ?, ha1_sha256 = ?, updated_at = ? WHERE uri = ?");
  if (!update.ok()) return update.status();
  update->BindBlob(1, AsBytes(creds->nt_hash))
      .Bind(2, creds->ha1_md5)
      .Bind(3, creds->ha1_sha256)
      .Bind(4, Now())
      .Bind(5, *normalized);
  if (absl::Status st = update->Run(); !st.ok()) return st;
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no user ", *normalized));
  return Reload();
}

absl::Status SqliteDirectory::SetEnabled(std::string_view uri, bool enabled) {
  absl::StatusOr<std::string> normalized = NormalizeUserUri(uri);
  if (!normalized.ok()) return normalized.status();
  absl::StatusOr<Statement> update =
      db_->Prepare("UPDATE users SET enabled = ?, updated_at = ? WHERE uri = ?");
  if (!update.ok()) return update.status();
  update->Bind(1, int64_t{enabled ? 1 : 0}).Bind(2, Now()).Bind(3, *normalized);
  if (absl::Status st = update->Run(); !st.ok()) return st;
  if (db_->Changes() == 0) return absl::NotFoundError(absl::StrCat("no user ", *normalized));
  return Reload();
}

}  // namespace causeway::gateway
