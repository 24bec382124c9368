// Batch sampling from a resident uint8 image set: indices -> images -> floats in [-1, 1].
#pragma once
#include "common.h"

namespace gan {

// images: (n_images, D) uint8; indices: (B); out: (B, D) = (images[indices[b]] - 127.5) / 127.5.
// Indices must be < n_images (the caller's invariant; not checked here).
namespace cpu {
template <class T>
void gather_batch(const uint8_t* images, size_t D, const uint32_t* indices, int B, T* out);

// Row b's index is drawn uniformly from [0, n_images) with replacement from word b % 4 of
// Philox block (b / 4, stream, *counter) (random.h's scheme), as the Keras seed does with
// randint. indices_out (B) receives them unless null.
template <class T>
void sample_batch(const uint8_t* images, uint32_t n_images, size_t D, int B, uint64_t seed,
                  uint32_t stream, const uint64_t* counter, T* out, uint32_t* indices_out);
}  // namespace cpu

namespace cuda {
void gather_batch(const uint8_t* images, size_t D, const uint32_t* indices, int B, float* out,
                  cudaStream_t cuda_stream);
void sample_batch(const uint8_t* images, uint32_t n_images, size_t D, int B, uint64_t seed,
                  uint32_t stream, const uint64_t* counter, float* out, uint32_t* indices_out,
                  cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
