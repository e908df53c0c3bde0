#include "gateway/presence_federation.h"

#include <string>
#include <utility>

#include "core/log.h"
#include "core/strings.h"
#include "mappings/lync_federation.h"
#include "mappings/presence_map.h"

namespace causeway::gateway {
namespace {

constexpr std::string_view kLog = "federation";

}  // namespace

std::function<bool(std::string_view)> FederatedDomains(
    std::shared_ptr<const mappings::DomainMap> domains) {
  return [domains = std::move(domains)](std::string_view domain) {
    return !domains->IsLocalSipDomain(domain) && domains->XmppDomainFor(domain).ok();
  };
}

PresenceFederation::PresenceFederation(sip::lync::FrontEnd& front_end, Bus& bus,
                                       std::shared_ptr<const mappings::DomainMap> domains)
    : front_end_(front_end), bus_(bus), domains_(std::move(domains)) {
  front_end_.SetFederationSink(
      [this](const sip::lync::FederationOutput& output) { Publish(output); });
  // Events from the other network for our users: `to` is already a SIP address (core/events.h).
  subscriptions_.push_back(bus_.Subscribe<PresenceEvent>([this](const PresenceEvent& event) {
    if (event.to.has_value() && event.to->network != Network::kSip) return;
    if (event.from.network == Network::kSip) return;  // ours, going out
    absl::StatusOr<std::string> remote = mappings::FederationAor(event.from, *domains_);
    absl::StatusOr<std::string> watcher =
        event.to ? mappings::FederationAor(*event.to, *domains_) : std::string();
    if (!remote.ok() || !watcher.ok()) {
      ++stats_.unmappable;
      return;
    }
    ++stats_.delivered;
    front_end_.OnFederatedPresence(*remote, event.from.resource, *watcher,
                                   mappings::MsPresAvailabilityFromEvent(event), event.note);
  }));
  subscriptions_.push_back(
      bus_.Subscribe<SubscriptionEvent>([this](const SubscriptionEvent& event) {
        std::string remote, local;
        if (!Incoming(event.from, event.to, &remote, &local)) return;
        front_end_.OnFederatedSubscription(remote, local, event.action, event.display_name);
      }));
  subscriptions_.push_back(
      bus_.Subscribe<PresenceProbeEvent>([this](const PresenceProbeEvent& event) {
        std::string remote, local;
        if (!Incoming(event.from, event.to, &remote, &local)) return;
        front_end_.OnFederatedProbe(remote, local);
      }));
}

bool PresenceFederation::Incoming(const Address& from, const Address& to, std::string* remote,
                                  std::string* local) {
  if (to.network != Network::kSip || from.network == Network::kSip) return false;
  absl::StatusOr<std::string> remote_aor = mappings::FederationAor(from, *domains_);
  absl::StatusOr<std::string> local_aor = mappings::FederationAor(to, *domains_);
  if (!remote_aor.ok() || !local_aor.ok()) {
    ++stats_.unmappable;
    return false;
  }
  ++stats_.delivered;
  *remote = *std::move(remote_aor);
  *local = *std::move(local_aor);
  return true;
}

PresenceFederation::~PresenceFederation() { front_end_.SetFederationSink(nullptr); }

void PresenceFederation::Publish(const sip::lync::FederationOutput& output) {
  absl::StatusOr<mappings::FederationEvent> event =
      mappings::EventFromFederationOutput(output, *domains_);
  if (!event.ok()) {
    ++stats_.unmappable;
    log::Debug(kLog, "federation output not mapped",
               {{"to", output.to}, {"why", FromAbsl(event.status().message())}});
    return;
  }
  ++stats_.published;
  absl::Status published =
      std::visit([this](const auto& e) { return bus_.Publish(e); }, *event);
  if (!published.ok()) {
    log::Warn(kLog, "bus publish failed", {{"why", FromAbsl(published.message())}});
  }
}

}  // namespace causeway::gateway
