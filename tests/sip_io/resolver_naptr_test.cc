#include <optional>

#include <gtest/gtest.h>

#include "sip/io/resolver.h"

namespace causeway::sip {
namespace {

TEST(NaptrServiceTest, TransportOfEachServiceField) {
  EXPECT_EQ(NaptrServiceTransport("SIP+D2U"), TransportKind::kUdp);
  EXPECT_EQ(NaptrServiceTransport("sip+d2t"), TransportKind::kTcp);
  EXPECT_EQ(NaptrServiceTransport("SIPS+D2T"), TransportKind::kTls);
  EXPECT_EQ(NaptrServiceTransport("SIP+D2S"), std::nullopt);
  EXPECT_EQ(NaptrServiceTransport("SIPS+D2U"), std::nullopt);
  EXPECT_EQ(NaptrServiceTransport("E2U+sip"), std::nullopt);
  EXPECT_EQ(NaptrServiceTransport(""), std::nullopt);
}

}  // namespace
}  // namespace causeway::sip
