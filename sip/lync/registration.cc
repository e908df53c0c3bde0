#include "sip/lync/registration.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::sip::lync {
namespace {

bool HasOption(const SipMessage& request, std::string_view option) {
  absl::StatusOr<std::vector<std::string_view>> tokens = request.GetTokens(HeaderId::kSupported);
  if (!tokens.ok()) return false;
  return std::any_of(tokens->begin(), tokens->end(), [option](std::string_view t) {
    return absl::EqualsIgnoreCase(ToAbsl(t), ToAbsl(option));
  });
}

}  // namespace

bool IsLyncRegister(const SipMessage& request) {
  return request.from().Param("epid").has_value() ||
         request.FindHeader("ms-keep-alive") != nullptr ||
         HasOption(request, "msrtc-event-categories");
}

void AddRegisterOkHeaders(const SipMessage& request, SipMessage& response,
                          const RegistrationOptions& options) {
  if (!IsLyncRegister(request)) return;
  // One line each: the client compares the whole value (see the header comment).
  if (HasOption(request, "msrtc-event-categories")) {
    (void)response.AppendHeader(HeaderId::kSupported, "msrtc-event-categories");
  }
  if (HasOption(request, "adhoclist")) {
    (void)response.AppendHeader(HeaderId::kSupported, "adhoclist");
  }
  (void)response.AppendHeader("Allow-Events", kAllowEvents);
  if (request.FindHeader("ms-keep-alive") != nullptr) {
    (void)response.AppendHeader(
        "ms-keep-alive", absl::StrCat("UAS; tcp=no; hop-hop=yes; end-end=no; timeout=",
                                      options.keep_alive.count()));
  }
}

}  // namespace causeway::sip::lync
