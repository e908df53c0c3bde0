// libFuzzer target for the TURN relay's logic (media/turn TurnWorker, both dialects) and the TCP
// stream framer (media/io): whatever clients and peers send — in any order, over UDP or a stream,
// with time passing — the relay never crashes, hangs or grows without bound.
//
// Input: records [op][len hi][len lo][len bytes]. op % 8:
//   0 a UDP client message, 1 a TCP client message (client = op / 8 % 4),
//   2 the payload re-signed as an authenticated request (USERNAME/REALM/NONCE + integrity with
//     the known password), so the fuzzer reaches Allocate/Refresh/CreatePermission/ChannelBind,
//   3 a peer datagram to one of the open relays, 4 time passes (payload[0] seconds * 10),
//   5 the stream framer over the payload in both dialects, 6 a stream client closes.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"
#include "core/timer_wheel.h"
#include "media/io/stream_framer.h"
#include "media/stun/stun_message.h"
#include "media/turn/turn_server.h"

namespace {

using namespace causeway;  // NOLINT: a fuzz harness

class NullRelayIo : public turn::RelayIo {
 public:
  absl::StatusOr<NetAddress> OpenRelay(turn::RelayId id, bool v6, bool) override {
    if (v6 || open.size() >= 64) return absl::ResourceExhaustedError("full");
    open.push_back(id);
    NetAddress a = *NetAddress::Parse("203.0.113.9");
    a.set_port(static_cast<uint16_t>(50000 + open.size()));
    return a;
  }
  absl::StatusOr<int> HoldPort(const NetAddress& address) override {
    if (held.size() >= 64) return absl::ResourceExhaustedError("full");
    held.push_back({next_fd, address});
    return next_fd++;
  }
  absl::StatusOr<NetAddress> AdoptRelay(turn::RelayId id, int fd) override {
    for (auto it = held.begin(); it != held.end(); ++it) {
      if (it->first == fd) {
        const NetAddress address = it->second;
        held.erase(it);
        open.push_back(id);
        return address;
      }
    }
    __builtin_trap();  // adopting a descriptor that was never held or already taken
  }
  void ReleaseHeld(int fd) override {
    std::erase_if(held, [fd](const auto& h) { return h.first == fd; });
  }
  std::vector<std::pair<int, NetAddress>> held;
  int next_fd = 3;
  void CloseRelay(turn::RelayId id) override { std::erase(open, id); }
  void SendToPeer(turn::RelayId, const NetAddress&, std::string_view payload) override {
    bytes_out += payload.size();
  }
  void SendToClient(const turn::ClientFlow&, std::string_view message) override {
    bytes_out += message.size();
    last_answer.assign(message);
  }
  std::vector<turn::RelayId> open;
  size_t bytes_out = 0;
  std::string last_answer;
};

constexpr std::string_view kRealm = "fuzz.test";

std::string Sign(std::string_view payload, const turn::TurnShared& shared,
                 const NetAddress& client, TimePoint now) {
  stun::StunLimits limits;
  limits.max_message_bytes = stun::kMaxMessageBytesHardCap;
  auto message = stun::StunMessage::Parse(payload, limits);
  if (!message.ok()) return std::string(payload);
  stun::StunMessageBuilder builder(message->method(), message->stun_class(),
                                   message->transaction_id());
  for (const stun::StunAttribute& a : message->attributes()) {
    if (a.type == stun::attr::kMessageIntegrity || a.type == stun::attr::kFingerprint ||
        a.type == stun::attr::kMessageIntegritySha256) {
      continue;
    }
    builder.AddAttribute(a.type, a.value);
  }
  builder.AddAttribute(stun::attr::kUsername, "fuzzer");
  builder.AddAttribute(stun::attr::kRealm, kRealm);
  builder.AddAttribute(stun::attr::kNonce, shared.MakeNonce(client, now));
  builder.AddMessageIntegrity(stun::LongTermKey("fuzzer", kRealm, "password"));
  auto out = std::move(builder).Finish();
  return out.ok() ? *out : std::string(payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  turn::CredentialOptions credentials;
  credentials.realm = std::string(kRealm);
  credentials.secret = "fuzz-secret";
  credentials.static_users.emplace("fuzzer", "password");
  turn::TurnOptions options;
  options.max_allocations = 16;
  options.max_bindings_per_allocation = 8;
  turn::TurnShared shared(options, turn::Credentials(credentials),
                          turn::PeerPolicy({*turn::CidrRange::Parse("127.0.0.0/8")}, {}));
  SimulatedClock clock;
  TimerWheel wheel(clock);
  NullRelayIo io;
  turn::TurnWorker worker(shared, io, wheel, clock);

  auto flow_for = [](uint8_t op, bool stream) {
    turn::ClientFlow flow;
    flow.client = *NetAddress::Parse(stream ? "198.51.100.7" : "198.51.100.8");
    flow.client.set_port(static_cast<uint16_t>(40000 + (op / 8) % 4));
    flow.server = *NetAddress::Parse("192.0.2.1:3478");
    flow.transport = stream ? turn::ClientTransport::kTcp : turn::ClientTransport::kUdp;
    flow.connection = stream ? 1 + (op / 8) % 4 : 0;
    return flow;
  };

  size_t at = 0;
  for (int records = 0; records < 256 && at + 3 <= size; ++records) {
    const uint8_t op = data[at];
    const size_t length = std::min<size_t>((size_t{data[at + 1]} << 8) | data[at + 2],
                                           size - at - 3);
    const std::string_view payload(reinterpret_cast<const char*>(data + at + 3), length);
    at += 3 + length;
    switch (op % 8) {
      case 0:
        worker.OnClientMessage(flow_for(op, false), payload);
        break;
      case 1:
        worker.OnClientMessage(flow_for(op, true), payload);
        break;
      case 2: {
        const turn::ClientFlow flow = flow_for(op, (op & 0x80) != 0);
        worker.OnClientMessage(flow, Sign(payload, shared, flow.client, clock.Now()));
        break;
      }
      case 3:
        if (!io.open.empty()) {
          NetAddress peer = *NetAddress::Parse("127.0.0.1");
          peer.set_port(static_cast<uint16_t>(5000 + op));
          worker.OnPeerPacket(io.open[op % io.open.size()], peer, payload);
        }
        break;
      case 4:
        TimerWheel::AdvanceSimulated(
            clock, wheel, std::chrono::seconds(10 * (payload.empty() ? 1 : payload[0])));
        break;
      case 5:
        for (auto dialect : {media::io::StreamDialect::kTurn, media::io::StreamDialect::kMsTurn}) {
          std::string_view rest = payload;
          for (int frames = 0; frames < 64 && !rest.empty(); ++frames) {
            const media::io::StreamFrame frame = media::io::NextStreamFrame(rest, 4096, dialect);
            if (frame.kind == media::io::StreamFrame::Kind::kNeedMore ||
                frame.kind == media::io::StreamFrame::Kind::kInvalid || frame.length == 0 ||
                frame.length > rest.size()) {
              break;
            }
            worker.OnClientMessage(flow_for(op, true), rest.substr(0, frame.length));
            rest.remove_prefix(frame.length);
          }
        }
        (void)media::io::DetectStreamDialect(payload);
        break;
      case 6:
        worker.OnClientClosed(flow_for(op, true));
        break;
      default:
        break;
    }
  }
  worker.Shutdown();
  // Every relay, held port and quota entry is released.
  if (!io.open.empty() || !io.held.empty() || shared.total_allocations() != 0) __builtin_trap();
  return 0;
}
