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
};

const char* distribution_name(Distribution d);

// out: (N)
namespace cpu {
template <class T>
void random_fill(T* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter);
void counter_add(uint64_t* counter, uint64_t by);
}  // namespace cpu

namespace cuda {
void random_fill(float* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter, cudaStream_t cuda_stream);
// *counter += by, as a one-thread kernel on `cuda_stream` (no host round trip).
void counter_add(uint64_t* counter, uint64_t by, cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
