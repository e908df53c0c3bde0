#pragma once
// The per-worker front of core/dns that resolvers build on: a lookup is answered from the TTL cache
// (inline) or by one c-ares query shared by every caller asking the same (name, type) meanwhile.
// One DnsLookup per worker (or per resolver), used only on that worker's thread: no locks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dns/dns_cache.h"
#include "core/dns/dns_channel.h"
#include "core/dns/dns_message.h"
#include "core/net_address.h"

namespace causeway::dns {

// Which address families a resolver asks for, and which comes first in its results.
enum class AddressOrder : uint8_t { kV6First, kV4First, kV6Only, kV4Only };

// The address record types to query for `order`, in result order.
std::vector<DnsType> AddressTypes(AddressOrder order);

// An IP literal host without brackets ("192.0.2.1", "::1"), port 0. NetAddress::Parse alone would
// also accept "a.b.c.d:p", which is not a host.
std::optional<NetAddress> ParseIpLiteral(std::string_view host);

struct DnsLookupOptions {
  DnsChannelOptions channel;
  DnsCacheOptions cache;
  size_t max_queries_in_flight = 1024;  // beyond this a lookup fails (Unavailable) at once
};

class DnsLookup {
 public:
  struct Answer {
    absl::Status status;  // OK, or NotFound (IsNxDomain tells NXDOMAIN), Unavailable, ...
    DnsRecords records;
  };
  using Callback = std::function<void(const absl::Status&, const DnsRecords&)>;
  using Question = std::pair<std::string, DnsType>;

  static absl::StatusOr<std::unique_ptr<DnsLookup>> Create(boost::asio::io_context& io,
                                                           const DnsLookupOptions& options);
  DnsLookup(const DnsLookup&) = delete;
  DnsLookup& operator=(const DnsLookup&) = delete;

  // A cached answer runs `callback` inline; otherwise it runs later on the io_context, unless this
  // DnsLookup is destroyed first, in which case it never runs.
  void Lookup(const std::string& name, DnsType type, Callback callback);

  // Looks up every question at once; `done` gets the answers in question order, once all are in
  // (inline if all were cached).
  void Gather(const std::vector<Question>& questions,
              std::function<void(std::vector<Answer>)> done);

  DnsCache& cache() { return cache_; }
  // DNS queries on the wire now; concurrent lookups of the same (name, type) share one query.
  size_t queries_in_flight() const { return inflight_.size(); }

 private:
  DnsLookup(const DnsLookupOptions& options, std::unique_ptr<DnsChannel> channel);

  DnsCache cache_;
  size_t max_queries_in_flight_;
  // Waiters per in-flight query, keyed like the cache. Bounded by max_queries_in_flight.
  std::unordered_map<std::string, std::vector<Callback>> inflight_;
  std::unique_ptr<DnsChannel> channel_;  // last: destroyed first, so no answer outlives the rest
};

}  // namespace causeway::dns
