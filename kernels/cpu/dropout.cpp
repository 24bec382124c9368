#include "kernels/dropout.h"

#include "kernels/scalar.h"

namespace gan::cpu {

namespace {
// Walks elements in Philox blocks of four: fn(i, keep) for every element.
template <class Fn>
void for_each_dropout_draw(size_t N, float p, uint64_t seed, uint32_t stream, uint64_t ctr, Fn fn) {
  for (size_t g = 0; g * 4 < N; ++g) {
    const Philox4 w = philox_block(seed, stream, ctr, uint32_t(g));
    for (size_t j = 0; j < 4 && g * 4 + j < N; ++j) fn(g * 4 + j, dropout_keep(w.v[j], p));
  }
}
}  // namespace

template <class T>
void dropout_forward(const T* x, T* y, size_t N, float p, bool training, uint64_t seed,
                     uint32_t stream, const uint64_t* counter) {
  if (!training) {
    if (y != x)
      for (size_t i = 0; i < N; ++i) y[i] = x[i];
    return;
  }
  const T scale = T(1) / (T(1) - T(p));
  for_each_dropout_draw(N, p, seed, stream, *counter,
                        [&](size_t i, bool keep) { y[i] = keep ? x[i] * scale : T(0); });
}

// y = x m / (1 - p) with a fixed mask m  =>  dx = dy m / (1 - p).
template <class T>
void dropout_backward(const T* dy, T* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter) {
  const T scale = T(1) / (T(1) - T(p));
  for_each_dropout_draw(N, p, seed, stream, *counter,
                        [&](size_t i, bool keep) { dx[i] = keep ? dy[i] * scale : T(0); });
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
