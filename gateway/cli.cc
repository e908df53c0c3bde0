#include "gateway/cli.h"

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/strings.h"

namespace causeway::gateway {
namespace {

// Argument vectors longer than this are not a human typing a command.
constexpr size_t kMaxArgs = 64;

absl::Status UsageError(std::string_view message) {
  return absl::InvalidArgumentError(ToAbsl(message));
}

// "--name VALUE" or "--name=VALUE" at args[*i] (already known to start with `name`); advances *i
// past a separate value. Empty values are errors.
absl::StatusOr<std::string_view> OptionValue(const std::vector<std::string_view>& args, size_t* i,
                                             std::string_view name) {
  std::string_view arg = args[*i];
  std::string_view value;
  if (arg.size() > name.size() && arg[name.size()] == '=') {
    value = arg.substr(name.size() + 1);
  } else if (*i + 1 < args.size()) {
    value = args[++*i];
  } else {
    return UsageError(absl::StrCat(ToAbsl(arg), " needs a value"));
  }
  if (value.empty()) return UsageError(absl::StrCat(ToAbsl(name), ": empty value"));
  return value;
}

// Matches "--name" and "--name=..." but not "--name-other".
bool IsOption(std::string_view arg, std::string_view name) {
  return arg.starts_with(name) && (arg.size() == name.size() || arg[name.size()] == '=');
}

struct VerbInfo {
  std::string_view name;
  UserVerb verb;
};
constexpr VerbInfo kVerbs[] = {
    {"add", UserVerb::kAdd},       {"del", UserVerb::kDel},       {"list", UserVerb::kList},
    {"passwd", UserVerb::kPasswd}, {"enable", UserVerb::kEnable}, {"disable", UserVerb::kDisable},
};

// Parses args[start..] after "user" into options->user; --config and --help are shared with the
// top level (`have_config` tracks --config across both).
absl::Status ParseUserArgs(const std::vector<std::string_view>& args, size_t start,
                           bool* have_config, bool* help, CliOptions* options) {
  UserCommand& cmd = options->user;
  std::string_view verb_name;
  bool have_uri = false;
  bool have_password = false;
  bool have_display_name = false;
  for (size_t i = start; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
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
      if (*have_config) return UsageError("--config given more than once");
      *have_config = true;
      options->config_path = std::string(value);
    } else if (IsOption(arg, "--password")) {
      absl::StatusOr<std::string_view> value = OptionValue(args, &i, "--password");
      if (!value.ok()) return value.status();
      if (have_password) return UsageError("--password given more than once");
      have_password = true;
      cmd.password = std::string(*value);
    } else if (arg == "--password-stdin") {
      cmd.password_stdin = true;
    } else if (IsOption(arg, "--display-name")) {
      absl::StatusOr<std::string_view> value = OptionValue(args, &i, "--display-name");
      if (!value.ok()) return value.status();
      if (have_display_name) return UsageError("--display-name given more than once");
      have_display_name = true;
      cmd.display_name = std::string(*value);
    } else if (IsOption(arg, "--phone")) {
      absl::StatusOr<std::string_view> value = OptionValue(args, &i, "--phone");
      if (!value.ok()) return value.status();
      cmd.phones.emplace_back(*value);
    } else if (arg.starts_with("-") && arg != "-") {
      return UsageError(absl::StrCat("unknown option '", ToAbsl(arg), "'"));
    } else if (verb_name.empty()) {
      verb_name = arg;
      const VerbInfo* found = nullptr;
      for (const VerbInfo& v : kVerbs) {
        if (v.name == arg) found = &v;
      }
      if (found == nullptr) {
        return UsageError(absl::StrCat("user: unknown command '", ToAbsl(arg),
                                       "' (add, del, list, passwd, enable, disable)"));
      }
      cmd.verb = found->verb;
    } else if (!have_uri && cmd.verb != UserVerb::kList) {
      have_uri = true;
      cmd.uri = std::string(arg);
    } else {
      return UsageError(absl::StrCat("unexpected argument '", ToAbsl(arg), "'"));
    }
  }
  if (*help) return absl::OkStatus();
  if (verb_name.empty()) {
    return UsageError("user: expected a command (add, del, list, passwd, enable, disable)");
  }
  std::string prefix = absl::StrCat("user ", ToAbsl(verb_name), ": ");
  if (cmd.verb != UserVerb::kList && !have_uri) {
    return UsageError(absl::StrCat(prefix, "expected a user URI (sip:user@domain)"));
  }
  bool takes_password = cmd.verb == UserVerb::kAdd || cmd.verb == UserVerb::kPasswd;
  if (takes_password) {
    if (have_password && cmd.password_stdin) {
      return UsageError(absl::StrCat(prefix, "--password and --password-stdin cannot be combined"));
    }
    if (!have_password && !cmd.password_stdin) {
      return UsageError(absl::StrCat(prefix, "--password or --password-stdin is required"));
    }
  } else if (have_password || cmd.password_stdin) {
    return UsageError(absl::StrCat(prefix, "takes no password"));
  }
  if (cmd.verb != UserVerb::kAdd && (have_display_name || !cmd.phones.empty())) {
    return UsageError(absl::StrCat(prefix, "--display-name and --phone are only for user add"));
  }
  return absl::OkStatus();
}

// Parses args[start..] after "turn": "credentials --user NAME [--ttl SECONDS]", with --config
// and --help accepted anywhere after the verb as for user commands.
absl::Status ParseTurnArgs(const std::vector<std::string_view>& args, size_t start,
                           bool* have_config, bool* help, CliOptions* options) {
  TurnCommand& cmd = options->turn;
  bool have_verb = false;
  bool have_user = false;
  bool have_ttl = false;
  for (size_t i = start; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      *help = true;
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
      if (*have_config) return UsageError("--config given more than once");
      *have_config = true;
      options->config_path = std::string(value);
    } else if (arg == "--user") {
      if (i + 1 >= args.size()) return UsageError("--user needs a NAME argument");
      if (have_user) return UsageError("--user given more than once");
      have_user = true;
      cmd.user = std::string(args[++i]);
      if (cmd.user.empty() || cmd.user.find(':') != std::string::npos ||
          cmd.user.size() > 256) {
        return UsageError("turn credentials: --user NAME must be non-empty, without ':'");
      }
    } else if (arg == "--ttl") {
      if (i + 1 >= args.size()) return UsageError("--ttl needs a SECONDS argument");
      if (have_ttl) return UsageError("--ttl given more than once");
      have_ttl = true;
      if (!absl::SimpleAtoi(ToAbsl(args[++i]), &cmd.ttl_s) || cmd.ttl_s < 1 || cmd.ttl_s > 604800) {
        return UsageError("turn credentials: --ttl must be 1..604800 seconds");
      }
    } else if (arg.starts_with("-")) {
      return UsageError(absl::StrCat("unknown option '", ToAbsl(arg), "'"));
    } else if (!have_verb && arg == "credentials") {
      have_verb = true;
    } else {
      return UsageError(absl::StrCat("turn: unexpected argument '", ToAbsl(arg), "'"));
    }
  }
  if (*help) return absl::OkStatus();
  if (!have_verb) return UsageError("turn: expected a command (credentials)");
  if (!have_user) return UsageError("turn credentials: --user NAME is required");
  return absl::OkStatus();
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
    } else if (arg == "user") {
      if (have_action) {
        return UsageError(absl::StrCat(ToAbsl(action_flag), " and user cannot be combined"));
      }
      options.action = CliAction::kUser;
      if (absl::Status st = ParseUserArgs(args, i + 1, &have_config, &help, &options); !st.ok()) {
        return st;
      }
      break;
    } else if (arg == "turn") {
      if (have_action) {
        return UsageError(absl::StrCat(ToAbsl(action_flag), " and turn cannot be combined"));
      }
      options.action = CliAction::kTurnCredentials;
      if (absl::Status st = ParseTurnArgs(args, i + 1, &have_config, &help, &options); !st.ok()) {
        return st;
      }
      break;
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
      "       causeway [--config FILE] user COMMAND ...\n"
      "       causeway [--config FILE] turn credentials --user NAME [--ttl SECONDS]\n"
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
      "User directory (SQLite, STATE_DIR/causeway.db; works while the daemon runs):\n"
      "  user add SIP-URI (--password P | --password-stdin) [--display-name NAME]\n"
      "           [--phone +E164]...   add a user, e.g. user add sip:alice@example.test\n"
      "  user del SIP-URI             remove a user\n"
      "  user list                    one line per user: URI, display name, phones, state\n"
      "  user passwd SIP-URI (--password P | --password-stdin)   set a new password\n"
      "  user enable|disable SIP-URI  allow or refuse sign-in and calls to the user\n"
      "  --password-stdin reads the first line of standard input (keeps the password out of\n"
      "  the process list); only password hashes are stored.\n"
      "\n"
      "Media relay:\n"
      "  turn credentials --user NAME [--ttl SECONDS]   print time-limited TURN credentials\n"
      "           (JSON: username, password, ttl, uris) derived from turn.secret; the relay\n"
      "           accepts them until they expire (default ttl: turn.credential_ttl_s)\n"
      "\n"
      "Signals: SIGTERM/SIGINT stop accepting, drain for general.shutdown_timeout_s, exit 0;\n"
      "a second one stops at once. SIGHUP is logged (reload is not supported yet).\n"
      "Exit codes: 0 ok, 1 runtime failure (e.g. port in use), 2 usage or configuration error.\n");
}

}  // namespace causeway::gateway
