// Random fills from a counter-based generator (Philox4x32-10, kernels/scalar.h).
//
// Every random op takes (seed, stream, counter): seed is the run's key, stream tells apart the
// draws made within one step (noise for D, noise for G, each dropout layer ...), and counter points
// to a uint64 in the op's own memory (device memory for cuda::), read when the op runs. Advancing
// that counter with counter_add, on the same stream, gives fresh numbers without changing any
// launch argument, so a captured CUDA graph replays with new draws. Element i takes word i % 4 of
// Philox block (i / 4, stream, *counter) under key seed: the CPU and CUDA paths draw the same bits.
#pragma once
#include "common.h"

namespace gan {

enum class Distribution : uint8_t {
  Normal,      // standard normal (Box-Muller on words 0,1 and 2,3 of each block)
  UniformSym,  // uniform [-1, 1)
  Uniform01,   // uniform [0, 1)
  // Stratified uniform [0, 1): element i = (i + u_i) / N with u_i uniform [0, 1) from word i % 4
  // of block i / 4 (the fill's own N), so a fill is sorted ascending and has one draw in each of
  // N equal strata: seed 2's stratified noise, for z of width 1.
  Stratified01,
};

const char* distribution_name(Distribution d);

// out: (N)
namespace cpu {
template <class T>
void random_fill(T* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter);
void counter_add(uint64_t* counter, uint64_t by);

// Instance noise (Sonderby et al. 2016): y (N) = x + sigma_t * n_i, n_i standard normal drawn as
// random_fill's Normal draws element i (same seed, stream, counter), and
//   sigma_t = sigma0 * max(0, 1 - (t - 1) / anneal_steps),  t = *counter (the 1-based step),
// annealed linearly to 0 over anneal_steps steps (anneal_steps 0: sigma_t = sigma0 always).
// sigma_t == 0 copies x exactly. y may equal x.
template <class T>
void add_noise(const T* x, T* y, size_t N, float sigma0, uint64_t anneal_steps, uint64_t seed,
               uint32_t stream, const uint64_t* counter);
}  // namespace cpu

namespace cuda {
void random_fill(float* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter, cudaStream_t cuda_stream);
// *counter += by, as a one-thread kernel on `cuda_stream` (no host round trip).
void counter_add(uint64_t* counter, uint64_t by, cudaStream_t cuda_stream);
void add_noise(const float* x, float* y, size_t N, float sigma0, uint64_t anneal_steps,
               uint64_t seed, uint32_t stream, const uint64_t* counter, cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
