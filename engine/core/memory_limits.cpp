#include "engine/core/memory_limits.h"

#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>

namespace gan {

namespace {

constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();

// "123", "64K", "512M", "2G" (powers of 1024); kUnknown for anything else.
uint64_t parse_size(const char* text) {
  if (!text || !*text) return kUnknown;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (end == text || text[0] == '-') return kUnknown;
  uint64_t scale = 1;
  switch (*end) {
    case '\0': break;
    case 'K': case 'k': scale = 1ull << 10; ++end; break;
    case 'M': case 'm': scale = 1ull << 20; ++end; break;
    case 'G': case 'g': scale = 1ull << 30; ++end; break;
    default: return kUnknown;
  }
  if (*end != '\0' || v > kUnknown / scale) return kUnknown;
  return uint64_t(v) * scale;
}

uint64_t mem_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit)
    if (key == "MemAvailable:") return kib * 1024;
  return kUnknown;
}

}  // namespace

uint64_t available_host_memory() {
  uint64_t avail = mem_available();
  struct rlimit lim {};
  if (getrlimit(RLIMIT_AS, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY)
    avail = std::min<uint64_t>(avail, lim.rlim_cur);
  const uint64_t cap = parse_size(std::getenv("GAN_HOST_MEMORY_LIMIT"));
  return std::min(avail, cap);
}

std::string format_bytes(uint64_t bytes) {
  if (bytes >= (1ull << 30)) return fmt::format("{:.1f} GiB", double(bytes) / double(1ull << 30));
  if (bytes >= (1ull << 20)) return fmt::format("{:.1f} MiB", double(bytes) / double(1ull << 20));
  return fmt::format("{} bytes", bytes);
}

void require_host_memory(uint64_t bytes, const std::string& what) {
  const uint64_t avail = available_host_memory();
  if (bytes > avail)
    throw std::runtime_error(fmt::format("{}: needs {} of host memory, {} available", what,
                                         format_bytes(bytes), format_bytes(avail)));
}

}  // namespace gan
