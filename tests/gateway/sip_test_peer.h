#pragma once
// A blocking TCP SIP peer for the gateway tests that drive a started SIP service over loopback:
// sends raw SIP text, reads framed messages back with bounded waits.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "sip/codec/message.h"
#include "sip/codec/stream_framer.h"
#include "tests/common/loopback_tcp.h"

namespace causeway::gateway::testing {

class SipTestPeer : public test_support::LoopbackTcpClient {
 public:
  using LoopbackTcpClient::LoopbackTcpClient;

  // The next SIP message (keepalives skipped), or nullopt after `timeout`.
  std::optional<sip::SipMessage> Receive(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      sip::FrameResult frame = sip::FrameStream(buffer_);
      if (frame.is_keepalive()) {
        buffer_.erase(0, frame.length);
        continue;
      }
      if (frame.is_message()) {
        std::string bytes = buffer_.substr(0, frame.length);
        buffer_.erase(0, frame.length);
        auto parsed = sip::SipMessage::Parse(std::move(bytes));
        if (!parsed.ok()) return std::nullopt;
        return std::move(*parsed);
      }
      if (frame.is_error()) return std::nullopt;
      if (ReadSome(buffer_, deadline) != Read::kData) return std::nullopt;
    }
  }

  // The next final response (provisionals skipped), or nullopt.
  std::optional<sip::SipMessage> Final(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    for (int n = 0; n < 4; ++n) {
      std::optional<sip::SipMessage> m = Receive(timeout);
      if (!m) return std::nullopt;
      if (m->is_response() && m->status_code() >= 200) return m;
    }
    return std::nullopt;
  }

 private:
  std::string buffer_;
};

}  // namespace causeway::gateway::testing
