#pragma once
// A deliberately small HTTP/1.1 server for the metrics endpoint, on its own thread and
// io_context (off the data path: a scrape may wait for the workers without stalling them).
//
//   GET|HEAD /metrics  200, the Prometheus text exposition (format 0.0.4)
//   GET|HEAD /health   200 "ok" while the process runs
//   GET|HEAD /ready    200 "ready" once every service started, 503 "draining" after shutdown began
//   other paths        404;  other methods 405 (Allow: GET, HEAD)
//   bad request head   400;  head over max_header_bytes 431
//
// One request per connection (every response says Connection: close); request bodies are never
// read. Bounded everywhere: request head size, concurrent connections (more are closed at once),
// and one idle timeout for the whole exchange.

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/net_address.h"

namespace causeway::gateway {

// ---- pure parts (unit-tested without sockets) ----

struct HttpRequestHead {
  std::string_view method;
  std::string_view target;  // as sent, query included
};

struct HttpHeadParse {
  enum class State { kNeedMore, kComplete, kBad, kTooLarge };
  State state = State::kNeedMore;
  HttpRequestHead head;  // kComplete: views into the parsed buffer
};

// Looks at the bytes received so far. The head ends at an empty line (CRLF or bare LF line ends
// are both accepted). The request line is checked as soon as it is complete, and bytes that
// cannot start one (controls, binary) fail at once, so garbage is answered without waiting for
// the timeout. kTooLarge when no complete head fits in `max_bytes`.
HttpHeadParse ParseHttpRequestHead(std::string_view received, size_t max_bytes);

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra, e.g. Allow
};

// The full response bytes, always with Content-Length and Connection: close; `head_only` leaves
// the body out (HEAD) but keeps its length.
std::string SerializeHttpResponse(const HttpResponse& response, bool head_only);

struct MetricsHttpHandlers {
  std::function<std::string()> metrics;  // the exposition text; runs on the server's thread
  std::function<bool()> ready;           // null = always ready
};

// The routing table above for one parsed request head.
HttpResponse RouteMetricsRequest(const HttpRequestHead& head, const MetricsHttpHandlers& handlers);

// ---- the server ----

struct MetricsHttpOptions {
  NetAddress listen;  // port 0 = ephemeral (tests)
  size_t max_header_bytes = 8192;
  size_t max_connections = 8;
  // From accept to the last byte of the response; a silent client is closed after it.
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

class MetricsHttpServer {
 public:
  // Binds (an address in use is "HTTP 127.0.0.1:9464: address already in use") and starts the
  // server's thread: call it where threads may be created (Service::Start).
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(MetricsHttpOptions options,
                                                                   MetricsHttpHandlers handlers);
  ~MetricsHttpServer();  // Stop()
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  NetAddress local_address() const { return local_; }
  // Closes the listener and every connection and joins the thread. Idempotent; not from a
  // handler.
  void Stop();

 private:
  class Impl;
  explicit MetricsHttpServer(std::unique_ptr<Impl> impl, NetAddress local);

  std::unique_ptr<Impl> impl_;
  NetAddress local_;
};

}  // namespace causeway::gateway
