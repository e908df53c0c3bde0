// [metrics] in the configuration: the default endpoint, turning it off, bad values, clashes.

#include <string>

#include "gateway/config.h"
#include "gtest/gtest.h"

namespace causeway::gateway {
namespace {

TEST(MetricsConfig, DefaultsToLoopback9464AndPrintsIt) {
  GatewayConfig c = DefaultConfig();
  ASSERT_TRUE(c.metrics.listen.has_value());
  EXPECT_EQ(c.metrics.listen->ToString(), "127.0.0.1:9464");
  std::string text = DefaultConfigToml();
  size_t section = text.find("\n[metrics]\n");
  ASSERT_NE(section, std::string::npos) << text;
  EXPECT_NE(text.find("\nlisten = \"127.0.0.1:9464\"\n", section), std::string::npos) << text;
}

TEST(MetricsConfig, EmptyTurnsItOffAndRoundTrips) {
  absl::StatusOr<GatewayConfig> c = ParseConfig("[metrics]\nlisten = \"\"\n", "m.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->metrics.listen.has_value());
  absl::StatusOr<GatewayConfig> again = ParseConfig(ConfigToToml(*c), "again.toml");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->metrics.listen.has_value());
}

TEST(MetricsConfig, PortDefaultsTo9464AndV6Works) {
  absl::StatusOr<GatewayConfig> c = ParseConfig("[metrics]\nlisten = \"[::1]\"\n", "m.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(c->metrics.listen.has_value());
  EXPECT_EQ(c->metrics.listen->ToString(), "[::1]:9464");
  c = ParseConfig("[metrics]\nlisten = \"0.0.0.0:9100\"\n", "m.toml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->metrics.listen->ToString(), "0.0.0.0:9100");
}

TEST(MetricsConfig, BadValuesAreOneLineNamingTheKey) {
  absl::StatusOr<GatewayConfig> c = ParseConfig("[metrics]\nlisten = \"localhost:80\"\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message().substr(0, 23), "m.toml: metrics.listen:") << c.status();
  c = ParseConfig("[metrics]\nlisten = \"127.0.0.1:0\"\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("port 0 is not allowed"), std::string::npos) << c.status();
  c = ParseConfig("[metrics]\nlisten = [\"127.0.0.1:1\"]\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("expected a string"), std::string::npos) << c.status();
  c = ParseConfig("[metrics]\nport = 1\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("metrics.port: unknown key"), std::string::npos);
}

TEST(MetricsConfig, MayNotTakeASipStreamAddress) {
  absl::StatusOr<GatewayConfig> c =
      ParseConfig("[sip]\ntcp = [\"127.0.0.1:9464\"]\n", "m.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            "m.toml: metrics.listen: 127.0.0.1:9464 is also a sip.tcp listen address");
  c = ParseConfig("[sip]\ntcp = [\"127.0.0.1:9464\"]\n[metrics]\nlisten = \"127.0.0.1:9465\"\n",
                  "m.toml");
  EXPECT_TRUE(c.ok()) << c.status();
}

}  // namespace
}  // namespace causeway::gateway
