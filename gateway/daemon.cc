#include "gateway/daemon.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/log.h"
#include "core/strings.h"
#include "gateway/state_dir.h"
#include "gateway/turn_relay.h"
#include "gateway/user_cli.h"

namespace causeway::gateway {
namespace {

// How often the drain loop checks Idle() and the shutdown flag; also bounds how long a
// RequestShutdown() from another thread waits to be seen.
constexpr int kPollMs = 50;
// Pending signals drained before the mask is restored (bounded: one per kind is all that queues).
constexpr int kMaxPendingSignals = 8;

sigset_t DaemonSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

// Blocks the daemon's signals for its lifetime and restores the old mask, dropping any signal
// still pending so it cannot kill the process after Run() returns.
class SignalMask {
 public:
  SignalMask() {
    sigset_t set = DaemonSignals();
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~SignalMask() {
    sigset_t set = DaemonSignals();
    timespec zero{0, 0};
    for (int i = 0; i < kMaxPendingSignals && sigtimedwait(&set, nullptr, &zero) > 0; ++i) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SignalMask(const SignalMask&) = delete;
  SignalMask& operator=(const SignalMask&) = delete;

 private:
  sigset_t old_;
};

std::string JoinOrNone(const std::vector<std::string>& items) {
  return items.empty() ? std::string("none") : absl::StrJoin(items, ",");
}

}  // namespace

void WriteAll(int fd, std::string_view text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += static_cast<size_t>(n);
  }
}

void PrintError(std::string_view message) {
  std::string line = absl::StrCat("causeway: ", ToAbsl(message), "\n");
  for (size_t i = 0; i + 1 < line.size(); ++i) {
    if (line[i] == '\n' || line[i] == '\r') line[i] = ' ';
  }
  ssize_t rc = ::write(STDERR_FILENO, line.data(), line.size());
  (void)rc;
}

int ExitCodeFor(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitRuntime;
}

Daemon::Daemon(std::vector<std::unique_ptr<Service>> services) : services_(std::move(services)) {}

Daemon::Wake Daemon::WaitForShutdown(int timeout_ms) {
  sigset_t set = DaemonSignals();
  auto start = std::chrono::steady_clock::now();
  while (true) {
    if (shutdown_requested_.load(std::memory_order_relaxed) > shutdowns_seen_) {
      ++shutdowns_seen_;
      return Wake::kShutdown;
    }
    int wait_ms = kPollMs;
    if (timeout_ms >= 0) {
      auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count();
      if (elapsed >= timeout_ms) return Wake::kDeadline;
      wait_ms = static_cast<int>(std::min<int64_t>(kPollMs, timeout_ms - elapsed));
    }
    timespec ts{wait_ms / 1000, (wait_ms % 1000) * 1000000L};
    int sig = sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGHUP) {
      log::Warn("gateway", "SIGHUP received: configuration reload is not supported yet, ignored");
    } else if (sig == SIGTERM || sig == SIGINT) {
      log::Info("gateway", "signal received", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
      RequestShutdown();
    }
    // sig < 0: EAGAIN (timeout) or EINTR; both just loop and re-check.
  }
}

int Daemon::Run(const GatewayConfig& config) {
  // Before anything can create a thread.
  SignalMask mask;
  // A peer closing a connection mid-write must be an error code, not a process kill.
  ::signal(SIGPIPE, SIG_IGN);
  log::SetLevel(config.general.log_level);

  absl::StatusOr<std::string> state_dir = PrepareStateDir(config.general.state_dir);
  if (!state_dir.ok()) {
    PrintError(FromAbsl(state_dir.status().message()));
    return ExitCodeFor(state_dir.status());
  }
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(*state_dir);
  if (!lock.ok()) {
    PrintError(FromAbsl(lock.status().message()));
    return ExitCodeFor(lock.status());
  }
  absl::StatusOr<CertificateInfo> cert =
      PrepareCertificate(config.tls, *state_dir, config.sip.domains);
  if (!cert.ok()) {
    PrintError(FromAbsl(cert.status().message()));
    return ExitCodeFor(cert.status());
  }

  StartContext context;
  context.config = std::make_shared<const GatewayConfig>(config);
  context.state_dir = *state_dir;
  context.certificate = *cert;
  context.workers = EffectiveWorkers(config.general);

  size_t started = 0;
  for (; started < services_.size(); ++started) {
    Service& service = *services_[started];
    absl::Status status = service.Start(context);
    if (!status.ok()) {
      PrintError(absl::StrCat(ToAbsl(service.Name()), ": ", status.message()));
      for (size_t i = started; i-- > 0;) services_[i]->Stop();
      return kExitRuntime;
    }
  }

  std::vector<std::string> listeners;
  for (const auto& service : services_) {
    for (std::string& l : service->Listeners()) listeners.push_back(std::move(l));
  }
  if (services_.empty()) {
    log::Warn("gateway", "no services are wired in this build: nothing is listening");
  }
  log::Info("gateway", "started",
            {{"version", kVersion},
             {"pid", ::getpid()},
             {"workers", context.workers},
             {"listeners", JoinOrNone(listeners)},
             {"domains", config.sip.domains.empty() ? std::string("any")
                                                    : absl::StrJoin(config.sip.domains, ",")},
             {"state_dir", *state_dir},
             {"cert", cert->certificate_path},
             {"cert_sha256", cert->fingerprint_sha256},
             {"cert_self_signed", cert->self_signed_managed ? "yes" : "no"},
             {"cert_not_after", cert->not_after}});

  WaitForShutdown(-1);
  log::Info("gateway", "shutting down: no longer accepting",
            {{"drain_timeout_s", config.general.shutdown_timeout_s}});
  for (auto& service : services_) service->StopAccepting();

  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(config.general.shutdown_timeout_s);
  bool drained = false;
  bool forced = false;
  while (true) {
    drained = true;
    for (auto& service : services_) drained = drained && service->Idle();
    if (drained) break;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) break;
    if (WaitForShutdown(static_cast<int>(std::min<int64_t>(left, kPollMs))) == Wake::kShutdown) {
      forced = true;  // a second signal: the operator does not want to wait
      break;
    }
  }
  for (size_t i = services_.size(); i-- > 0;) services_[i]->Stop();
  log::Info("gateway", "stopped",
            {{"drained", drained ? "yes" : "no"}, {"forced", forced ? "yes" : "no"}});
  return kExitOk;
}

namespace {

absl::StatusOr<GatewayConfig> LoadFor(const CliOptions& options) {
  if (options.config_path.empty()) return DefaultConfig();
  return LoadConfigFile(options.config_path);
}


}  // namespace

int RunMain(int argc, char** argv, ServicesFactory make_services) {
  std::vector<std::string_view> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  absl::StatusOr<CliOptions> options = ParseArgs(args);
  if (!options.ok()) {
    PrintError(absl::StrCat(options.status().message(), " (see causeway --help)"));
    return kExitUsage;
  }
  switch (options->action) {
    case CliAction::kHelp:
      WriteAll(STDOUT_FILENO, UsageText());
      return kExitOk;
    case CliAction::kVersion:
      WriteAll(STDOUT_FILENO, absl::StrCat("causeway ", ToAbsl(kVersion), "\n"));
      return kExitOk;
    default:
      break;
  }
  absl::StatusOr<GatewayConfig> config = LoadFor(*options);
  if (!config.ok()) {
    PrintError(FromAbsl(config.status().message()));
    return kExitUsage;
  }
  if (options->action == CliAction::kUser) return UserMain(options->user, *config);
  if (options->action == CliAction::kTurnCredentials) {
    return TurnCredentialsMain(options->turn, *config);
  }
  if (options->action == CliAction::kPrintConfig) {
    WriteAll(STDOUT_FILENO, options->config_path.empty() ? DefaultConfigToml() : ConfigToToml(*config));
    return kExitOk;
  }
  if (options->action == CliAction::kCheckConfig) {
    // Only what exists already is checked: a self-signed pair is generated at first start.
    const TlsConfig& tls = config->tls;
    if (!tls.ca.empty()) {
      if (absl::Status st = CheckCaBundle(tls.ca); !st.ok()) {
        PrintError(FromAbsl(st.message()));
        return kExitUsage;
      }
    }
    if (!tls.certificate.empty()) {
      absl::StatusOr<CertificateInfo> info = InspectCertificatePair(tls.certificate, tls.key);
      if (!info.ok()) {
        PrintError(FromAbsl(info.status().message()));
        return kExitUsage;
      }
    }
    WriteAll(STDOUT_FILENO, absl::StrCat(
        options->config_path.empty() ? std::string("embedded defaults") : options->config_path,
        ": ok\n"));
    return kExitOk;
  }
  Daemon daemon(make_services != nullptr ? make_services()
                                         : std::vector<std::unique_ptr<Service>>{});
  return daemon.Run(*config);
}

}  // namespace causeway::gateway
