// [turn] in the configuration, the `turn credentials` command line, and what the gateway derives
// from them (realm, URIs, the generated secret).

#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "gateway/cli.h"
#include "gateway/config.h"
#include "gateway/turn_relay.h"
#include "gtest/gtest.h"

namespace causeway::gateway {
namespace {

std::string ErrorOf(std::string_view toml) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(toml, "t.toml");
  return c.ok() ? std::string() : std::string(c.status().message());
}

TEST(TurnConfig, DefaultsListenOnLoopback3478UdpAndTcp) {
  GatewayConfig c = DefaultConfig();
  EXPECT_TRUE(c.turn.enabled());
  ASSERT_EQ(c.turn.udp.size(), 1u);
  EXPECT_EQ(c.turn.udp[0].ToString(), "127.0.0.1:3478");
  ASSERT_EQ(c.turn.tcp.size(), 1u);
  EXPECT_TRUE(c.turn.tls.empty());
  EXPECT_TRUE(c.turn.allow_peers.empty());
  EXPECT_EQ(c.turn.port_min, 49152u);
  EXPECT_EQ(TurnRealm(c), "causeway");
  EXPECT_EQ(TurnUris(c), (std::vector<std::string>{"turn:127.0.0.1:3478?transport=udp",
                                                   "turn:127.0.0.1:3478?transport=tcp"}));
}

TEST(TurnConfig, OffWhenNoListenersAndRoundTrips) {
  absl::StatusOr<GatewayConfig> c = ParseConfig(
      "[sip]\ndomains = [\"lync.test\"]\n[turn]\nudp = []\ntcp = []\nusers = [\"alice:pw:with:colons\"]\n"
      "allow_peers = [\"127.0.0.0/8\", \"::1\"]\nrelay_addresses = [\"192.0.2.1\"]\n"
      "public_host = \"Relay.Example.COM\"\n",
      "t.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->turn.enabled());
  EXPECT_EQ(TurnRealm(*c), "lync.test");
  EXPECT_EQ(TurnPublicHost(*c), "relay.example.com");
  turn::CredentialOptions credentials = MakeTurnCredentialOptions(*c, "s3cret-s3cret-s3cret");
  EXPECT_EQ(credentials.static_users.at("alice"), "pw:with:colons");
  absl::StatusOr<GatewayConfig> again = ParseConfig(ConfigToToml(*c), "again.toml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->turn.allow_peers, c->turn.allow_peers);
  EXPECT_EQ(again->turn.relay_addresses, c->turn.relay_addresses);
}

TEST(TurnConfig, BadValuesNameTheKey) {
  EXPECT_EQ(ErrorOf("[turn]\nusers = [\"nopassword\"]\n").substr(0, 18), "t.toml: turn.users");
  EXPECT_NE(ErrorOf("[turn]\nusers = [\"123:pw\"]\n").find("expiry"), std::string::npos);
  EXPECT_NE(ErrorOf("[turn]\nusers = [\"a:1\", \"a:2\"]\n").find("twice"), std::string::npos);
  EXPECT_EQ(ErrorOf("[turn]\nallow_peers = [\"10.0.0.0/40\"]\n").substr(0, 24),
            "t.toml: turn.allow_peers");
  EXPECT_EQ(ErrorOf("[turn]\nrelay_addresses = [\"192.0.2.1:5\"]\n").substr(0, 28),
            "t.toml: turn.relay_addresses");
  EXPECT_EQ(ErrorOf("[turn]\nrelay_addresses = [\"0.0.0.0\"]\n").substr(0, 28),
            "t.toml: turn.relay_addresses");
  EXPECT_EQ(ErrorOf("[turn]\nrealm = \"has space\"\n").substr(0, 18), "t.toml: turn.realm");
  EXPECT_NE(ErrorOf("[turn]\nport_min = 60000\nport_max = 50000\n").find("turn.port_max"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[turn]\ndefault_lifetime_s = 3000\nmax_lifetime_s = 600\n")
                .find("turn.max_lifetime_s"),
            std::string::npos);
  EXPECT_NE(ErrorOf("[sip]\nudp = [\"127.0.0.1:3478\"]\n").find("turn.udp"), std::string::npos);
  EXPECT_NE(ErrorOf("[turn]\ntls = [\"127.0.0.1:3478\"]\n").find("turn.tls"), std::string::npos);
  EXPECT_EQ(ErrorOf("[turn]\nport_min = 80\n").substr(0, 21), "t.toml: turn.port_min");
}

TEST(TurnConfig, SecretIsGeneratedOnceAndKept) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      ("turn-secret-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  GatewayConfig c = DefaultConfig();
  absl::StatusOr<std::string> first = LoadOrCreateTurnSecret(c, dir.string());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->size(), 64u);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "turn-secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<std::string> second = LoadOrCreateTurnSecret(c, dir.string());
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(*first, *second);
  c.turn.secret = "configured-secret";
  EXPECT_EQ(*LoadOrCreateTurnSecret(c, dir.string()), "configured-secret");
  std::filesystem::remove_all(dir);
}

TEST(TurnCli, CredentialsCommand) {
  absl::StatusOr<CliOptions> o =
      ParseArgs({"turn", "credentials", "--user", "alice", "--ttl", "60", "--config", "x.toml"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->action, CliAction::kTurnCredentials);
  EXPECT_EQ(o->turn.user, "alice");
  EXPECT_EQ(o->turn.ttl_s, 60);
  EXPECT_EQ(o->config_path, "x.toml");
  o = ParseArgs({"--config", "y.toml", "turn", "credentials", "--user", "bob"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->turn.ttl_s, 0);
  EXPECT_EQ(ParseArgs({"turn", "credentials", "--help"})->action, CliAction::kHelp);
  for (std::vector<std::string_view> bad : std::vector<std::vector<std::string_view>>{
           {"turn"},
           {"turn", "credentials"},
           {"turn", "credentials", "--user"},
           {"turn", "credentials", "--user", "a:b"},
           {"turn", "credentials", "--user", "a", "--ttl", "0"},
           {"turn", "credentials", "--user", "a", "--ttl", "x"},
           {"turn", "credentials", "--user", "a", "--user", "b"},
           {"turn", "delete"},
           {"--print-config", "turn", "credentials", "--user", "a"}}) {
    EXPECT_FALSE(ParseArgs(bad).ok()) << bad.size();
  }
  EXPECT_NE(UsageText().find("turn credentials --user NAME"), std::string::npos);
}

}  // namespace
}  // namespace causeway::gateway
