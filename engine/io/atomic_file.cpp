#include "engine/io/atomic_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "engine/core/memory_limits.h"

namespace gan {

namespace {
[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what + " (" + std::strerror(errno) + ")");
}
}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::filesystem::path target(path);
  const std::filesystem::path dir =
      target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::string name = ".";
  name += target.filename().string();
  name += ".tmpXXXXXX";
  std::string tmpl = (dir / name).string();
  const int fd = mkstemp(tmpl.data());
  if (fd < 0) fail(path, "cannot create a temporary file in " + dir.string());
  ::fchmod(fd, 0644);  // mkstemp creates 0600; outputs are meant to be read by others too
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      ::close(fd);
      ::unlink(tmpl.c_str());
      errno = saved;
      fail(path, "write failed");
    }
    done += size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int saved = errno;
    ::unlink(tmpl.c_str());
    errno = saved;
    fail(path, "fsync/close failed");
  }
  if (std::rename(tmpl.c_str(), path.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmpl.c_str());
    errno = saved;
    fail(path, "rename failed");
  }
  // The rename is durable only once the directory entry is.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string read_file(const std::string& path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; only
  // regular files are read (a FIFO, /dev/zero or a directory is refused, not read until memory
  // runs out), and their length is checked against memory before the buffer is allocated.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(path, "cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    fail(path, "cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(path + ": not a regular file (" +
                             (S_ISDIR(st.st_mode) ? "a directory" : "a device, FIFO or socket") +
                             ")");
  }
  std::string bytes;
  try {
    require_host_memory(uint64_t(st.st_size), path);
    bytes.resize(size_t(st.st_size));
  } catch (...) {
    ::close(fd);
    throw;
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int saved = errno;
      ::close(fd);
      errno = saved;
      fail(path, "read failed");
    }
    if (n == 0) break;  // the file shrank while being read: what is there is what it holds
    done += size_t(n);
  }
  bytes.resize(done);
  ::close(fd);
  return bytes;
}

bool is_atomic_write_temp_name(const std::string& name) {
  // write_file_atomic's temp files: "." + target name + ".tmp" + mkstemp's six characters.
  constexpr size_t kSuffix = 4 + 6;
  return name.size() > 1 + kSuffix && name[0] == '.' &&
         name.compare(name.size() - kSuffix, 4, ".tmp") == 0;
}

std::vector<std::string> remove_stale_temp_files(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec) || !is_atomic_write_temp_name(it->path().filename().string()))
      continue;
    std::error_code rm_ec;
    if (std::filesystem::remove(it->path(), rm_ec)) removed.push_back(it->path().string());
  }
  return removed;
}

DirectoryLock::DirectoryLock(const std::string& dir, const std::string& who) {
  fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) fail(who, "cannot open the directory");
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int saved = errno;
    ::close(fd_);
    fd_ = -1;
    if (saved == EWOULDBLOCK)
      throw std::runtime_error(who + ": another process is using this run directory");
    errno = saved;
    fail(who, "cannot lock the directory");
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ >= 0) ::close(fd_);  // closing releases the lock
}

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

}  // namespace gan
