// Writing files so that a reader never sees a half-written one: temp file in the same directory,
// fsync, rename over the target, fsync the directory.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace gan {

// Replaces `path` with `bytes` atomically. Throws std::runtime_error naming the file on failure,
// leaving any previous file at `path` intact and no temp file behind.
void write_file_atomic(const std::string& path, std::string_view bytes);

// The whole file as bytes. Throws std::runtime_error naming the file if it cannot be read, is not
// a regular file (a directory, FIFO or device: never blocks on one), or is larger than the memory
// available (memory_limits.h).
std::string read_file(const std::string& path);

// True for the name of a temp file write_file_atomic creates (".<target>.tmpXXXXXX").
bool is_atomic_write_temp_name(const std::string& name);

// Deletes the temp files of atomic writes that never finished (the process was killed between
// create and rename) in `dir`, not below it; returns their paths. Call only while no other process
// writes into `dir` (the run directory lock).
std::vector<std::string> remove_stale_temp_files(const std::string& dir);

// An exclusive advisory lock (flock) on a directory, held while the object lives, so that two
// processes never train into the same run directory (and stale temp files can be removed safely).
// Throws std::runtime_error "<who>: another process is using this run directory" when it is held.
class DirectoryLock {
 public:
  DirectoryLock() = default;
  DirectoryLock(const std::string& dir, const std::string& who);
  ~DirectoryLock();
  DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace gan
