#pragma once
// The MS-SIPAE security of one worker: the REGISTER handshake (as the registrar's authorizer), one
// security association per authenticated client connection, the check of every signed message a
// client sends, and the signature on every message sent to such a connection.
//
// It sits between the transport and the stack on the worker that owns the connections, so an
// association is only ever touched by one thread:
//   transport -> OnIncoming (verify, name the user) -> stack
//   stack -> OnOutgoing (sign) -> transport
// A proxy re-signs per target connection: a request forwarded from alice to bob is verified with
// alice's association on the way in and signed with bob's on the way out.
//
// Connections without an association (standard SIP UAs, federation peers) pass untouched.

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "core/clock.h"
#include "core/directory.h"
#include "sip/codec/message.h"
#include "sip/lync/sipae.h"
#include "sip/stack/registrar.h"
#include "sip/stack/transport.h"

namespace causeway::sip::lync {

struct SecurityLayerOptions {
  SipaeConfig sipae;
  // Largest number of associations kept (one per signed-in client connection).
  size_t max_associations = 100000;
};

struct SecurityLayerStats {
  uint64_t handshakes_started = 0;
  uint64_t authenticated = 0;
  uint64_t rejected = 0;       // failed handshakes and REGISTERs for an AOR not the user's
  uint64_t verified = 0;       // signed messages accepted
  uint64_t bad_signatures = 0;
  uint64_t signed_out = 0;     // messages we signed
};

class SecurityLayer final : public RegisterAuthorizer {
 public:
  // `directory` answers the NT hash of a login and maps the login to its address-of-record; it
  // must outlive the layer.
  SecurityLayer(SecurityLayerOptions options, const Clock& clock, const UserDirectory& directory);

  // RegisterAuthorizer: a REGISTER without credentials gets the NTLM offer; the handshake steps
  // get their 401s; success creates the connection's association (the 200 is then signed by
  // OnOutgoing). A signed re-REGISTER on an associated connection is accepted for the user's own
  // AOR only.
  absl::Status Authorize(const SipMessage& request, std::string_view aor, const ReceiveInfo& info,
                         std::vector<std::pair<std::string, std::string>>* response_headers)
      override;

  // A message received on `info.connection`. On an associated connection every message but the
  // REGISTER handshake must carry a valid signature: OK sets info->authenticated_user; an error
  // carries the SIP code to answer a request with (responses failing are dropped by the caller).
  absl::Status OnIncoming(const SipMessage& message, ReceiveInfo* info);

  // Signs `bytes` (one serialized message) when `to` is an associated connection. Returns false
  // when the message cannot be parsed back (it is then sent unsigned and the client ignores it).
  bool OnOutgoing(const Destination& to, std::string& bytes);

  void OnConnectionClosed(ConnectionId id) { associations_.erase(id); }

  bool HasAssociation(ConnectionId id) const { return associations_.contains(id); }
  size_t association_count() const { return associations_.size(); }
  const SecurityLayerStats& stats() const { return stats_; }

 private:
  struct Association {
    std::unique_ptr<SecurityAssociation> sa;
    std::string aor;  // "sip:alice@example.test", from the directory
  };

  const UserDirectory& directory_;
  SecurityLayerOptions options_;
  SipaeAuthenticator authenticator_;
  absl::flat_hash_map<ConnectionId, Association> associations_;
  SecurityLayerStats stats_;
};

}  // namespace causeway::sip::lync
