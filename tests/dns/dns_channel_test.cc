// DnsChannel end to end: c-ares on an io_context against tests/dns/dns_server.py and its built-in
// test zone on 127.0.0.1.

#include "core/dns/dns_channel.h"

#include <chrono>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/dns/dns_test_server.h"

namespace causeway::dns {
namespace {

using std::chrono::milliseconds;

class DnsChannelTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new dns_test::DnsServerProcess(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(server_->port(), 0) << "dns_server.py did not start"; }

  static dns_test::DnsServerProcess* server_;
  boost::asio::io_context io_;
};

dns_test::DnsServerProcess* DnsChannelTest::server_ = nullptr;

// Runs one DnsChannel query to completion (at most 10 s).
absl::StatusOr<DnsRecords> RunQuery(boost::asio::io_context& io, DnsChannel& channel,
                                    const std::string& name, DnsType type) {
  std::optional<absl::StatusOr<DnsRecords>> result;
  channel.Query(name, type, [&](absl::StatusOr<DnsRecords> r) { result = std::move(r); });
  EXPECT_FALSE(result.has_value()) << "callback must not run inside Query()";
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!result && std::chrono::steady_clock::now() < deadline) {
    io.run_one_for(milliseconds(100));
    if (io.stopped()) io.restart();
  }
  if (!result) return absl::DeadlineExceededError("test: no callback within 10 s");
  return std::move(*result);
}

TEST_F(DnsChannelTest, AnswersEachRecordType) {
  for (bool tcp : {false, true}) {  // TCP exercises the connect (wait_write) path
    SCOPED_TRACE(tcp ? "tcp" : "udp");
    DnsChannelOptions options;
    options.servers = server_->servers();
    options.use_tcp = tcp;
    auto channel = DnsChannel::Create(io_, options);
    ASSERT_TRUE(channel.ok()) << channel.status();
    auto srv = RunQuery(io_, **channel, "_sip._udp.srv.test", DnsType::kSrv);
    ASSERT_TRUE(srv.ok()) << srv.status();
    EXPECT_EQ(srv->srv.size(), 4u);
    EXPECT_EQ(srv->min_ttl, 300u);
    auto naptr = RunQuery(io_, **channel, "naptr.test", DnsType::kNaptr);
    ASSERT_TRUE(naptr.ok()) << naptr.status();
    EXPECT_EQ(naptr->naptr.size(), 5u);
    auto aaaa = RunQuery(io_, **channel, "dual.test.", DnsType::kAaaa);
    ASSERT_TRUE(aaaa.ok()) << aaaa.status();
    ASSERT_EQ(aaaa->addresses.size(), 1u);
    EXPECT_EQ(aaaa->addresses[0].HostString(), "::1");
    auto a = RunQuery(io_, **channel, "ttl1.test", DnsType::kA);
    ASSERT_TRUE(a.ok()) << a.status();
    EXPECT_EQ(a->min_ttl, 1u);
    EXPECT_EQ((*channel)->pending_queries(), 0u);
  }
}

TEST_F(DnsChannelTest, TellsNxDomainFromNoData) {
  DnsChannelOptions options;
  options.servers = server_->servers();
  auto channel = DnsChannel::Create(io_, options);
  ASSERT_TRUE(channel.ok()) << channel.status();
  auto nx = RunQuery(io_, **channel, "nope.test", DnsType::kA);
  EXPECT_TRUE(absl::IsNotFound(nx.status())) << nx.status();
  EXPECT_TRUE(IsNxDomain(nx.status()));
  auto nodata = RunQuery(io_, **channel, "srv.test", DnsType::kNaptr);
  EXPECT_TRUE(absl::IsNotFound(nodata.status())) << nodata.status();
  EXPECT_FALSE(IsNxDomain(nodata.status()));
  // A CNAME to a name without SRV records: NOERROR without any SRV is NODATA too.
  auto cname_only = RunQuery(io_, **channel, "alias.test", DnsType::kSrv);
  EXPECT_TRUE(absl::IsNotFound(cname_only.status())) << cname_only.status();
  auto bad = RunQuery(io_, **channel, std::string(300, 'x'), DnsType::kA);
  EXPECT_TRUE(absl::IsInvalidArgument(bad.status())) << bad.status();
  auto empty = RunQuery(io_, **channel, ".", DnsType::kA);
  EXPECT_TRUE(absl::IsInvalidArgument(empty.status())) << empty.status();
}

}  // namespace
}  // namespace causeway::dns
