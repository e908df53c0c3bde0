#pragma once
// Command-line parsing for `causeway`, as a pure function so every case is unit-tested.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace causeway::gateway {

inline constexpr std::string_view kVersion = "0.1.0";

// Exit codes: 0 clean exit, 1 runtime failure (port in use, state dir locked, service start
// failed), 2 usage or configuration error (bad option, unreadable or invalid config/certificate).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

enum class CliAction {
  kRun,          // start the daemon
  kHelp,         // --help: usage on stdout
  kVersion,      // --version
  kPrintConfig,  // --print-config: the default (or, with --config, the effective) configuration
  kCheckConfig,  // --check-config: validate config and configured certificate files, then exit
  kUser,         // `causeway user ...`: manage the embedded user directory (CliOptions::user)
  kTurnCredentials,  // `causeway turn credentials --user NAME [--ttl S]` (CliOptions::turn)
};

enum class UserVerb { kAdd, kDel, kList, kPasswd, kEnable, kDisable };

// `causeway user add|del|list|passwd|enable|disable ...`.
struct UserCommand {
  UserVerb verb = UserVerb::kList;
  std::string uri;                  // as typed; validated and lower-cased by the directory
  std::string password;             // --password P (add, passwd)
  bool password_stdin = false;      // --password-stdin: first line of standard input
  std::string display_name;         // --display-name NAME (add)
  std::vector<std::string> phones;  // --phone +E164, repeatable (add)
};

// `causeway turn credentials --user NAME [--ttl SECONDS]`: time-limited relay credentials.
struct TurnCommand {
  std::string user;
  int64_t ttl_s = 0;  // 0 = turn.credential_ttl_s
};

struct CliOptions {
  CliAction action = CliAction::kRun;
  std::string config_path;  // empty = embedded defaults
  UserCommand user;         // action == kUser
  TurnCommand turn;         // action == kTurnCredentials
};

// `args` excludes argv[0]. Accepts "--config FILE", "--config=FILE" and "-c FILE". --help and
// --version win over everything else; errors are one line without the program name.
// The first argument that is not an option or an option's value may be "user", which starts a
// user command: "causeway [--config FILE] user VERB [ARGS] [--config FILE]"; the user command's
// own options may come in any order after the verb.
absl::StatusOr<CliOptions> ParseArgs(const std::vector<std::string_view>& args);

std::string UsageText();

}  // namespace causeway::gateway
