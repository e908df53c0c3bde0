// Runs the built `causeway` executable: argument handling, exit codes, one-line errors, and a
// start/SIGTERM cycle. Every child is waited for with a deadline and killed by its pid.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/sqlite_directory.h"
#include "gateway/state_dir.h"
#include "gtest/gtest.h"
#include "tests/gateway/test_util.h"

namespace causeway::gateway {
namespace {

using testing::FileMode;
using testing::ScratchDir;
using testing::WriteFile;

constexpr auto kDeadline = std::chrono::seconds(20);

class Child {
 public:
  // With `stdin_data`, the child's standard input is a pipe holding those bytes, then EOF.
  explicit Child(const std::vector<std::string>& args, const std::string& cwd = "",
                 const std::string* stdin_data = nullptr) {
    int out[2];
    int err[2];
    int in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    if (stdin_data != nullptr && ::pipe2(in, O_CLOEXEC) != 0) return;
    // Everything the child needs is built before fork(): only async-signal-safe calls after it.
    std::string binary = CAUSEWAY_BINARY;
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    argv.push_back(binary.data());
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      if (in[0] >= 0) ::dup2(in[0], STDIN_FILENO);
      if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(127);
      ::execv(binary.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (in[0] >= 0) {
      // Small inputs only: they must fit in the pipe buffer (64 KiB) as nothing reads yet.
      ::close(in[0]);
      ssize_t n = ::write(in[1], stdin_data->data(), stdin_data->size());
      (void)n;
      ::close(in[1]);
    }
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }

  // Reads output until `needle` appears on stderr (or the deadline / EOF); true if it did.
  bool WaitForStderr(const std::string& needle) {
    auto end = std::chrono::steady_clock::now() + kDeadline;
    while (err_.find(needle) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= end || !Pump(100)) {
        return err_.find(needle) != std::string::npos;
      }
    }
    return true;
  }

  // Collects output until exit; returns the exit code, or -1 if it had to be killed.
  int Wait() {
    auto end = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < end) {
      Pump(50);
      int status = 0;
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        while (Pump(0)) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
    }
    return -1;
  }

  void Signal(int sig) { ::kill(pid_, sig); }
  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

 private:
  // One poll round over both pipes; false when both are at EOF.
  bool Pump(int timeout_ms) {
    pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, timeout_ms);
    if (n <= 0) return n == 0 && (out_fd_ >= 0 || err_fd_ >= 0);
    bool open = false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0) continue;
      if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
        char buf[4096];
        ssize_t r = ::read(fds[i].fd, buf, sizeof buf);
        if (r > 0) {
          (i == 0 ? out_ : err_).append(buf, static_cast<size_t>(r));
          open = true;
        } else {
          ::close(fds[i].fd);
          (i == 0 ? out_fd_ : err_fd_) = -1;
        }
      } else {
        open = true;
      }
    }
    return open;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  bool exited_ = false;
  std::string out_;
  std::string err_;
};

size_t Lines(const std::string& s) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Binary, VersionAndHelp) {
  Child version({"--version"});
  EXPECT_EQ(version.Wait(), 0);
  EXPECT_EQ(version.out(), "causeway 0.1.0\n");
  EXPECT_EQ(version.err(), "");
  Child help({"--help"});
  EXPECT_EQ(help.Wait(), 0);
  EXPECT_EQ(help.out().rfind("Usage: causeway", 0), 0u);
}

TEST(Binary, UsageErrorsAreOneLineAndExitTwo) {
  Child bad({"--bogus"});
  EXPECT_EQ(bad.Wait(), 2);
  EXPECT_EQ(bad.err(), "causeway: unknown option '--bogus' (see causeway --help)\n");
  EXPECT_EQ(bad.out(), "");
  Child missing_value({"--config"});
  EXPECT_EQ(missing_value.Wait(), 2);
  EXPECT_EQ(Lines(missing_value.err()), 1u);
}

TEST(Binary, ConfigErrorsAreOneLineAndExitTwo) {
  ScratchDir dir;
  Child missing({"--config", dir / "nope.toml"});
  EXPECT_EQ(missing.Wait(), 2);
  EXPECT_EQ(missing.err(),
            "causeway: " + (dir / "nope.toml") + ": cannot read: No such file or directory\n");

  std::string bad = dir / "causeway.toml";
  WriteFile(bad, "[sip]\nt1_ms = \"fast\"\n");
  Child invalid({"-c", bad});
  EXPECT_EQ(invalid.Wait(), 2);
  EXPECT_EQ(invalid.err(), "causeway: " + bad + ": sip.t1_ms: expected an integer\n");

  // A configured certificate that is not there: caught by --check-config and at start.
  WriteFile(bad,
            "[general]\nstate_dir = \"" + (dir / "state") +
                "\"\n[tls]\ncertificate = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n");
  Child check({"--check-config", "--config", bad});
  EXPECT_EQ(check.Wait(), 2);
  EXPECT_EQ(check.err(),
            "causeway: tls.certificate: /nonexistent/c.pem: cannot read: No such file or "
            "directory\n");
  Child run({"--config", bad});
  EXPECT_EQ(run.Wait(), 2);
  EXPECT_EQ(run.err(), check.err());
}

TEST(Binary, PrintConfigRoundTrips) {
  Child print({"--print-config"});
  EXPECT_EQ(print.Wait(), 0);
  EXPECT_EQ(print.out(), DefaultConfigToml());
  absl::StatusOr<GatewayConfig> parsed = ParseConfig(print.out(), "printed");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(ConfigToToml(*parsed), ConfigToToml(DefaultConfig()));

  // With --config: the effective values.
  ScratchDir dir;
  WriteFile(dir / "c.toml", "[sip]\nmax_forwards = 12\n");
  Child effective({"--config", dir / "c.toml", "--print-config"});
  EXPECT_EQ(effective.Wait(), 0);
  EXPECT_NE(effective.out().find("\nmax_forwards = 12\n"), std::string::npos);
  Child check({"--config", dir / "c.toml", "--check-config"});
  EXPECT_EQ(check.Wait(), 0);
  EXPECT_EQ(check.out(), dir / "c.toml" + ": ok\n");
}

TEST(Binary, StartsPreparesStateAndStopsOnSigterm) {
  ScratchDir dir;
  std::string config = dir / "causeway.toml";
  WriteFile(config, "[general]\nshutdown_timeout_s = 2\n[sip]\ndomains = [\"example.net\"]\n");
  // state_dir is relative: it lands in the child's working directory.
  Child daemon({"--config", config}, dir.path());
  ASSERT_TRUE(daemon.WaitForStderr("msg=started")) << daemon.err();
  EXPECT_NE(daemon.err().find("domains=example.net"), std::string::npos) << daemon.err();
  EXPECT_NE(daemon.err().find("cert_sha256="), std::string::npos);
  EXPECT_EQ(FileMode(dir / "causeway-state"), 0700u);
  EXPECT_EQ(FileMode(dir / "causeway-state/self-signed-key.pem"), 0600u);

  // A second daemon on the same state directory refuses to start.
  Child second({"--config", config}, dir.path());
  EXPECT_EQ(second.Wait(), 1);
  EXPECT_NE(second.err().find("in use by another causeway process (pid " +
                              std::to_string(daemon.pid()) + ")"),
            std::string::npos)
      << second.err();

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(), 0) << daemon.err();
  EXPECT_NE(daemon.err().find("msg=stopped"), std::string::npos) << daemon.err();

  // The next start reuses the certificate.
  Child again({"--config", config}, dir.path());
  ASSERT_TRUE(again.WaitForStderr("msg=started")) << again.err();
  EXPECT_EQ(again.err().find("generating self-signed certificate"), std::string::npos);
  again.Signal(SIGINT);
  EXPECT_EQ(again.Wait(), 0) << again.err();
}

// `causeway user ...` against a scratch state directory: the real binary, the real database.
TEST(Binary, UserCommandsManageTheDirectory) {
  ScratchDir dir;
  std::string config = dir / "causeway.toml";
  WriteFile(config, "[general]\nstate_dir = \"" + (dir / "state") + "\"\n");
  const std::string password = "Corr3ct-horse-battery";
  const std::string stdin_password = "St@pler-from-stdin";

  Child add({"user", "add", "sip:Alice@Example.Test", "--password", password, "--display-name",
             "Alice Liddell", "--phone", "+15551230001", "--config", config});
  EXPECT_EQ(add.Wait(), 0) << add.err();
  EXPECT_EQ(add.out(), "added sip:alice@example.test\n");
  EXPECT_EQ(FileMode(dir / "state"), 0700u);
  EXPECT_EQ(FileMode(dir / "state/causeway.db"), 0600u);

  std::string input = stdin_password + "\n";
  Child add_stdin({"-c", config, "user", "add", "sip:bob@other.org", "--password-stdin"}, "",
                  &input);
  EXPECT_EQ(add_stdin.Wait(), 0) << add_stdin.err();

  Child list({"user", "list", "--config", config});
  EXPECT_EQ(list.Wait(), 0) << list.err();
  EXPECT_EQ(list.out(),
            "sip:alice@example.test\tAlice Liddell\t+15551230001\tenabled\n"
            "sip:bob@other.org\t-\t-\tenabled\n");

  // Errors: one line, exit 1 for a state problem, 2 for bad input.
  Child again({"user", "add", "sip:alice@example.test", "--password", "x", "-c", config});
  EXPECT_EQ(again.Wait(), 1);
  EXPECT_EQ(again.err(), "causeway: user sip:alice@example.test exists\n");
  Child missing({"user", "del", "sip:nobody@example.test", "-c", config});
  EXPECT_EQ(missing.Wait(), 1);
  EXPECT_EQ(missing.err(), "causeway: no user sip:nobody@example.test\n");
  Child bad_uri({"user", "add", "alice", "--password", "x", "-c", config});
  EXPECT_EQ(bad_uri.Wait(), 2);
  EXPECT_EQ(Lines(bad_uri.err()), 1u);
  EXPECT_NE(bad_uri.err().find("expected sip:user@domain"), std::string::npos) << bad_uri.err();
  Child no_password({"user", "add", "sip:carol@example.test", "-c", config});
  EXPECT_EQ(no_password.Wait(), 2);
  EXPECT_EQ(no_password.err(),
            "causeway: user add: --password or --password-stdin is required (see causeway "
            "--help)\n");
  std::string empty;
  Child empty_stdin({"user", "passwd", "sip:bob@other.org", "--password-stdin", "-c", config}, "",
                    &empty);
  EXPECT_EQ(empty_stdin.Wait(), 2);
  EXPECT_NE(empty_stdin.err().find("password: empty"), std::string::npos) << empty_stdin.err();

  Child passwd(
      {"user", "passwd", "sip:alice@example.test", "--password", "N3w-secret-value", "-c", config});
  EXPECT_EQ(passwd.Wait(), 0) << passwd.err();
  EXPECT_EQ(passwd.out(), "password changed for sip:alice@example.test\n");

  Child del({"user", "del", "sip:bob@other.org", "-c", config});
  EXPECT_EQ(del.Wait(), 0) << del.err();
  Child after({"user", "list", "-c", config});
  EXPECT_EQ(after.Wait(), 0);
  EXPECT_EQ(after.out(), "sip:alice@example.test\tAlice Liddell\t+15551230001\tenabled\n");

  // No file in the state directory holds any password (WAL included), nor does any output.
  for (const char* name : {"causeway.db", "causeway.db-wal", "causeway.db-shm"}) {
    std::string bytes = testing::ReadFile(dir / "state" + "/" + std::string(name));
    for (const std::string& secret : {password, stdin_password, std::string("N3w-secret-value")}) {
      EXPECT_EQ(bytes.find(secret), std::string::npos) << name;
    }
  }
  for (const Child* c : {&add, &add_stdin, &list, &passwd, &del, &after}) {
    EXPECT_EQ(c->out().find(password), std::string::npos);
    EXPECT_EQ(c->err().find(password), std::string::npos);
  }
}

// The CLI works while a daemon holds the state directory lock and has the database open; the
// daemon's directory sees the change at its next refresh.
TEST(Binary, UserCommandsWorkWhileTheDaemonRuns) {
  ScratchDir dir;
  std::string config = dir / "causeway.toml";
  WriteFile(config, "[general]\nstate_dir = \"" + (dir / "state") + "\"\n");
  absl::StatusOr<std::string> state = PrepareStateDir(dir / "state");
  ASSERT_TRUE(state.ok()) << state.status();
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(*state);
  ASSERT_TRUE(lock.ok()) << lock.status();
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> daemon = SqliteDirectory::Open(*state);
  ASSERT_TRUE(daemon.ok()) << daemon.status();

  Child add({"user", "add", "sip:alice@example.test", "--password", "pw", "-c", config});
  EXPECT_EQ(add.Wait(), 0) << add.err();
  Child list({"user", "list", "-c", config});
  EXPECT_EQ(list.Wait(), 0) << list.err();
  EXPECT_EQ(list.out(), "sip:alice@example.test\t-\t-\tenabled\n");

  absl::StatusOr<bool> reloaded = (*daemon)->Refresh();
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_TRUE(*reloaded);
  EXPECT_NE((*daemon)->FindByLogin("alice").value_or(nullptr), nullptr);
  EXPECT_EQ((*daemon)->Domains(), std::vector<std::string>{"example.test"});
}

}  // namespace
}  // namespace causeway::gateway
