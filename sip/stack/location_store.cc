#include "sip/stack/location_store.h"

#include <algorithm>

#include "absl/hash/hash.h"
#include "core/status.h"

namespace causeway::sip {
namespace {

bool SameBinding(const Binding& b, const ContactUpdate& c) {
  // RFC 5626 §6: instance-id + reg-id identify a flow's binding; RFC 5627: instance-id alone
  // identifies the UA instance. Only without an instance does the contact URI decide.
  if (!c.instance_id.empty()) {
    if (b.instance_id != c.instance_id) return false;
    return b.reg_id == c.reg_id;
  }
  return b.instance_id.empty() && b.contact_key == c.contact_key;
}

void SortByPreference(std::vector<Binding>& bindings) {
  // Stable: among equal q, the order of insertion (refreshes move to the back) is kept, reversed
  // below so the most recently refreshed binding comes first.
  std::reverse(bindings.begin(), bindings.end());
  std::stable_sort(bindings.begin(), bindings.end(),
                   [](const Binding& a, const Binding& b) { return a.q_milli > b.q_milli; });
}

}  // namespace

LocationStore::LocationStore(LocationStoreOptions options) : options_(options) {
  if (options_.shards == 0) options_.shards = 1;
  if (options_.max_bindings_per_aor == 0) options_.max_bindings_per_aor = 1;
  shards_ = std::make_unique<Shard[]>(options_.shards);
  index_ = std::make_unique<IndexShard[]>(options_.shards);
  max_aors_per_shard_ = std::max<size_t>(1, (options_.max_aors + options_.shards - 1) /
                                                options_.shards);
}

LocationStore::Shard& LocationStore::ShardFor(std::string_view aor) const {
  size_t h = absl::Hash<std::string_view>{}(aor);
  return shards_[h % options_.shards];
}

LocationStore::IndexShard& LocationStore::IndexFor(std::string_view contact_key) const {
  size_t h = absl::Hash<std::string_view>{}(contact_key);
  return index_[h % options_.shards];
}

void LocationStore::Index(const Binding& b, const std::string& aor) {
  IndexShard& shard = IndexFor(b.contact_key);
  absl::MutexLock lock(&shard.mu);
  shard.aor_of[b.contact_key] = aor;
}

void LocationStore::Unindex(const Binding& b, const std::string& aor) {
  IndexShard& shard = IndexFor(b.contact_key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.aor_of.find(b.contact_key);
  // Another AOR may have registered the same contact since: leave its entry alone.
  if (it != shard.aor_of.end() && it->second == aor) shard.aor_of.erase(it);
}

size_t LocationStore::DropExpired(Record& record, const std::string& aor, LocationTime now) {
  size_t before = record.bindings.size();
  auto expired = std::stable_partition(record.bindings.begin(), record.bindings.end(),
                                       [now](const Binding& b) { return b.expires > now; });
  for (auto it = expired; it != record.bindings.end(); ++it) Unindex(*it, aor);
  record.bindings.erase(expired, record.bindings.end());
  return before - record.bindings.size();
}

std::optional<Binding> LocationStore::FindByContact(std::string_view contact_key,
                                                    LocationTime now) const {
  std::string aor;
  {
    IndexShard& shard = IndexFor(contact_key);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.aor_of.find(std::string(contact_key));
    if (it == shard.aor_of.end()) return std::nullopt;
    aor = it->second;
  }
  for (Binding& b : Lookup(aor, now)) {
    if (b.contact_key == contact_key) return std::move(b);
  }
  return std::nullopt;
}

void LocationStore::Reindex(Shard& shard, const std::string& aor, LocationTime old_earliest) {
  shard.by_expiry.erase({old_earliest, aor});
  auto it = shard.records.find(aor);
  if (it == shard.records.end()) return;
  Record& record = it->second;
  if (record.bindings.empty()) {
    shard.records.erase(it);
    return;
  }
  LocationTime earliest = LocationTime::max();
  for (const Binding& b : record.bindings) earliest = std::min(earliest, b.expires);
  record.earliest = earliest;
  shard.by_expiry.insert({earliest, aor});
}

absl::StatusOr<std::vector<Binding>> LocationStore::Apply(std::string_view aor,
                                                          const RegisterUpdate& update,
                                                          LocationTime now) {
  Shard& shard = ShardFor(aor);
  absl::MutexLock lock(&shard.mu);
  std::string key(aor);
  auto it = shard.records.find(key);
  const bool existed = it != shard.records.end();

  // Work on a copy so a failure part-way leaves the stored bindings untouched (all or nothing).
  std::vector<Binding> bindings;
  LocationTime old_earliest{};
  if (existed) {
    bindings = it->second.bindings;
    old_earliest = it->second.earliest;
  }
  std::erase_if(bindings, [now](const Binding& b) { return b.expires <= now; });

  if (update.remove_all) {
    // §10.3 step 6: every binding must be older than this request (different Call-ID, or the
    // same Call-ID with a lower CSeq).
    for (const Binding& b : bindings) {
      if (b.call_id == update.call_id && update.cseq <= b.cseq) {
        return SipError(500, "REGISTER out of order (CSeq not higher than the binding's)");
      }
    }
    bindings.clear();
  } else {
    for (const ContactUpdate& c : update.contacts) {
      auto match = std::find_if(bindings.begin(), bindings.end(),
                                [&c](const Binding& b) { return SameBinding(b, c); });
      if (match != bindings.end()) {
        if (match->call_id == update.call_id && update.cseq <= match->cseq) {
          return SipError(500, "REGISTER out of order (CSeq not higher than the binding's)");
        }
        bindings.erase(match);
      }
      if (c.expires.count() <= 0) continue;
      Binding b;
      b.contact_uri = c.contact_uri;
      b.contact_key = c.contact_key;
      b.expires = now + c.expires;
      b.q_milli = std::clamp(c.q_milli, 0, 1000);
      b.call_id = update.call_id;
      b.cseq = update.cseq;
      b.instance_id = c.instance_id;
      b.reg_id = c.reg_id;
      b.epid = update.epid;
      b.path = update.path;
      b.flow = update.flow;
      b.user_agent = update.user_agent;
      bindings.push_back(std::move(b));
    }
    if (bindings.size() > options_.max_bindings_per_aor) {
      return SipError(503, "too many registered contacts for this address-of-record");
    }
  }

  if (!existed && !bindings.empty() && shard.records.size() >= max_aors_per_shard_) {
    return SipError(503, "location store full");
  }

  size_t old_count = existed ? it->second.bindings.size() : 0;
  shard.bindings = shard.bindings - old_count + bindings.size();
  if (existed) {
    for (const Binding& old : it->second.bindings) {
      bool kept = std::any_of(bindings.begin(), bindings.end(), [&old](const Binding& b) {
        return b.contact_key == old.contact_key;
      });
      if (!kept) Unindex(old, key);
    }
  }
  for (const Binding& b : bindings) Index(b, key);
  std::vector<Binding> result = bindings;
  if (existed) {
    it->second.bindings = std::move(bindings);
  } else if (!bindings.empty()) {
    shard.records[key].bindings = std::move(bindings);
  }
  if (existed || !result.empty()) Reindex(shard, key, old_earliest);
  SortByPreference(result);
  return result;
}

std::vector<Binding> LocationStore::Lookup(std::string_view aor, LocationTime now) const {
  Shard& shard = ShardFor(aor);
  std::vector<Binding> result;
  {
    absl::MutexLock lock(&shard.mu);
    auto it = shard.records.find(std::string(aor));
    if (it == shard.records.end()) return result;
    result.reserve(it->second.bindings.size());
    for (const Binding& b : it->second.bindings) {
      if (b.expires > now) result.push_back(b);  // expired but not yet purged: invisible
    }
  }
  SortByPreference(result);
  return result;
}

size_t LocationStore::RemoveFlow(ConnectionId connection, std::vector<std::string>* aors) {
  if (connection == 0) return 0;
  size_t removed = 0;
  for (size_t i = 0; i < options_.shards; ++i) {
    Shard& shard = shards_[i];
    absl::MutexLock lock(&shard.mu);
    std::vector<std::pair<std::string, LocationTime>> touched;
    for (auto& [aor, record] : shard.records) {
      size_t before = record.bindings.size();
      auto gone = std::stable_partition(
          record.bindings.begin(), record.bindings.end(),
          [connection](const Binding& b) { return b.flow.connection != connection; });
      for (auto b = gone; b != record.bindings.end(); ++b) Unindex(*b, aor);
      record.bindings.erase(gone, record.bindings.end());
      if (record.bindings.size() != before) {
        removed += before - record.bindings.size();
        shard.bindings -= before - record.bindings.size();
        touched.emplace_back(aor, record.earliest);
        if (aors != nullptr) aors->push_back(aor);
      }
    }
    // Re-indexing may erase records: done after the iteration.
    for (const auto& [aor, earliest] : touched) Reindex(shard, aor, earliest);
  }
  return removed;
}

size_t LocationStore::PurgeExpired(LocationTime now, size_t budget,
                                   std::vector<std::string>* aors) {
  size_t removed = 0;
  for (size_t i = 0; i < options_.shards; ++i) {
    Shard& shard = shards_[i];
    absl::MutexLock lock(&shard.mu);
    for (size_t n = 0; n < budget && !shard.by_expiry.empty(); ++n) {
      auto first = shard.by_expiry.begin();
      if (first->first > now) break;
      std::string aor = first->second;
      LocationTime earliest = first->first;
      auto it = shard.records.find(aor);
      if (it == shard.records.end()) {  // cannot happen while the index is kept in sync
        shard.by_expiry.erase(first);
        continue;
      }
      size_t dropped = DropExpired(it->second, aor, now);
      removed += dropped;
      if (dropped > 0 && aors != nullptr) aors->push_back(aor);
      shard.bindings -= dropped;
      Reindex(shard, aor, earliest);
    }
  }
  return removed;
}

size_t LocationStore::aor_count() const {
  size_t total = 0;
  for (size_t i = 0; i < options_.shards; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    total += shards_[i].records.size();
  }
  return total;
}

size_t LocationStore::binding_count() const {
  size_t total = 0;
  for (size_t i = 0; i < options_.shards; ++i) {
    absl::MutexLock lock(&shards_[i].mu);
    total += shards_[i].bindings;
  }
  return total;
}

}  // namespace causeway::sip
