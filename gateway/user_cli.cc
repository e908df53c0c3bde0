#include "gateway/user_cli.h"

#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/strings.h"
#include "gateway/daemon.h"
#include "gateway/sqlite_directory.h"
#include "gateway/state_dir.h"
#include "sip/lync/credentials.h"

namespace causeway::gateway {
namespace {

// Restores the terminal's echo on scope exit.
class EchoOff {
 public:
  explicit EchoOff(int fd) : fd_(fd) {
    if (::tcgetattr(fd_, &saved_) != 0) return;
    termios quiet = saved_;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    active_ = ::tcsetattr(fd_, TCSAFLUSH, &quiet) == 0;
  }
  ~EchoOff() {
    if (active_) ::tcsetattr(fd_, TCSAFLUSH, &saved_);
  }
  EchoOff(const EchoOff&) = delete;
  EchoOff& operator=(const EchoOff&) = delete;

 private:
  int fd_;
  termios saved_{};
  bool active_ = false;
};

std::string ListLine(const UserRecord& user) {
  return absl::StrCat(user.uri, "\t", user.display_name.empty() ? "-" : user.display_name, "\t",
                      user.phone_numbers.empty() ? "-" : absl::StrJoin(user.phone_numbers, ","),
                      "\t", user.enabled ? "enabled" : "disabled", "\n");
}

}  // namespace

absl::StatusOr<std::string> ReadPasswordLine(int fd) {
  std::unique_ptr<EchoOff> echo;
  if (::isatty(fd)) {
    WriteAll(STDERR_FILENO, "Password: ");
    echo = std::make_unique<EchoOff>(fd);
  }
  std::string line;
  // One byte at a time so nothing after the first line is consumed; bounded by the size limit.
  while (line.size() <= sip::lync::kMaxPasswordBytes) {
    char c;
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::InternalError(absl::StrCat("standard input: ", std::strerror(errno)));
    if (n == 0 || c == '\n') break;
    line.push_back(c);
  }
  if (echo != nullptr) WriteAll(STDERR_FILENO, "\n");
  if (line.size() > sip::lync::kMaxPasswordBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("password: longer than ", sip::lync::kMaxPasswordBytes, " bytes"));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty())
    return absl::InvalidArgumentError("password: empty (nothing on standard input)");
  return line;
}

absl::StatusOr<std::string> RunUserCommand(const UserCommand& command, const std::string& state_dir,
                                           const PasswordReader& read_password) {
  std::string password = command.password;
  if (command.password_stdin) {
    absl::StatusOr<std::string> read = read_password();
    if (!read.ok()) return read.status();
    password = std::move(*read);
  }
  // Validate what the command line gave before touching the database.
  std::string uri;
  if (command.verb != UserVerb::kList) {
    absl::StatusOr<std::string> normalized = NormalizeUserUri(command.uri);
    if (!normalized.ok()) return normalized.status();
    uri = std::move(*normalized);
  }
  absl::StatusOr<std::unique_ptr<SqliteDirectory>> directory = SqliteDirectory::Open(state_dir);
  if (!directory.ok()) return directory.status();
  SqliteDirectory& dir = **directory;
  switch (command.verb) {
    case UserVerb::kAdd: {
      NewUser user;
      user.uri = uri;
      user.display_name = command.display_name;
      user.phone_numbers = command.phones;
      user.password = std::move(password);
      if (absl::Status st = dir.Add(user); !st.ok()) return st;
      return absl::StrCat("added ", uri, "\n");
    }
    case UserVerb::kDel:
      if (absl::Status st = dir.Remove(uri); !st.ok()) return st;
      return absl::StrCat("removed ", uri, "\n");
    case UserVerb::kPasswd:
      if (absl::Status st = dir.SetPassword(uri, password); !st.ok()) return st;
      return absl::StrCat("password changed for ", uri, "\n");
    case UserVerb::kEnable:
    case UserVerb::kDisable: {
      bool enable = command.verb == UserVerb::kEnable;
      if (absl::Status st = dir.SetEnabled(uri, enable); !st.ok()) return st;
      return absl::StrCat(enable ? "enabled " : "disabled ", uri, "\n");
    }
    case UserVerb::kList: {
      absl::StatusOr<std::vector<UserRecord>> users = dir.List();
      if (!users.ok()) return users.status();
      std::string out;
      for (const UserRecord& user : *users) out += ListLine(user);
      return out;
    }
  }
  return absl::InternalError("unknown user command");
}

int UserMain(const UserCommand& command, const GatewayConfig& config) {
  absl::StatusOr<std::string> state_dir = PrepareStateDir(config.general.state_dir);
  if (!state_dir.ok()) {
    PrintError(FromAbsl(state_dir.status().message()));
    return ExitCodeFor(state_dir.status());
  }
  absl::StatusOr<std::string> out =
      RunUserCommand(command, *state_dir, [] { return ReadPasswordLine(STDIN_FILENO); });
  if (!out.ok()) {
    PrintError(FromAbsl(out.status().message()));
    return ExitCodeFor(out.status());
  }
  WriteAll(STDOUT_FILENO, *out);
  return kExitOk;
}

}  // namespace causeway::gateway
