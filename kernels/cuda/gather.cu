// Batch assembly from a resident data set: uint8 image rows picked by index (given, or drawn from
// Philox on the device) and scaled to [-1, 1] in the same kernel, or float rows copied; and the
// small-batch sort by ranking.
#include <stdexcept>
#include <string>

#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/gather.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// One block per output row: B is a batch size (at most a few thousand rows, far under the 2^31
// grid limit) and a row (D = 784 for MNIST) is a few loop trips of kThreads.
constexpr int kThreads = 256;

// out_row[j] = pixel_to_unit(image_row[j]) for j in [0, D), by the block's threads in turn.
__device__ void scale_row(const uint8_t* image_row, size_t D, float* out_row) {
  for (size_t j = threadIdx.x; j < D; j += blockDim.x)
    out_row[j] = pixel_to_unit<float>(image_row[j]);
}

// Thread mapping: block b builds output row b; its threads stride over the row's D pixels
// (consecutive threads, consecutive bytes and floats).
__global__ void gather_batch_kernel(const uint8_t* __restrict__ images, size_t D,
                                    const uint32_t* __restrict__ indices, float* __restrict__ out) {
  const size_t b = blockIdx.x;
  scale_row(images + size_t(indices[b]) * D, D, out + b * D);
}

// Thread mapping: block b builds output row b. Thread 0 draws the row's index once (word b % 4 of
// Philox group b / 4, random.h's scheme; the counter read on the device) and shares it through
// shared memory; then the block's threads stride over the row's D pixels.
__global__ void sample_batch_kernel(const uint8_t* __restrict__ images, uint32_t n_images, size_t D,
                                    uint64_t seed, uint32_t stream, const uint64_t* counter,
                                    float* __restrict__ out, uint32_t* __restrict__ indices_out) {
  __shared__ uint32_t row_index;
  const uint32_t b = blockIdx.x;
  if (threadIdx.x == 0) {
    row_index = batch_row_index(seed, stream, *counter, b, n_images);
    if (indices_out != nullptr) indices_out[b] = row_index;
  }
  __syncthreads();
  scale_row(images + size_t(row_index) * D, D, out + size_t(b) * D);
}

// Thread mapping: grid-stride loop over the B * D output elements, element e = (b, j) with
// b = e / D; each thread draws row b's index itself (one Philox evaluation, as sample_batch's
// thread 0 does): the toy sets have D of 1 or 2, where a block per row would leave nearly every
// thread idle. The j == 0 thread records the index. D == 0 still records the B indices.
__global__ void sample_rows_kernel(const float* __restrict__ rows, uint32_t n_rows, size_t D,
                                   size_t total, uint64_t seed, uint32_t stream,
                                   const uint64_t* counter, float* __restrict__ out,
                                   uint32_t* __restrict__ indices_out) {
  const uint64_t ctr = *counter;
  const size_t width = D > 0 ? D : 1;
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t e = size_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const size_t b = e / width, j = e - b * width;
    const uint32_t index = batch_row_index(seed, stream, ctr, uint32_t(b), n_rows);
    if (D > 0) out[e] = rows[size_t(index) * D + j];
    if (j == 0 && indices_out != nullptr) indices_out[b] = index;
  }
}

constexpr uint32_t kSortThreads = 256;
constexpr size_t kSortMaxN = 65536;

// Thread mapping: thread i (one per element) ranks x[i]: rank = #{k : (x_k, k) < (x_i, i)} under
// sort_key_less with the index breaking ties, a total order, so the ranks are a permutation of
// 0 .. N-1 and y[rank] = x[i] writes every output once. The keys are staged through shared memory
// a tile of kSortThreads at a time (coalesced loads; every thread then reads the same address, a
// broadcast).
__global__ void sort_rank_kernel(const float* __restrict__ x, float* __restrict__ y, uint32_t N) {
  __shared__ float tile[kSortThreads];
  const uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  const bool active = i < N;
  const float xi = active ? x[i] : 0.0f;
  uint32_t rank = 0;
  for (uint32_t base = 0; base < N; base += kSortThreads) {
    if (base + threadIdx.x < N) tile[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    const uint32_t count = min(kSortThreads, N - base);
    if (active) {
      for (uint32_t j = 0; j < count; ++j) {
        const float xk = tile[j];
        const uint32_t k = base + j;
        rank += sort_key_less(xk, xi) || (!sort_key_less(xi, xk) && k < i);
      }
    }
    __syncthreads();
  }
  if (active) y[rank] = xi;
}

}  // namespace

// images: (n_images, D) uint8; indices: (B); out: (B, D).
void gather_batch(const uint8_t* images, size_t D, const uint32_t* indices, int B, float* out,
                  cudaStream_t cuda_stream) {
  if (B <= 0 || D == 0) return;
  gather_batch_kernel<<<unsigned(B), kThreads, 0, cuda_stream>>>(images, D, indices, out);
  CUDA_CHECK_LAUNCH();
}

// images: (n_images, D) uint8; out: (B, D); indices_out: (B) or null.
void sample_batch(const uint8_t* images, uint32_t n_images, size_t D, int B, uint64_t seed,
                  uint32_t stream, const uint64_t* counter, float* out, uint32_t* indices_out,
                  cudaStream_t cuda_stream) {
  if (B <= 0) return;
  sample_batch_kernel<<<unsigned(B), kThreads, 0, cuda_stream>>>(images, n_images, D, seed, stream,
                                                                 counter, out, indices_out);
  CUDA_CHECK_LAUNCH();
}

// rows: (n_rows, D) floats; out: (B, D); indices_out: (B) or null.
void sample_rows(const float* rows, uint32_t n_rows, size_t D, int B, uint64_t seed,
                 uint32_t stream, const uint64_t* counter, float* out, uint32_t* indices_out,
                 cudaStream_t cuda_stream) {
  if (B <= 0) return;
  const size_t total = size_t(B) * (D > 0 ? D : 1);
  sample_rows_kernel<<<grid_stride_blocks(total), kGridStrideThreads, 0, cuda_stream>>>(
      rows, n_rows, D, total, seed, stream, counter, out, indices_out);
  CUDA_CHECK_LAUNCH();
}

// x, y: (N), not overlapping.
void sort_values(const float* x, float* y, size_t N, cudaStream_t cuda_stream) {
  if (N > kSortMaxN)
    throw std::invalid_argument("cuda::sort_values: N = " + std::to_string(N) +
                                " is above the ranking sort's limit of " +
                                std::to_string(kSortMaxN) + " (it is meant for batches)");
  if (N == 0) return;
  const unsigned blocks = unsigned((N + kSortThreads - 1) / kSortThreads);
  sort_rank_kernel<<<blocks, kSortThreads, 0, cuda_stream>>>(x, y, uint32_t(N));
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
