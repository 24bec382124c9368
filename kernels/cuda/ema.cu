// G's weight EMA on the GPU: one element-wise pass, the formula shared with the CPU (scalar.h).
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/ema.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// Thread mapping: grid-stride loop, one parameter per iteration. Each thread reads the step from
// device memory (so a replayed graph sees counter_add's advances) and copies or averages.
__global__ void ema_update_kernel(float* __restrict__ ema, const float* __restrict__ p, size_t N,
                                  float decay, uint64_t start, const uint64_t* step) {
  const bool average = *step >= start;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride)
    ema[i] = average ? ema_element<float>(ema[i], p[i], decay) : p[i];
}

}  // namespace

// ema, p: (N); step: one uint64 in device memory.
void ema_update(float* ema, const float* p, size_t N, float decay, uint64_t start,
                const uint64_t* step, cudaStream_t stream) {
  if (N == 0) return;
  ema_update_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(ema, p, N, decay,
                                                                              start, step);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
