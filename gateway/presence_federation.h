#pragma once
// One worker's Lync front end attached to that worker's bus for federated presence: what the front
// end decides (RFC 6121 handshake, presence for approved remote subscribers, probes) goes out as
// bus events towards the other network, and that network's presence, subscriptions and probes
// addressed to SIP users come in. The translations are mappings/lync_federation.h; this only
// moves them, on the worker thread.

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "core/bus.h"
#include "mappings/address_map.h"
#include "sip/lync/front_end.h"

namespace causeway::gateway {

// FrontEndOptions::federated_domain for a DomainMap: non-local SIP domains the map reaches.
std::function<bool(std::string_view)> FederatedDomains(
    std::shared_ptr<const mappings::DomainMap> domains);

class PresenceFederation {
 public:
  // `front_end` and `bus` must outlive this object (both belong to the same worker).
  PresenceFederation(sip::lync::FrontEnd& front_end, Bus& bus,
                     std::shared_ptr<const mappings::DomainMap> domains);
  ~PresenceFederation();
  PresenceFederation(const PresenceFederation&) = delete;
  PresenceFederation& operator=(const PresenceFederation&) = delete;

  struct Stats {
    uint64_t published = 0;    // front end outputs put on the bus
    uint64_t delivered = 0;    // bus events handed to the front end
    uint64_t unmappable = 0;   // dropped: an address that has no form on the other side
  };
  const Stats& stats() const { return stats_; }

 private:
  void Publish(const sip::lync::FederationOutput& output);
  // A subscription or probe from the other network to one of our users: both AORs, counted;
  // false when it is not such an event or an address does not map.
  bool Incoming(const Address& from, const Address& to, std::string* remote, std::string* local);

  sip::lync::FrontEnd& front_end_;
  Bus& bus_;
  std::shared_ptr<const mappings::DomainMap> domains_;
  std::vector<Subscription> subscriptions_;
  Stats stats_;
};

}  // namespace causeway::gateway
