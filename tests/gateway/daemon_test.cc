#include "gateway/daemon.h"

#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::ScratchDir;

std::mutex g_log_mu;
std::string g_log;

void CaptureLog(std::string_view line) {
  std::lock_guard<std::mutex> lock(g_log_mu);
  g_log.append(line);
}

std::string CapturedLog() {
  std::lock_guard<std::mutex> lock(g_log_mu);
  return g_log;
}

// Records every lifecycle call into a shared journal; behaviour comes from the test.
class FakeService : public Service {
 public:
  FakeService(std::string name, std::vector<std::string>* journal)
      : name_(std::move(name)), journal_(journal) {}

  std::string_view Name() const override { return name_; }
  absl::Status Start(const StartContext& context) override {
    journal_->push_back(name_ + ".Start");
    context_ = context;
    return on_start ? on_start() : absl::OkStatus();
  }
  std::vector<std::string> Listeners() const override { return listeners; }
  void StopAccepting() override {
    journal_->push_back(name_ + ".StopAccepting");
    if (on_stop_accepting) on_stop_accepting();
  }
  bool Idle() override {
    ++idle_calls;
    return idle_after >= 0 && idle_calls > idle_after;
  }
  void Stop() override { journal_->push_back(name_ + ".Stop"); }

  std::function<absl::Status()> on_start;
  std::function<void()> on_stop_accepting;
  std::vector<std::string> listeners;
  int idle_after = 0;  // Idle() is true after this many calls; < 0 = never
  int idle_calls = 0;
  StartContext context_;

 private:
  std::string name_;
  std::vector<std::string>* journal_;
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    {
      std::lock_guard<std::mutex> lock(g_log_mu);
      g_log.clear();
    }
    log::SetSinkForTesting(&CaptureLog);
    config_ = DefaultConfig();
    config_.general.state_dir = dir_ / "state";
    config_.general.shutdown_timeout_s = 5;
    config_.sip.domains = {"example.com"};
  }
  void TearDown() override {
    log::SetSinkForTesting(nullptr);
    log::SetLevel(log::Level::kInfo);
  }

  // Creates the services and the daemon; `services_[i]` stays valid while the daemon lives.
  Daemon& Make(int count) {
    std::vector<std::unique_ptr<Service>> list;
    for (int i = 0; i < count; ++i) {
      auto s = std::make_unique<FakeService>("s" + std::to_string(i), &journal_);
      services_.push_back(s.get());
      list.push_back(std::move(s));
    }
    daemon_ = std::make_unique<Daemon>(std::move(list));
    return *daemon_;
  }

  int RunCapturingStderr(std::string* err) {
    ::testing::internal::CaptureStderr();
    int rc = daemon_->Run(config_);
    *err = ::testing::internal::GetCapturedStderr();
    return rc;
  }

  ScratchDir dir_;
  GatewayConfig config_;
  std::vector<std::string> journal_;
  std::vector<FakeService*> services_;
  std::unique_ptr<Daemon> daemon_;
};

TEST_F(DaemonTest, FullLifecycleInOrder) {
  Daemon& daemon = Make(2);
  services_[0]->listeners = {"udp:127.0.0.1:5999"};
  services_[1]->on_start = [&daemon] {
    daemon.RequestShutdown();
    return absl::OkStatus();
  };
  services_[1]->idle_after = 3;  // in flight for a few polls
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitOk);
  EXPECT_EQ(err, "");
  EXPECT_EQ(journal_, (std::vector<std::string>{"s0.Start", "s1.Start", "s0.StopAccepting",
                                                "s1.StopAccepting", "s1.Stop", "s0.Stop"}));
  EXPECT_EQ(services_[1]->idle_calls, 4);

  // The context: an absolute, existing, locked state dir; the certificate; a config snapshot.
  const StartContext& ctx = services_[0]->context_;
  EXPECT_EQ(ctx.state_dir, dir_ / "state");
  ASSERT_NE(ctx.config, nullptr);
  EXPECT_EQ(ctx.config->sip.domains, config_.sip.domains);
  EXPECT_TRUE(ctx.certificate.self_signed_managed);
  EXPECT_FALSE(ctx.certificate.fingerprint_sha256.empty());
  EXPECT_GE(ctx.workers, 1);

  std::string log = CapturedLog();
  EXPECT_NE(log.find("msg=started"), std::string::npos) << log;
  EXPECT_NE(log.find("listeners=udp:127.0.0.1:5999"), std::string::npos) << log;
  EXPECT_NE(log.find("domains=example.com"), std::string::npos) << log;
  EXPECT_NE(log.find("cert_sha256=" + ctx.certificate.fingerprint_sha256), std::string::npos);
  EXPECT_NE(log.find("state_dir=" + ctx.state_dir), std::string::npos);
  EXPECT_NE(log.find("msg=stopped drained=yes forced=no"), std::string::npos) << log;
  // The lock is released once Run returns.
  EXPECT_TRUE(StateDirLock::Acquire(ctx.state_dir).ok());
}

TEST_F(DaemonTest, StartFailureStopsEarlierServicesAndExitsOne) {
  Make(3);
  services_[1]->on_start = [] { return absl::UnavailableError("bind 127.0.0.1:5060: in use"); };
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitRuntime);
  EXPECT_EQ(err, "causeway: s1: bind 127.0.0.1:5060: in use\n");
  EXPECT_EQ(journal_, (std::vector<std::string>{"s0.Start", "s1.Start", "s0.Stop"}));
}

TEST_F(DaemonTest, MultiLineErrorsBecomeOneLine) {
  Make(1);
  services_[0]->on_start = [] { return absl::InvalidArgumentError("first\nsecond\r\nthird"); };
  std::string err;
  // A start hook error is a runtime failure whatever its code.
  EXPECT_EQ(RunCapturingStderr(&err), kExitRuntime);
  EXPECT_EQ(err, "causeway: s0: first second  third\n");
}

TEST_F(DaemonTest, DrainStopsAtTheDeadline) {
  Daemon& daemon = Make(1);
  config_.general.shutdown_timeout_s = 1;
  services_[0]->on_start = [&daemon] {
    daemon.RequestShutdown();
    return absl::OkStatus();
  };
  services_[0]->idle_after = -1;
  auto start = std::chrono::steady_clock::now();
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitOk);
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(950));
  EXPECT_LT(took, std::chrono::seconds(4));
  EXPECT_EQ(journal_.back(), "s0.Stop");
  EXPECT_NE(CapturedLog().find("drained=no forced=no"), std::string::npos);
}

TEST_F(DaemonTest, SigtermShutsDownAndASecondOneSkipsTheDrain) {
  Make(1);
  config_.general.shutdown_timeout_s = 60;
  // Thread-directed so the signal lands on this (blocked) thread and waits for sigtimedwait.
  services_[0]->on_start = [] {
    pthread_kill(pthread_self(), SIGTERM);
    return absl::OkStatus();
  };
  services_[0]->on_stop_accepting = [] { pthread_kill(pthread_self(), SIGINT); };
  services_[0]->idle_after = -1;
  auto start = std::chrono::steady_clock::now();
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitOk);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  std::string log = CapturedLog();
  EXPECT_NE(log.find("signal=SIGTERM"), std::string::npos) << log;
  EXPECT_NE(log.find("signal=SIGINT"), std::string::npos) << log;
  EXPECT_NE(log.find("drained=no forced=yes"), std::string::npos) << log;
}

TEST_F(DaemonTest, SighupIsLoggedAndIgnored) {
  Daemon& daemon = Make(1);
  std::thread stopper;
  services_[0]->on_start = [&] {
    pthread_kill(pthread_self(), SIGHUP);
    // Created inside Run: inherits the blocked mask like a real worker would.
    stopper = std::thread([&daemon] {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      daemon.RequestShutdown();
    });
    return absl::OkStatus();
  };
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitOk);
  stopper.join();
  std::string log = CapturedLog();
  EXPECT_NE(log.find("SIGHUP received"), std::string::npos) << log;
  EXPECT_NE(log.find("msg=stopped"), std::string::npos) << log;
}

TEST_F(DaemonTest, BadCertificateIsAConfigErrorAndNothingStarts) {
  Make(1);
  config_.tls.certificate = dir_ / "missing-cert.pem";
  config_.tls.key = dir_ / "missing-key.pem";
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitUsage);
  EXPECT_EQ(err, "causeway: tls.certificate: " + config_.tls.certificate +
                     ": cannot read: No such file or directory\n");
  EXPECT_TRUE(journal_.empty());
}

TEST_F(DaemonTest, LockedStateDirIsARuntimeError) {
  Make(1);
  absl::StatusOr<std::string> state = PrepareStateDir(config_.general.state_dir);
  ASSERT_TRUE(state.ok());
  absl::StatusOr<StateDirLock> held = StateDirLock::Acquire(*state);
  ASSERT_TRUE(held.ok());
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitRuntime);
  EXPECT_NE(err.find("in use by another causeway process"), std::string::npos) << err;
  EXPECT_TRUE(journal_.empty());
}

TEST_F(DaemonTest, LogLevelComesFromConfig) {
  Daemon& daemon = Make(1);
  config_.general.log_level = log::Level::kWarn;
  services_[0]->on_start = [&daemon] {
    daemon.RequestShutdown();
    return absl::OkStatus();
  };
  std::string err;
  EXPECT_EQ(RunCapturingStderr(&err), kExitOk);
  EXPECT_EQ(CapturedLog().find("level=info"), std::string::npos) << CapturedLog();
}

TEST(ExitCodes, ByStatusKind) {
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("x")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(absl::FailedPreconditionError("x")), kExitRuntime);
  EXPECT_EQ(ExitCodeFor(absl::InternalError("x")), kExitRuntime);
}

}  // namespace
}  // namespace causeway::gateway
