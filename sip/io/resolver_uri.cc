#include "sip/io/resolver_uri.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::sip {

absl::StatusOr<SipTarget> SipTargetFromUri(const Uri& uri) {
  if (!uri.is_sip()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve a ", ToAbsl(uri.scheme_text()), ": URI as a SIP next hop"));
  }
  SipTarget target;
  target.secure = uri.scheme() == UriScheme::kSips;
  target.port = uri.port();
  // RFC 3263 §4: "If the URI contains an maddr parameter, the maddr is the target".
  if (std::optional<std::string_view> maddr = uri.Param("maddr"); maddr && !maddr->empty()) {
    target.host = UnescapeUri(*maddr);
  } else {
    target.host = std::string(uri.host());
  }
  if (target.host.empty()) return absl::InvalidArgumentError("SIP URI without a host");
  for (char c : target.host) {  // an escaped maddr could smuggle anything; hosts are plain ASCII
    if (static_cast<unsigned char>(c) <= ' ' || c == '/' || c == '@') {
      return absl::InvalidArgumentError(absl::StrCat("bad host \"", target.host, "\""));
    }
  }
  if (std::optional<std::string_view> transport = uri.Param("transport"); transport) {
    TransportKind kind;
    if (!ParseTransportName(*transport, &kind)) {
      return absl::FailedPreconditionError(
          absl::StrCat("unsupported transport=", ToAbsl(*transport)));
    }
    target.transport = kind;
  }
  return target;
}

void ResolveUri(Resolver& resolver, const Uri& uri, Resolver::Callback callback) {
  absl::StatusOr<SipTarget> target = SipTargetFromUri(uri);
  if (!target.ok()) {
    // Same contract as Resolve(): the callback runs later, never inside this call.
    resolver.Fail(std::move(callback), target.status());
    return;
  }
  resolver.Resolve(*target, std::move(callback));
}

}  // namespace causeway::sip
