#pragma once
// The media relay as a daemon service: its own worker threads (one io_context each, so a media
// flood never delays signalling), each with a TurnWorker (media/turn) on RelaySockets (media/io)
// bound with SO_REUSEPORT to the same [turn] listeners; one TurnShared across them for
// credentials, nonces and quotas. Also the credential issuer the SIP side's MRAS answers use.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/runtime/runtime.h"
#include "gateway/daemon.h"
#include "gateway/metrics_collector.h"
#include "media/io/relay_sockets.h"
#include "media/turn/turn_server.h"
#include "sip/lync/mras.h"

namespace causeway::gateway {

// What the relay offers the SIP side (MRAS, MS-AVEDGEA): credentials valid for the configured
// time and where to reach the relay. Thread-safe once the service started; before that, or when
// the relay is off, Issue fails with FailedPrecondition.
class TurnCredentialIssuer {
 public:
  struct Grant {
    turn::IssuedCredential credential;
    std::string host;  // turn.public_host or the first listen address
    uint16_t udp_port = 0;  // 0 = no UDP listener
    uint16_t tcp_port = 0;  // 0 = no TCP listener
    absl::Duration ttl;
  };
  absl::StatusOr<Grant> Issue(std::string_view user) const;

 private:
  friend class TurnService;
  std::shared_ptr<const turn::Credentials> credentials_;  // set once at Start, before SIP starts
  Grant template_;
};

// The SIP side's view of the relay (sip/lync/mras.h): MRAS grants for the signed-in user
// "sip:alice@x" are credentials for "alice@x", base64-encoded as MS-AVEDGEA tokens (Lync clients
// and libnice decode them before putting them on the wire), with the relay's host and ports.
sip::lync::MediaRelayAuthority MakeMediaRelayAuthority(
    std::shared_ptr<const TurnCredentialIssuer> issuer);

class TurnService final : public Service {
 public:
  TurnService(std::shared_ptr<MetricsCollector> metrics,
              std::shared_ptr<TurnCredentialIssuer> issuer);
  ~TurnService() override;

  std::string_view Name() const override { return "turn"; }
  absl::Status Start(const StartContext& context) override;
  std::vector<std::string> Listeners() const override { return listeners_; }
  // Relayed media keeps flowing while the daemon drains: nothing to refuse, nothing to wait for.
  void StopAccepting() override {}
  bool Idle() override { return true; }
  void Stop() override;

 private:
  struct Shard {
    std::unique_ptr<media::io::RelaySockets> sockets;
    std::unique_ptr<turn::TurnWorker> turn;
  };

  std::shared_ptr<MetricsCollector> metrics_;
  std::shared_ptr<TurnCredentialIssuer> issuer_;
  std::unique_ptr<turn::TurnShared> shared_;
  std::unique_ptr<runtime::Runtime> runtime_;
  std::vector<Shard> shards_;
  std::vector<std::string> listeners_;
};

}  // namespace causeway::gateway
