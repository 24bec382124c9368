// Inverted dropout on the GPU. The mask is regenerated from Philox (random.h's scheme) in both
// directions, never stored: element i is kept when word i % 4 of block i / 4 passes dropout_keep.
#include <algorithm>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/dropout.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// out[i] = keep_i ? in[i] / (1 - p) : 0 for the four elements of each Philox group, computed as
// in[i] * (1 / (1 - p)), the CPU reference's expression, so the float paths agree bitwise.
// Thread mapping: grid-stride loop over Philox groups g (elements 4g .. 4g+3, the tail guarded),
// one Philox4x32-10 evaluation per group. The counter is read here, on the device, so a captured
// graph picks up counter_add's advances. in and out may alias (same thread reads, then writes).
__global__ void dropout_mask_kernel(const float* in, float* out, size_t N, float p, uint64_t seed,
                                    uint32_t stream, const uint64_t* counter) {
  const uint64_t ctr = *counter;
  const float scale = 1.0f / (1.0f - p);
  const size_t groups = (N + 3) / 4;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t g = size_t(blockIdx.x) * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const Philox4 bits = philox_block(seed, stream, ctr, uint32_t(g));
    const size_t first = 4 * g;
    const int count = int(std::min<size_t>(4, N - first));
    for (int k = 0; k < count; ++k) {
      const size_t i = first + k;
      out[i] = dropout_keep<float>(bits.v[k], p) ? in[i] * scale : 0.0f;
    }
  }
}

}  // namespace

// x, y: (N); y may alias x.
void dropout_forward(const float* x, float* y, size_t N, float p, bool training, uint64_t seed,
                     uint32_t stream, const uint64_t* counter, cudaStream_t cuda_stream) {
  if (N == 0) return;
  if (!training) {
    if (y != x)
      CUDA_CHECK(cudaMemcpyAsync(y, x, N * sizeof(float), cudaMemcpyDeviceToDevice, cuda_stream));
    return;
  }
  dropout_mask_kernel<<<grid_stride_blocks((N + 3) / 4), kGridStrideThreads, 0, cuda_stream>>>(
      x, y, N, p, seed, stream, counter);
  CUDA_CHECK_LAUNCH();
}

// y = mask x / (1 - p) is linear in x with a diagonal Jacobian, so dx = mask dy / (1 - p): the
// forward's own map applied to dy, with the same (seed, stream, *counter) draws.
// dy, dx: (N); dx may alias dy.
void dropout_backward(const float* dy, float* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter, cudaStream_t cuda_stream) {
  if (N == 0) return;
  dropout_mask_kernel<<<grid_stride_blocks((N + 3) / 4), kGridStrideThreads, 0, cuda_stream>>>(
      dy, dx, N, p, seed, stream, counter);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
