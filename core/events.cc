#include "core/events.h"

#include <array>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway {
namespace {

constexpr std::array<std::pair<Network, std::string_view>, 4> kNetworks = {{
    {Network::kSip, "sip"},
    {Network::kXmpp, "xmpp"},
    {Network::kPstn, "pstn"},
    {Network::kPublicIm, "public-im"},
}};

constexpr std::array<std::pair<Availability, std::string_view>, 8> kAvailabilities = {{
    {Availability::kAvailable, "available"},
    {Availability::kIdle, "idle"},
    {Availability::kBusy, "busy"},
    {Availability::kBusyIdle, "busy-idle"},
    {Availability::kDoNotDisturb, "do-not-disturb"},
    {Availability::kBeRightBack, "be-right-back"},
    {Availability::kAway, "away"},
    {Availability::kOffline, "offline"},
}};

constexpr std::array<std::pair<DeliveryFailureReason, std::string_view>, 6> kReasons = {{
    {DeliveryFailureReason::kNotFound, "not-found"},
    {DeliveryFailureReason::kUnavailable, "unavailable"},
    {DeliveryFailureReason::kTimeout, "timeout"},
    {DeliveryFailureReason::kRejected, "rejected"},
    {DeliveryFailureReason::kTooLarge, "too-large"},
    {DeliveryFailureReason::kInternal, "internal"},
}};

constexpr std::array<std::pair<SubscriptionAction, std::string_view>, 4> kSubscriptionActions = {{
    {SubscriptionAction::kSubscribe, "subscribe"},
    {SubscriptionAction::kSubscribed, "subscribed"},
    {SubscriptionAction::kUnsubscribe, "unsubscribe"},
    {SubscriptionAction::kUnsubscribed, "unsubscribed"},
}};

constexpr std::array<std::pair<ChatState, std::string_view>, 5> kChatStates = {{
    {ChatState::kActive, "active"},
    {ChatState::kComposing, "composing"},
    {ChatState::kPaused, "paused"},
    {ChatState::kInactive, "inactive"},
    {ChatState::kGone, "gone"},
}};

template <typename E, size_t N>
std::string_view NameOf(const std::array<std::pair<E, std::string_view>, N>& table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return "unknown";
}

template <typename E, size_t N>
bool Lookup(const std::array<std::pair<E, std::string_view>, N>& table, std::string_view text,
            E* out) {
  for (const auto& [v, name] : table) {
    if (absl::EqualsIgnoreCase(ToAbsl(name), ToAbsl(text))) {
      *out = v;
      return true;
    }
  }
  return false;
}

}  // namespace

std::string_view NetworkName(Network network) { return NameOf(kNetworks, network); }
bool ParseNetwork(std::string_view text, Network* out) { return Lookup(kNetworks, text, out); }

std::string_view AvailabilityName(Availability a) { return NameOf(kAvailabilities, a); }
bool ParseAvailability(std::string_view text, Availability* out) {
  return Lookup(kAvailabilities, text, out);
}

std::string_view DeliveryFailureReasonName(DeliveryFailureReason r) { return NameOf(kReasons, r); }
bool ParseDeliveryFailureReason(std::string_view text, DeliveryFailureReason* out) {
  return Lookup(kReasons, text, out);
}

std::string_view SubscriptionActionName(SubscriptionAction a) {
  return NameOf(kSubscriptionActions, a);
}
bool ParseSubscriptionAction(std::string_view text, SubscriptionAction* out) {
  return Lookup(kSubscriptionActions, text, out);
}

std::string_view ChatStateName(ChatState s) { return NameOf(kChatStates, s); }
bool ParseChatState(std::string_view text, ChatState* out) { return Lookup(kChatStates, text, out); }

std::string Address::ToString() const {
  std::string out;
  if (!user.empty()) absl::StrAppend(&out, user, "@");
  absl::StrAppend(&out, domain);
  if (!resource.empty()) absl::StrAppend(&out, "/", resource);
  return out;
}

}  // namespace causeway
