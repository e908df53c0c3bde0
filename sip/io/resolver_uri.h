#pragma once
// The SIP codec's Uri as a resolver input (RFC 3263 §4): kept apart from resolver.h so the
// resolver core depends only on its small SipTarget struct.

#include "absl/status/statusor.h"
#include "sip/codec/uri.h"
#include "sip/io/resolver.h"

namespace causeway::sip {

// sip:/sips: URI -> SipTarget: maddr (when present) replaces the host, transport= gives the
// transport, sips: sets `secure`. InvalidArgument for other schemes, an empty host or a bad maddr;
// FailedPrecondition for a transport we cannot name here (sctp, ws, wss...).
absl::StatusOr<SipTarget> SipTargetFromUri(const Uri& uri);

// SipTargetFromUri + Resolver::Resolve. Conversion errors also arrive through `callback`, later.
void ResolveUri(Resolver& resolver, const Uri& uri, Resolver::Callback callback);

}  // namespace causeway::sip
