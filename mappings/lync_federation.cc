#include "mappings/lync_federation.h"

#include <chrono>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"
#include "mappings/presence_map.h"

namespace causeway::mappings {
namespace {

// "sip:alice@lync.test" -> {kSip, "alice", "lync.test"}.
absl::StatusOr<Address> SipAddressOfAor(std::string_view aor) {
  std::string_view rest = aor;
  if (rest.size() >= 4 && absl::EqualsIgnoreCase(ToAbsl(rest.substr(0, 4)), "sip:")) {
    rest.remove_prefix(4);
  }
  const size_t at = rest.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == rest.size()) {
    return absl::InvalidArgumentError(absl::StrCat("not a SIP user AOR: ", ToAbsl(aor)));
  }
  return Address{Network::kSip, std::string(rest.substr(0, at)),
                 absl::AsciiStrToLower(ToAbsl(rest.substr(at + 1))), {}};
}

}  // namespace

absl::StatusOr<FederationEvent> EventFromFederationOutput(const sip::lync::FederationOutput& output,
                                                          const DomainMap& domains) {
  absl::StatusOr<Address> from = SipAddressOfAor(output.from);
  if (!from.ok()) return from.status();
  absl::StatusOr<Address> sip_to = SipAddressOfAor(output.to);
  if (!sip_to.ok()) return sip_to.status();
  absl::StatusOr<Address> to = XmppAddressFromSip(*sip_to, domains);
  if (!to.ok()) return to.status();
  switch (output.kind) {
    case sip::lync::FederationOutput::Kind::kPresence: {
      PresenceEvent event;
      event.from = *std::move(from);
      event.to = *std::move(to);
      event.availability = AvailabilityFromMsPres(output.availability);
      event.note = output.note;
      event.timestamp = std::chrono::system_clock::now();
      return event;
    }
    case sip::lync::FederationOutput::Kind::kSubscription: {
      SubscriptionEvent event;
      event.from = *std::move(from);
      event.to = *std::move(to);
      event.action = output.action;
      event.display_name = output.display_name;
      return event;
    }
    case sip::lync::FederationOutput::Kind::kProbe:
      return PresenceProbeEvent{*std::move(from), *std::move(to)};
  }
  return absl::InternalError("unknown federation output");
}

absl::StatusOr<std::string> FederationAor(const Address& address, const DomainMap& domains) {
  Address sip = address.Bare();
  if (address.network == Network::kXmpp) {
    absl::StatusOr<Address> mapped = SipAddressFromXmpp(address, domains);
    if (!mapped.ok()) return mapped.status();
    sip = *std::move(mapped);
  } else if (address.network != Network::kSip) {
    return absl::InvalidArgumentError("not a SIP or XMPP address");
  }
  if (sip.user.empty()) return absl::InvalidArgumentError("an address without a user");
  return absl::StrCat("sip:", sip.user, "@", sip.domain);
}

}  // namespace causeway::mappings
