#pragma once
// A per-worker DNS answer cache: positive answers live for their TTL (clamped), "no such name /
// no such record" answers for a short negative TTL. Bounded in entries. Not thread-safe by design:
// one per worker, used only on that worker's thread. Time is passed in, so tests need no sleeping.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "core/dns/dns_message.h"

namespace causeway::dns {

struct DnsCacheOptions {
  size_t max_entries = 4096;
  std::chrono::seconds max_ttl{3600};      // caps what a server asks for
  std::chrono::seconds min_ttl{0};         // floors it (0 = honour TTL 0 as "do not cache")
  std::chrono::seconds negative_ttl{30};   // NXDOMAIN / NODATA
};

class DnsCache {
 public:
  using Clock = std::chrono::steady_clock;

  explicit DnsCache(const DnsCacheOptions& options = {}) : options_(options) {}

  struct Hit {
    absl::Status status;  // OK, or NotFound for a cached negative answer
    DnsRecords records;
  };

  // The live entry for (name, type), or nullptr. `name` is matched case-insensitively.
  const Hit* Find(std::string_view name, DnsType type, Clock::time_point now);

  // Stores a positive answer for min(records.min_ttl, max_ttl) seconds.
  void PutPositive(std::string_view name, DnsType type, DnsRecords records, Clock::time_point now);
  // Stores a NotFound answer for negative_ttl. Other errors (timeouts) are never cached.
  void PutNegative(std::string_view name, DnsType type, const absl::Status& status,
                   Clock::time_point now);

  size_t size() const { return entries_.size(); }
  void Clear() { entries_.clear(); }

 private:
  struct Entry {
    Hit hit;
    Clock::time_point expires;
  };
  static std::string Key(std::string_view name, DnsType type);
  void Insert(std::string key, Hit hit, Clock::time_point expires, Clock::time_point now);

  DnsCacheOptions options_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace causeway::dns
