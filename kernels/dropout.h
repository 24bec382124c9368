// Dropout with inverted scaling; the mask is regenerated from the generator, never stored.
#pragma once
#include "common.h"

namespace gan {

// x, y: (N); y may alias x. Training: element i is kept when its uniform draw (random.h's
// (seed, stream, *counter) scheme) is >= p, then y = x * (1 / (1 - p)) (the scale computed once,
// so both paths round alike); dropped elements are 0.
// Not training: y = x. 0 <= p < 1.
// backward: dx = dy * mask / (1 - p) with the same draws, so pass the forward's seed, stream and an
// unchanged counter; dx may alias dy.
namespace cpu {
template <class T>
void dropout_forward(const T* x, T* y, size_t N, float p, bool training, uint64_t seed,
                     uint32_t stream, const uint64_t* counter);
template <class T>
void dropout_backward(const T* dy, T* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter);
}  // namespace cpu

namespace cuda {
void dropout_forward(const float* x, float* y, size_t N, float p, bool training, uint64_t seed,
                     uint32_t stream, const uint64_t* counter, cudaStream_t cuda_stream);
void dropout_backward(const float* dy, float* dx, size_t N, float p, uint64_t seed, uint32_t stream,
                      const uint64_t* counter, cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
