#pragma once
// RFC 3263 §4 next-hop resolution for a SIP target: numeric IP -> no DNS; explicit port -> A/AAAA;
// explicit transport -> SRV for it; otherwise NAPTR (RFC 3403) -> SRV (RFC 2782) -> A/AAAA, with
// SRV and A/AAAA fallbacks. Produces an ordered list of (transport, address, TLS name) to try in
// turn (RFC 3263 §4.3 failover). One Resolver per worker, on that worker's io_context: no locks.
// The DNS machinery (c-ares channel, TTL cache, shared queries, RFC 2782 ordering) is core/dns.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dns/dns_cache.h"
#include "core/dns/dns_channel.h"
#include "core/dns/dns_lookup.h"
#include "core/net_address.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

// What to resolve: the parts of a SIP URI that RFC 3263 looks at (maddr, if present, already
// replaced the host). Kept free of the codec's Uri type; resolver_uri.h has the Uri form.
struct SipTarget {
  std::string host;  // domain name or IP literal ("192.0.2.1", "::1" or "[::1]")
  std::optional<uint16_t> port = std::nullopt;
  std::optional<TransportKind> transport = std::nullopt;  // the URI's transport= parameter
  bool secure = false;                     // sips: only TLS targets are acceptable
};

struct ResolvedTarget {
  TransportKind kind = TransportKind::kUdp;
  NetAddress address;
  std::string server_name;  // TLS SNI / certificate name to check (RFC 5922: the SIP domain)
  friend bool operator==(const ResolvedTarget&, const ResolvedTarget&) = default;
};

// An extra SRV service to try when the target gives neither port nor transport, e.g. Lync/Skype
// federation publishes "_sipfederationtls._tcp.<domain>".
struct SrvService {
  std::string prefix;  // "_sipfederationtls._tcp"
  TransportKind kind = TransportKind::kTls;
  // Lync federation checks the edge's certificate against the SRV target's FQDN, not the domain.
  bool server_name_from_target = true;
};

using dns::AddressOrder;

struct ResolverOptions {
  std::vector<TransportKind> transports = {TransportKind::kUdp, TransportKind::kTcp,
                                           TransportKind::kTls};  // what we can send on
  std::vector<SrvService> extra_services;
  bool extra_services_first = false;  // try extra services before _sips/_sip ones
  AddressOrder address_order = AddressOrder::kV6First;
  size_t max_naptr = 8;        // usable NAPTR records followed
  size_t max_srv_hosts = 16;   // SRV targets followed, over all services
  size_t max_targets = 32;     // length bound of the result
  size_t max_queries_in_flight = 1024;  // beyond this a lookup fails (Unavailable) at once
  dns::DnsChannelOptions dns;
  dns::DnsCacheOptions cache;
  uint64_t random_seed = 0;  // SRV weight selection; 0 = seeded from std::random_device
};

class Resolver {
 public:
  // Ordered candidates, most preferred first. Errors: NotFound (NXDOMAIN / no usable records),
  // Unavailable (timeouts, SERVFAIL), InvalidArgument (bad target), FailedPrecondition (the target
  // demands a transport we do not support). Messages name the host.
  using Result = absl::StatusOr<std::vector<ResolvedTarget>>;
  using Callback = std::function<void(Result)>;

  static absl::StatusOr<std::unique_ptr<Resolver>> Create(boost::asio::io_context& io,
                                                          ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // `callback` runs later on the io_context, exactly once, unless the Resolver is destroyed first.
  void Resolve(const SipTarget& target, Callback callback);

  // Delivers `error` to `callback` the same way (later, on the io_context); for wrappers that
  // reject a request before resolving it, such as ResolveUri().
  void Fail(Callback callback, absl::Status error) { Finish(std::move(callback), std::move(error)); }

  dns::DnsCache& cache() { return lookup_->cache(); }
  // DNS queries on the wire now; concurrent lookups of the same (name, type) share one query.
  size_t queries_in_flight() const { return lookup_->queries_in_flight(); }
  const ResolverOptions& options() const { return options_; }

 private:
  class Operation;
  friend class Operation;

  Resolver(boost::asio::io_context& io, ResolverOptions options,
           std::unique_ptr<dns::DnsLookup> lookup);
  void Finish(Callback callback, Result result);
  bool Supports(TransportKind kind) const;

  boost::asio::io_context& io_;
  ResolverOptions options_;
  std::mt19937_64 rng_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, so no DNS answer reaches an operation after the rest is gone.
  std::unique_ptr<dns::DnsLookup> lookup_;
};

// The NAPTR service field's transport (RFC 3263 §4.1), if it is one SIP uses over DNS.
std::optional<TransportKind> NaptrServiceTransport(std::string_view service);

inline uint16_t DefaultSipPort(TransportKind kind) {
  return kind == TransportKind::kTls ? 5061 : 5060;
}

}  // namespace causeway::sip
