#pragma once
// A real Prosody (/usr/bin/prosody, the Debian package) for the component tests: its config,
// data, pid file and log live in a fresh temporary directory, storage is in memory, it listens on
// 127.0.0.1 only, on a component port picked free, with c2s and s2s off unless asked for. It runs
// in the foreground as our child (fork + PR_SET_PDEATHSIG + exec: a test killed outright takes it
// along) and is stopped by PID, SIGTERM then SIGKILL, every wait bounded. Stop() and Start()
// again keep the port, which is how the tests take the server away and bring it back.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace causeway::xmpp::component::test_support {

inline constexpr char kProsodyBinary[] = "/usr/bin/prosody";

inline bool ProsodyAvailable() { return access(kProsodyBinary, X_OK) == 0; }

// A port nothing listens on right now (bound to port 0, then released).
inline uint16_t PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  uint16_t port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

inline bool PortAccepts(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

struct ProsodyOptions {
  std::string domain = "xmpp.test";
  std::string component = "gw.xmpp.test";
  std::string secret = "component-secret";
  uint16_t c2s_port = 0;  // 0: c2s off
};

class ProsodyInstance {
 public:
  explicit ProsodyInstance(ProsodyOptions options = {}) : options_(std::move(options)) {
    char tmpl[] = "/tmp/cw-prosody-XXXXXX";
    dir_ = mkdtemp(tmpl) ? tmpl : "";
    component_port_ = PickFreePort();
  }
  ~ProsodyInstance() {
    Stop();
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  ProsodyInstance(const ProsodyInstance&) = delete;
  ProsodyInstance& operator=(const ProsodyInstance&) = delete;

  uint16_t component_port() const { return component_port_; }
  const std::string& dir() const { return dir_; }
  std::string log_path() const { return dir_ + "/prosody.log"; }
  bool running() const { return pid_ > 0; }

  // Starts Prosody and waits (at most `timeout`) until the component port accepts.
  bool Start(std::chrono::milliseconds timeout = std::chrono::seconds(15)) {
    if (dir_.empty() || component_port_ == 0 || pid_ > 0) return false;
    WriteConfig();
    const std::string config = dir_ + "/prosody.cfg.lua";
    const std::string stdio = dir_ + "/prosody.stdio";
    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) return false;
    if (pid == 0) {
      // Only async-signal-safe calls between fork and exec.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int out = open(stdio.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (out >= 0) {
        dup2(out, 1);
        dup2(out, 2);
      }
      int in = open("/dev/null", O_RDONLY);
      if (in >= 0) dup2(in, 0);
      execl(kProsodyBinary, "prosody", "-F", "--config", config.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    pid_ = pid;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (PortAccepts(component_port_) &&
          (options_.c2s_port == 0 || PortAccepts(options_.c2s_port))) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    Stop();
    return false;
  }

  // SIGTERM, SIGKILL after `grace`; returns once the process is reaped.
  void Stop(std::chrono::milliseconds grace = std::chrono::seconds(5)) {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() >= deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    pid_ = -1;
  }

  std::string Log() const {
    std::ifstream in(log_path());
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  void WriteConfig() {
    std::ofstream out(dir_ + "/prosody.cfg.lua", std::ios::trunc);
    std::filesystem::create_directories(dir_ + "/data");
    out << "-- generated by tests/xmpp_component/prosody_instance.h\n"
        << "run_as_root = true\n"
        << "pidfile = \"" << dir_ << "/prosody.pid\"\n"
        << "data_path = \"" << dir_ << "/data\"\n"
        << "log = { { levels = { min = \"debug\" }; to = \"file\"; filename = \"" << log_path()
        << "\" } }\n"
        << "modules_enabled = { \"posix\", \"ping\", \"disco\", \"roster\", \"saslauth\" }\n"
        << "modules_disabled = { \"offline\", \"s2s\""
        << (options_.c2s_port == 0 ? ", \"c2s\"" : "") << " }\n"
        << "default_storage = \"memory\"\n"
        // Clients log in anonymously (SASL ANONYMOUS): no accounts to register.
        << "authentication = \"anonymous\"\n"
        << "interfaces = { \"127.0.0.1\" }\n"
        << "local_interfaces = { \"127.0.0.1\" }\n"
        << "c2s_ports = { " << (options_.c2s_port ? options_.c2s_port : PickFreePort()) << " }\n"
        << "c2s_require_encryption = false\n"
        << "component_ports = { " << component_port_ << " }\n"
        << "component_interfaces = { \"127.0.0.1\" }\n"
        << "VirtualHost \"" << options_.domain << "\"\n"
        << "Component \"" << options_.component << "\"\n"
        << "    component_secret = \"" << options_.secret << "\"\n";
  }

  ProsodyOptions options_;
  std::string dir_;
  uint16_t component_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace causeway::xmpp::component::test_support
