#pragma once
// Configuration, counters and the cross-worker connection limiter of the SIP transports.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/net_address.h"
#include "core/runtime/tls_context.h"
#include "sip/codec/message.h"
#include "sip/stack/transport.h"

namespace causeway::sip {

struct ListenConfig {
  TransportKind kind = TransportKind::kUdp;
  NetAddress address;                     // port 0 = ephemeral (tests); [::] and 0.0.0.0 both ok
  std::optional<NetAddress> advertised;   // Via/Record-Route address; default: the bound one
};

// Shared by the transports of every worker: the per-peer-IP and global caps are process-wide even
// though SO_REUSEPORT spreads one peer's connections over several workers. Taken once per
// connection open/close, never per message.
class ConnectionLimiter {
 public:
  ConnectionLimiter(size_t max_per_ip, size_t max_total)
      : max_per_ip_(max_per_ip), max_total_(max_total) {}

  // Inbound connections count against both caps, outbound ones only against the global cap.
  bool TryAcquire(const NetAddress& peer, bool inbound);
  void Release(const NetAddress& peer, bool inbound);
  size_t total() const;
  size_t count_for(const NetAddress& peer) const;

 private:
  static NetAddress Ip(const NetAddress& peer);  // port dropped

  const size_t max_per_ip_;
  const size_t max_total_;
  mutable absl::Mutex mu_;
  size_t total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<NetAddress, size_t> per_ip_ ABSL_GUARDED_BY(mu_);
};

struct SipTransportOptions {
  std::vector<ListenConfig> listen;
  // This transport's worker: stamped into every ConnectionId it creates (OwnerOfConnection).
  uint32_t owner = 0;
  ParseLimits limits;  // max_message_bytes bounds every connection's read buffer

  std::chrono::milliseconds idle_timeout_inbound = std::chrono::seconds(300);
  std::chrono::milliseconds idle_timeout_outbound = std::chrono::seconds(300);
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(10);
  // After an error answer: how long to wait for the peer to close before resetting.
  std::chrono::milliseconds close_linger = std::chrono::seconds(2);

  size_t max_connections_per_ip = 32;
  size_t max_connections = 10000;
  // Per-connection write queue; a send over either cap fails (OnSendFailed).
  size_t max_queued_messages = 512;
  size_t max_queued_bytes = 4 * 1024 * 1024;
  size_t udp_receive_batch = 32;  // datagrams read per wake-up before yielding to other work

  runtime::TlsContextPtr tls_server;  // required when a TLS listener is configured
  runtime::TlsContextPtr tls_client;  // outbound TLS; nullptr = outbound TLS fails
  // Share one limiter across the workers' transports; nullptr = a private one built from the caps.
  std::shared_ptr<ConnectionLimiter> limiter;
};

// Relaxed atomics: incremented on the owning worker, readable from any thread (admin/metrics).
struct TransportCounters {
  std::atomic<uint64_t> udp_datagrams_received{0};
  std::atomic<uint64_t> udp_datagrams_sent{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_rejected_over_cap{0};
  std::atomic<uint64_t> connections_opened{0};   // outbound, once connected (and handshaken)
  std::atomic<uint64_t> connect_failures{0};     // outbound connect or TLS handshake failed
  std::atomic<uint64_t> tls_handshake_failures{0};
  std::atomic<uint64_t> connections_closed{0};
  std::atomic<uint64_t> connections_idle_closed{0};
  std::atomic<uint64_t> messages_received{0};
  std::atomic<uint64_t> messages_sent{0};
  std::atomic<uint64_t> parse_errors{0};
  std::atomic<uint64_t> error_responses_sent{0};
  std::atomic<uint64_t> unanswerable_dropped{0};  // bad bytes we could not or must not answer
  std::atomic<uint64_t> keepalive_pings{0};
  std::atomic<uint64_t> send_failures{0};
  std::atomic<uint64_t> send_queue_full{0};  // of which: a connection's write queue was full
  std::atomic<uint64_t> bytes_received{0};
  std::atomic<uint64_t> bytes_sent{0};

  static void Inc(std::atomic<uint64_t>& c, uint64_t n = 1) {
    c.fetch_add(n, std::memory_order_relaxed);
  }
};

}  // namespace causeway::sip
