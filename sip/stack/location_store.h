#pragma once
// The location service (RFC 3261 §10, §16.5): address-of-record -> contact bindings, written by the
// registrar and read by the proxy on every request to one of our users.
//
// Threading: one process-wide store shared by every worker. Reads (one per routed request) vastly
// outnumber writes (one per REGISTER refresh), so the store is split into shards by AOR hash, each
// guarded by its own absl::Mutex held only for a map lookup and a small vector copy. Nothing here
// blocks on I/O while holding a lock. A later, per-worker replicated design can keep this API.
//
// Bounded: at most `max_bindings_per_aor` bindings per AOR and `max_aors` AORs in total (writes
// beyond either fail with a 503-carrying status); PurgeExpired() does at most `budget` AORs of work
// per call so a timer can call it often without stalling a worker.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/net_address.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

// Same type as core/clock.h's TimePoint (steady clock); absolute expiry times use it.
using LocationTime = std::chrono::steady_clock::time_point;

// The connection a REGISTER arrived over. Requests to the contact reuse it (RFC 5626 flows, and the
// only way to reach a client behind NAT or over a client-opened TCP/TLS connection).
struct Flow {
  TransportKind kind = TransportKind::kUdp;
  NetAddress source;  // the client's address as seen on the socket
  NetAddress local;   // our address it reached
  ConnectionId connection = 0;

  friend bool operator==(const Flow&, const Flow&) = default;
};

struct Binding {
  std::string contact_uri;  // the Contact URI as registered (what requests are sent to)
  std::string contact_key;  // canonical form used to match refreshes (see ContactKey in registrar)
  LocationTime expires;     // absolute
  int q_milli = 1000;       // q-value * 1000 (0..1000); absent q ranks as 1.0
  std::string call_id;
  uint32_t cseq = 0;
  std::string instance_id;      // RFC 5626 +sip.instance value without quotes, e.g. "<urn:uuid:..>"
  std::optional<uint32_t> reg_id;  // RFC 5626 reg-id
  std::string epid;             // Lync endpoint id (From ;epid=), empty when absent
  std::vector<std::string> path;  // RFC 3327 Path values, in order, to be used as a route set
  Flow flow;
  std::string user_agent;
};

// One Contact of a REGISTER, already validated by the registrar.
struct ContactUpdate {
  std::string contact_uri;
  std::string contact_key;
  std::chrono::seconds expires{0};  // 0 removes the binding
  int q_milli = 1000;
  std::string instance_id;
  std::optional<uint32_t> reg_id;
};

// Everything RFC 3261 §10.3 steps 6-8 need from one REGISTER.
struct RegisterUpdate {
  std::string call_id;
  uint32_t cseq = 0;
  bool remove_all = false;  // "Contact: *" with Expires: 0
  std::vector<ContactUpdate> contacts;
  // Shared by every binding the request creates or refreshes.
  std::string epid;
  std::vector<std::string> path;
  Flow flow;
  std::string user_agent;
};

struct LocationStoreOptions {
  size_t shards = 16;
  size_t max_bindings_per_aor = 10;
  size_t max_aors = 100000;
};

class LocationStore {
 public:
  explicit LocationStore(LocationStoreOptions options = {});
  LocationStore(const LocationStore&) = delete;
  LocationStore& operator=(const LocationStore&) = delete;

  // Applies one REGISTER to `aor` atomically (RFC 3261 §10.3 steps 6-7): either every contact is
  // applied or none. Bindings are matched by instance-id + reg-id when the contact has both, by
  // instance-id when it has only that (RFC 5627), otherwise by contact_key. A matching binding
  // with the same Call-ID and a CSeq not higher than the stored one fails the whole request
  // (SipError 500); exceeding the limits fails it with SipError 503. Expired bindings are dropped
  // first. Returns the bindings current after the update (live only), highest q first.
  absl::StatusOr<std::vector<Binding>> Apply(std::string_view aor, const RegisterUpdate& update,
                                             LocationTime now);

  // Live bindings of `aor`, highest q first (ties: most recently refreshed first). Empty if none.
  std::vector<Binding> Lookup(std::string_view aor, LocationTime now) const;

  // The live binding whose contact_key is `contact_key` (any AOR), if one exists: how requests
  // whose Request-URI is a registered contact (in-dialog requests to a UA behind NAT or on its own
  // TCP/TLS connection) find the flow to use. Highest q / most recent when several match.
  std::optional<Binding> FindByContact(std::string_view contact_key, LocationTime now) const;

  // Removes every binding registered over `connection` (the connection closed: RFC 5626 flow
  // failure). Cost: a scan of every shard; called once per closed registered connection.
  // `aors` (optional) receives each AOR that lost a binding.
  size_t RemoveFlow(ConnectionId connection, std::vector<std::string>* aors = nullptr);

  // Drops expired bindings, examining at most `budget` AORs per shard. Returns bindings removed;
  // `aors` (optional) receives each AOR that lost a binding.
  size_t PurgeExpired(LocationTime now, size_t budget = 64,
                      std::vector<std::string>* aors = nullptr);

  size_t aor_count() const;
  size_t binding_count() const;

 private:
  struct Record {
    std::vector<Binding> bindings;
    LocationTime earliest;  // min expires over bindings: the key in Shard::by_expiry
  };
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, Record> records ABSL_GUARDED_BY(mu);
    // One entry per AOR, keyed by its earliest expiry, so purging touches only due AORs.
    std::set<std::pair<LocationTime, std::string>> by_expiry ABSL_GUARDED_BY(mu);
    size_t bindings ABSL_GUARDED_BY(mu) = 0;
  };

  // contact_key -> AOR, sharded by contact key. Lock order: an AOR shard, then an index shard.
  struct IndexShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::string> aor_of ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(std::string_view aor) const;
  IndexShard& IndexFor(std::string_view contact_key) const;
  void Index(const Binding& b, const std::string& aor);
  void Unindex(const Binding& b, const std::string& aor);
  // Re-indexes `record` under `aor` after its bindings changed; erases it when empty.
  static void Reindex(Shard& shard, const std::string& aor, LocationTime old_earliest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Removes the expired bindings of `record` (unindexing them) and returns how many.
  size_t DropExpired(Record& record, const std::string& aor, LocationTime now);

  LocationStoreOptions options_;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<IndexShard[]> index_;
  size_t max_aors_per_shard_;
};

}  // namespace causeway::sip
