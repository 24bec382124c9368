// Adam / AdamW on the GPU: one launch over a model's flat parameter buffer.
#include <algorithm>

#include "kernels/adam.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// Thread mapping: grid-stride loop, one parameter per iteration. Each thread reads the step t
// from device memory once (so a replayed graph sees counter_add's advances) and forms the step's
// factors (bias corrections 1 - beta^t) itself: per thread, not per element, and no extra launch. The
// divergence check tests the three values each iteration writes, from registers, and ends with
// one vote per block (flag_nonfinite).
__global__ void adam_step_kernel(AdamConfig cfg, float* __restrict__ p, const float* __restrict__ g,
                                 float* __restrict__ m, float* __restrict__ v, size_t N,
                                 const uint64_t* step, float* nonfinite) {
  const uint64_t t = *step;
  const float lr = staircase_lr<float>(cfg.lr, cfg.decay, cfg.decay_every, t);
  float step_size, v_scale;
  adam_step_factors<float>(lr, cfg.beta1, cfg.beta2, t, step_size, v_scale);
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  bool bad_p = false, bad_state = false;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    float pi = p[i], mi = m[i], vi = v[i];
    adam_update<float>(pi, g[i], mi, vi, lr, step_size, v_scale, cfg.beta1, cfg.beta2, cfg.eps,
                       cfg.weight_decay, cfg.decoupled);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
    bad_p |= !finite_value(pi);
    bad_state |= !(finite_value(mi) && finite_value(vi));
  }
  flag_nonfinite(nonfinite, bad_p, bad_state);
}

}  // namespace

// p, g, m, v: (N); step: one uint64 in device memory, the 1-based step number; nonfinite: null
// or two floats in device memory.
void adam_step(const AdamConfig& cfg, float* p, const float* g, float* m, float* v, size_t N,
               const uint64_t* step, float* nonfinite, cudaStream_t stream) {
  if (N == 0) return;
  adam_step_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(cfg, p, g, m, v, N,
                                                                             step, nonfinite);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
