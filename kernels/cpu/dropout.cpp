#include "kernels/dropout.h"

#include <algorithm>

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
}  // namespace

// The products are formed for every element and then selected (a multiply under the condition
// alone keeps GCC from vectorising, as it may trap).
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
    const T s = scale;  // locals: the stores to y cannot change them, so the loop vectorises
    const float rate = p;
    for (size_t k = 0; k < n; ++k) {
      const T v = x[i0 + k] * s;
      y[i0 + k] = dropout_keep(bits[k], rate) ? v : T(0);
    }
  });
}

// y = x m / (1 - p) with a fixed mask m  =>  dx = dy m / (1 - p).
template <class T>
void dropout_backward(const T* dy, T* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter) {
  const T scale = T(1) / (T(1) - T(p));
  for_each_dropout_chunk(N, seed, stream, *counter, [&](size_t i0, size_t n, const uint32_t* bits) {
    const T s = scale;
    const float rate = p;
    for (size_t k = 0; k < n; ++k) {
      const T v = dy[i0 + k] * s;
      dx[i0 + k] = dropout_keep(bits[k], rate) ? v : T(0);
    }
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
