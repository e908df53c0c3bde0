#pragma once
// A StreamHandler that records what the parser reports, and feeding helpers, for the tests.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "xmpp/codec/stream_parser.h"

namespace causeway::xmpp::testing {

class Recorder : public StreamHandler {
 public:
  void OnStreamOpen(const StreamHeader& header) override {
    headers.push_back(header);
    events.push_back("open");
  }
  void OnStanza(Element& stanza) override {
    stanzas.push_back(std::move(stanza));
    events.push_back("stanza");
  }
  void OnStreamClose() override { events.push_back("close"); }

  std::vector<StreamHeader> headers;
  std::vector<Element> stanzas;
  std::vector<std::string> events;
};

// Feeds `input` in chunks of `chunk` bytes (0: all at once); the first error ends it.
inline absl::Status FeedInChunks(StreamParser& parser, std::string_view input, size_t chunk) {
  if (chunk == 0) chunk = input.size() + 1;
  while (!input.empty()) {
    size_t n = std::min(chunk, input.size());
    if (absl::Status s = parser.Feed(input.substr(0, n)); !s.ok()) return s;
    input.remove_prefix(n);
  }
  return absl::OkStatus();
}

inline constexpr std::string_view kClientHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='xmpp.test' version='1.0'>";

}  // namespace causeway::xmpp::testing
