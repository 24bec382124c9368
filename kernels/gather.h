// Batch sampling from a resident data set: uint8 images (-> floats in [-1, 1]) or float rows
// (the toy experiments' points), and the sorted batches of seed 2's 1D experiment.
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

// rows: (n_rows, D) floats; out: (B, D) = rows[indices[b]], the indices drawn exactly as
// sample_batch draws them (same seed, stream and counter give the same indices).
template <class T>
void sample_rows(const float* rows, uint32_t n_rows, size_t D, int B, uint64_t seed,
                 uint32_t stream, const uint64_t* counter, T* out, uint32_t* indices_out);

// y (N) = x (N) sorted ascending; x and y must not overlap. Order is by (key, index) with key(v)
// = v, and NaN taken as larger than every number, so y is always a permutation of x (ties keep
// their original order: a stable sort).
template <class T>
void sort_values(const T* x, T* y, size_t N);
}  // namespace cpu

namespace cuda {
void gather_batch(const uint8_t* images, size_t D, const uint32_t* indices, int B, float* out,
                  cudaStream_t cuda_stream);
void sample_batch(const uint8_t* images, uint32_t n_images, size_t D, int B, uint64_t seed,
                  uint32_t stream, const uint64_t* counter, float* out, uint32_t* indices_out,
                  cudaStream_t cuda_stream);
void sample_rows(const float* rows, uint32_t n_rows, size_t D, int B, uint64_t seed,
                 uint32_t stream, const uint64_t* counter, float* out, uint32_t* indices_out,
                 cudaStream_t cuda_stream);
// Each output position found by ranking (O(N^2) comparisons): meant for batches (N <= 65536).
// Throws std::invalid_argument above that.
void sort_values(const float* x, float* y, size_t N, cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
