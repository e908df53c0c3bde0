#include "core/dns/dns_channel.h"

#include <ares.h>
#include <sys/time.h>

#include <mutex>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"

namespace causeway::dns {
namespace asio = boost::asio;

namespace {

constexpr std::string_view kNxDomainPayloadUrl = "causeway/dns-nxdomain";
constexpr size_t kMaxDnsNameLength = 253;

// ares_library_init is process-wide and not thread-safe in 1.18: do it once, never clean up (other
// workers may still hold channels at exit).
absl::Status InitAresOnce() {
  static std::once_flag once;
  static int result = ARES_SUCCESS;
  std::call_once(once, [] { result = ares_library_init(ARES_LIB_INIT_ALL); });
  if (result != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_library_init: ", ares_strerror(result)));
  }
  return absl::OkStatus();
}

absl::Status AresError(int status, std::string_view name, DnsType type) {
  const std::string what =
      absl::StrCat(ToAbsl(DnsTypeName(type)), " ", ToAbsl(name), ": ", ares_strerror(status));
  switch (status) {
    case ARES_ENOTFOUND:
      return NxDomainError(name, type);
    case ARES_ENODATA:
      return absl::NotFoundError(what);
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
      return absl::InvalidArgumentError(what);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return absl::CancelledError(what);
    default:  // ETIMEOUT, ESERVFAIL, EREFUSED, ECONNREFUSED, EFORMERR, EBADRESP, ENOTIMP, EOF...
      return absl::UnavailableError(what);
  }
}

}  // namespace

bool IsNxDomain(const absl::Status& status) {
  return absl::IsNotFound(status) && status.GetPayload(ToAbsl(kNxDomainPayloadUrl)).has_value();
}

absl::Status NxDomainError(std::string_view name, DnsType type) {
  absl::Status status = absl::NotFoundError(
      absl::StrCat(ToAbsl(DnsTypeName(type)), " ", ToAbsl(name), ": NXDOMAIN (no such name)"));
  status.SetPayload(ToAbsl(kNxDomainPayloadUrl), absl::Cord("1"));
  return status;
}

struct DnsChannel::Watch {
  explicit Watch(asio::io_context& io, int fd) : descriptor(io), fd(fd) {}
  asio::posix::stream_descriptor descriptor;
  int fd;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait(read) is outstanding
  bool writing = false;
  bool closed = false;   // c-ares dropped the socket: handlers still queued must do nothing
};

struct DnsChannel::QueryContext {
  DnsChannel* channel;
  std::string name;
  DnsType type;
  Callback callback;
};

DnsChannel::DnsChannel(asio::io_context& io, const DnsChannelOptions& options)
    : io_(io), options_(options), timer_(io) {}

absl::StatusOr<std::unique_ptr<DnsChannel>> DnsChannel::Create(asio::io_context& io,
                                                               const DnsChannelOptions& options) {
  if (absl::Status s = InitAresOnce(); !s.ok()) return s;
  if (options.tries < 1 || options.tries > 10 || options.timeout.count() < 1 ||
      options.timeout > std::chrono::seconds(60)) {
    return absl::InvalidArgumentError("DNS: tries must be 1..10 and timeout 1 ms..60 s");
  }
  std::unique_ptr<DnsChannel> self(new DnsChannel(io, options));
  ares_options opts{};
  int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  // We query exact names: no search domains, no HOSTALIASES.
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | (options.use_tcp ? ARES_FLAG_USEVC : 0);
  opts.timeout = static_cast<int>(options.timeout.count());
  opts.tries = options.tries;
  opts.sock_state_cb = &DnsChannel::OnSocketState;
  opts.sock_state_cb_data = self.get();
  ares_channel channel = nullptr;
  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    return absl::InternalError(absl::StrCat("ares_init_options: ", ares_strerror(rc)));
  }
  self->channel_ = channel;
  if (!options.servers.empty()) {
    rc = ares_set_servers_ports_csv(channel, options.servers.c_str());
    if (rc != ARES_SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat("DNS servers \"", options.servers,
                                                     "\": ", ares_strerror(rc)));
    }
  }
  return self;
}

DnsChannel::~DnsChannel() {
  // Order matters: queued handlers check alive_/closed before touching `this`; ares_destroy fails
  // pending queries with ARES_EDESTRUCTION (contexts freed, callbacks dropped) and reports each
  // socket closed through OnSocketState, which releases its descriptor.
  *alive_ = false;
  timer_.cancel();
  if (channel_ != nullptr) ares_destroy(channel_);
  for (auto& [fd, watch] : watches_) {
    watch->closed = true;
    boost::system::error_code ec;
    watch->descriptor.cancel(ec);
    watch->descriptor.release();  // c-ares owns (and has closed) the fd
  }
}

void DnsChannel::Query(std::string_view name, DnsType type, Callback callback) {
  std::string qname(name);
  if (!qname.empty() && qname.back() == '.') qname.pop_back();
  if (qname.empty() || qname.size() > kMaxDnsNameLength ||
      qname.find('\0') != std::string::npos) {
    Deliver(std::move(callback),
            absl::InvalidArgumentError(absl::StrCat("bad DNS name \"", ToAbsl(name), "\"")));
    return;
  }
  auto* ctx = new QueryContext{this, qname, type, std::move(callback)};
  ++pending_;
  // ns_c_in = 1. May call OnQueryDone inline (e.g. no servers); Deliver() posts, so still async.
  ares_query(channel_, ctx->name.c_str(), 1, static_cast<int>(type), &DnsChannel::OnQueryDone, ctx);
  ResetTimer();
}

void DnsChannel::OnQueryDone(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                             int alen) {
  std::unique_ptr<QueryContext> ctx(static_cast<QueryContext*>(arg));
  DnsChannel* self = ctx->channel;
  if (status == ARES_EDESTRUCTION) return;  // the channel is going away: drop silently
  --self->pending_;
  if (status != ARES_SUCCESS) {
    self->Deliver(std::move(ctx->callback), AresError(status, ctx->name, ctx->type));
    return;
  }
  std::string_view response(reinterpret_cast<const char*>(abuf), alen > 0 ? alen : 0);
  absl::StatusOr<DnsRecords> records =
      ParseDnsAnswers(response, ctx->type, self->options_.parse_limits);
  if (!records.ok()) {
    self->Deliver(std::move(ctx->callback),
                  absl::UnavailableError(absl::StrCat(ToAbsl(DnsTypeName(ctx->type)), " ",
                                                      ctx->name, ": ",
                                                      records.status().message())));
    return;
  }
  if (records->empty()) {  // e.g. only a CNAME to a name without the record type
    self->Deliver(std::move(ctx->callback), AresError(ARES_ENODATA, ctx->name, ctx->type));
    return;
  }
  self->Deliver(std::move(ctx->callback), std::move(records));
}

void DnsChannel::Deliver(Callback callback, absl::StatusOr<DnsRecords> result) {
  // Always through the io_context: the caller may start queries or destroy us from the callback,
  // neither of which is allowed inside ares_process_fd / ares_query.
  asio::post(io_, [alive = alive_, cb = std::move(callback), r = std::move(result)]() mutable {
    if (*alive) cb(std::move(r));
  });
}

void DnsChannel::OnSocketState(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DnsChannel*>(data);
  auto it = self->watches_.find(fd);
  if (!readable && !writable) {
    if (it == self->watches_.end()) return;
    std::shared_ptr<Watch> watch = std::move(it->second);
    self->watches_.erase(it);
    watch->closed = true;
    boost::system::error_code ec;
    watch->descriptor.cancel(ec);
    watch->descriptor.release();  // c-ares closes the fd right after this callback
    return;
  }
  if (it == self->watches_.end()) {
    auto watch = std::make_shared<Watch>(self->io_, fd);
    boost::system::error_code ec;
    watch->descriptor.assign(fd, ec);
    if (ec) {
      // Cannot watch it: the query still ends through the timer (ares_timeout) as a timeout.
      log::Warn("dns", "cannot watch c-ares socket", {{"fd", fd}, {"error", ec.message()}});
      return;
    }
    it = self->watches_.emplace(fd, std::move(watch)).first;
  }
  it->second->want_read = readable != 0;
  it->second->want_write = writable != 0;
  self->Arm(it->second);
}

void DnsChannel::Arm(const std::shared_ptr<Watch>& watch) {
  if (watch->closed) return;
  if (watch->want_read && !watch->reading) {
    watch->reading = true;
    watch->descriptor.async_wait(
        asio::posix::descriptor_base::wait_read,
        [this, watch](const boost::system::error_code& ec) {
          watch->reading = false;
          if (watch->closed || ec) return;  // checked before touching `this`
          ares_process_fd(channel_, watch->fd, ARES_SOCKET_BAD);
          if (watch->want_read) Arm(watch);
          ResetTimer();
        });
  }
  if (watch->want_write && !watch->writing) {
    watch->writing = true;
    watch->descriptor.async_wait(
        asio::posix::descriptor_base::wait_write,
        [this, watch](const boost::system::error_code& ec) {
          watch->writing = false;
          if (watch->closed || ec) return;
          ares_process_fd(channel_, ARES_SOCKET_BAD, watch->fd);
          if (watch->want_write) Arm(watch);
          ResetTimer();
        });
  }
}

void DnsChannel::ResetTimer() {
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_.cancel();  // nothing pending
    return;
  }
  timer_.expires_after(std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec));
  timer_.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (!*alive || ec) return;
    // Lets c-ares retry or fail queries whose time is up.
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ResetTimer();
  });
}

}  // namespace causeway::dns
