#pragma once
// The SIP edge service: per worker a SipTransport (UDP/TCP/TLS listeners sharing the ports through
// SO_REUSEPORT), an RFC 3263 resolver and a SipServer (transactions, registrar, proxy); one location
// store shared by all workers. Responses that arrive on a worker other than the one owning their
// client transaction (the shard is tagged in the Via branch) are handed to the owner.

#include <memory>

#include "gateway/daemon.h"

namespace causeway::gateway {

std::unique_ptr<Service> MakeSipService();

}  // namespace causeway::gateway
