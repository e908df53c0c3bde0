#include "core/directory.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway {
namespace {

constexpr std::string_view kSipScheme = "sip:";

std::string Lower(std::string_view text) { return absl::AsciiStrToLower(ToAbsl(text)); }

// "alice", "example.test" from "sip:alice@example.test"; both empty when malformed.
std::pair<std::string_view, std::string_view> SplitUri(std::string_view uri) {
  if (!uri.starts_with(kSipScheme)) return {};
  std::string_view rest = uri.substr(kSipScheme.size());
  size_t at = rest.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == rest.size()) return {};
  return {rest.substr(0, at), rest.substr(at + 1)};
}

std::string_view FirstLabel(std::string_view domain) { return domain.substr(0, domain.find('.')); }

std::string NetbiosKey(std::string_view label, std::string_view user) {
  return absl::StrCat(ToAbsl(label), "\\", ToAbsl(user));
}

}  // namespace

std::string_view UserRecord::UserPart() const { return SplitUri(uri).first; }
std::string_view UserRecord::Domain() const { return SplitUri(uri).second; }

DirectorySnapshot::DirectorySnapshot(std::vector<UserRecord> users) {
  users_.reserve(users.size());
  for (UserRecord& user : users) {
    if (!user.enabled) continue;
    user.uri = Lower(user.uri);
    auto [user_part, domain] = SplitUri(user.uri);
    if (user_part.empty() || by_uri_.contains(user.uri)) continue;
    size_t index = users_.size();
    by_uri_.emplace(user.uri, index);
    AddKey(by_user_, std::string(user_part), index);
    AddKey(by_netbios_, NetbiosKey(FirstLabel(domain), user_part), index);
    for (const std::string& phone : user.phone_numbers) by_phone_.emplace(phone, index);
    domains_.emplace_back(domain);
    users_.push_back(std::move(user));
  }
  std::sort(domains_.begin(), domains_.end());
  domains_.erase(std::unique(domains_.begin(), domains_.end()), domains_.end());
}

void DirectorySnapshot::AddKey(absl::flat_hash_map<std::string, size_t>& index, std::string key,
                               size_t i) {
  auto [it, inserted] = index.emplace(std::move(key), i);
  if (!inserted) it->second = kAmbiguous;
}

const UserRecord* DirectorySnapshot::FindByUri(std::string_view uri) const {
  auto it = by_uri_.find(Lower(uri));
  return it == by_uri_.end() ? nullptr : &users_[it->second];
}

const UserRecord* DirectorySnapshot::FindByPhone(std::string_view e164) const {
  auto it = by_phone_.find(ToAbsl(e164));
  return it == by_phone_.end() ? nullptr : &users_[it->second];
}

absl::StatusOr<const UserRecord*> DirectorySnapshot::LoginResult(const UserRecord* user,
                                                                 std::string_view login) const {
  if (user != nullptr) return user;
  return absl::NotFoundError(absl::StrCat("no enabled user for login '", ToAbsl(login), "'"));
}

absl::StatusOr<const UserRecord*> DirectorySnapshot::FindByLogin(std::string_view user,
                                                                 std::string_view domain) const {
  std::string login = Lower(user);
  std::string realm = Lower(domain);
  if (realm.empty()) {
    // "EXAMPLE\alice" in one string.
    if (size_t slash = login.find('\\'); slash != std::string::npos) {
      realm = login.substr(0, slash);
      login.erase(0, slash + 1);
    }
  }
  if (login.empty()) return absl::NotFoundError("empty login");
  if (login.find('@') != std::string::npos) {
    // UPN form; a domain given beside it (NTLM clients send one) does not change the answer.
    return LoginResult(FindByUri(absl::StrCat(ToAbsl(kSipScheme), login)), login);
  }
  if (realm.empty()) {
    auto it = by_user_.find(login);
    if (it == by_user_.end()) return LoginResult(nullptr, login);
    if (it->second == kAmbiguous) {
      return absl::FailedPreconditionError(absl::StrCat(
          "login '", login, "' is ambiguous: several domains have this user; use user@domain"));
    }
    return &users_[it->second];
  }
  if (realm.find('.') != std::string::npos) {
    return LoginResult(FindByUri(absl::StrCat(ToAbsl(kSipScheme), login, "@", realm)),
                       absl::StrCat(login, "@", realm));
  }
  std::string key = NetbiosKey(realm, login);
  auto it = by_netbios_.find(key);
  if (it == by_netbios_.end()) return LoginResult(nullptr, key);
  if (it->second == kAmbiguous) {
    return absl::FailedPreconditionError(absl::StrCat(
        "login '", key, "' is ambiguous: several domains start with this label; use user@domain"));
  }
  return &users_[it->second];
}

SnapshotDirectory::SnapshotDirectory()
    : snapshot_(std::make_shared<const DirectorySnapshot>(std::vector<UserRecord>{})) {}

void SnapshotDirectory::Publish(std::shared_ptr<const DirectorySnapshot> snapshot) {
  if (snapshot == nullptr) {
    snapshot = std::make_shared<const DirectorySnapshot>(std::vector<UserRecord>{});
  }
  // The old snapshot is released outside the lock (it may be the last reference).
  absl::MutexLock lock(&mu_);
  std::swap(snapshot_, snapshot);
}

std::shared_ptr<const DirectorySnapshot> SnapshotDirectory::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return snapshot_;
}

namespace {

// A record pointer that keeps its snapshot alive.
UserRef Ref(const std::shared_ptr<const DirectorySnapshot>& snapshot, const UserRecord* user) {
  if (user == nullptr) return nullptr;
  return UserRef(snapshot, user);
}

}  // namespace

UserRef SnapshotDirectory::FindByUri(std::string_view uri) const {
  std::shared_ptr<const DirectorySnapshot> snapshot = Snapshot();
  return Ref(snapshot, snapshot->FindByUri(uri));
}

UserRef SnapshotDirectory::FindByPhone(std::string_view e164) const {
  std::shared_ptr<const DirectorySnapshot> snapshot = Snapshot();
  return Ref(snapshot, snapshot->FindByPhone(e164));
}

absl::StatusOr<UserRef> SnapshotDirectory::FindByLogin(std::string_view user,
                                                       std::string_view domain) const {
  std::shared_ptr<const DirectorySnapshot> snapshot = Snapshot();
  absl::StatusOr<const UserRecord*> found = snapshot->FindByLogin(user, domain);
  if (!found.ok()) return found.status();
  return Ref(snapshot, *found);
}

std::vector<std::string> SnapshotDirectory::Domains() const { return Snapshot()->Domains(); }

size_t SnapshotDirectory::Size() const { return Snapshot()->Size(); }

}  // namespace causeway
