// Binary cross-entropy with logits: value, gradient and batch statistics in one pass.
#pragma once
#include "common.h"

namespace gan {

// What one BCE call reports, as it lies in memory (device memory for cuda::).
template <class T>
struct BceStats {
  T loss;       // mean over the batch of max(z, 0) - z t + log(1 + e^-|z|)
  T mean_prob;  // mean sigmoid(z): D(x) or D(G(z))
  T accuracy;   // fraction with (z > 0) == (t > 0.5)
};

// logits, targets: (N), N >= 1; per-element targets, so label smoothing works.
// dlogits (N) = grad_scale * (sigmoid(z) - t) / N unless dlogits is null: the gradient of
// grad_scale * loss. stats: written unless null. Sums run in a fixed order (deterministic).
namespace cpu {
template <class T>
void bce_with_logits(const T* logits, const T* targets, size_t N, T grad_scale, T* dlogits,
                     BceStats<T>* stats);
}  // namespace cpu

namespace cuda {
void bce_with_logits(const float* logits, const float* targets, size_t N, float grad_scale,
                     float* dlogits, BceStats<float>* stats, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
