#pragma once
// The gateway's side of the media relay: the shared secret (configured, or generated once in the
// state directory so `causeway turn credentials` and the running daemon agree), the relay's
// credentials and addresses as the config describes them, and the `turn credentials` command.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/cli.h"
#include "gateway/config.h"
#include "media/turn/credentials.h"
#include "media/turn/turn_server.h"

namespace causeway::gateway {

// turn.secret, or the content of <state_dir>/turn-secret, created (0600, 32 random bytes as hex)
// when missing. `state_dir` is the prepared absolute path.
absl::StatusOr<std::string> LoadOrCreateTurnSecret(const GatewayConfig& config,
                                                   const std::string& state_dir);

// turn.realm, else the first sip.domains entry, else "causeway".
std::string TurnRealm(const GatewayConfig& config);

turn::CredentialOptions MakeTurnCredentialOptions(const GatewayConfig& config, std::string secret);
turn::TurnOptions MakeTurnOptions(const GatewayConfig& config);

// What clients are told: "turn:HOST:PORT?transport=udp|tcp", "turns:HOST:PORT?transport=tcp".
std::vector<std::string> TurnUris(const GatewayConfig& config);
// public_host, else the first listen address's IP.
std::string TurnPublicHost(const GatewayConfig& config);

// `causeway turn credentials`: prints {"username","password","ttl","uris"} (the TURN REST API
// response shape) on stdout. Exit code as for user commands.
int TurnCredentialsMain(const TurnCommand& command, const GatewayConfig& config);

}  // namespace causeway::gateway
