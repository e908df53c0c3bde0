#pragma once
// RFC 2782 SRV target selection, shared by every SRV user (SIP RFC 3263, XMPP RFC 6120 §3.2).

#include <random>
#include <vector>

#include "core/dns/dns_message.h"

namespace causeway::dns {

// RFC 2782 ordering: ascending priority; within a priority, weighted random selection (weight-0
// records first in the running sum, as the RFC says). Drops "." targets.
std::vector<SrvRecord> OrderSrvRecords(std::vector<SrvRecord> records, std::mt19937_64& rng);

}  // namespace causeway::dns
