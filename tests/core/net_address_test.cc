#include "core/net_address.h"

#include "gtest/gtest.h"

namespace causeway {
namespace {

TEST(NetAddress, ParsesV4WithAndWithoutPort) {
  auto a = NetAddress::Parse("127.0.0.1:5060");
  ASSERT_TRUE(a);
  EXPECT_FALSE(a->is_v6());
  EXPECT_EQ(a->port(), 5060);
  EXPECT_EQ(a->v4_host_order(), 0x7f000001u);
  EXPECT_EQ(a->ToString(), "127.0.0.1:5060");
  auto b = NetAddress::Parse("10.1.2.3", 5061);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port(), 5061);
}

TEST(NetAddress, ParsesV6Forms) {
  auto a = NetAddress::Parse("[::1]:5061");
  ASSERT_TRUE(a);
  EXPECT_TRUE(a->is_v6());
  EXPECT_EQ(a->port(), 5061);
  EXPECT_EQ(a->HostForUri(), "[::1]");
  EXPECT_EQ(a->ToString(), "[::1]:5061");
  auto b = NetAddress::Parse("2001:db8::10", 5060);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->HostString(), "2001:db8::10");
  EXPECT_EQ(b->port(), 5060);
}

TEST(NetAddress, RejectsGarbage) {
  EXPECT_FALSE(NetAddress::Parse(""));
  EXPECT_FALSE(NetAddress::Parse("example.com"));
  EXPECT_FALSE(NetAddress::Parse("1.2.3.4:70000"));
  EXPECT_FALSE(NetAddress::Parse("[::1"));
  EXPECT_FALSE(NetAddress::Parse("1.2.3.4:x"));
}

TEST(NetAddress, EqualityIncludesPort) {
  EXPECT_EQ(*NetAddress::Parse("1.2.3.4:1"), *NetAddress::Parse("1.2.3.4:1"));
  EXPECT_NE(*NetAddress::Parse("1.2.3.4:1"), *NetAddress::Parse("1.2.3.4:2"));
}

}  // namespace
}  // namespace causeway
