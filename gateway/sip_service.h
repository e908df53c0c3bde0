#pragma once
// The SIP edge service: per worker a SipTransport (UDP/TCP/TLS listeners sharing the ports through
// SO_REUSEPORT), an RFC 3263 resolver and a SipServer (transactions, registrar, proxy); one location
// store shared by all workers. Responses that arrive on a worker other than the one owning their
// client transaction (the shard is tagged in the Via branch) are handed to the owner.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>

#include "core/bus.h"
#include "core/clock.h"
#include "core/runtime/worker.h"
#include "gateway/daemon.h"
#include "sip/lync/mras.h"
#include "gateway/presence_federation.h"
#include "mappings/address_map.h"
#include "sip/io/transport_options.h"
#include "sip/lync/front_end.h"
#include "sip/lync/security_layer.h"
#include "sip/stack/proxy.h"
#include "sip/stack/registrar.h"
#include "sip/stack/sip_server.h"

namespace causeway::gateway {

// One worker's SIP statistics, copied on that worker's thread (for metrics).
struct SipWorkerStats {
  bool open = false;  // false once the worker's shard closed (stopping): the rest is zero
  // Relaxed atomics: read them on the thread that called the reader, before it returns to its
  // loop (the transport lives until the service stops). Null only before the shard was built.
  const sip::TransportCounters* transport = nullptr;
  size_t connections = 0;          // open TCP/TLS connections
  size_t client_transactions = 0;  // including completed ones absorbing retransmissions
  size_t server_transactions = 0;
  size_t proxy_contexts = 0;
  sip::SipServerStats server;
  sip::ProxyStats proxy;
  sip::RegistrarStats registrar;
  std::optional<sip::lync::SecurityLayerStats> security;  // null: no user directory, no sign-in
  size_t security_associations = 0;
  std::optional<PresenceFederation::Stats> presence_federation;  // null: XMPP off
};

// The tables every worker shares; they lock themselves, so any thread may read them.
struct SipSharedStats {
  size_t location_aors = 0;
  size_t location_bindings = 0;
  sip::lync::FrontEndStats front_end;
  size_t front_end_subscriptions = 0;
};

struct SipServiceHooks {
  // Called once per worker, on the thread that starts the service, before the workers run (no
  // traffic yet): connectors that share the workers (the XMPP edge) create their per-worker
  // objects on `worker`'s io_context, register stop hooks on it and subscribe to its event bus.
  std::function<void(runtime::Worker& worker, Bus& bus)> on_worker;
  // The domains reached over XMPP; null = XMPP off (no bridge: SIP requests are proxied as
  // always and nothing is published). Otherwise each worker runs a SipImBridge
  // (gateway/sip_im_bridge.h) in front of the Lync front end: IMs to users of domains reached
  // over XMPP go to the bus, IMs from the bus reach SIP users.
  std::shared_ptr<const mappings::DomainMap> xmpp_domains;
  // How long a MESSAGE to an XMPP contact waits for the XMPP side's receipt or failure before it
  // is answered 202 Accepted.
  Duration receipt_wait = std::chrono::seconds(5);
  // MRAS (MS-AVEDGEA): relay credentials for signed-in Lync users; empty = the relay is off
  // (provisioning then offers no MRAS URI's credentials: requests get 503).
  sip::lync::MediaRelayAuthority media_relay;
  // Metrics: called once per worker at Start, right after on_worker, with a function copying the
  // worker's statistics: run it on that worker's thread only (post it there), until Stop().
  std::function<void(runtime::Worker& worker, std::function<SipWorkerStats()> read)>
      on_worker_stats;
  // Metrics: called once at Start with a function reading the shared tables (any thread).
  std::function<void(std::function<SipSharedStats()> read)> on_shared_stats;
};

std::unique_ptr<Service> MakeSipService(SipServiceHooks hooks = {});

}  // namespace causeway::gateway
