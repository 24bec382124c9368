// Filing a step's statistics into its slot, the slot chosen on the device from the step counter.
#include "kernels/cuda/check.h"
#include "kernels/stats.h"

namespace gan::cuda {
namespace {

// Thread mapping: one block; thread i copies element i (n is a handful of floats).
__global__ void stats_to_slot_kernel(const float* src, int n, float* slots, uint32_t n_slots,
                                     const uint64_t* step) {
  const size_t slot = size_t((*step - 1) % n_slots);
  for (int i = threadIdx.x; i < n; i += blockDim.x) slots[slot * n + i] = src[i];
}

}  // namespace

void stats_to_slot(const float* src, int n, float* slots, uint32_t n_slots, const uint64_t* step,
                   cudaStream_t stream) {
  if (n <= 0 || n_slots == 0) return;
  stats_to_slot_kernel<<<1, 32, 0, stream>>>(src, n, slots, n_slots, step);
  CUDA_CHECK_LAUNCH();
}

// A memset on the stream: captured as a memset node when the step is a CUDA graph.
void stats_zero(float* x, int n, cudaStream_t stream) {
  if (n <= 0) return;
  CUDA_CHECK(cudaMemsetAsync(x, 0, size_t(n) * sizeof(float), stream));
}

}  // namespace gan::cuda
