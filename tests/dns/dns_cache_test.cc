#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "core/dns/dns_cache.h"
#include "core/dns/dns_channel.h"

namespace causeway::dns {
namespace {

using std::chrono::seconds;

DnsRecords OneAddress(uint32_t ttl, uint32_t ip = 0x7f000001) {
  DnsRecords r;
  r.addresses.push_back(NetAddress::V4(ip, 0));
  r.min_ttl = ttl;
  return r;
}

const DnsCache::Clock::time_point kT0{seconds(1000)};

TEST(DnsCacheTest, PositiveAnswerLivesForItsTtl) {
  DnsCache cache;
  cache.PutPositive("Host.Test.", DnsType::kA, OneAddress(60), kT0);
  const DnsCache::Hit* hit = cache.Find("host.test", DnsType::kA, kT0 + seconds(59));
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(hit->status.ok());
  ASSERT_EQ(hit->records.addresses.size(), 1u);
  EXPECT_EQ(cache.Find("host.test", DnsType::kAaaa, kT0), nullptr);  // type is part of the key
  EXPECT_EQ(cache.Find("host.test", DnsType::kA, kT0 + seconds(60)), nullptr);
  EXPECT_EQ(cache.size(), 0u);  // expired entries are dropped on lookup
}

TEST(DnsCacheTest, TtlIsClampedAndZeroIsNotCached) {
  DnsCache cache(DnsCacheOptions{.max_ttl = seconds(100), .min_ttl = seconds(5)});
  cache.PutPositive("long.test", DnsType::kA, OneAddress(86400), kT0);
  EXPECT_NE(cache.Find("long.test", DnsType::kA, kT0 + seconds(99)), nullptr);
  EXPECT_EQ(cache.Find("long.test", DnsType::kA, kT0 + seconds(100)), nullptr);
  cache.PutPositive("short.test", DnsType::kA, OneAddress(1), kT0);  // floored to 5 s
  EXPECT_NE(cache.Find("short.test", DnsType::kA, kT0 + seconds(4)), nullptr);

  DnsCache plain;
  plain.PutPositive("zero.test", DnsType::kA, OneAddress(0), kT0);
  EXPECT_EQ(plain.Find("zero.test", DnsType::kA, kT0), nullptr);
  EXPECT_EQ(plain.size(), 0u);
}

TEST(DnsCacheTest, NegativeCachingOnlyForNotFound) {
  DnsCache cache(DnsCacheOptions{.negative_ttl = seconds(10)});
  cache.PutNegative("nope.test", DnsType::kNaptr, NxDomainError("nope.test", DnsType::kNaptr), kT0);
  const DnsCache::Hit* hit = cache.Find("nope.test", DnsType::kNaptr, kT0 + seconds(9));
  ASSERT_NE(hit, nullptr);
  EXPECT_TRUE(absl::IsNotFound(hit->status));
  EXPECT_TRUE(IsNxDomain(hit->status));  // the NXDOMAIN mark survives the cache
  EXPECT_EQ(cache.Find("nope.test", DnsType::kNaptr, kT0 + seconds(10)), nullptr);

  cache.PutNegative("down.test", DnsType::kA, absl::UnavailableError("timeout"), kT0);
  EXPECT_EQ(cache.Find("down.test", DnsType::kA, kT0), nullptr);

  DnsCache off(DnsCacheOptions{.negative_ttl = seconds(0)});
  off.PutNegative("nope.test", DnsType::kA, absl::NotFoundError("no"), kT0);
  EXPECT_EQ(off.size(), 0u);
}

TEST(DnsCacheTest, SizeBoundEvictsExpiredThenSoonestToExpire) {
  DnsCache cache(DnsCacheOptions{.max_entries = 3});
  cache.PutPositive("a.test", DnsType::kA, OneAddress(10), kT0);
  cache.PutPositive("b.test", DnsType::kA, OneAddress(100), kT0);
  cache.PutPositive("c.test", DnsType::kA, OneAddress(200), kT0);
  // Full, nothing expired: the entry closest to expiry (a) goes.
  cache.PutPositive("d.test", DnsType::kA, OneAddress(300), kT0);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find("a.test", DnsType::kA, kT0), nullptr);
  EXPECT_NE(cache.Find("b.test", DnsType::kA, kT0), nullptr);
  // At t+150 b has expired: inserting e drops b, keeps c and d.
  cache.PutPositive("e.test", DnsType::kA, OneAddress(300), kT0 + seconds(150));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.Find("c.test", DnsType::kA, kT0 + seconds(150)), nullptr);
  EXPECT_NE(cache.Find("d.test", DnsType::kA, kT0 + seconds(150)), nullptr);
  EXPECT_NE(cache.Find("e.test", DnsType::kA, kT0 + seconds(150)), nullptr);
  // Replacing an existing key never evicts.
  cache.PutPositive("e.test", DnsType::kA, OneAddress(300, 0x7f000002), kT0 + seconds(150));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Find("e.test", DnsType::kA, kT0 + seconds(150))->records.addresses[0].HostString(),
            "127.0.0.2");

  DnsCache disabled(DnsCacheOptions{.max_entries = 0});
  disabled.PutPositive("a.test", DnsType::kA, OneAddress(10), kT0);
  EXPECT_EQ(disabled.size(), 0u);
}

}  // namespace
}  // namespace causeway::dns
