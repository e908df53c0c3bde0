#include "core/dns/srv_resolver.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/dns/srv_order.h"
#include "core/strings.h"

namespace causeway::dns {
namespace asio = boost::asio;

namespace {

// One host to look up A/AAAA for, in result order.
struct HostQuery {
  std::string host;
  uint16_t port;
  std::string service;
};

bool ValidService(const std::string& service) {
  return service.size() > 1 && service.front() == '_' && service.back() != '.';
}

}  // namespace

// One resolution in flight. Kept alive by the callbacks of its outstanding lookups; those never run
// after the SrvResolver (and its DnsLookup) is gone, so `resolver_` stays valid while we run.
class SrvResolver::Operation : public std::enable_shared_from_this<SrvResolver::Operation> {
 public:
  Operation(SrvResolver* resolver, SrvRequest request, Callback callback)
      : resolver_(resolver), request_(std::move(request)), callback_(std::move(callback)) {}

  void Start();

 private:
  const SrvResolverOptions& options() const { return resolver_->options_; }
  void OnServices(std::vector<DnsLookup::Answer> answers);
  // `srv_error`: why the SRV lookups gave nothing, reported if the addresses fail as well.
  void QueryAddresses(std::vector<HostQuery> hosts, absl::Status srv_error);
  void OnAddresses(const std::vector<HostQuery>& hosts,
                   const std::vector<DnsLookup::Question>& questions,
                   std::vector<DnsLookup::Answer> answers, const absl::Status& srv_error);

  void Fail(absl::StatusCode code, std::string_view detail) {
    Done(absl::Status(code, absl::StrCat("resolving ", absl::StrJoin(request_.services, ", "),
                                         " for ", domain_, ": ", ToAbsl(detail))));
  }
  void Done(Result result) { resolver_->Finish(std::move(callback_), std::move(result)); }

  SrvResolver* resolver_;
  SrvRequest request_;
  Callback callback_;
  std::string domain_;  // lower-case, no brackets, no trailing dot
};

void SrvResolver::Operation::Start() {
  std::string_view domain = request_.domain;
  if (domain.size() >= 2 && domain.front() == '[' && domain.back() == ']') {
    domain = domain.substr(1, domain.size() - 2);
  }
  domain_ = absl::AsciiStrToLower(ToAbsl(domain));
  if (!domain_.empty() && domain_.back() == '.') domain_.pop_back();
  if (domain_.empty()) return Fail(absl::StatusCode::kInvalidArgument, "empty domain");
  for (const std::string& service : request_.services) {
    if (!ValidService(service)) {
      return Fail(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("bad SRV service \"", service, "\" (want _service._proto)"));
    }
  }
  if (request_.services.empty() && request_.fallback_port == 0) {
    return Fail(absl::StatusCode::kInvalidArgument, "neither SRV services nor a fallback port");
  }
  if (std::optional<NetAddress> literal = ParseIpLiteral(domain_)) {
    // An IP literal has no SRV records: only the fallback port can apply.
    if (request_.fallback_port == 0) {
      return Fail(absl::StatusCode::kInvalidArgument, "IP literal without a fallback port");
    }
    literal->set_port(request_.fallback_port);
    return Done(std::vector<SrvTarget>{{domain_, request_.fallback_port, *literal, ""}});
  }
  if (request_.services.empty()) {
    return QueryAddresses({HostQuery{domain_, request_.fallback_port, ""}}, absl::OkStatus());
  }
  std::vector<DnsLookup::Question> questions;
  for (const std::string& service : request_.services) {
    questions.emplace_back(absl::StrCat(service, ".", domain_), DnsType::kSrv);
  }
  auto self = shared_from_this();
  resolver_->lookup_->Gather(questions, [self](std::vector<DnsLookup::Answer> answers) {
    self->OnServices(std::move(answers));
  });
}

void SrvResolver::Operation::OnServices(std::vector<DnsLookup::Answer> answers) {
  std::vector<HostQuery> hosts;
  bool declined = false;     // some service said "." (RFC 2782: decidedly not available)
  absl::Status unavailable;  // the first failure other than "no such record"
  for (size_t i = 0; i < answers.size(); ++i) {
    const DnsLookup::Answer& answer = answers[i];
    if (!answer.status.ok()) {
      if (!absl::IsNotFound(answer.status) && unavailable.ok()) unavailable = answer.status;
      continue;
    }
    std::vector<SrvRecord> ordered = OrderSrvRecords(answer.records.srv, resolver_->rng_);
    if (ordered.empty()) {
      declined = true;
      continue;
    }
    for (SrvRecord& srv : ordered) {
      if (hosts.size() >= options().max_srv_hosts) break;
      hosts.push_back({std::move(srv.target), srv.port, request_.services[i]});
    }
  }
  if (!hosts.empty()) return QueryAddresses(std::move(hosts), absl::OkStatus());
  // A published "." is a deliberate answer; a fallback to the bare domain would override it.
  if (declined) return Fail(absl::StatusCode::kNotFound, "SRV says the service is not available");
  if (request_.fallback_port == 0) {
    if (!unavailable.ok()) {
      return Fail(absl::StatusCode::kUnavailable, FromAbsl(unavailable.message()));
    }
    return Fail(absl::StatusCode::kNotFound, "no SRV records and no fallback port");
  }
  // RFC 6120 §3.2.2: A/AAAA of the domain itself on the fallback port.
  QueryAddresses({HostQuery{domain_, request_.fallback_port, ""}}, unavailable);
}

void SrvResolver::Operation::QueryAddresses(std::vector<HostQuery> hosts, absl::Status srv_error) {
  // One query per distinct (name, type): several SRV records often share a target.
  std::vector<DnsLookup::Question> questions;
  const std::vector<DnsType> types = AddressTypes(options().address_order);
  for (const HostQuery& h : hosts) {
    if (ParseIpLiteral(h.host)) continue;  // an SRV target written as an IP literal
    for (DnsType type : types) {
      DnsLookup::Question q(h.host, type);
      if (std::find(questions.begin(), questions.end(), q) == questions.end()) {
        questions.push_back(std::move(q));
      }
    }
  }
  auto self = shared_from_this();
  resolver_->lookup_->Gather(
      questions, [self, hosts = std::move(hosts), questions,
                  srv_error = std::move(srv_error)](std::vector<DnsLookup::Answer> answers) {
        self->OnAddresses(hosts, questions, std::move(answers), srv_error);
      });
}

void SrvResolver::Operation::OnAddresses(const std::vector<HostQuery>& hosts,
                                         const std::vector<DnsLookup::Question>& questions,
                                         std::vector<DnsLookup::Answer> answers,
                                         const absl::Status& srv_error) {
  auto find = [&](const std::string& name, DnsType type) -> const DnsLookup::Answer* {
    for (size_t i = 0; i < questions.size(); ++i) {
      if (questions[i].first == name && questions[i].second == type) return &answers[i];
    }
    return nullptr;
  };
  const std::vector<DnsType> types = AddressTypes(options().address_order);
  std::vector<SrvTarget> out;
  bool unavailable = false;
  std::string first_error;
  auto emit = [&](const HostQuery& h, NetAddress address) {
    if (out.size() >= options().max_targets) return;
    address.set_port(h.port);
    SrvTarget t{h.host, h.port, address, h.service};
    if (std::find(out.begin(), out.end(), t) == out.end()) out.push_back(std::move(t));
  };
  for (const HostQuery& h : hosts) {
    if (std::optional<NetAddress> literal = ParseIpLiteral(h.host)) {
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
  if (!srv_error.ok()) {  // the SRV lookup failed and so did the fallback: report the cause
    return Fail(absl::StatusCode::kUnavailable,
                absl::StrCat(srv_error.message(),
                             "; fallback: ", first_error.empty() ? "no addresses" : first_error));
  }
  if (first_error.empty()) first_error = "no addresses";
  Fail(unavailable ? absl::StatusCode::kUnavailable : absl::StatusCode::kNotFound, first_error);
}

SrvResolver::SrvResolver(asio::io_context& io, SrvResolverOptions options,
                         std::unique_ptr<DnsLookup> lookup)
    : io_(io),
      options_(std::move(options)),
      rng_(options_.random_seed != 0 ? options_.random_seed : std::random_device{}()),
      lookup_(std::move(lookup)) {}

SrvResolver::~SrvResolver() { *alive_ = false; }

absl::StatusOr<std::unique_ptr<SrvResolver>> SrvResolver::Create(asio::io_context& io,
                                                                 SrvResolverOptions options) {
  if (options.max_targets == 0 || options.max_srv_hosts == 0) {
    return absl::InvalidArgumentError("SRV resolver: limits must be positive");
  }
  absl::StatusOr<std::unique_ptr<DnsLookup>> lookup = DnsLookup::Create(io, options.dns);
  if (!lookup.ok()) return lookup.status();
  return std::unique_ptr<SrvResolver>(new SrvResolver(io, std::move(options), std::move(*lookup)));
}

void SrvResolver::Resolve(const SrvRequest& request, Callback callback) {
  std::make_shared<Operation>(this, request, std::move(callback))->Start();
}

void SrvResolver::Finish(Callback callback, Result result) {
  // Always later on the io_context, never inside Resolve(): callers need not fear reentrancy.
  asio::post(io_, [alive = alive_, cb = std::move(callback), r = std::move(result)]() mutable {
    if (*alive) cb(std::move(r));
  });
}

}  // namespace causeway::dns
