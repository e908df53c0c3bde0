#pragma once
// A RelayIo that records what the relay logic sends and hands out relayed addresses from a
// counter, for media/turn's tests (turn_server_test.cc, msturn_relay_test.cc).

#include <algorithm>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/net_address.h"
#include "media/turn/relay_io.h"

namespace causeway::turn {

class FakeRelayIo : public RelayIo {
 public:
  struct PeerSend {
    RelayId relay;
    NetAddress peer;
    std::string payload;
  };
  struct ClientSend {
    ClientFlow flow;
    std::string message;
  };

  absl::StatusOr<NetAddress> OpenRelay(RelayId id, bool v6, bool even_port) override {
    if (ports_left == 0) return absl::ResourceExhaustedError("no port");
    --ports_left;
    if (v6 && !have_v6) return absl::FailedPreconditionError("no IPv6 relay address");
    uint16_t port = next_port++;
    if (even_port && port % 2 != 0) port = next_port++;
    NetAddress relayed = v6 ? *NetAddress::Parse(relay_v6) : *NetAddress::Parse(relay_v4);
    relayed.set_port(port);
    open.push_back(id);
    return relayed;
  }
  absl::StatusOr<NetAddress> OpenRelayAt(RelayId id, const NetAddress& address) override {
    if (ports_left == 0) return absl::ResourceExhaustedError("no port");
    for (const NetAddress& held : held_ports) {
      if (held == address) return absl::ResourceExhaustedError("port taken");
    }
    --ports_left;
    open.push_back(id);
    held_ports.push_back(address);
    return address;
  }
  void CloseRelay(RelayId id) override {
    closed.push_back(id);
    std::erase(open, id);
  }
  void SendToPeer(RelayId id, const NetAddress& peer, std::string_view payload) override {
    to_peer.push_back({id, peer, std::string(payload)});
  }
  void SendToClient(const ClientFlow& flow, std::string_view message) override {
    to_client.push_back({flow, std::string(message)});
  }

  std::string TakeClientMessage() {
    if (to_client.empty()) return {};
    std::string out = std::move(to_client.front().message);
    to_client.pop_front();
    return out;
  }

  size_t ports_left = 1000;
  std::string relay_v4 = "203.0.113.7";
  std::string relay_v6 = "[2001:db8::7]";
  bool have_v6 = false;
  uint16_t next_port = 50000;
  std::vector<RelayId> open;
  std::vector<NetAddress> held_ports;  // OpenRelayAt's, to refuse a second bind
  std::vector<RelayId> closed;
  std::vector<PeerSend> to_peer;
  std::deque<ClientSend> to_client;
};

}  // namespace causeway::turn
