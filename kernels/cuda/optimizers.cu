// SGD with momentum and staircase decay, RMSprop and weight clipping on the GPU: element-wise over
// a flat block, the maths shared with the CPU reference (kernels/scalar.h).
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/optimizers.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// Thread mapping (all three): grid-stride loop, one parameter per iteration. SGD's step t is
// read on the device (each thread derives the same lr_t), so a replayed graph follows the schedule.
// The divergence check tests what each iteration writes, from registers, and ends with one vote
// per block (flag_nonfinite).
__global__ void sgd_kernel(SgdConfig cfg, float* __restrict__ p, const float* __restrict__ g,
                           float* __restrict__ buf, size_t N, const uint64_t* __restrict__ t,
                           float* nonfinite) {
  const float lr = staircase_lr<float>(cfg.lr, cfg.decay, cfg.decay_every, *t);
  const bool momentum = cfg.momentum != 0.0f;  // buf is written only with momentum
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  bool bad_p = false, bad_state = false;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    float pi = p[i], bi = buf[i];
    sgd_update<float>(pi, g[i], bi, lr, cfg.momentum);
    p[i] = pi;
    buf[i] = bi;
    bad_p |= !finite_value(pi);
    bad_state |= momentum && !finite_value(bi);
  }
  flag_nonfinite(nonfinite, bad_p, bad_state);
}

__global__ void rmsprop_kernel(RmspropConfig cfg, float* __restrict__ p,
                               const float* __restrict__ g, float* __restrict__ v, size_t N,
                               float* nonfinite) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  bool bad_p = false, bad_state = false;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    float pi = p[i], vi = v[i];
    rmsprop_update<float>(pi, g[i], vi, cfg.lr, cfg.alpha, cfg.eps);
    p[i] = pi;
    v[i] = vi;
    bad_p |= !finite_value(pi);
    bad_state |= !finite_value(vi);
  }
  flag_nonfinite(nonfinite, bad_p, bad_state);
}

__global__ void clip_kernel(float* __restrict__ p, size_t N, float c, float* nonfinite) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  bool bad = false;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    const float pi = clip_value(p[i], c);
    p[i] = pi;
    bad |= !finite_value(pi);
  }
  flag_nonfinite(nonfinite, bad, false);
}

}  // namespace

// p, g, buf: (N); t: one uint64 in device memory; nonfinite: null or flags in device memory.
void sgd_step(const SgdConfig& cfg, float* p, const float* g, float* buf, size_t N,
              const uint64_t* t, float* nonfinite, cudaStream_t stream) {
  if (N == 0) return;
  sgd_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(cfg, p, g, buf, N, t,
                                                                       nonfinite);
  CUDA_CHECK_LAUNCH();
}

void rmsprop_step(const RmspropConfig& cfg, float* p, const float* g, float* v, size_t N,
                  float* nonfinite, cudaStream_t stream) {
  if (N == 0) return;
  rmsprop_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(cfg, p, g, v, N,
                                                                           nonfinite);
  CUDA_CHECK_LAUNCH();
}

void clip_values(float* p, size_t N, float c, float* nonfinite, cudaStream_t stream) {
  if (N == 0) return;
  clip_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(p, N, c, nonfinite);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
