#pragma once
// The SIP edge service: per worker a SipTransport (UDP/TCP/TLS listeners sharing the ports through
// SO_REUSEPORT), an RFC 3263 resolver and a SipServer (transactions, registrar, proxy); one location
// store shared by all workers. Responses that arrive on a worker other than the one owning their
// client transaction (the shard is tagged in the Via branch) are handed to the owner.

#include <functional>
#include <memory>

#include "core/bus.h"
#include "core/runtime/worker.h"
#include "gateway/daemon.h"

namespace causeway::gateway {

struct SipServiceHooks {
  // Called once per worker, on the thread that starts the service, before the workers run (no
  // traffic yet): connectors that share the workers (the XMPP edge) create their per-worker
  // objects on `worker`'s io_context, register stop hooks on it and subscribe to its event bus.
  // Every instant message the SIP side delivered (InstantMessageEvent) or failed to deliver
  // (DeliveryFailureEvent) is published on the bus of the worker that handled it.
  std::function<void(runtime::Worker& worker, Bus& bus)> on_worker;
};

std::unique_ptr<Service> MakeSipService(SipServiceHooks hooks = {});

}  // namespace causeway::gateway
