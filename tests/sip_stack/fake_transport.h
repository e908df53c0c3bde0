#pragma once
// A Transport for sip/stack tests: records every send (bytes, destination, token) instead of
// touching the network. Failures are injected by calling TransportUser::OnSendFailed with a
// recorded token, as the real transport does later on its loop.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/clock.h"
#include "core/net_address.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "sip/stack/transport.h"

namespace causeway::sip::testing {

class FakeTransport : public Transport {
 public:
  struct Sent {
    Destination to;
    std::string bytes;
    uint64_t token = 0;
    TimePoint at{};  // clock time of the send (TimePoint{} without a clock)

    // "INVITE", "ACK", "SIP/2.0 100"... : the start of the first line, enough to assert on.
    bool StartsWith(std::string_view prefix) const {
      return std::string_view(bytes).starts_with(prefix);
    }
    SipMessage Parse() const {
      auto m = SipMessage::Parse(bytes);
      EXPECT_TRUE(m.ok()) << m.status() << "\n" << bytes;
      return std::move(m).value();
    }
  };

  FakeTransport() = default;
  explicit FakeTransport(const Clock* clock) : clock_(clock) {}

  void Send(const Destination& to, std::string bytes, uint64_t token) override {
    sent.push_back(Sent{to, std::move(bytes), token, clock_ ? clock_->Now() : TimePoint{}});
  }
  NetAddress AdvertisedAddress(TransportKind kind, bool v6) const override {
    const uint16_t port = kind == TransportKind::kTls ? 5061 : 5060;
    if (v6) return *NetAddress::Parse("[::1]", port);
    return NetAddress::V4(0x7f000001, port);  // 127.0.0.1
  }
  bool Supports(TransportKind) const override { return true; }

  // Returns and forgets everything sent so far.
  std::vector<Sent> Take() { return std::exchange(sent, {}); }
  size_t Count(std::string_view prefix) const {
    size_t n = 0;
    for (const Sent& s : sent) n += s.StartsWith(prefix) ? 1 : 0;
    return n;
  }

  std::vector<Sent> sent;

 private:
  const Clock* clock_ = nullptr;
};

}  // namespace causeway::sip::testing
