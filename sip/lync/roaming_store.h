#pragma once
// Where a user's roaming data lives between sign-ins and across restarts: the contact list
// (groups, contacts, deltaNum), the presence categories the user published with a lifetime that
// outlives an endpoint ("static" and "user" expire types), the ACL containers, and the users who
// added this user to their contacts (MS-PRES subscribers, with whether the user acknowledged them).
//
// The front end keeps the working copy in memory and writes through on every change; the gateway
// provides the SQLite implementation (state database), tests use MemoryRoamingStore.
// Implementations are called from worker threads, one call at a time per user, and must be safe to
// call from several threads for different users.

#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "sip/lync/bodies_contacts.h"
#include "sip/lync/bodies_presence.h"
#include "sip/lync/bodies_roaming.h"

namespace causeway::sip::lync {

struct RoamingData {
  ContactList contacts;               // delta_num 0 = never stored
  std::vector<Category> publications;  // persistent ones only
  std::vector<Container> containers;
  std::vector<Subscriber> subscribers;
};

class RoamingStore {
 public:
  virtual ~RoamingStore() = default;
  // The stored data of `aor` ("sip:alice@example.test"); empty data when nothing is stored.
  virtual absl::StatusOr<RoamingData> Load(std::string_view aor) = 0;
  virtual absl::Status SaveContacts(std::string_view aor, const ContactList& contacts) = 0;
  virtual absl::Status SavePublications(std::string_view aor,
                                        const std::vector<Category>& publications) = 0;
  virtual absl::Status SaveContainers(std::string_view aor,
                                      const std::vector<Container>& containers) = 0;
  virtual absl::Status SaveSubscribers(std::string_view aor,
                                       const std::vector<Subscriber>& subscribers) = 0;
};

// In memory: for tests and for a gateway without a state database.
class MemoryRoamingStore final : public RoamingStore {
 public:
  absl::StatusOr<RoamingData> Load(std::string_view aor) override {
    absl::MutexLock lock(&mu_);
    auto it = data_.find(std::string(aor));
    return it == data_.end() ? RoamingData{} : it->second;
  }
  absl::Status SaveContacts(std::string_view aor, const ContactList& contacts) override {
    absl::MutexLock lock(&mu_);
    data_[std::string(aor)].contacts = contacts;
    return absl::OkStatus();
  }
  absl::Status SavePublications(std::string_view aor,
                                const std::vector<Category>& publications) override {
    absl::MutexLock lock(&mu_);
    data_[std::string(aor)].publications = publications;
    return absl::OkStatus();
  }
  absl::Status SaveContainers(std::string_view aor,
                              const std::vector<Container>& containers) override {
    absl::MutexLock lock(&mu_);
    data_[std::string(aor)].containers = containers;
    return absl::OkStatus();
  }
  absl::Status SaveSubscribers(std::string_view aor,
                               const std::vector<Subscriber>& subscribers) override {
    absl::MutexLock lock(&mu_);
    data_[std::string(aor)].subscribers = subscribers;
    return absl::OkStatus();
  }

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, RoamingData> data_ ABSL_GUARDED_BY(mu_);
};

}  // namespace causeway::sip::lync
