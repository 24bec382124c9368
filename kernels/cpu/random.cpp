#include "kernels/random.h"

#include "kernels/scalar.h"

namespace gan {

const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::Normal: return "normal";
    case Distribution::UniformSym: return "uniform";
    case Distribution::Uniform01: return "uniform01";
  }
  return "?";
}

namespace cpu {

template <class T>
void random_fill(T* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter) {
  const uint64_t ctr = *counter;
  for (size_t g = 0; g * 4 < N; ++g) {
    const Philox4 w = philox_block(seed, stream, ctr, uint32_t(g));
    T v[4] = {};
    switch (dist) {
      case Distribution::Normal:
        box_muller<T>(w.v[0], w.v[1], v[0], v[1]);
        box_muller<T>(w.v[2], w.v[3], v[2], v[3]);
        break;
      case Distribution::UniformSym:
        for (int j = 0; j < 4; ++j) v[j] = T(2) * uniform01_from_bits<T>(w.v[j]) - T(1);
        break;
      case Distribution::Uniform01:
        for (int j = 0; j < 4; ++j) v[j] = uniform01_from_bits<T>(w.v[j]);
        break;
    }
    for (size_t j = 0; j < 4 && g * 4 + j < N; ++j) out[g * 4 + j] = v[j];
  }
}

void counter_add(uint64_t* counter, uint64_t by) { *counter += by; }

template void random_fill<float>(float*, size_t, Distribution, uint64_t, uint32_t, const uint64_t*);
template void random_fill<double>(double*, size_t, Distribution, uint64_t, uint32_t,
                                  const uint64_t*);

}  // namespace cpu
}  // namespace gan
