// Counter-based random fills and instance noise on the GPU (Philox4x32-10 from kernels/scalar.h,
// the same bits as the CPU reference), and the device-side counter advance that keeps captured
// graphs drawing fresh.
#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/random.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// The four outputs of Philox group g (elements 4g .. 4g+3 of a fill of N), in the CPU
// reference's exact expressions.
template <Distribution D>
__device__ void values_from_bits(const Philox4& w, size_t g, size_t N, float (&out)[4]) {
  if constexpr (D == Distribution::Normal) {
    box_muller<float>(w.v[0], w.v[1], out[0], out[1]);
    box_muller<float>(w.v[2], w.v[3], out[2], out[3]);
  } else if constexpr (D == Distribution::UniformSym) {
    for (int k = 0; k < 4; ++k) out[k] = 2.0f * uniform01_from_bits<float>(w.v[k]) - 1.0f;
  } else if constexpr (D == Distribution::Uniform01) {
    for (int k = 0; k < 4; ++k) out[k] = uniform01_from_bits<float>(w.v[k]);
  } else {
    for (int k = 0; k < 4; ++k) out[k] = stratified01_from_bits<float>(w.v[k], 4 * g + k, N);
  }
}

// Thread mapping: grid-stride loop over Philox groups g, one Philox4x32-10 evaluation giving
// elements 4g .. 4g+3 (the tail beyond N is computed but not stored). The counter is read on the
// device so a replayed graph sees counter_add's advances.
template <Distribution D>
__global__ void random_fill_kernel(float* out, size_t N, uint64_t seed, uint32_t stream,
                                   const uint64_t* counter) {
  const uint64_t ctr = *counter;
  const size_t groups = (N + 3) / 4;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t g = size_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    float values[4];
    values_from_bits<D>(philox_block(seed, stream, ctr, uint32_t(g)), g, N, values);
    const size_t first = 4 * g;
    const int count = int(std::min<size_t>(4, N - first));
    for (int k = 0; k < count; ++k) out[first + k] = values[k];
  }
}

// Thread mapping: a single thread; the counter lives in device memory and is never copied out.
__global__ void counter_add_kernel(uint64_t* counter, uint64_t by) { *counter += by; }

// Thread mapping: as random_fill_kernel, the group's four normals added to x. sigma_t is derived
// from the device counter by every thread (the same few operations); at sigma_t 0 the input is
// copied unchanged (x + 0 n would turn -0 into +0). x + sigma n becomes one FMA here, two roundings
// on the host: an ulp apart at most. x and y may alias, so no __restrict__.
__global__ void add_noise_kernel(const float* x, float* y, size_t N, float sigma0,
                                 uint64_t anneal_steps, uint64_t seed, uint32_t stream,
                                 const uint64_t* counter) {
  const uint64_t ctr = *counter;
  const float sigma = instance_noise_sigma<float>(sigma0, anneal_steps, ctr);
  const size_t groups = (N + 3) / 4;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t g = size_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const size_t first = 4 * g;
    const int count = int(std::min<size_t>(4, N - first));
    if (sigma == 0.0f) {
      for (int k = 0; k < count; ++k) y[first + k] = x[first + k];
      continue;
    }
    float n[4];
    values_from_bits<Distribution::Normal>(philox_block(seed, stream, ctr, uint32_t(g)), g, N, n);
    for (int k = 0; k < count; ++k) y[first + k] = x[first + k] + sigma * n[k];
  }
}

template <Distribution D>
void launch_random_fill(float* out, size_t N, uint64_t seed, uint32_t stream,
                        const uint64_t* counter, cudaStream_t cuda_stream) {
  const size_t groups = (N + 3) / 4;
  random_fill_kernel<D><<<grid_stride_blocks(groups), kGridStrideThreads, 0, cuda_stream>>>(
      out, N, seed, stream, counter);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

// out: (N); counter: one uint64 in device memory.
void random_fill(float* out, size_t N, Distribution dist, uint64_t seed, uint32_t stream,
                 const uint64_t* counter, cudaStream_t cuda_stream) {
  if (N == 0) return;
  switch (dist) {
    case Distribution::Normal:
      launch_random_fill<Distribution::Normal>(out, N, seed, stream, counter, cuda_stream);
      break;
    case Distribution::UniformSym:
      launch_random_fill<Distribution::UniformSym>(out, N, seed, stream, counter, cuda_stream);
      break;
    case Distribution::Uniform01:
      launch_random_fill<Distribution::Uniform01>(out, N, seed, stream, counter, cuda_stream);
      break;
    case Distribution::Stratified01:
      launch_random_fill<Distribution::Stratified01>(out, N, seed, stream, counter, cuda_stream);
      break;
  }
}

void counter_add(uint64_t* counter, uint64_t by, cudaStream_t cuda_stream) {
  counter_add_kernel<<<1, 1, 0, cuda_stream>>>(counter, by);
  CUDA_CHECK_LAUNCH();
}

// x, y: (N), y may equal x; counter: one uint64 in device memory (the 1-based step).
void add_noise(const float* x, float* y, size_t N, float sigma0, uint64_t anneal_steps,
               uint64_t seed, uint32_t stream, const uint64_t* counter, cudaStream_t cuda_stream) {
  if (N == 0) return;
  const size_t groups = (N + 3) / 4;
  add_noise_kernel<<<grid_stride_blocks(groups), kGridStrideThreads, 0, cuda_stream>>>(
      x, y, N, sigma0, anneal_steps, seed, stream, counter);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
