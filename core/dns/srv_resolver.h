#pragma once
// Generic "SRV services -> ordered connection targets" resolution for any stack, e.g. XMPP s2s
// (RFC 6120 §3.2) with {"_xmpps-server._tcp" (XEP-0368 direct TLS), "_xmpp-server._tcp"} and
// fallback port 5269. SRV records of every service are ordered per RFC 2782 (priority, then
// weighted random), services in the order given; each target's A/AAAA follow in the configured
// family order. A "." target means the service is decidedly not offered (RFC 2782): NotFound, no
// fallback. Without any SRV record (NXDOMAIN / NODATA), or without an answer at all (RFC 6120
// §3.2.1: "does not receive a response"), the domain's own A/AAAA on the fallback port.
// One SrvResolver per worker, on that worker's io_context: no locks.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dns/dns_lookup.h"
#include "core/net_address.h"

namespace causeway::dns {

struct SrvRequest {
  std::vector<std::string> services;  // "_service._proto" each, most preferred first
  std::string domain;                 // "example.com"; an IP literal needs no DNS
  uint16_t fallback_port = 0;         // A/AAAA of the domain on this port without SRV; 0: none
};

struct SrvTarget {
  std::string host;  // the SRV target (lower-case, no trailing dot), or the domain on fallback
  uint16_t port = 0;
  NetAddress address;   // port set
  std::string service;  // the SRV service it came from; "" for the fallback to the domain itself
  friend bool operator==(const SrvTarget&, const SrvTarget&) = default;
};

struct SrvResolverOptions {
  AddressOrder address_order = AddressOrder::kV6First;
  size_t max_srv_hosts = 16;  // SRV targets followed, over all services
  size_t max_targets = 32;    // length bound of the result
  DnsLookupOptions dns;
  uint64_t random_seed = 0;  // SRV weight selection; 0 = seeded from std::random_device
};

class SrvResolver {
 public:
  // Ordered candidates, most preferred first. Errors: NotFound (NXDOMAIN, "." target, no
  // addresses), Unavailable (timeouts, SERVFAIL), InvalidArgument (bad request). Messages name
  // the domain.
  using Result = absl::StatusOr<std::vector<SrvTarget>>;
  using Callback = std::function<void(Result)>;

  static absl::StatusOr<std::unique_ptr<SrvResolver>> Create(boost::asio::io_context& io,
                                                             SrvResolverOptions options);
  ~SrvResolver();
  SrvResolver(const SrvResolver&) = delete;
  SrvResolver& operator=(const SrvResolver&) = delete;

  // `callback` runs later on the io_context, exactly once, unless the SrvResolver is destroyed
  // first.
  void Resolve(const SrvRequest& request, Callback callback);

  DnsCache& cache() { return lookup_->cache(); }
  size_t queries_in_flight() const { return lookup_->queries_in_flight(); }

 private:
  class Operation;
  friend class Operation;

  SrvResolver(boost::asio::io_context& io, SrvResolverOptions options,
              std::unique_ptr<DnsLookup> lookup);
  void Finish(Callback callback, Result result);

  boost::asio::io_context& io_;
  SrvResolverOptions options_;
  std::mt19937_64 rng_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, so no DNS answer reaches an operation after the rest is gone.
  std::unique_ptr<DnsLookup> lookup_;
};

}  // namespace causeway::dns
