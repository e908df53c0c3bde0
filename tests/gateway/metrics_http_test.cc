// The metrics HTTP server: request-head parsing and routing as pure functions, then the real server
// on a loopback socket (status codes, closing, limits, timeouts, a port in use).

#include "gateway/metrics_http.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/gateway/metrics_test_util.h"

namespace causeway::gateway {
namespace {

using State = HttpHeadParse::State;
using testing::HttpBody;
using testing::HttpExchange;
using testing::HttpGet;
using testing::LoopbackClient;

constexpr size_t kMax = 8192;

TEST(MetricsHttpParse, CompleteHeadsWithCrlfOrBareLf) {
  HttpHeadParse p = ParseHttpRequestHead("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", kMax);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.target, "/metrics");
  p = ParseHttpRequestHead("HEAD /ready?x=1 HTTP/1.0\n\n", kMax);
  ASSERT_EQ(p.state, State::kComplete);
  EXPECT_EQ(p.head.method, "HEAD");
  EXPECT_EQ(p.head.target, "/ready?x=1");
  // A body after the head is not ours to read.
  EXPECT_EQ(ParseHttpRequestHead("POST /m HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", kMax).state,
            State::kComplete);
}

TEST(MetricsHttpParse, NeedsMoreUntilTheEmptyLine) {
  for (std::string_view partial : {"", "GET", "GET /metrics HTTP/1.1", "GET /metrics HTTP/1.1\r",
                                   "GET /metrics HTTP/1.1\r\nHost: x\r\n", "GET / HTTP/1.1\r\nHo"}) {
    EXPECT_EQ(ParseHttpRequestHead(partial, kMax).state, State::kNeedMore) << partial;
  }
}

TEST(MetricsHttpParse, GarbageIsBadAsSoonAsItShows) {
  // A TLS ClientHello, NUL bytes, a SIP request, broken request lines and header lines.
  for (std::string_view bad :
       {std::string_view("\x16\x03\x01\x02\x00", 5), std::string_view("GET \0", 5),
        std::string_view("OPTIONS sip:a@b SIP/2.0\r\n"), std::string_view("GET /metrics\r\n"),
        std::string_view("GET /metrics HTTP/2.0\r\n"), std::string_view("GET  /m HTTP/1.1\r\n"),
        std::string_view("G(T /m HTTP/1.1\r\n"), std::string_view("GET /m HTTP/1.1 x\r\n"),
        std::string_view("\r\n"), std::string_view("GET /m HTTP/1.1\r\nno colon here\r\n"),
        std::string_view("GET /m HTTP/1.1\r\n folded: x\r\n"),
        std::string_view("GET /m HTTP/1.1\r\nX: a\x01z\r\n")}) {
    EXPECT_EQ(ParseHttpRequestHead(bad, kMax).state, State::kBad) << bad;
  }
}

TEST(MetricsHttpParse, HeadsOverTheLimitAreTooLarge) {
  std::string line = "GET /" + std::string(kMax, 'a');
  EXPECT_EQ(ParseHttpRequestHead(line, kMax).state, State::kTooLarge);
  std::string headers = "GET / HTTP/1.1\r\n";
  while (headers.size() < kMax) headers += "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
  EXPECT_EQ(ParseHttpRequestHead(headers, kMax).state, State::kTooLarge);
  EXPECT_EQ(ParseHttpRequestHead(headers + "\r\n", kMax).state, State::kTooLarge);
  // Just under the limit is fine.
  std::string fits = "GET / HTTP/1.1\r\nX: " + std::string(kMax - 25, 'b') + "\r\n\r\n";
  ASSERT_LE(fits.size(), kMax);
  EXPECT_EQ(ParseHttpRequestHead(fits, kMax).state, State::kComplete);
}

TEST(MetricsHttpRoute, PathsAndMethods) {
  int scrapes = 0;
  bool ready = true;
  MetricsHttpHandlers handlers{[&scrapes] {
                                 ++scrapes;
                                 return std::string("causeway_x 1\n");
                               },
                               [&ready] { return ready; }};
  HttpResponse r = RouteMetricsRequest({"GET", "/metrics"}, handlers);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type.rfind("text/plain; version=0.0.4", 0), 0u) << r.content_type;
  EXPECT_EQ(r.body, "causeway_x 1\n");
  EXPECT_EQ(RouteMetricsRequest({"GET", "/metrics?name[]=x"}, handlers).status, 200);
  EXPECT_EQ(scrapes, 2);
  EXPECT_EQ(RouteMetricsRequest({"GET", "/health"}, handlers).status, 200);
  EXPECT_EQ(RouteMetricsRequest({"GET", "/ready"}, handlers).status, 200);
  ready = false;
  EXPECT_EQ(RouteMetricsRequest({"GET", "/ready"}, handlers).status, 503);
  EXPECT_EQ(RouteMetricsRequest({"GET", "/health"}, handlers).status, 200);
  EXPECT_EQ(RouteMetricsRequest({"GET", "/"}, handlers).status, 404);
  EXPECT_EQ(RouteMetricsRequest({"GET", "/metricsx"}, handlers).status, 404);
  HttpResponse post = RouteMetricsRequest({"POST", "/metrics"}, handlers);
  EXPECT_EQ(post.status, 405);
  ASSERT_EQ(post.headers.size(), 1u);
  EXPECT_EQ(post.headers[0].first, "Allow");
  EXPECT_EQ(scrapes, 2);  // a refused method does not scrape
}

TEST(MetricsHttpRoute, HeadKeepsTheLengthAndDropsTheBody) {
  HttpResponse r;
  r.body = "12345";
  std::string head = SerializeHttpResponse(r, /*head_only=*/true);
  EXPECT_NE(head.find("Content-Length: 5\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("Connection: close\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
  EXPECT_EQ(SerializeHttpResponse(r, false), head + "12345");
}

class MetricsHttpServerTest : public ::testing::Test {
 protected:
  void Start(MetricsHttpOptions options = {}) {
    options.listen = *NetAddress::Parse("127.0.0.1:0");
    MetricsHttpHandlers handlers;
    handlers.metrics = [this] {
      ++scrapes_;
      return std::string("# HELP causeway_x X.\n# TYPE causeway_x gauge\ncauseway_x 42\n");
    };
    auto server = MetricsHttpServer::Start(options, handlers);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    port_ = server_->local_address().port();
    ASSERT_NE(port_, 0);
  }

  std::atomic<int> scrapes_{0};
  std::unique_ptr<MetricsHttpServer> server_;
  uint16_t port_ = 0;
};

TEST_F(MetricsHttpServerTest, ServesMetricsAndClosesTheConnection) {
  Start();
  std::string response = HttpGet(port_, "/metrics");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(HttpBody(response), "# HELP causeway_x X.\n# TYPE causeway_x gauge\ncauseway_x 42\n");
  EXPECT_EQ(scrapes_, 1);
  response = HttpExchange(port_, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_EQ(HttpBody(response), "");
  EXPECT_EQ(HttpGet(port_, "/health").rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_EQ(HttpGet(port_, "/ready").rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_EQ(HttpGet(port_, "/nope").rfind("HTTP/1.1 404 ", 0), 0u);
  response = HttpExchange(port_, "DELETE /metrics HTTP/1.1\r\n\r\n");
  EXPECT_EQ(response.rfind("HTTP/1.1 405 ", 0), 0u) << response;
  EXPECT_NE(response.find("Allow: GET, HEAD\r\n"), std::string::npos) << response;
}

TEST_F(MetricsHttpServerTest, GarbageGets400AndTheConnectionCloses) {
  Start();
  // No empty line ever comes: the answer must not wait for the timeout.
  LoopbackClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(std::string_view("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11)));
  std::optional<std::string> response = client.ReadUntilClosed(std::chrono::seconds(5));
  ASSERT_TRUE(response.has_value()) << client.partial();
  EXPECT_EQ(response->rfind("HTTP/1.1 400 ", 0), 0u) << *response;
  EXPECT_EQ(HttpExchange(port_, "GET /metrics HTTP/1.1\r\nbroken header\r\n\r\n").rfind(
                "HTTP/1.1 400 ", 0),
            0u);
  EXPECT_EQ(scrapes_, 0);
  // The server still serves.
  EXPECT_EQ(HttpGet(port_, "/metrics").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(MetricsHttpServerTest, OversizedHeadGets431AndTheConnectionCloses) {
  Start();
  LoopbackClient client(port_);
  ASSERT_TRUE(client.connected());
  std::string request = "GET /metrics HTTP/1.1\r\n";
  while (request.size() < 9 * 1024) request += "X-Filler: " + std::string(100, 'a') + "\r\n";
  // The server may close before everything is written; what matters is the answer.
  client.Send(request);
  std::optional<std::string> response = client.ReadUntilClosed(std::chrono::seconds(5));
  ASSERT_TRUE(response.has_value()) << client.partial();
  EXPECT_EQ(response->rfind("HTTP/1.1 431 ", 0), 0u) << *response;
  EXPECT_EQ(scrapes_, 0);
}

TEST_F(MetricsHttpServerTest, SilentClientsAreClosedAfterTheTimeout) {
  MetricsHttpOptions options;
  options.timeout = std::chrono::milliseconds(300);
  Start(options);
  LoopbackClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("GET /metrics HTTP/1.1\r\n"));  // and never the rest
  std::optional<std::string> response = client.ReadUntilClosed(std::chrono::seconds(5));
  ASSERT_TRUE(response.has_value()) << "still open after 5 s";
  EXPECT_EQ(*response, "");
}

TEST_F(MetricsHttpServerTest, ConnectionsOverTheCapAreClosedAtOnce) {
  MetricsHttpOptions options;
  options.max_connections = 2;
  options.timeout = std::chrono::seconds(2);
  Start(options);
  std::vector<std::unique_ptr<LoopbackClient>> idle;
  for (int i = 0; i < 2; ++i) {
    idle.push_back(std::make_unique<LoopbackClient>(port_));
    ASSERT_TRUE(idle.back()->connected());
    ASSERT_TRUE(idle.back()->Send("GET"));
  }
  // Let the server accept both before the third arrives.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  LoopbackClient over(port_);
  ASSERT_TRUE(over.connected());  // the kernel accepts; the server closes it
  over.Send("GET /metrics HTTP/1.1\r\n\r\n");
  std::optional<std::string> response = over.ReadUntilClosed(std::chrono::seconds(1));
  ASSERT_TRUE(response.has_value()) << "not closed within 1 s";
  EXPECT_EQ(*response, "");
  // Once a slot is free again, requests are served.
  idle.clear();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::string ok;
  while (ok.empty() && std::chrono::steady_clock::now() < deadline) {
    ok = HttpGet(port_, "/health");
    if (ok.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 ", 0), 0u) << ok;
}

TEST_F(MetricsHttpServerTest, APortInUseIsOneLineNamingIt) {
  Start();
  MetricsHttpOptions options;
  options.listen = *NetAddress::Parse("127.0.0.1:" + std::to_string(port_));
  auto second = MetricsHttpServer::Start(options, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().message(),
            "HTTP 127.0.0.1:" + std::to_string(port_) + ": address already in use");
}

TEST_F(MetricsHttpServerTest, StopClosesOpenConnections) {
  Start();
  LoopbackClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send("GET /metrics HTTP/1.1\r\n"));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  server_->Stop();
  std::optional<std::string> response = client.ReadUntilClosed(std::chrono::seconds(2));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(*response, "");
  server_->Stop();  // idempotent
}

}  // namespace
}  // namespace causeway::gateway
