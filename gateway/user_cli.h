#pragma once
// `causeway user add|del|list|passwd|enable|disable`: manages the embedded user directory in
// <general.state_dir>/causeway.db. It does not take the daemon's state-dir lock: SQLite serializes
// writers, and a running daemon picks the change up at its next directory refresh.

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/cli.h"
#include "gateway/config.h"

namespace causeway::gateway {

// Supplies the password for --password-stdin.
using PasswordReader = std::function<absl::StatusOr<std::string>()>;

// Runs `command` against the directory in `state_dir` (which must exist) and returns what to print
// on stdout. InvalidArgument for bad input (exit 2); NotFound, AlreadyExists and database errors
// otherwise (exit 1). Messages never contain the password.
absl::StatusOr<std::string> RunUserCommand(const UserCommand& command, const std::string& state_dir,
                                           const PasswordReader& read_password);

// The first line of `fd` without its line ending, at most sip::lync::kMaxPasswordBytes bytes.
// On a terminal, echo is turned off and "Password: " is prompted on stderr.
absl::StatusOr<std::string> ReadPasswordLine(int fd);

// The `causeway user ...` program for RunMain: prepares config.general.state_dir, runs the
// command with standard input as the password source, prints the result or one error line, and
// returns the exit code.
int UserMain(const UserCommand& command, const GatewayConfig& config);

}  // namespace causeway::gateway
