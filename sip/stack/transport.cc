#include "sip/stack/transport.h"

#include "absl/strings/match.h"
#include "core/strings.h"

namespace causeway::sip {

std::string_view TransportName(TransportKind kind) {
  switch (kind) {
    case TransportKind::kUdp: return "UDP";
    case TransportKind::kTcp: return "TCP";
    case TransportKind::kTls: return "TLS";
  }
  return "UDP";
}

bool ParseTransportName(std::string_view text, TransportKind* out) {
  if (absl::EqualsIgnoreCase(ToAbsl(text), "udp")) *out = TransportKind::kUdp;
  else if (absl::EqualsIgnoreCase(ToAbsl(text), "tcp")) *out = TransportKind::kTcp;
  else if (absl::EqualsIgnoreCase(ToAbsl(text), "tls")) *out = TransportKind::kTls;
  else return false;
  return true;
}

}  // namespace causeway::sip
