#pragma once
// The SIP edge service: per worker a SipTransport (UDP/TCP/TLS listeners sharing the ports through
// SO_REUSEPORT), an RFC 3263 resolver and a SipServer (transactions, registrar, proxy); one location
// store shared by all workers. Responses that arrive on a worker other than the one owning their
// client transaction (the shard is tagged in the Via branch) are handed to the owner.

#include <chrono>
#include <functional>
#include <memory>

#include "core/bus.h"
#include "core/clock.h"
#include "core/runtime/worker.h"
#include "gateway/daemon.h"
#include "mappings/address_map.h"

namespace causeway::gateway {

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
};

std::unique_ptr<Service> MakeSipService(SipServiceHooks hooks = {});

}  // namespace causeway::gateway
