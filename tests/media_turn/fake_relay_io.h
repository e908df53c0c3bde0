#pragma once
// A RelayIo that records what the relay logic sends and hands out relayed addresses from a
// counter, for media/turn's tests (turn_server_test.cc, msturn_relay_test.cc).

#include <algorithm>
#include <deque>
#include <map>
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
    auto held = [&](uint16_t p) {
      for (const NetAddress& h : held_ports) {
        if (h.port() == p) return true;
      }
      return false;
    };
    while ((even_port && port % 2 != 0) || held(port)) port = next_port++;
    NetAddress relayed = v6 ? *NetAddress::Parse(relay_v6) : *NetAddress::Parse(relay_v4);
    relayed.set_port(port);
    open.push_back(id);
    return relayed;
  }
  absl::StatusOr<int> HoldPort(const NetAddress& address) override {
    if (ports_left == 0) return absl::ResourceExhaustedError("no port");
    for (const NetAddress& held : held_ports) {
      if (held == address) return absl::ResourceExhaustedError("port taken");
    }
    --ports_left;
    held_ports.push_back(address);
    const int fd = next_fd++;
    held_by_fd[fd] = address;
    return fd;
  }
  absl::StatusOr<NetAddress> AdoptRelay(RelayId id, int held) override {
    auto it = held_by_fd.find(held);
    if (it == held_by_fd.end()) return absl::InvalidArgumentError("not a held descriptor");
    const NetAddress address = it->second;
    held_by_fd.erase(it);
    std::erase(held_ports, address);
    open.push_back(id);
    return address;
  }
  void ReleaseHeld(int held) override {
    auto it = held_by_fd.find(held);
    if (it == held_by_fd.end()) return;
    std::erase(held_ports, it->second);
    held_by_fd.erase(it);
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
  std::vector<NetAddress> held_ports;  // HoldPort's, not yet adopted or released
  std::map<int, NetAddress> held_by_fd;
  int next_fd = 100;
  std::vector<RelayId> closed;
  std::vector<PeerSend> to_peer;
  std::deque<ClientSend> to_client;
};

}  // namespace causeway::turn
