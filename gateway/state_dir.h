#pragma once
// The state directory: generated certificates and the lock that keeps two daemons from sharing
// one directory (and, in practice, one set of listeners).

#include <sys/types.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace causeway::gateway {

// Creates `path` (and missing parents) with mode 0700 if it does not exist, checks that it is a
// writable directory, and returns it as an absolute path. Existing directories keep their mode;
// one readable by group/others is logged as a warning.
absl::StatusOr<std::string> PrepareStateDir(const std::string& path);

// An exclusive flock(2) on <state_dir>/causeway.lock holding the owner's pid, released when the
// object is destroyed (or the process dies: the kernel drops flocks, so no stale-lock cleanup).
// Writes `data` to `path` via a temporary file and rename(2), so a crash never leaves half a
// file (keys, generated secrets). The file ends with exactly `mode`, whatever the umask.
absl::Status WriteFileAtomically(const std::string& path, const std::string& data, mode_t mode);

// Reads a whole file of at most 1 MiB; errors are InvalidArgument "KEY: PATH: what".
absl::StatusOr<std::string> ReadSmallFile(std::string_view key, const std::string& path);

class StateDirLock {
 public:
  // Fails with FailedPrecondition naming the holder's pid when another process holds the lock.
  static absl::StatusOr<StateDirLock> Acquire(const std::string& state_dir);

  StateDirLock(StateDirLock&& other) noexcept;
  StateDirLock& operator=(StateDirLock&& other) noexcept;
  StateDirLock(const StateDirLock&) = delete;
  StateDirLock& operator=(const StateDirLock&) = delete;
  ~StateDirLock();

  const std::string& path() const { return path_; }

 private:
  StateDirLock(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_ = -1;
  std::string path_;
};

}  // namespace causeway::gateway
