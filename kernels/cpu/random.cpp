#include "kernels/random.h"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/philox_batch.h"
#include "kernels/scalar.h"

namespace gan {

const char* distribution_name(Distribution d) {
  switch (d) {
    case Distribution::Normal: return "normal";
    case Distribution::UniformSym: return "uniform";
    case Distribution::Uniform01: return "uniform01";
    case Distribution::Stratified01: return "stratified01";
  }
  return "?";
}

namespace cpu {
namespace {

// Elements 4g .. 4g+3 of a fill of N from Philox block g's words w (those past N are computed and
// dropped by the caller). add_noise draws its normals through this too.
template <class T>
void values_from_block(Distribution dist, const Philox4& w, size_t g, size_t N, T (&v)[4]) {
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
    case Distribution::Stratified01:
      for (int j = 0; j < 4; ++j) v[j] = stratified01_from_bits<T>(w.v[j], 4 * g + j, N);
      break;
  }
}

}  // namespace

template <class T>
void random_fill(T* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter) {
  const uint64_t ctr = *counter;
  constexpr size_t kGroups = 256;  // Philox blocks drawn per batch (philox_batch.h)
  uint32_t words[4 * kGroups];
  const size_t blocks = (N + 3) / 4;
  for (size_t g0 = 0; g0 < blocks; g0 += kGroups) {
    const size_t groups = std::min(kGroups, blocks - g0);
    philox_words(seed, stream, ctr, uint32_t(g0), groups, words);
    for (size_t i = 0; i < groups; ++i) {
      const size_t g = g0 + i;
      Philox4 w;
      std::memcpy(w.v, words + 4 * i, sizeof w.v);
      T v[4] = {};
      values_from_block(dist, w, g, N, v);
      for (size_t j = 0; j < 4 && g * 4 + j < N; ++j) out[g * 4 + j] = v[j];
    }
  }
}

void counter_add(uint64_t* counter, uint64_t by) { *counter += by; }

template <class T>
void add_noise(const T* x, T* y, size_t N, float sigma0, uint64_t anneal_steps, uint64_t seed,
               uint32_t stream, const uint64_t* counter) {
  const uint64_t ctr = *counter;
  const T sigma = instance_noise_sigma<T>(T(sigma0), anneal_steps, ctr);
  if (sigma == T(0)) {
    for (size_t i = 0; i < N; ++i) y[i] = x[i];
    return;
  }
  for (size_t g = 0; g * 4 < N; ++g) {
    T n[4];
    values_from_block(Distribution::Normal, philox_block(seed, stream, ctr, uint32_t(g)), g, N, n);
    for (size_t j = 0; j < 4 && g * 4 + j < N; ++j) y[g * 4 + j] = x[g * 4 + j] + sigma * n[j];
  }
}

template void random_fill<float>(float*, size_t, Distribution, uint64_t, uint32_t, const uint64_t*);
template void random_fill<double>(double*, size_t, Distribution, uint64_t, uint32_t,
                                  const uint64_t*);
template void add_noise<float>(const float*, float*, size_t, float, uint64_t, uint64_t, uint32_t,
                               const uint64_t*);
template void add_noise<double>(const double*, double*, size_t, float, uint64_t, uint64_t, uint32_t,
                                const uint64_t*);

}  // namespace cpu
}  // namespace gan
