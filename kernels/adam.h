// Adam and AdamW over one flat parameter buffer, in one pass.
#pragma once
#include "common.h"

namespace gan {

// Defaults are PyTorch's. Keras' Adam uses eps = 1e-7.
// weight_decay with decoupled = false is L2 (g += wd p, torch.optim.Adam); with decoupled = true it
// is AdamW (p -= lr wd p). The rate follows the staircase decay of SGD (optimizers.h):
// lr_t = lr * decay^floor((t - 1) / decay_every), decay_every 0: constant.
struct AdamConfig {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;
  float decay = 1.0f;
  uint64_t decay_every = 0;
};

// p, g, m, v: (N). step points to the 1-based step number t, in the op's memory (device memory
// for cuda::), read when the op runs: bias corrections 1 - beta^t come from it, so a captured
// CUDA graph stays valid as t advances (counter_add in random.h advances it).
// nonfinite: null, or the kNonfiniteFlags divergence flags (common.h): params when a written p is
// not finite, state when a written m or v is not. Cost: three predicates per element on values in
// registers; on CUDA two block-wide votes and at most two stores per block.
namespace cpu {
template <class T>
void adam_step(const AdamConfig& cfg, T* p, const T* g, T* m, T* v, size_t N, const uint64_t* step,
               float* nonfinite);
// float: vectorised (AVX-512 or AVX2 when the CPU has them) and split over the cores, with the same
// bits as the plain loop that double runs.
template <>
void adam_step<float>(const AdamConfig& cfg, float* p, const float* g, float* m, float* v, size_t N,
                      const uint64_t* step, float* nonfinite);
}  // namespace cpu

namespace cuda {
void adam_step(const AdamConfig& cfg, float* p, const float* g, float* m, float* v, size_t N,
               const uint64_t* step, float* nonfinite, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
