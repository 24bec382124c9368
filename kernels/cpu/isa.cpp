#include "kernels/cpu/isa.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gan::cpu {

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Portable: return "portable";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

Isa isa_detected() {
#if defined(__x86_64__)
  static const Isa detected = [] {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
      return Isa::Avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
    return Isa::Portable;
  }();
  return detected;
#else
  return Isa::Portable;
#endif
}

namespace {

Isa env_cap() {
  const char* s = std::getenv("GAN_CPU_ISA");
  if (!s || !*s) return Isa::Avx512;
  if (!std::strcmp(s, "portable")) return Isa::Portable;
  if (!std::strcmp(s, "avx2")) return Isa::Avx2;
  if (std::strcmp(s, "avx512"))
    std::fprintf(stderr, "warning: GAN_CPU_ISA=%s is not portable, avx2 or avx512: ignored\n", s);
  return Isa::Avx512;
}

std::atomic<int> cap_set{int(Isa::Avx512)};

}  // namespace

Isa isa() {
  static const Isa from_env = env_cap();
  return Isa(
      std::min({int(isa_detected()), int(from_env), cap_set.load(std::memory_order_relaxed)}));
}

void set_isa_cap(Isa cap) { cap_set.store(int(cap), std::memory_order_relaxed); }

}  // namespace gan::cpu
