#pragma once
// absl::Status helpers shared by every stack: an error can carry the protocol answer it implies
// (a SIP status code, an XMPP condition) as a payload, so the layer that answers never guesses.

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace causeway {

inline constexpr std::string_view kSipCodePayloadUrl = "causeway/sip-code";

// An error whose natural SIP answer is `sip_code` (e.g. 400, 413, 420, 494).
absl::Status SipError(int sip_code, std::string_view message);

// The SIP status code attached by SipError(), if any.
std::optional<int> SipCodeOf(const absl::Status& status);

}  // namespace causeway
