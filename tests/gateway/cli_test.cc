#include "gateway/cli.h"

#include "gtest/gtest.h"

namespace causeway::gateway {
namespace {

absl::StatusOr<CliOptions> Parse(std::vector<std::string_view> args) { return ParseArgs(args); }

std::string ErrorOf(std::vector<std::string_view> args) {
  absl::StatusOr<CliOptions> o = ParseArgs(args);
  return o.ok() ? "ok" : std::string(o.status().message());
}

TEST(Cli, NoArgumentsRunsOnEmbeddedDefaults) {
  absl::StatusOr<CliOptions> o = Parse({});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->action, CliAction::kRun);
  EXPECT_EQ(o->config_path, "");
}

TEST(Cli, ConfigForms) {
  for (auto args : {std::vector<std::string_view>{"--config", "a.toml"},
                    std::vector<std::string_view>{"--config=a.toml"},
                    std::vector<std::string_view>{"-c", "a.toml"}}) {
    absl::StatusOr<CliOptions> o = Parse(args);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->action, CliAction::kRun);
    EXPECT_EQ(o->config_path, "a.toml");
  }
  // A file name that looks like an option is still the value of --config.
  absl::StatusOr<CliOptions> o = Parse({"--config", "--weird.toml"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->config_path, "--weird.toml");
}

TEST(Cli, Actions) {
  EXPECT_EQ(Parse({"--help"})->action, CliAction::kHelp);
  EXPECT_EQ(Parse({"-h"})->action, CliAction::kHelp);
  EXPECT_EQ(Parse({"--version"})->action, CliAction::kVersion);
  EXPECT_EQ(Parse({"-V"})->action, CliAction::kVersion);
  EXPECT_EQ(Parse({"--print-config"})->action, CliAction::kPrintConfig);
  EXPECT_EQ(Parse({"--check-config", "-c", "x"})->action, CliAction::kCheckConfig);
  absl::StatusOr<CliOptions> o = Parse({"--config", "x.toml", "--print-config"});
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->action, CliAction::kPrintConfig);
  EXPECT_EQ(o->config_path, "x.toml");
  // --help wins over anything valid, and --help over --version.
  EXPECT_EQ(Parse({"--print-config", "--help"})->action, CliAction::kHelp);
  EXPECT_EQ(Parse({"--version", "--help"})->action, CliAction::kHelp);
  EXPECT_EQ(Parse({"--print-config", "--print-config"})->action, CliAction::kPrintConfig);
}

TEST(Cli, Errors) {
  EXPECT_EQ(ErrorOf({"--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(ErrorOf({"-x"}), "unknown option '-x'");
  EXPECT_EQ(ErrorOf({"run"}), "unexpected argument 'run'");
  EXPECT_EQ(ErrorOf({"--config"}), "--config needs a FILE argument");
  EXPECT_EQ(ErrorOf({"-c"}), "-c needs a FILE argument");
  EXPECT_EQ(ErrorOf({"--config="}), "--config: empty file name");
  EXPECT_EQ(ErrorOf({"--config", ""}), "--config: empty file name");
  EXPECT_EQ(ErrorOf({"-c", "a", "--config=b"}), "--config given more than once");
  EXPECT_EQ(ErrorOf({"--print-config", "--check-config"}),
            "--print-config and --check-config cannot be combined");
  // An error is an error even next to --help: a typo must not be silently ignored.
  EXPECT_EQ(ErrorOf({"--help", "--bogus"}), "unknown option '--bogus'");
  std::vector<std::string_view> many(100, "--help");
  EXPECT_EQ(ErrorOf(many), "too many arguments");
}

TEST(Cli, UsageMentionsEveryOption) {
  std::string usage = UsageText();
  for (const char* flag : {"--config", "--print-config", "--check-config", "--help", "--version"}) {
    EXPECT_NE(usage.find(flag), std::string::npos) << flag;
  }
}

TEST(Cli, UserCommands) {
  absl::StatusOr<CliOptions> o =
      Parse({"user", "add", "sip:alice@example.test", "--password", "pw", "--display-name",
             "Alice Liddell", "--phone", "+15551230001", "--phone=+15551230002"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->action, CliAction::kUser);
  EXPECT_EQ(o->user.verb, UserVerb::kAdd);
  EXPECT_EQ(o->user.uri, "sip:alice@example.test");
  EXPECT_EQ(o->user.password, "pw");
  EXPECT_FALSE(o->user.password_stdin);
  EXPECT_EQ(o->user.display_name, "Alice Liddell");
  EXPECT_EQ(o->user.phones, (std::vector<std::string>{"+15551230001", "+15551230002"}));
  EXPECT_EQ(o->config_path, "");

  // --config before "user" or anywhere after it; options before the URI.
  o = Parse({"-c", "x.toml", "user", "passwd", "--password-stdin", "sip:a@b.c"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user.verb, UserVerb::kPasswd);
  EXPECT_TRUE(o->user.password_stdin);
  EXPECT_EQ(o->user.uri, "sip:a@b.c");
  EXPECT_EQ(o->config_path, "x.toml");
  o = Parse({"user", "list", "--config=y.toml"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user.verb, UserVerb::kList);
  EXPECT_EQ(o->config_path, "y.toml");
  o = Parse({"user", "del", "sip:a@b.c", "--config", "z.toml"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user.verb, UserVerb::kDel);
  EXPECT_EQ(o->config_path, "z.toml");
  EXPECT_EQ(Parse({"user", "disable", "sip:a@b.c"})->user.verb, UserVerb::kDisable);
  EXPECT_EQ(Parse({"user", "enable", "sip:a@b.c"})->user.verb, UserVerb::kEnable);
  // --password=VALUE, and a value that looks like an option is still the value.
  o = Parse({"user", "add", "sip:a@b.c", "--password=--x"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->user.password, "--x");
  // Help inside a user command is the help.
  EXPECT_EQ(Parse({"user", "add", "--help"})->action, CliAction::kHelp);
  EXPECT_EQ(Parse({"user", "--help"})->action, CliAction::kHelp);
}

TEST(Cli, UserCommandErrors) {
  EXPECT_EQ(ErrorOf({"user"}),
            "user: expected a command (add, del, list, passwd, enable, disable)");
  EXPECT_EQ(ErrorOf({"user", "frob"}),
            "user: unknown command 'frob' (add, del, list, passwd, enable, disable)");
  EXPECT_EQ(ErrorOf({"user", "add", "--password", "pw"}),
            "user add: expected a user URI (sip:user@domain)");
  EXPECT_EQ(ErrorOf({"user", "add", "sip:a@b.c"}),
            "user add: --password or --password-stdin is required");
  EXPECT_EQ(ErrorOf({"user", "passwd", "sip:a@b.c"}),
            "user passwd: --password or --password-stdin is required");
  EXPECT_EQ(ErrorOf({"user", "add", "sip:a@b.c", "--password", "p", "--password-stdin"}),
            "user add: --password and --password-stdin cannot be combined");
  EXPECT_EQ(ErrorOf({"user", "add", "sip:a@b.c", "--password", "p", "--password", "q"}),
            "--password given more than once");
  EXPECT_EQ(ErrorOf({"user", "add", "sip:a@b.c", "--password"}), "--password needs a value");
  EXPECT_EQ(ErrorOf({"user", "add", "sip:a@b.c", "--password="}), "--password: empty value");
  EXPECT_EQ(ErrorOf({"user", "del", "sip:a@b.c", "--password", "p"}),
            "user del: takes no password");
  EXPECT_EQ(ErrorOf({"user", "passwd", "sip:a@b.c", "--password", "p", "--phone", "+1555"}),
            "user passwd: --display-name and --phone are only for user add");
  EXPECT_EQ(ErrorOf({"user", "list", "sip:a@b.c"}), "unexpected argument 'sip:a@b.c'");
  EXPECT_EQ(ErrorOf({"user", "del", "sip:a@b.c", "sip:d@e.f"}), "unexpected argument 'sip:d@e.f'");
  EXPECT_EQ(ErrorOf({"user", "list", "--bogus"}), "unknown option '--bogus'");
  EXPECT_EQ(ErrorOf({"user", "list", "--passwordx"}), "unknown option '--passwordx'");
  EXPECT_EQ(ErrorOf({"-c", "a", "user", "list", "-c", "b"}), "--config given more than once");
  EXPECT_EQ(ErrorOf({"user", "list", "--config"}), "--config needs a FILE argument");
  EXPECT_EQ(ErrorOf({"--print-config", "user", "list"}),
            "--print-config and user cannot be combined");
  EXPECT_EQ(ErrorOf({"user", "list", "--print-config"}), "unknown option '--print-config'");
}

TEST(Cli, UsageMentionsUserCommands) {
  std::string usage = UsageText();
  for (const char* text : {"user add", "user del", "user list", "user passwd", "--password-stdin",
                           "--display-name", "--phone", "enable|disable"}) {
    EXPECT_NE(usage.find(text), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace causeway::gateway
