// Class conditioning on the GPU: labels drawn from Philox (the counter read on the device) or
// gathered from the data set's table, one-hot codes appended to rows, and columns taken back out.
// Element-wise grid-stride kernels with 64-bit element indices (B (F + K S) can pass 2^31).
#include "kernels/condition.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// Thread mapping: grid-stride loop, one label per iteration (one Philox evaluation each, as
// sample_rows draws its indices); the counter is read on the device, so a replayed graph follows
// counter_add's advances.
__global__ void random_labels_kernel(uint32_t* __restrict__ labels, uint32_t B, uint32_t K,
                                     uint64_t seed, uint32_t stream, const uint64_t* counter) {
  const uint64_t ctr = *counter;
  const uint32_t step = gridDim.x * blockDim.x;
  for (uint32_t b = blockIdx.x * blockDim.x + threadIdx.x; b < B; b += step)
    labels[b] = batch_row_index(seed, stream, ctr, b, K);
}

// Thread mapping: grid-stride loop, one label per iteration.
__global__ void gather_labels_kernel(const uint8_t* __restrict__ table,
                                     const uint32_t* __restrict__ indices, uint32_t B,
                                     uint32_t* __restrict__ labels) {
  const uint32_t step = gridDim.x * blockDim.x;
  for (uint32_t b = blockIdx.x * blockDim.x + threadIdx.x; b < B; b += step)
    labels[b] = table[indices[b]];
}

// Thread mapping: grid-stride loop over the B W output elements, e = (b, c) with b = e / W:
// consecutive threads write consecutive columns; c < F copies x, else the code's block (c - F) / S.
__global__ void append_onehot_kernel(const float* __restrict__ x, size_t F,
                                     const uint32_t* __restrict__ labels, size_t S, size_t W,
                                     size_t total, float* __restrict__ y) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const size_t b = e / W, c = e - b * W;
    y[e] = c < F ? x[b * F + c] : (labels[b] == (c - F) / S ? 1.0f : 0.0f);
  }
}

// Thread mapping: grid-stride loop over the B F output elements, e = (b, j) with b = e / F.
__global__ void take_columns_kernel(const float* __restrict__ x, size_t W, size_t F, size_t total,
                                    float* __restrict__ y) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const size_t b = e / F;
    y[e] = x[b * W + (e - b * F)];
  }
}

}  // namespace

// labels: (B); counter: one uint64 in device memory.
void random_labels(uint32_t* labels, int B, uint32_t K, uint64_t seed, uint32_t stream,
                   const uint64_t* counter, cudaStream_t cuda_stream) {
  if (B <= 0) return;
  random_labels_kernel<<<grid_stride_blocks(size_t(B)), kGridStrideThreads, 0, cuda_stream>>>(
      labels, uint32_t(B), K, seed, stream, counter);
  CUDA_CHECK_LAUNCH();
}

// table: (n rows); indices, labels: (B).
void gather_labels(const uint8_t* table, const uint32_t* indices, int B, uint32_t* labels,
                   cudaStream_t cuda_stream) {
  if (B <= 0) return;
  gather_labels_kernel<<<grid_stride_blocks(size_t(B)), kGridStrideThreads, 0, cuda_stream>>>(
      table, indices, uint32_t(B), labels);
  CUDA_CHECK_LAUNCH();
}

// x: (B, F), labels: (B), y: (B, F + K S).
void append_onehot(const float* x, int B, size_t F, const uint32_t* labels, int K, size_t S,
                   float* y, cudaStream_t cuda_stream) {
  if (B <= 0) return;
  const size_t W = F + size_t(K) * S, total = size_t(B) * W;
  if (total == 0) return;
  append_onehot_kernel<<<grid_stride_blocks(total), kGridStrideThreads, 0, cuda_stream>>>(
      x, F, labels, S, W, total, y);
  CUDA_CHECK_LAUNCH();
}

// x: (B, W), y: (B, F).
void take_columns(const float* x, int B, size_t W, size_t F, float* y, cudaStream_t cuda_stream) {
  if (B <= 0 || F == 0) return;
  const size_t total = size_t(B) * F;
  take_columns_kernel<<<grid_stride_blocks(total), kGridStrideThreads, 0, cuda_stream>>>(x, W, F,
                                                                                         total, y);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
