#include "gateway/cli.h"

#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::gateway {
namespace {

// Argument vectors longer than this are not a human typing a command.
constexpr size_t kMaxArgs = 64;

absl::Status UsageError(std::string_view message) {
  return absl::InvalidArgumentError(ToAbsl(message));
}

}  // namespace

absl::StatusOr<CliOptions> ParseArgs(const std::vector<std::string_view>& args) {
  if (args.size() > kMaxArgs) return UsageError("too many arguments");
  CliOptions options;
  bool help = false;
  bool version = false;
  bool have_config = false;
  bool have_action = false;
  std::string_view action_flag;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
    } else if (arg == "--version" || arg == "-V") {
      version = true;
    } else if (arg == "--print-config" || arg == "--check-config") {
      if (have_action && action_flag != arg) {
        return UsageError(
            absl::StrCat(ToAbsl(action_flag), " and ", ToAbsl(arg), " cannot be combined"));
      }
      have_action = true;
      action_flag = arg;
      options.action = arg == "--print-config" ? CliAction::kPrintConfig : CliAction::kCheckConfig;
    } else if (arg == "--config" || arg == "-c" || arg.starts_with("--config=")) {
      std::string_view value;
      if (arg.starts_with("--config=")) {
        value = arg.substr(9);
      } else if (i + 1 < args.size()) {
        value = args[++i];
      } else {
        return UsageError(absl::StrCat(ToAbsl(arg), " needs a FILE argument"));
      }
      if (value.empty()) return UsageError("--config: empty file name");
      if (have_config) return UsageError("--config given more than once");
      have_config = true;
      options.config_path = std::string(value);
    } else if (arg.starts_with("-")) {
      return UsageError(absl::StrCat("unknown option '", ToAbsl(arg), "'"));
    } else {
      return UsageError(absl::StrCat("unexpected argument '", ToAbsl(arg), "'"));
    }
  }
  if (help)
    options.action = CliAction::kHelp;
  else if (version)
    options.action = CliAction::kVersion;
  return options;
}

std::string UsageText() {
  return absl::StrCat(
      "Usage: causeway [--config FILE] [--print-config | --check-config]\n"
      "       causeway --help | --version\n"
      "\n"
      "Causeway ",
      ToAbsl(kVersion),
      ": SIP/XMPP edge gateway.\n"
      "\n"
      "  -c, --config FILE  read the TOML configuration FILE (default: embedded defaults,\n"
      "                     SIP on 127.0.0.1 UDP/TCP 5060 and TLS 5061)\n"
      "  --print-config     print the configuration as TOML with a comment per option and exit\n"
      "                     (the defaults, or the effective values with --config)\n"
      "  --check-config     validate the configuration and certificate files and exit\n"
      "  -h, --help         show this help and exit\n"
      "  -V, --version      show the version and exit\n"
      "\n"
      "Signals: SIGTERM/SIGINT stop accepting, drain for general.shutdown_timeout_s, exit 0;\n"
      "a second one stops at once. SIGHUP is logged (reload is not supported yet).\n"
      "Exit codes: 0 ok, 1 runtime failure (e.g. port in use), 2 usage or configuration error.\n");
}

}  // namespace causeway::gateway
