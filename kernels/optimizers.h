// Optimizers beside Adam, and the weight clipping of WGAN: one pass over a flat parameter block.
#pragma once
#include "common.h"

namespace gan {

// PyTorch's torch.optim.SGD with momentum (dampening 0, no Nesterov):
//   buf = momentum buf + g;  p -= lr_t buf      (momentum 0: plain SGD, buf unused)
// with TensorFlow's staircase exponential decay (seed 2's schedule):
//   lr_t = lr * decay^floor((t - 1) / decay_every)   (decay_every 0: lr_t = lr)
// where t is the 1-based optimizer step, read from memory when the op runs (like Adam's).
struct SgdConfig {
  float lr = 0.01f;
  float momentum = 0.0f;
  float decay = 1.0f;
  uint64_t decay_every = 0;
};

// PyTorch's torch.optim.RMSprop (not centred, no momentum), as the WGAN paper uses it:
//   v = alpha v + (1 - alpha) g^2;  p -= lr g / (sqrt(v) + eps)
struct RmspropConfig {
  float lr = 5e-5f;
  float alpha = 0.99f;
  float eps = 1e-8f;
};

// p, g, buf, v: (N). nonfinite: null, or the kNonfiniteFlags divergence flags (common.h): params
// when a written p is not finite, state when a written buf (SGD, only with momentum: without it
// buf is not written) or v (RMSprop) is not. Cost: one predicate per written value, in registers;
// on CUDA two block-wide votes and at most two stores per block.
// clip: p = min(max(p, -c), c), c > 0 (WGAN's critic weights); nonfinite: null or one float
// ([kNonfiniteParams]), set to 1 when a written value is not finite: a NaN, since clipping maps
// +-inf to +-c (the update before it has flagged that inf already).
namespace cpu {
template <class T>
void sgd_step(const SgdConfig& cfg, T* p, const T* g, T* buf, size_t N, const uint64_t* t,
              float* nonfinite);
template <class T>
void rmsprop_step(const RmspropConfig& cfg, T* p, const T* g, T* v, size_t N, float* nonfinite);
template <class T>
void clip_values(T* p, size_t N, T c, float* nonfinite);
}  // namespace cpu

namespace cuda {
// t: device memory.
void sgd_step(const SgdConfig& cfg, float* p, const float* g, float* buf, size_t N,
              const uint64_t* t, float* nonfinite, cudaStream_t stream);
void rmsprop_step(const RmspropConfig& cfg, float* p, const float* g, float* v, size_t N,
                  float* nonfinite, cudaStream_t stream);
void clip_values(float* p, size_t N, float c, float* nonfinite, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
