#include "core/status.h"

#include <charconv>

#include "absl/strings/cord.h"
#include "core/strings.h"

namespace causeway {

absl::Status SipError(int sip_code, std::string_view message) {
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
  if (sip_code == 413 || sip_code == 494 || sip_code == 513) code = absl::StatusCode::kResourceExhausted;
  if (sip_code == 483 || sip_code == 482) code = absl::StatusCode::kFailedPrecondition;
  if (sip_code == 408) code = absl::StatusCode::kDeadlineExceeded;
  if (sip_code == 404 || sip_code == 480) code = absl::StatusCode::kNotFound;
  if (sip_code == 503) code = absl::StatusCode::kUnavailable;
  absl::Status status(code, ToAbsl(message));
  status.SetPayload(ToAbsl(kSipCodePayloadUrl), absl::Cord(std::to_string(sip_code)));
  return status;
}

std::optional<int> SipCodeOf(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(ToAbsl(kSipCodePayloadUrl));
  if (!payload) return std::nullopt;
  std::string text(*payload);
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace causeway
