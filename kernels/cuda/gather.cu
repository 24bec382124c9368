// Batch assembly from the resident uint8 image set: rows picked by index (given, or drawn from
// Philox on the device), scaled to [-1, 1] in the same kernel.
#include "kernels/cuda/check.h"
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
    const Philox4 bits = philox_block(seed, stream, *counter, b / 4);
    row_index = index_from_bits(bits.v[b % 4], n_images);
    if (indices_out != nullptr) indices_out[b] = row_index;
  }
  __syncthreads();
  scale_row(images + size_t(row_index) * D, D, out + size_t(b) * D);
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

}  // namespace gan::cuda
