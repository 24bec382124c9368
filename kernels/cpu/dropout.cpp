#include "kernels/dropout.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/cpu/lanes16.h"
#include "kernels/cpu/philox_batch.h"
#include "kernels/scalar.h"

namespace gan::cpu {

namespace {
// Walks the elements in chunks whose Philox words are drawn in one batch (philox_batch.h):
// fn(i0, n, bits), bits[k] the draw of element i0 + k (word k % 4 of block (i0 + k) / 4).
template <class Fn>
void for_each_dropout_chunk(size_t N, uint64_t seed, uint32_t stream, uint64_t ctr, Fn fn) {
  constexpr size_t kChunk = 1024;  // a multiple of 4: chunks start on a block
  uint32_t bits[kChunk];
  for (size_t i0 = 0; i0 < N; i0 += kChunk) {
    const size_t n = std::min(kChunk, N - i0);
    philox_words(seed, stream, ctr, uint32_t(i0 / 4), (n + 3) / 4, bits);
    fn(i0, n, bits);
  }
}

#pragma GCC diagnostic ignored "-Wpsabi"

// y[k] = keep_k ? x[k] s : 0, keep_k = uniform01_from_bits(bits[k]) >= rate (dropout_keep's
// arithmetic on 16 lanes: the 24-bit integer converted exactly, times 2^-24).
__attribute__((always_inline)) inline void dropout_apply_loop(const float* x, const uint32_t* bits,
                                                              float* y, size_t n, float s,
                                                              float rate) {
  using namespace lanes16;
  auto one = [&](size_t i, size_t m) __attribute__((always_inline)) {
    v16sf v = splat(0.0f);
    v16si b = v16si{};
    std::memcpy(&v, x + i, m * sizeof(float));
    std::memcpy(&b, bits + i, m * sizeof(uint32_t));
    const v16si top24 = (b >> 8) & 0xFFFFFF;  // bits >> 8 (the lanes are signed)
    const v16sf u = __builtin_convertvector(top24, v16sf) * (1.0f / 16777216.0f);
    v = u >= rate ? v * s : splat(0.0f);
    std::memcpy(y + i, &v, m * sizeof(float));
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) one(i, 16);
  if (i < n) one(i, n - i);
}
GAN_AT_EVERY_LEVEL(dropout_apply, dropout_apply_loop,
                   (const float* x, const uint32_t* bits, float* y, size_t n, float s, float rate),
                   (x, bits, y, n, s, rate))
}  // namespace

template <class T>
void dropout_apply(const T* x, const uint32_t* bits, T* y, size_t n, T s, float rate) {
  if constexpr (std::is_same_v<T, float>) {
    GAN_AT_LEVEL(dropout_apply, x, bits, y, n, s, rate)
  } else {
    for (size_t k = 0; k < n; ++k) y[k] = dropout_keep(bits[k], rate) ? x[k] * s : T(0);
  }
}

template <class T>
void dropout_forward(const T* x, T* y, size_t N, float p, bool training, uint64_t seed,
                     uint32_t stream, const uint64_t* counter) {
  if (!training) {
    if (y != x)
      for (size_t i = 0; i < N; ++i) y[i] = x[i];
    return;
  }
  const T scale = T(1) / (T(1) - T(p));
  for_each_dropout_chunk(N, seed, stream, *counter, [&](size_t i0, size_t n, const uint32_t* bits) {
    dropout_apply(x + i0, bits, y + i0, n, scale, p);
  });
}

// y = x m / (1 - p) with a fixed mask m  =>  dx = dy m / (1 - p).
template <class T>
void dropout_backward(const T* dy, T* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter) {
  const T scale = T(1) / (T(1) - T(p));
  for_each_dropout_chunk(N, seed, stream, *counter, [&](size_t i0, size_t n, const uint32_t* bits) {
    dropout_apply(dy + i0, bits, dx + i0, n, scale, p);
  });
}

template void dropout_forward<float>(const float*, float*, size_t, float, bool, uint64_t, uint32_t,
                                     const uint64_t*);
template void dropout_forward<double>(const double*, double*, size_t, float, bool, uint64_t,
                                      uint32_t, const uint64_t*);
template void dropout_backward<float>(const float*, float*, size_t, float, uint64_t, uint32_t,
                                      const uint64_t*);
template void dropout_backward<double>(const double*, double*, size_t, float, uint64_t, uint32_t,
                                       const uint64_t*);

}  // namespace gan::cpu
