#include "core/dns/dns_lookup.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::dns {

std::vector<DnsType> AddressTypes(AddressOrder order) {
  switch (order) {
    case AddressOrder::kV6First:
      return {DnsType::kAaaa, DnsType::kA};
    case AddressOrder::kV4First:
      return {DnsType::kA, DnsType::kAaaa};
    case AddressOrder::kV6Only:
      return {DnsType::kAaaa};
    case AddressOrder::kV4Only:
      return {DnsType::kA};
  }
  return {DnsType::kAaaa, DnsType::kA};
}

std::optional<NetAddress> ParseIpLiteral(std::string_view host) {
  if (host.find(':') != std::string_view::npos) {
    return NetAddress::Parse(absl::StrCat("[", ToAbsl(host), "]"));
  }
  return NetAddress::Parse(host);
}

DnsLookup::DnsLookup(const DnsLookupOptions& options, std::unique_ptr<DnsChannel> channel)
    : cache_(options.cache),
      max_queries_in_flight_(options.max_queries_in_flight),
      channel_(std::move(channel)) {}

absl::StatusOr<std::unique_ptr<DnsLookup>> DnsLookup::Create(boost::asio::io_context& io,
                                                             const DnsLookupOptions& options) {
  if (options.max_queries_in_flight == 0) {
    return absl::InvalidArgumentError("DNS: max_queries_in_flight must be positive");
  }
  absl::StatusOr<std::unique_ptr<DnsChannel>> channel = DnsChannel::Create(io, options.channel);
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<DnsLookup>(new DnsLookup(options, std::move(*channel)));
}

void DnsLookup::Lookup(const std::string& name, DnsType type, Callback callback) {
  if (const DnsCache::Hit* hit = cache_.Find(name, type, DnsCache::Clock::now())) {
    const DnsCache::Hit copy = *hit;  // the callback may insert into the cache
    callback(copy.status, copy.records);
    return;
  }
  std::string key = absl::StrCat(static_cast<int>(type), "/", name);
  if (auto it = inflight_.find(key); it != inflight_.end()) {
    it->second.push_back(std::move(callback));  // same question already asked: wait for it
    return;
  }
  if (inflight_.size() >= max_queries_in_flight_) {
    callback(absl::UnavailableError(absl::StrCat(ToAbsl(DnsTypeName(type)), " ", name,
                                                 ": too many DNS queries in flight")),
             DnsRecords{});
    return;
  }
  inflight_[key].push_back(std::move(callback));
  channel_->Query(name, type, [this, name, type, key](absl::StatusOr<DnsRecords> result) {
    const auto now = DnsCache::Clock::now();
    if (result.ok()) {
      cache_.PutPositive(name, type, *result, now);
    } else {
      cache_.PutNegative(name, type, result.status(), now);
    }
    auto it = inflight_.find(key);
    if (it == inflight_.end()) return;
    std::vector<Callback> waiters = std::move(it->second);
    inflight_.erase(it);
    const absl::Status status = result.ok() ? absl::OkStatus() : result.status();
    const DnsRecords records = result.ok() ? *std::move(result) : DnsRecords{};
    for (Callback& waiter : waiters) waiter(status, records);
  });
}

void DnsLookup::Gather(const std::vector<Question>& questions,
                       std::function<void(std::vector<Answer>)> done) {
  struct State {
    std::vector<Answer> answers;
    size_t pending;
    std::function<void(std::vector<Answer>)> done;
  };
  // pending starts one high so cached answers completing inline cannot finish before the loop.
  auto state = std::make_shared<State>(
      State{std::vector<Answer>(questions.size()), questions.size() + 1, std::move(done)});
  auto finish_one = [state] {
    if (--state->pending == 0) state->done(std::move(state->answers));
  };
  for (size_t i = 0; i < questions.size(); ++i) {
    Lookup(questions[i].first, questions[i].second,
           [state, i, finish_one](const absl::Status& status, const DnsRecords& records) {
             state->answers[i] = Answer{status, records};
             finish_one();
           });
  }
  finish_one();
}

}  // namespace causeway::dns
