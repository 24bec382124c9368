// What every fuzz target shares. A target returns normally when the reader accepts or refuses its
// input in a documented way (the exception types its header names); everything else is a finding
// that libFuzzer reports and keeps: a crash, a sanitizer report, an undocumented exception (it
// escapes LLVMFuzzerTestOneInput and terminates), a broken invariant (fuzz_check aborts), a hang
// (-timeout) or an allocation beyond -malloc_limit_mb.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "engine/train/checkpoint.h"

namespace gan::fuzz {

// The bytes libFuzzer hands over, as the readers take them.
inline std::string_view as_bytes(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Aborts with one line naming the target and the broken invariant (a finding).
inline void fuzz_check(bool ok, const char* target, const std::string& invariant) {
  if (ok) return;
  std::fprintf(stderr, "%s: invariant broken: %s\n", target, invariant.c_str());
  std::abort();
}

// Readers refuse what would need more host memory than available_host_memory() allows. On a
// shared machine that is whatever happens to be free, so the targets fix it at 512 MiB (unless the
// caller already set GAN_HOST_MEMORY_LIMIT): the reader's own check, not libFuzzer's
// -malloc_limit_mb (1024), is then what a lying size field runs into.
// The same tensors in the same order, bit for bit (NaN payloads and -0 must survive too).
inline bool same_tensors(const std::vector<NamedTensor>& a, const std::vector<NamedTensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].shape != b[i].shape || a[i].data.size() != b[i].data.size())
      return false;
    if (!a[i].data.empty() &&
        std::memcmp(a[i].data.data(), b[i].data.data(), a[i].data.size() * sizeof(float)) != 0)
      return false;
  }
  return true;
}

inline void set_host_memory_limit() { ::setenv("GAN_HOST_MEMORY_LIMIT", "512M", 0); }

}  // namespace gan::fuzz

// Every target defines it: libFuzzer calls it once before the first input, as replay_main does.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
