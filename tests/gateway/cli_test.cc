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

}  // namespace
}  // namespace causeway::gateway
