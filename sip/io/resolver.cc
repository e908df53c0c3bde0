#include "sip/io/resolver.h"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/dns/srv_order.h"
#include "core/strings.h"

namespace causeway::sip {
namespace asio = boost::asio;
using dns::DnsLookup;
using dns::DnsRecords;
using dns::DnsType;
using dns::NaptrRecord;
using dns::SrvRecord;

namespace {

struct ServiceQuery {
  std::string srv_name;  // "_sip._tcp.example.com" (or a NAPTR replacement)
  TransportKind kind;
  bool server_name_from_target;
};

// One host to look up A/AAAA for, in result order.
struct HostQuery {
  std::string host;
  uint16_t port;
  TransportKind kind;
  std::string server_name;
};

std::string StripBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

}  // namespace

std::optional<TransportKind> NaptrServiceTransport(std::string_view service) {
  const absl::string_view s = ToAbsl(service);
  if (absl::EqualsIgnoreCase(s, "SIP+D2U")) return TransportKind::kUdp;
  if (absl::EqualsIgnoreCase(s, "SIP+D2T")) return TransportKind::kTcp;
  if (absl::EqualsIgnoreCase(s, "SIPS+D2T")) return TransportKind::kTls;
  return std::nullopt;  // SCTP, WebSocket, other applications
}

// One resolution in flight. Kept alive by the callbacks of its outstanding lookups; those never run
// after the Resolver (and its DNS channel) is gone, so `resolver_` stays valid while we run.
class Resolver::Operation : public std::enable_shared_from_this<Resolver::Operation> {
 public:
  Operation(Resolver* resolver, SipTarget target, Callback callback)
      : resolver_(resolver), target_(std::move(target)), callback_(std::move(callback)) {}

  void Start();

 private:
  const ResolverOptions& options() const { return resolver_->options_; }
  void OnNaptr(const absl::Status& status, const DnsRecords& records);
  void SrvFallback();
  void QueryServices(std::vector<ServiceQuery> services, TransportKind fallback_kind);
  void OnServices(const std::vector<ServiceQuery>& services, TransportKind fallback_kind,
                  std::vector<DnsLookup::Answer> results);
  void QueryAddresses(std::vector<HostQuery> hosts);
  void OnAddresses(const std::vector<HostQuery>& hosts,
                   const std::vector<DnsLookup::Question>& queries,
                   std::vector<DnsLookup::Answer> results);

  void Fail(absl::StatusCode code, std::string_view detail) {
    Done(absl::Status(code, absl::StrCat("resolving ", target_.secure ? "sips:" : "sip:",
                                         host_, ": ", ToAbsl(detail))));
  }
  void Done(Result result) { resolver_->Finish(std::move(callback_), std::move(result)); }

  Resolver* resolver_;
  SipTarget target_;
  Callback callback_;
  std::string host_;  // lower-case, no brackets, no trailing dot
};

void Resolver::Operation::Start() {
  host_ = absl::AsciiStrToLower(ToAbsl(StripBrackets(target_.host)));
  if (!host_.empty() && host_.back() == '.') host_.pop_back();
  if (host_.empty()) return Fail(absl::StatusCode::kInvalidArgument, "empty host");
  if (target_.port && *target_.port == 0) return Fail(absl::StatusCode::kInvalidArgument, "port 0");

  // RFC 3263 §4.1: an explicit transport wins; a sips URI always means TLS.
  std::optional<TransportKind> kind = target_.transport;
  if (target_.secure && kind) {
    if (*kind == TransportKind::kUdp) {
      return Fail(absl::StatusCode::kInvalidArgument, "sips with transport=udp");
    }
    kind = TransportKind::kTls;
  }
  if (kind && !resolver_->Supports(*kind)) {
    return Fail(absl::StatusCode::kFailedPrecondition,
                absl::StrCat("transport ", ToAbsl(TransportName(*kind)), " not supported"));
  }
  const std::optional<NetAddress> numeric = dns::ParseIpLiteral(host_);
  if (!kind && (numeric || target_.port)) {
    // §4.1: numeric host or explicit port without transport: UDP for sip (TCP if we have no UDP),
    // TLS for sips.
    if (target_.secure) {
      kind = TransportKind::kTls;
    } else if (resolver_->Supports(TransportKind::kUdp)) {
      kind = TransportKind::kUdp;
    } else {
      kind = TransportKind::kTcp;
    }
    if (!resolver_->Supports(*kind)) {
      return Fail(absl::StatusCode::kFailedPrecondition,
                  absl::StrCat("transport ", ToAbsl(TransportName(*kind)), " not supported"));
    }
  }
  if (numeric) {
    NetAddress address = *numeric;
    address.set_port(target_.port.value_or(DefaultSipPort(*kind)));
    return Done(std::vector<ResolvedTarget>{{*kind, address, address.HostString()}});
  }
  if (target_.port) {  // §4.2: explicit port -> A/AAAA only
    return QueryAddresses({HostQuery{host_, *target_.port, *kind, host_}});
  }
  if (kind) {  // §4.2: transport known, no port -> SRV for that transport
    std::vector<ServiceQuery> services;
    const std::string_view prefix = *kind == TransportKind::kTls   ? "_sips._tcp."
                                    : *kind == TransportKind::kTcp ? "_sip._tcp."
                                                                   : "_sip._udp.";
    services.push_back({absl::StrCat(ToAbsl(prefix), host_), *kind, false});
    for (const SrvService& extra : options().extra_services) {
      if (extra.kind != *kind) continue;
      ServiceQuery q{absl::StrCat(extra.prefix, ".", host_), extra.kind,
                     extra.server_name_from_target};
      if (options().extra_services_first) {
        services.insert(services.begin(), std::move(q));
      } else {
        services.push_back(std::move(q));
      }
    }
    return QueryServices(std::move(services), *kind);
  }
  // §4.1: neither port nor transport -> NAPTR.
  auto self = shared_from_this();
  resolver_->lookup_->Lookup(host_, DnsType::kNaptr,
                             [self](const absl::Status& status, const DnsRecords& records) {
                               self->OnNaptr(status, records);
                             });
}

void Resolver::Operation::OnNaptr(const absl::Status& status, const DnsRecords& records) {
  if (dns::IsNxDomain(status)) {  // the name does not exist: SRV and A would say the same
    return Fail(absl::StatusCode::kNotFound, FromAbsl(status.message()));
  }
  if (absl::IsUnavailable(status)) {
    return Fail(absl::StatusCode::kUnavailable, FromAbsl(status.message()));
  }
  if (!status.ok()) return SrvFallback();  // NODATA: no NAPTR published

  std::vector<NaptrRecord> usable;
  for (const NaptrRecord& r : records.naptr) {
    // SIP only uses terminal "S" rules pointing at SRV records (RFC 3263 §4.1).
    if (!absl::EqualsIgnoreCase(ToAbsl(r.flags), "s") || r.replacement.empty()) continue;
    const std::optional<TransportKind> kind = NaptrServiceTransport(r.service);
    if (!kind || !resolver_->Supports(*kind)) continue;
    if (target_.secure && *kind != TransportKind::kTls) continue;
    usable.push_back(r);
  }
  std::stable_sort(usable.begin(), usable.end(), [](const NaptrRecord& a, const NaptrRecord& b) {
    return a.order != b.order ? a.order < b.order : a.preference < b.preference;
  });
  if (usable.size() > options().max_naptr) usable.resize(options().max_naptr);
  if (usable.empty()) return SrvFallback();  // nothing we can use: as if there were no NAPTR
  std::vector<ServiceQuery> services;
  for (const NaptrRecord& r : usable) {
    services.push_back({r.replacement, *NaptrServiceTransport(r.service), false});
  }
  const TransportKind first = services.front().kind;
  QueryServices(std::move(services), first);
}

void Resolver::Operation::SrvFallback() {
  // §4.1: no (usable) NAPTR: SRV for each transport we support, most secure first.
  std::vector<ServiceQuery> services;
  const struct {
    std::string_view prefix;
    TransportKind kind;
  } kStandard[] = {{"_sips._tcp.", TransportKind::kTls},
                   {"_sip._tcp.", TransportKind::kTcp},
                   {"_sip._udp.", TransportKind::kUdp}};
  for (const auto& s : kStandard) {
    if (!resolver_->Supports(s.kind) || (target_.secure && s.kind != TransportKind::kTls)) continue;
    services.push_back({absl::StrCat(ToAbsl(s.prefix), host_), s.kind, false});
  }
  std::vector<ServiceQuery> extras;
  for (const SrvService& extra : options().extra_services) {
    if (!resolver_->Supports(extra.kind)) continue;
    if (target_.secure && extra.kind != TransportKind::kTls) continue;
    extras.push_back({absl::StrCat(extra.prefix, ".", host_), extra.kind,
                      extra.server_name_from_target});
  }
  services.insert(options().extra_services_first ? services.begin() : services.end(),
                  extras.begin(), extras.end());
  // Without SRV, A/AAAA on the default port: TLS for sips, else UDP (TCP if we lack UDP).
  TransportKind fallback = TransportKind::kTls;
  if (!target_.secure) {
    fallback = resolver_->Supports(TransportKind::kUdp) ? TransportKind::kUdp : TransportKind::kTcp;
  }
  if (!resolver_->Supports(fallback)) {
    if (services.empty()) {
      return Fail(absl::StatusCode::kFailedPrecondition, "no supported transport for this target");
    }
    fallback = services.front().kind;
  }
  if (services.empty()) return QueryAddresses({HostQuery{host_, DefaultSipPort(fallback),
                                                         fallback, host_}});
  QueryServices(std::move(services), fallback);
}

void Resolver::Operation::QueryServices(std::vector<ServiceQuery> services,
                                        TransportKind fallback_kind) {
  std::vector<DnsLookup::Question> queries;
  for (const ServiceQuery& s : services) queries.emplace_back(s.srv_name, DnsType::kSrv);
  auto self = shared_from_this();
  resolver_->lookup_->Gather(queries, [self, services = std::move(services), fallback_kind](
                                          std::vector<DnsLookup::Answer> results) {
    self->OnServices(services, fallback_kind, std::move(results));
  });
}

void Resolver::Operation::OnServices(const std::vector<ServiceQuery>& services,
                                     TransportKind fallback_kind,
                                     std::vector<DnsLookup::Answer> results) {
  std::vector<HostQuery> hosts;
  bool declined = false;     // some service said "." (RFC 2782: decidedly not available)
  bool unavailable = false;  // some lookup failed for reasons other than "no such record"
  std::string first_error;
  for (size_t i = 0; i < services.size(); ++i) {
    const DnsLookup::Answer& r = results[i];
    if (!r.status.ok()) {
      if (!absl::IsNotFound(r.status)) {
        unavailable = true;
        if (first_error.empty()) first_error = std::string(FromAbsl(r.status.message()));
      }
      continue;
    }
    std::vector<SrvRecord> ordered = dns::OrderSrvRecords(r.records.srv, resolver_->rng_);
    if (ordered.empty()) {
      declined = true;
      continue;
    }
    for (SrvRecord& srv : ordered) {
      if (hosts.size() >= options().max_srv_hosts) break;
      std::string server_name = services[i].server_name_from_target ? srv.target : host_;
      hosts.push_back({std::move(srv.target), srv.port, services[i].kind, std::move(server_name)});
    }
  }
  if (!hosts.empty()) return QueryAddresses(std::move(hosts));
  if (unavailable) return Fail(absl::StatusCode::kUnavailable, first_error);
  if (declined) return Fail(absl::StatusCode::kNotFound, "SRV says the service is not available");
  // §4.2: no SRV records at all -> A/AAAA of the domain on the transport's default port.
  QueryAddresses({HostQuery{host_, DefaultSipPort(fallback_kind), fallback_kind, host_}});
}

void Resolver::Operation::QueryAddresses(std::vector<HostQuery> hosts) {
  // One query per distinct (name, type): several SRV records often share a target.
  std::vector<DnsLookup::Question> queries;
  auto add = [&queries](const std::string& name, DnsType type) {
    DnsLookup::Question q(name, type);
    if (std::find(queries.begin(), queries.end(), q) == queries.end()) queries.push_back(q);
  };
  const std::vector<DnsType> types = dns::AddressTypes(options().address_order);
  for (const HostQuery& h : hosts) {
    if (dns::ParseIpLiteral(h.host)) continue;  // an SRV target written as an IP literal
    for (DnsType type : types) add(h.host, type);
  }
  auto self = shared_from_this();
  resolver_->lookup_->Gather(queries, [self, hosts = std::move(hosts),
                                       queries](std::vector<DnsLookup::Answer> results) {
    self->OnAddresses(hosts, queries, std::move(results));
  });
}

void Resolver::Operation::OnAddresses(const std::vector<HostQuery>& hosts,
                                      const std::vector<DnsLookup::Question>& queries,
                                      std::vector<DnsLookup::Answer> results) {
  auto find = [&](const std::string& name, DnsType type) -> const DnsLookup::Answer* {
    for (size_t i = 0; i < queries.size(); ++i) {
      if (queries[i].first == name && queries[i].second == type) return &results[i];
    }
    return nullptr;
  };
  const std::vector<DnsType> types = dns::AddressTypes(options().address_order);
  std::vector<ResolvedTarget> out;
  bool unavailable = false;
  std::string first_error;
  auto emit = [&](const HostQuery& h, NetAddress address) {
    if (out.size() >= options().max_targets) return;
    address.set_port(h.port);
    ResolvedTarget t{h.kind, address, h.server_name};
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  };
  for (const HostQuery& h : hosts) {
    if (std::optional<NetAddress> literal = dns::ParseIpLiteral(h.host)) {
      emit(h, *literal);
      continue;
    }
    for (DnsType type : types) {
      const DnsLookup::Answer* r = find(h.host, type);
      if (r == nullptr) continue;
      if (!r->status.ok()) {
        if (!absl::IsNotFound(r->status)) unavailable = true;
        if (first_error.empty()) first_error = std::string(FromAbsl(r->status.message()));
        continue;
      }
      for (const NetAddress& a : r->records.addresses) emit(h, a);
    }
  }
  if (!out.empty()) return Done(std::move(out));
  if (first_error.empty()) first_error = "no addresses";
  Fail(unavailable ? absl::StatusCode::kUnavailable : absl::StatusCode::kNotFound, first_error);
}

Resolver::Resolver(asio::io_context& io, ResolverOptions options,
                   std::unique_ptr<DnsLookup> lookup)
    : io_(io),
      options_(std::move(options)),
      rng_(options_.random_seed != 0 ? options_.random_seed : std::random_device{}()),
      lookup_(std::move(lookup)) {}

Resolver::~Resolver() { *alive_ = false; }

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(asio::io_context& io,
                                                           ResolverOptions options) {
  if (options.transports.empty()) {
    return absl::InvalidArgumentError("resolver: no transports configured");
  }
  if (options.max_targets == 0 || options.max_srv_hosts == 0 || options.max_naptr == 0 ||
      options.max_queries_in_flight == 0) {
    return absl::InvalidArgumentError("resolver: limits must be positive");
  }
  for (const SrvService& s : options.extra_services) {
    if (s.prefix.empty() || s.prefix.front() != '_' || s.prefix.back() == '.') {
      return absl::InvalidArgumentError(
          absl::StrCat("resolver: bad SRV service \"", s.prefix, "\" (want _service._proto)"));
    }
  }
  absl::StatusOr<std::unique_ptr<DnsLookup>> lookup = DnsLookup::Create(
      io, dns::DnsLookupOptions{options.dns, options.cache, options.max_queries_in_flight});
  if (!lookup.ok()) return lookup.status();
  return std::unique_ptr<Resolver>(new Resolver(io, std::move(options), std::move(*lookup)));
}

void Resolver::Resolve(const SipTarget& target, Callback callback) {
  std::make_shared<Operation>(this, target, std::move(callback))->Start();
}

bool Resolver::Supports(TransportKind kind) const {
  return std::find(options_.transports.begin(), options_.transports.end(), kind) !=
         options_.transports.end();
}

void Resolver::Finish(Callback callback, Result result) {
  // Always later on the io_context, never inside Resolve(): callers need not fear reentrancy.
  asio::post(io_, [alive = alive_, cb = std::move(callback), r = std::move(result)]() mutable {
    if (*alive) cb(std::move(r));
  });
}

}  // namespace causeway::sip
