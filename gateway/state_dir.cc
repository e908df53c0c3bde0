#include "gateway/state_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "core/strings.h"

namespace causeway::gateway {
namespace {

constexpr size_t kMaxPathBytes = 4000;
constexpr int kMaxDepth = 64;

absl::Status DirError(std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("general.state_dir: ", ToAbsl(path), ": ", ToAbsl(what)));
}

// mkdir -p, new components 0700; bounded by the number of path components.
absl::Status MakeDirs(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return absl::OkStatus();
  int depth = 0;
  for (size_t pos = 1; pos <= path.size() && depth < kMaxDepth; ++pos) {
    if (pos != path.size() && path[pos] != '/') continue;
    ++depth;
    std::string prefix = path.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return DirError(prefix, absl::StrCat("cannot create: ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> PrepareStateDir(const std::string& path) {
  if (path.empty()) return DirError(path, "empty path");
  if (path.size() > kMaxPathBytes) return DirError("...", "path too long");
  std::string absolute = path;
  if (absolute.front() != '/') {
    char cwd[4096];
    if (::getcwd(cwd, sizeof cwd) == nullptr) {
      return DirError(path, absl::StrCat("cannot resolve: ", std::strerror(errno)));
    }
    absolute = absl::StrCat(cwd, "/", ToAbsl(path));
  }
  while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
  if (absl::Status st = MakeDirs(absolute); !st.ok()) return st;
  struct stat st;
  if (::stat(absolute.c_str(), &st) != 0) {
    return DirError(absolute, absl::StrCat("cannot access: ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) return DirError(absolute, "not a directory");
  if (::access(absolute.c_str(), W_OK | X_OK) != 0) {
    return DirError(absolute, absl::StrCat("not writable: ", std::strerror(errno)));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    log::Warn("gateway", "state directory is accessible by group or others",
              {{"dir", absolute}, {"mode", mode}});
  }
  return absolute;
}

absl::StatusOr<StateDirLock> StateDirLock::Acquire(const std::string& state_dir) {
  std::string path = absl::StrCat(ToAbsl(state_dir), "/causeway.lock");
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return DirError(path, absl::StrCat("cannot open: ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int saved = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (saved == EWOULDBLOCK) {
      std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      return absl::FailedPreconditionError(
          absl::StrCat("general.state_dir: ", ToAbsl(state_dir),
                       ": in use by another causeway process (pid ", pid, ")"));
    }
    return DirError(path, absl::StrCat("cannot lock: ", std::strerror(saved)));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd, 0) != 0 ||
      ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int saved = errno;
    ::close(fd);
    return DirError(path, absl::StrCat("cannot write: ", std::strerror(saved)));
  }
  return StateDirLock(fd, std::move(path));
}

StateDirLock::StateDirLock(StateDirLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}

StateDirLock& StateDirLock::operator=(StateDirLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
  }
  return *this;
}

StateDirLock::~StateDirLock() {
  // Closing drops the flock; the file stays so the next start does not race on creating it.
  if (fd_ >= 0) ::close(fd_);
}


// Writes `data` to `path` via a temporary file and rename(2), so a crash never leaves half a key.
absl::Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = absl::StrCat(ToAbsl(path), ".tmp.", ::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat(ToAbsl(tmp), ": cannot create: ", std::strerror(errno)));
  }
  // The umask may have narrowed `mode`; a key must be exactly 0600, a certificate 0644.
  bool ok = ::fchmod(fd, mode) == 0;
  size_t off = 0;
  while (ok && off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = false;
      break;
    }
    off += static_cast<size_t>(n);
  }
  int saved = errno;
  if (ok && ::fsync(fd) != 0) {
    ok = false;
    saved = errno;
  }
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) saved = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(
        absl::StrCat(ToAbsl(path), ": cannot write: ", std::strerror(saved)));
  }
  return absl::OkStatus();
}

namespace {
constexpr size_t kMaxSmallFileBytes = 1 << 20;
absl::Status FileError(std::string_view key, std::string_view path, std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(ToAbsl(key), ": ", ToAbsl(path), ": ", ToAbsl(what)));
}
}  // namespace

// Reads a whole (small) file; the error names the key and the path.
absl::StatusOr<std::string> ReadSmallFile(std::string_view key, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FileError(key, path, absl::StrCat("cannot read: ", std::strerror(errno)));
  std::string data;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      return FileError(key, path, absl::StrCat("cannot read: ", std::strerror(saved)));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > kMaxSmallFileBytes) {
      ::close(fd);
      return FileError(key, path, "larger than 1 MiB");
    }
  }
  ::close(fd);
  return data;
}

}  // namespace causeway::gateway
