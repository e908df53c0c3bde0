#pragma once
// One c-ares channel driven by one worker's io_context: c-ares tells us (ARES_OPT_SOCK_STATE_CB)
// which sockets to watch, we wait on them with stream_descriptor::async_wait and an Asio timer for
// ares_timeout(). One channel per worker and everything runs on that worker's thread: no locks.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dns/dns_message.h"

struct ares_channeldata;

namespace causeway::dns {

struct DnsChannelOptions {
  // "host:port" list for ares_set_servers_ports_csv, e.g. "127.0.0.1:5353,[::1]:53".
  // Empty: the system configuration (/etc/resolv.conf).
  std::string servers;
  std::chrono::milliseconds timeout{2000};  // per try, per server
  int tries = 2;
  bool use_tcp = false;  // ARES_FLAG_USEVC: every query over TCP
  DnsParseLimits parse_limits;
};

// Marks a NotFound status as NXDOMAIN (the name does not exist at all) as opposed to NODATA (the
// name exists but has no record of the asked type). RFC 3263 resolution stops early on NXDOMAIN;
// RFC 6120 SRV resolution falls back to A/AAAA on either.
bool IsNxDomain(const absl::Status& status);
absl::Status NxDomainError(std::string_view name, DnsType type);

class DnsChannel {
 public:
  // Results: the records, or NotFound (NXDOMAIN / no records of that type), Unavailable (timeout,
  // SERVFAIL, REFUSED, bad response), InvalidArgument (bad name). Messages name the query.
  using Callback = std::function<void(absl::StatusOr<DnsRecords>)>;

  static absl::StatusOr<std::unique_ptr<DnsChannel>> Create(boost::asio::io_context& io,
                                                            const DnsChannelOptions& options);
  ~DnsChannel();
  DnsChannel(const DnsChannel&) = delete;
  DnsChannel& operator=(const DnsChannel&) = delete;

  // Starts a query. `callback` runs later on the io_context (never inside Query) exactly once,
  // unless the channel is destroyed first, in which case it never runs.
  void Query(std::string_view name, DnsType type, Callback callback);

  size_t pending_queries() const { return pending_; }
  size_t watched_sockets() const { return watches_.size(); }

 private:
  struct Watch;
  struct QueryContext;

  DnsChannel(boost::asio::io_context& io, const DnsChannelOptions& options);
  static void OnSocketState(void* data, int fd, int readable, int writable);
  static void OnQueryDone(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  void Arm(const std::shared_ptr<Watch>& watch);
  void ResetTimer();
  void Deliver(Callback callback, absl::StatusOr<DnsRecords> result);

  boost::asio::io_context& io_;
  DnsChannelOptions options_;
  ares_channeldata* channel_ = nullptr;
  boost::asio::steady_timer timer_;
  std::unordered_map<int, std::shared_ptr<Watch>> watches_;  // bounded by c-ares' own sockets
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  size_t pending_ = 0;
};

}  // namespace causeway::dns
