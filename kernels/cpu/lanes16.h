// CPU-internal: loops over float arrays in 16-lane vectors (GCC vector extensions), compiled for
// the baseline, AVX2 and AVX-512 and chosen at run time by isa(). Element-wise operations on 16
// lanes round the same whatever instructions carry them (the library is built with
// -ffp-contract=off), so every level gives the same bits, and the tail runs through the same code
// in one padded vector. Written as explicit vector selects because GCC keeps a scalar
// `c ? x * s : 0` as a branch (the multiply may trap) and then does not vectorise it.
#pragma once
#include <cstddef>
#include <cstring>

#include "kernels/cpu/isa.h"

// Before a loop whose output is its input or disjoint from it (never partly overlapping): vectorise
// without GCC's overlap check, which sends an in-place call to the scalar loop. Nothing under
// clang (the fuzz and sanitizer builds, where speed does not matter and clang's equivalent warns
// at -O1, which does not vectorise).
#if defined(__GNUC__) && !defined(__clang__)
#define GAN_IVDEP _Pragma("GCC ivdep")
#else
#define GAN_IVDEP
#endif

namespace gan::cpu::lanes16 {

// Every function taking or returning a 64-byte vector is inlined, so no vector crosses a call and
// GCC's note on the ABI for passing them does not apply.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"

typedef float v16sf __attribute__((vector_size(64)));
typedef int v16si __attribute__((vector_size(64)));

__attribute__((always_inline)) inline v16sf splat(float v) { return v16sf{} + v; }

// y = op(x) over n floats, 16 at a time; the tail through one padded vector.
template <class Op>
__attribute__((always_inline)) inline void map16(const float* x, float* y, size_t n, Op op) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16sf v;
    std::memcpy(&v, x + i, sizeof v);
    v = op(v);
    std::memcpy(y + i, &v, sizeof v);
  }
  if (i < n) {
    v16sf v = splat(0.0f);
    std::memcpy(&v, x + i, (n - i) * sizeof(float));
    v = op(v);
    std::memcpy(y + i, &v, (n - i) * sizeof(float));
  }
}

// dx = op(y, dy) likewise.
template <class Op>
__attribute__((always_inline)) inline void map16(const float* y, const float* dy, float* dx,
                                                 size_t n, Op op) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    v16sf a, b;
    std::memcpy(&a, y + i, sizeof a);
    std::memcpy(&b, dy + i, sizeof b);
    a = op(a, b);
    std::memcpy(dx + i, &a, sizeof a);
  }
  if (i < n) {
    v16sf a = splat(0.0f), b = splat(0.0f);
    std::memcpy(&a, y + i, (n - i) * sizeof(float));
    std::memcpy(&b, dy + i, (n - i) * sizeof(float));
    a = op(a, b);
    std::memcpy(dx + i, &a, (n - i) * sizeof(float));
  }
}

#pragma GCC diagnostic pop

}  // namespace gan::cpu::lanes16

// Defines name_portable, name_avx2 and name_avx512 (params), each running loop args compiled for
// its level (only name_portable off x86).
#if defined(__x86_64__)
#define GAN_AT_EVERY_LEVEL(name, loop, params, args)                                        \
  void name##_portable params { loop args; }                                                \
  __attribute__((target("avx2,fma"))) void name##_avx2 params { loop args; }                \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) void name##_avx512 params { \
    loop args;                                                                              \
  }
#else
#define GAN_AT_EVERY_LEVEL(name, loop, params, args) \
  void name##_portable params { loop args; }
#endif

// Runs name_<level>(...) for the level isa() picks.
#if defined(__x86_64__)
#define GAN_AT_LEVEL(name, ...)                          \
  switch (isa()) {                                       \
    case Isa::Avx512: return name##_avx512(__VA_ARGS__); \
    case Isa::Avx2: return name##_avx2(__VA_ARGS__);     \
    case Isa::Portable: break;                           \
  }                                                      \
  name##_portable(__VA_ARGS__);
#else
#define GAN_AT_LEVEL(name, ...) name##_portable(__VA_ARGS__);
#endif
