#pragma once
// The daemon's lifecycle around the services the composition root wires in:
//   config -> state dir (+ lock) -> TLS identity -> Service::Start (in order) -> startup log line
//   -> wait for SIGTERM/SIGINT -> StopAccepting -> drain until Idle() or the deadline
//   -> Stop (reverse order) -> exit 0.
// Signals are blocked on the calling (main) thread before any service starts, so every thread
// a service creates inherits the mask and the main thread alone takes them with sigtimedwait():
// no handler runs in signal context and no self-pipe is needed.

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "gateway/certificates.h"
#include "gateway/cli.h"
#include "gateway/config.h"

namespace causeway::gateway {

// What a service gets at start: an immutable config snapshot workers may share, and the
// prepared environment.
struct StartContext {
  std::shared_ptr<const GatewayConfig> config;
  std::string state_dir;  // absolute, exists, locked by this process
  CertificateInfo certificate;
  int workers = 1;  // general.workers resolved
};

// One unit the daemon starts and stops (workers + SIP transports, later connectors). All calls
// come from the main thread.
class Service {
 public:
  virtual ~Service() = default;
  virtual std::string_view Name() const = 0;
  // Binds listeners and starts threads (create threads here, not in the constructor: they must
  // inherit the daemon's signal mask). An error aborts startup: services started before it are
  // stopped, the message is printed as one line and the process exits 1.
  virtual absl::Status Start(const StartContext& context) = 0;
  // Actual listening endpoints for the startup log, e.g. "udp:127.0.0.1:5060".
  virtual std::vector<std::string> Listeners() const { return {}; }
  // Closes listeners; open connections and transactions continue.
  virtual void StopAccepting() = 0;
  // True when no work is in flight; polled while draining.
  virtual bool Idle() = 0;
  // Stops threads and closes everything; after this the service is not used again.
  virtual void Stop() = 0;
};

class Daemon {
 public:
  explicit Daemon(std::vector<std::unique_ptr<Service>> services);
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs the whole lifecycle on the calling thread and returns the exit code. Errors are printed
  // with PrintError(). Restores the signal mask before returning.
  int Run(const GatewayConfig& config);

  // Same as SIGTERM; callable from any thread (tests, an admin endpoint).
  void RequestShutdown() { shutdown_requested_.fetch_add(1, std::memory_order_relaxed); }

 private:
  enum class Wake { kShutdown, kDeadline };
  // Waits for a shutdown request until `timeout_ms` elapses (< 0 = forever); SIGHUP is logged.
  Wake WaitForShutdown(int timeout_ms);

  std::vector<std::unique_ptr<Service>> services_;
  std::atomic<int> shutdown_requested_{0};
  int shutdowns_seen_ = 0;
};

// "causeway: <message>" on stderr as exactly one line (newlines in the message become spaces).
void PrintError(std::string_view message);
// All of `text` to `fd` (stdout for command output), retrying short writes and EINTR.
void WriteAll(int fd, std::string_view text);

// Exit code for a preparation error: 2 for bad configuration (InvalidArgument), 1 otherwise.
int ExitCodeFor(const absl::Status& status);

// The whole program: parses `argv`, prints help/version/config, or loads the config and runs a
// Daemon with the services `make_services` returns (called only when the daemon will run).
using ServicesFactory = std::vector<std::unique_ptr<Service>> (*)();
int RunMain(int argc, char** argv, ServicesFactory make_services);

}  // namespace causeway::gateway
