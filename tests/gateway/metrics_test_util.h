#pragma once
// A blocking loopback HTTP client for the metrics tests, and a reader of exposition text.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "core/strings.h"
#include "tests/common/loopback_tcp.h"

namespace causeway::gateway::testing {

// One TCP connection to 127.0.0.1:`port` with bounded waits.
class LoopbackClient : public test_support::LoopbackTcpClient {
 public:
  using LoopbackTcpClient::LoopbackTcpClient;

  // Everything until the peer closes; nullopt when it has not closed after `timeout` (what
  // arrived so far is in partial()).
  std::optional<std::string> ReadUntilClosed(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      switch (ReadSome(partial_, deadline)) {
        case Read::kData: continue;
        case Read::kClosed: return partial_;  // closed (or reset after the response)
        case Read::kTimeout: return std::nullopt;
      }
    }
  }

  const std::string& partial() const { return partial_; }

 private:
  std::string partial_;
};

// The whole response to `request` sent on a fresh connection ("" when it did not end).
inline std::string HttpExchange(uint16_t port, std::string_view request) {
  LoopbackClient client(port);
  if (!client.connected() || !client.Send(request)) return "";
  return client.ReadUntilClosed().value_or("");
}

inline std::string HttpGet(uint16_t port, std::string_view path) {
  return HttpExchange(port, std::string("GET ") + std::string(path) +
                                " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: test\r\n\r\n");
}

inline std::string_view HttpBody(std::string_view response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string_view::npos ? std::string_view() : response.substr(end + 4);
}

// Sum of every sample of `family` in exposition text (lines "name value" or "name{...} value")
// whose labels contain `label_filter` (e.g. "worker=\"0\""; empty = any); nullopt when none.
inline std::optional<double> SumSamples(std::string_view text, std::string_view family,
                                        std::string_view label_filter = {}) {
  std::optional<double> sum;
  for (absl::string_view split : absl::StrSplit(ToAbsl(text), '\n')) {
    std::string_view line = FromAbsl(split);
    if (line.empty() || line[0] == '#') continue;
    if (line.substr(0, family.size()) != family) continue;
    std::string_view rest = line.substr(family.size());
    if (rest.empty() || (rest[0] != ' ' && rest[0] != '{')) continue;  // a longer name
    size_t space = rest.rfind(' ');
    std::string_view labels = rest.substr(0, space);
    if (!label_filter.empty() && labels.find(label_filter) == std::string_view::npos) continue;
    double value = 0;
    if (!absl::SimpleAtod(ToAbsl(rest.substr(space + 1)), &value)) continue;
    sum = sum.value_or(0) + value;
  }
  return sum;
}

}  // namespace causeway::gateway::testing
