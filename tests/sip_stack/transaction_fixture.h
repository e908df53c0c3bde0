#pragma once
// Shared fixture of the transaction layer tests: simulated clock + timer wheel + fake transport +
// a TransactionUser that records every callback with its time.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "core/timer_wheel.h"
#include "gtest/gtest.h"
#include "sip/codec/message.h"
#include "sip/stack/transaction.h"
#include "sip/stack/transaction_layer.h"
#include "tests/sip_stack/fake_transport.h"

namespace causeway::sip::testing {

using std::chrono::milliseconds;
using std::chrono::seconds;

class RecordingTu : public TransactionUser {
 public:
  struct Event {
    std::string kind;  // "request", "ack", "cancel", "response", "timeout", "transport-error",
                       // "stray", "server-timeout", "server-transport-error"
    uint64_t id = 0;
    int code = 0;        // responses; SIP code of errors
    std::string method;  // requests
    TimePoint at{};
  };

  explicit RecordingTu(const Clock& clock) : clock_(clock) {}

  void OnRequest(ServerTransactionId id, SipMessage&& request, const ReceiveInfo&) override {
    Add("request", id, 0, std::string(request.method_text()));
    requests.push_back(std::move(request));
    if (on_request) on_request(id, requests.back());
  }
  void OnAck(SipMessage&& ack, const ReceiveInfo&) override {
    Add("ack", 0, 0, "ACK");
    acks.push_back(std::move(ack));
  }
  void OnCancel(ServerTransactionId invite, SipMessage&& cancel, const ReceiveInfo&) override {
    Add("cancel", invite, 0, std::string(cancel.method_text()));
  }
  void OnResponse(ClientTransactionId id, SipMessage&& response, const ReceiveInfo&) override {
    Add("response", id, response.status_code(), "");
    responses.push_back(std::move(response));
  }
  void OnClientTimeout(ClientTransactionId id) override { Add("timeout", id, 408, ""); }
  void OnClientTransportError(ClientTransactionId id, const absl::Status& error) override {
    Add("transport-error", id, SipCodeOf(error).value_or(0), "");
  }
  void OnStrayResponse(SipMessage&& response, const ReceiveInfo&) override {
    Add("stray", 0, response.status_code(), "");
  }
  void OnServerTimeout(ServerTransactionId id) override { Add("server-timeout", id, 0, ""); }
  void OnServerTransportError(ServerTransactionId id, const absl::Status&) override {
    Add("server-transport-error", id, 0, "");
  }

  size_t Count(std::string_view kind) const {
    size_t n = 0;
    for (const Event& e : events) n += e.kind == kind ? 1 : 0;
    return n;
  }

  std::vector<Event> events;
  std::vector<SipMessage> requests;
  std::vector<SipMessage> responses;
  std::vector<SipMessage> acks;
  std::function<void(ServerTransactionId, SipMessage&)> on_request;

 private:
  void Add(std::string kind, uint64_t id, int code, std::string method) {
    events.push_back(Event{std::move(kind), id, code, std::move(method), clock_.Now()});
  }
  const Clock& clock_;
};

inline SipMessage ParseOrDie(std::string_view text) {
  auto m = SipMessage::Parse(std::string(text));
  EXPECT_TRUE(m.ok()) << m.status() << "\n" << text;
  return std::move(m).value();
}

// A request as a peer (or our TU) would write it.
inline std::string RequestText(std::string_view method, std::string_view branch,
                               std::string_view transport = "UDP",
                               std::string_view sent_by = "127.0.0.2:5070",
                               std::string_view extra_headers = "", uint32_t cseq = 1) {
  std::string out;
  for (std::string_view part :
       {method, std::string_view(" sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/"), transport,
        std::string_view(" "), sent_by, std::string_view(";branch="), branch,
        std::string_view("\r\nMax-Forwards: 70\r\n"
                         "From: \"Alice\" <sip:alice@example.com>;tag=fromtag1\r\n"
                         "To: <sip:bob@example.com>\r\n"
                         "Call-ID: call-1@example.com\r\nCSeq: ")}) {
    out.append(part);
  }
  out += std::to_string(cseq) + " " + std::string(method) + "\r\n" + std::string(extra_headers) +
         "Content-Length: 0\r\n\r\n";
  return out;
}

class TransactionTest : public ::testing::Test {
 protected:
  TransactionTest() { Rebuild({}); }

  void Rebuild(TransactionTimers timers, uint32_t shard = 0) {
    layer_.reset();
    layer_ = std::make_unique<TransactionLayer>(transport_, wheel_, clock_, tu_, timers, shard);
  }

  void Run(Duration d) { TimerWheel::AdvanceSimulated(clock_, wheel_, d); }
  Duration Since(TimePoint t) const { return clock_.Now() - t; }
  // Offsets (from `t0_`) of every sent message starting with `prefix`.
  std::vector<Duration> SendTimes(std::string_view prefix) const {
    std::vector<Duration> out;
    for (const auto& s : transport_.sent) {
      if (s.StartsWith(prefix)) out.push_back(s.at - t0_);
    }
    return out;
  }

  static ReceiveInfo Udp(std::string_view source = "127.0.0.2:5070") {
    ReceiveInfo info;
    info.kind = TransportKind::kUdp;
    info.source = *NetAddress::Parse(source);
    info.local = *NetAddress::Parse("127.0.0.1:5060");
    return info;
  }
  static ReceiveInfo Tcp(ConnectionId conn, std::string_view source = "127.0.0.2:40000") {
    ReceiveInfo info;
    info.kind = TransportKind::kTcp;
    info.source = *NetAddress::Parse(source);
    info.local = *NetAddress::Parse("127.0.0.1:5060");
    info.connection = conn;
    return info;
  }
  static Destination UdpDest() {
    Destination d;
    d.kind = TransportKind::kUdp;
    d.address = *NetAddress::Parse("127.0.0.3:5060");
    return d;
  }
  static Destination TcpDest() {
    Destination d;
    d.kind = TransportKind::kTcp;
    d.address = *NetAddress::Parse("127.0.0.3:5060");
    return d;
  }

  // A request of ours with a fresh branch, ready for SendRequest.
  SipMessage OutgoingRequest(std::string_view method, TransportKind kind = TransportKind::kUdp,
                             std::string_view extra_headers = "") {
    return ParseOrDie(RequestText(method, layer_->NewBranch(), TransportName(kind),
                                  "127.0.0.1:5060", extra_headers));
  }

  SimulatedClock clock_;
  TimePoint t0_ = clock_.Now();
  TimerWheel wheel_{clock_};
  FakeTransport transport_{&clock_};
  RecordingTu tu_{clock_};
  std::unique_ptr<TransactionLayer> layer_;
};

}  // namespace causeway::sip::testing
