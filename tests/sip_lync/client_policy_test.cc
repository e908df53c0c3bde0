#include "sip/lync/client_policy.h"

#include <string>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace causeway::sip::lync {
namespace {

constexpr std::string_view kLync2010 = "UCCAPI/4.0.7577.0 OC/4.0.7577.0 (Microsoft Lync 2010)";
constexpr std::string_view kLync2013 = "UCCAPI/15.0.4481.1000 OC/15.0.4481.1000 (Microsoft Lync)";
constexpr std::string_view kSfb2016 =
    "UCCAPI/16.0.4849.1000 OC/16.0.4849.1000 (Skype for Business)";
constexpr std::string_view kSipe = "Purple/2.14.12 Sipe/1.25.0 (linux-x86_64)";

ClientPolicy Policy(std::vector<std::string> rules) {
  absl::StatusOr<ClientPolicy> p = ClientPolicy::Create(rules);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

SipMessage Parse(std::string text) {
  absl::StatusOr<SipMessage> m = SipMessage::Parse(std::move(text));
  EXPECT_TRUE(m.ok()) << m.status();
  return std::move(*m);
}

SipMessage Register(std::string_view user_agent) {
  std::string ua = user_agent.empty() ? "" : "User-Agent: " + std::string(user_agent) + "\r\n";
  return Parse(
      "REGISTER sip:example.test SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.0.2.1:50000;branch=z9hG4bKreg1\r\n"
      "From: <sip:alice@example.test>;tag=f1\r\n"
      "To: <sip:alice@example.test>\r\n"
      "Call-ID: reg-1\r\n"
      "CSeq: 1 REGISTER\r\n" +
      ua + "Content-Length: 0\r\n\r\n");
}

TEST(ClientPolicyTest, ParsesRules) {
  absl::StatusOr<ClientVersionRule> r = ParseClientVersionRule("UCCAPI/15.0");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->action, ClientAction::kBlock);
  EXPECT_EQ(r->product, "uccapi");
  EXPECT_EQ(r->op, VersionOp::kLess);
  EXPECT_EQ(r->version, (ClientVersion{15, 0, 0, 0}));
  EXPECT_EQ(r->text, "UCCAPI/15.0");

  r = ParseClientVersionRule("  allow  OC/>=4.0.7577.1 ");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->action, ClientAction::kAllow);
  EXPECT_EQ(r->op, VersionOp::kGreaterEqual);
  EXPECT_EQ(r->version, (ClientVersion{4, 0, 7577, 1}));

  r = ParseClientVersionRule("Sipe");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->op, VersionOp::kAny);
  r = ParseClientVersionRule("BLOCK *");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->product, "*");

  for (auto [text, op] :
       std::vector<std::pair<std::string, VersionOp>>{{"x/<=1", VersionOp::kLessEqual},
                                                      {"x/=1", VersionOp::kEqual},
                                                      {"x/!=1", VersionOp::kNotEqual},
                                                      {"x/>1", VersionOp::kGreater},
                                                      {"x/<1", VersionOp::kLess}}) {
    absl::StatusOr<ClientVersionRule> rule = ParseClientVersionRule(text);
    ASSERT_TRUE(rule.ok()) << text;
    EXPECT_EQ(rule->op, op) << text;
  }
}

TEST(ClientPolicyTest, RejectsBadRulesWithAReason) {
  for (std::string_view bad :
       {"", "   ", "UCCAPI/", "UCCAPI/15.", "UCCAPI/.15", "UCCAPI/15.0.0.0.0", "UCCAPI/x",
        "UCCAPI/15.0a", "UCCAPI/<<15", "UCCAPI/65536", "/15.0", "deny UCCAPI", "UC CAPI/1",
        "UC(CAPI", "U*/1", "UCCAPI/=>15"}) {
    absl::StatusOr<ClientVersionRule> r = ParseClientVersionRule(bad);
    EXPECT_FALSE(r.ok()) << "accepted: \"" << bad << "\"";
    if (!r.ok()) {
      EXPECT_FALSE(r.status().message().empty());
    }
  }
  absl::StatusOr<ClientPolicy> p = ClientPolicy::Create({"UCCAPI/15.0", "OC/four"});
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("\"OC/four\""), std::string_view::npos)
      << p.status().message();
}

TEST(ClientPolicyTest, ParsesUserAgents) {
  std::vector<UserAgentProduct> p = ParseUserAgent(kLync2013);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].name, "UCCAPI");
  EXPECT_EQ(p[0].version, (ClientVersion{15, 0, 4481, 1000}));
  EXPECT_EQ(p[1].name, "OC");
  p = ParseUserAgent("A/1.25.0rc1 (nested (comment) B/9) C D/");
  ASSERT_EQ(p.size(), 3u);
  EXPECT_EQ(p[0].version, (ClientVersion{1, 25, 0, 0}));
  EXPECT_EQ(p[1].name, "C");
  EXPECT_EQ(p[1].version, ClientVersion{});
  EXPECT_EQ(p[2].name, "D");
  EXPECT_TRUE(ParseUserAgent("").empty());
  EXPECT_TRUE(ParseUserAgent("(only a comment").empty());
}

TEST(ClientPolicyTest, BlocksBelowAVersion) {
  ClientPolicy p = Policy({"UCCAPI/15.0"});
  ASSERT_NE(p.Blocking(kLync2010), nullptr);
  EXPECT_EQ(p.Blocking(kLync2010)->text, "UCCAPI/15.0");
  EXPECT_EQ(p.Blocking(kLync2013), nullptr);  // 15.0.4481 is not below 15.0
  EXPECT_EQ(p.Blocking(kSfb2016), nullptr);
  EXPECT_EQ(p.Blocking(kSipe), nullptr);
  // The product name is case-insensitive.
  EXPECT_EQ(p.Blocking("uccapi/14.99"), p.Blocking(kLync2010));
  EXPECT_NE(p.Blocking("UCCAPI"), nullptr);  // no version counts as 0
  EXPECT_EQ(p.Blocking(""), nullptr);
}

TEST(ClientPolicyTest, FirstMatchDecidesAndStarMatchesTheFirstProduct) {
  ClientPolicy only_sfb = Policy({"allow UCCAPI/>=16.0", "*"});
  EXPECT_EQ(only_sfb.Blocking(kSfb2016), nullptr);
  EXPECT_NE(only_sfb.Blocking(kLync2013), nullptr);
  EXPECT_NE(only_sfb.Blocking(kSipe), nullptr);
  // "*" matches a missing User-Agent too.
  EXPECT_NE(only_sfb.Blocking(""), nullptr);

  ClientPolicy sipe = Policy({"Sipe"});
  EXPECT_NE(sipe.Blocking(kSipe), nullptr);  // any token, not only the first
  EXPECT_EQ(sipe.Blocking(kLync2013), nullptr);

  ClientPolicy star_version = Policy({"*/2.0"});
  // Purple/2.14 is the first product.
  EXPECT_EQ(star_version.Blocking(kSipe), nullptr);
  EXPECT_NE(star_version.Blocking("Purple/1.9 Sipe/9.0"), nullptr);

  ClientPolicy exact = Policy({"OC/=4.0.7577", "OC/!=15.0.4481.1000"});
  EXPECT_NE(exact.Blocking("OC/4.0.7577"), nullptr);
  EXPECT_EQ(exact.Blocking("OC/15.0.4481.1000"), nullptr);
  EXPECT_NE(exact.Blocking("OC/15.0.4481.1001"), nullptr);

  EXPECT_TRUE(Policy({}).empty());
  EXPECT_EQ(Policy({}).Blocking(kLync2010), nullptr);
}

TEST(ClientPolicyTest, AnswersABlockedRegisterWith403AndDiagnostics) {
  ClientPolicy p = Policy({"UCCAPI/15.0"});
  std::optional<SipMessage> answer = p.AnswerRegister(Register(kLync2010), "fe01.example.test");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status_code(), 403);
  EXPECT_EQ(answer->call_id(), "reg-1");
  EXPECT_FALSE(answer->to_tag().empty());
  ASSERT_NE(answer->FindHeader("ms-diagnostics"), nullptr);
  EXPECT_EQ(answer->FindHeader("ms-diagnostics")->value,
            "17002;reason=\"Invalid protocol client "
            "version.\";source=\"fe01.example.test\"");
  ASSERT_NE(answer->FindHeader("Warning"), nullptr);
  EXPECT_EQ(answer->FindHeader("Warning")->value,
            "399 fe01.example.test \"Invalid protocol client version.\"");

  EXPECT_FALSE(p.AnswerRegister(Register(kLync2013), "fe"));
  EXPECT_FALSE(p.AnswerRegister(Register(""), "fe"));
  EXPECT_FALSE(Policy({}).AnswerRegister(Register(kLync2010), "fe"));
  // Only REGISTER is checked.
  SipMessage message = Parse(
      "MESSAGE sip:bob@example.test SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.0.2.1:50000;branch=z9hG4bKm1\r\n"
      "From: <sip:alice@example.test>;tag=f1\r\n"
      "To: <sip:bob@example.test>\r\n"
      "Call-ID: m-1\r\n"
      "CSeq: 2 MESSAGE\r\n"
      "User-Agent: UCCAPI/4.0\r\n"
      "Content-Length: 0\r\n\r\n");
  EXPECT_FALSE(p.AnswerRegister(message, "fe"));
}

}  // namespace
}  // namespace causeway::sip::lync
