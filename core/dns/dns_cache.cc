#include "core/dns/dns_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::dns {

std::string DnsCache::Key(std::string_view name, DnsType type) {
  // Names are compared without a trailing dot and case-insensitively (RFC 4343).
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  return absl::StrCat(static_cast<int>(type), "/", absl::AsciiStrToLower(ToAbsl(name)));
}

const DnsCache::Hit* DnsCache::Find(std::string_view name, DnsType type, Clock::time_point now) {
  auto it = entries_.find(Key(name, type));
  if (it == entries_.end()) return nullptr;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return nullptr;
  }
  return &it->second.hit;
}

void DnsCache::PutPositive(std::string_view name, DnsType type, DnsRecords records,
                           Clock::time_point now) {
  if (options_.max_entries == 0) return;
  std::chrono::seconds ttl(records.min_ttl);
  ttl = std::clamp(ttl, options_.min_ttl, std::max(options_.min_ttl, options_.max_ttl));
  if (ttl.count() <= 0) return;  // TTL 0: valid for this answer only
  Insert(Key(name, type), Hit{absl::OkStatus(), std::move(records)}, now + ttl, now);
}

void DnsCache::PutNegative(std::string_view name, DnsType type, const absl::Status& status,
                           Clock::time_point now) {
  if (options_.max_entries == 0 || options_.negative_ttl.count() <= 0) return;
  if (!absl::IsNotFound(status)) return;  // never pin a transient failure
  Insert(Key(name, type), Hit{status, DnsRecords{}}, now + options_.negative_ttl, now);
}

void DnsCache::Insert(std::string key, Hit hit, Clock::time_point expires, Clock::time_point now) {
  auto it = entries_.find(key);
  if (it == entries_.end() && entries_.size() >= options_.max_entries) {
    // Full: drop what has expired; if nothing has, drop the entry closest to expiry. O(n) but
    // only when full, and n is bounded by max_entries.
    for (auto e = entries_.begin(); e != entries_.end();) {
      e = e->second.expires <= now ? entries_.erase(e) : std::next(e);
    }
    if (entries_.size() >= options_.max_entries) {
      auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
        return a.second.expires < b.second.expires;
      });
      entries_.erase(oldest);
    }
  }
  entries_[std::move(key)] = Entry{std::move(hit), expires};
}

}  // namespace causeway::dns
