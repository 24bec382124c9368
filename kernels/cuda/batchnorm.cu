// BatchNorm1d and BatchNorm2d on the GPU: per-feature reductions over the batch dimension of a
// (B, F) row-major batch, per-channel reductions over the B and S dimensions of a (B, C, S) one,
// both in a fixed order so every run gives the same bits.
#include <algorithm>

#include "kernels/batchnorm.h"
#include "kernels/cuda/channel_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// A reduction block owns kFeatures consecutive features (threadIdx.x: one warp spans them, so
// every row's loads are coalesced) and kRows threads per feature stride down the batch.
constexpr int kFeatures = 32;
constexpr int kRows = 32;  // 1024 threads: few blocks when F is small, so each is wide

// Sums each of the K quantities partial[k][ty][tx] over ty into partial[k][0][tx] by a tree whose
// shape depends only on kRows: the same order on every run. Ends with a barrier, so every thread
// may read the results.
template <int K>
__device__ void reduce_over_rows(float (&partial)[K][kRows][kFeatures]) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  __syncthreads();
  for (int s = kRows / 2; s > 0; s /= 2) {
    if (ty < s)
      for (int k = 0; k < K; ++k) partial[k][ty][tx] += partial[k][ty + s][tx];
    __syncthreads();
  }
}

// running = keep running + (1 - keep) batch statistic, for statistics over n values; the variance
// unbiased (n / (n - 1)) when configured and n > 1.
__device__ void update_running(const BatchNormConfig& cfg, int64_t n, float mean, float var,
                               float* running_mean, float* running_var) {
  const float keep = cfg.running_keep, take = 1.0f - cfg.running_keep;
  const float batch_var =
      (cfg.unbiased_running_var && n > 1) ? var * (float(n) / float(n - 1)) : var;
  *running_mean = keep * *running_mean + take * mean;
  *running_var = keep * *running_var + take * batch_var;
}

// Thread mapping: block (kFeatures, kRows) owns features [blockIdx.x * kFeatures, + kFeatures);
// thread (tx, ty) handles feature f = blockIdx.x * kFeatures + tx on rows ty, ty + kRows, ...
// Three passes over the block's columns: mean, biased variance about that mean (two-pass, for
// accuracy when |mean| >> std), then y. Thread row 0 writes the per-feature outputs.
__global__ void __launch_bounds__(kFeatures* kRows)
    batchnorm_forward_train_kernel(BatchNormConfig cfg, const float* x, float* y, int B, int F,
                                   const float* gamma, const float* beta, float* save_mean,
                                   float* save_inv_std, float* running_mean, float* running_var) {
  __shared__ float partial[1][kRows][kFeatures];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int f = blockIdx.x * kFeatures + tx;
  const bool active = f < F;  // inactive threads still join every barrier

  float sum = 0.0f;
  if (active)
    for (int b = ty; b < B; b += kRows) sum += x[size_t(b) * F + f];
  partial[0][ty][tx] = sum;
  reduce_over_rows(partial);
  const float mean = partial[0][0][tx] / float(B);
  __syncthreads();  // everyone has read the sum before the buffer is reused

  float sq = 0.0f;
  if (active)
    for (int b = ty; b < B; b += kRows) {
      const float d = x[size_t(b) * F + f] - mean;
      sq += d * d;
    }
  partial[0][ty][tx] = sq;
  reduce_over_rows(partial);
  const float var = partial[0][0][tx] / float(B);
  const float inv_std = 1.0f / sqrt(var + cfg.eps);
  if (!active) return;  // no barriers below

  if (ty == 0) {
    save_mean[f] = mean;
    save_inv_std[f] = inv_std;
    if (running_mean != nullptr)
      update_running(cfg, B, mean, var, running_mean + f, running_var + f);
  }

  const float g = gamma[f], bt = beta[f];
  for (int b = ty; b < B; b += kRows) {
    const size_t i = size_t(b) * F + f;
    y[i] = g * (x[i] - mean) * inv_std + bt;
  }
}

// Thread mapping: grid-stride loop, one element of the (B, F) batch per iteration, feature i % F.
__global__ void batchnorm_forward_eval_kernel(float eps, const float* x, float* y, size_t N, int F,
                                              const float* gamma, const float* beta,
                                              const float* running_mean, const float* running_var) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    const int f = int(i % size_t(F));
    const float inv_std = 1.0f / sqrt(running_var[f] + eps);
    y[i] = gamma[f] * (x[i] - running_mean[f]) * inv_std + beta[f];
  }
}

// With xhat = (x - mean) inv_std and y = gamma xhat + beta, per feature:
//   dbeta = sum_b dy, dgamma = sum_b dy xhat;
//   dL/dxhat = gamma dy, and since mean and inv_std depend on every x of the column,
//   dx = inv_std (dxhat - mean_b(dxhat) - xhat mean_b(dxhat xhat))
//      = gamma inv_std (dy - mean_b(dy) - xhat mean_b(dy xhat)).
// Thread mapping: as the training forward (block (kFeatures, kRows) owns kFeatures features,
// threadIdx.y strides over rows); one pass for both sums, one pass to write dx.
__global__ void __launch_bounds__(kFeatures* kRows)
    batchnorm_backward_kernel(const float* x, const float* dy, float* dx, int B, int F,
                              const float* gamma, const float* save_mean, const float* save_inv_std,
                              float* dgamma, float* dbeta, GradMode mode) {
  __shared__ float partial[2][kRows][kFeatures];  // [0]: sum dy, [1]: sum dy xhat
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int f = blockIdx.x * kFeatures + tx;
  const bool active = f < F;

  const float mean = active ? save_mean[f] : 0.0f;
  const float inv_std = active ? save_inv_std[f] : 0.0f;
  float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
  if (active)
    for (int b = ty; b < B; b += kRows) {
      const size_t i = size_t(b) * F + f;
      const float g = dy[i];
      sum_dy += g;
      sum_dy_xhat += g * ((x[i] - mean) * inv_std);
    }
  partial[0][ty][tx] = sum_dy;
  partial[1][ty][tx] = sum_dy_xhat;
  reduce_over_rows(partial);
  sum_dy = partial[0][0][tx];
  sum_dy_xhat = partial[1][0][tx];
  if (!active) return;  // no barriers below

  if (ty == 0) {
    if (mode == GradMode::Overwrite) {
      dgamma[f] = sum_dy_xhat;
      dbeta[f] = sum_dy;
    } else if (mode == GradMode::Accumulate) {
      dgamma[f] += sum_dy_xhat;
      dbeta[f] += sum_dy;
    }
  }

  const float mean_dy = sum_dy / float(B), mean_dy_xhat = sum_dy_xhat / float(B);
  const float scale = gamma[f] * inv_std;
  for (int b = ty; b < B; b += kRows) {
    const size_t i = size_t(b) * F + f;
    const float xhat = (x[i] - mean) * inv_std;
    dx[i] = scale * (dy[i] - mean_dy - xhat * mean_dy_xhat);
  }
}

// ---- BatchNorm2d -------------------------------------------------------------------------------
//
// The same maths per channel c, over its n = B S values (B runs of S contiguous floats). Thread
// mapping (both reduction kernels): block c owns channel c; its kChannelThreads threads walk
// the channel's values in a fixed assignment (for_channel_elements) and block_sum combines their
// partial sums in a fixed order. One block per channel keeps the whole reduction in one kernel
// (no cross-block combine); C blocks of 512 threads fill a GPU once C is in the hundreds.

// Three passes over the channel as the BatchNorm1d kernel: mean, biased variance about it, y.
// y may alias x: each element is read and then written by the same thread, after both reductions.
__global__ void __launch_bounds__(kChannelThreads)
    batchnorm2d_forward_train_kernel(BatchNormConfig cfg, const float* x, float* y, int B, int C,
                                     int S, const float* gamma, const float* beta, float* save_mean,
                                     float* save_inv_std, float* running_mean, float* running_var) {
  const int c = blockIdx.x;
  const size_t n = size_t(B) * size_t(S);
  float sum[1] = {0.0f};
  for_channel_elements(B, C, S, c, [&](size_t i) { sum[0] += x[i]; });
  block_sum(sum);
  const float mean = sum[0] / float(n);

  float sq[1] = {0.0f};
  for_channel_elements(B, C, S, c, [&](size_t i) {
    const float d = x[i] - mean;
    sq[0] += d * d;
  });
  block_sum(sq);
  const float var = sq[0] / float(n);
  const float inv_std = 1.0f / sqrt(var + cfg.eps);

  if (threadIdx.x == 0) {
    save_mean[c] = mean;
    save_inv_std[c] = inv_std;
    if (running_mean != nullptr)
      update_running(cfg, int64_t(n), mean, var, running_mean + c, running_var + c);
  }

  const float g = gamma[c], bt = beta[c];
  for_channel_elements(B, C, S, c, [&](size_t i) { y[i] = g * (x[i] - mean) * inv_std + bt; });
}

// Thread mapping: grid-stride loop, one element of the (B, C, S) batch per iteration, channel
// (i / S) % C.
__global__ void batchnorm2d_forward_eval_kernel(float eps, const float* x, float* y, size_t N,
                                                int C, int S, const float* gamma, const float* beta,
                                                const float* running_mean,
                                                const float* running_var) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride) {
    const int c = int((i / size_t(S)) % size_t(C));
    const float inv_std = 1.0f / sqrt(running_var[c] + eps);
    y[i] = gamma[c] * (x[i] - running_mean[c]) * inv_std + beta[c];
  }
}

// The BatchNorm1d derivation with mean_b replaced by the mean over the channel's n = B S values:
//   dbeta = sum dy, dgamma = sum dy xhat, dx = gamma inv_std (dy - mean(dy) - xhat mean(dy xhat)).
// One pass for both sums, one to write dx. dx may alias dy: each element is read and then written
// by the same thread, after the reduction.
__global__ void __launch_bounds__(kChannelThreads)
    batchnorm2d_backward_kernel(const float* x, const float* dy, float* dx, int B, int C, int S,
                                const float* gamma, const float* save_mean,
                                const float* save_inv_std, float* dgamma, float* dbeta,
                                GradMode mode) {
  const int c = blockIdx.x;
  const size_t n = size_t(B) * size_t(S);
  const float mean = save_mean[c], inv_std = save_inv_std[c];
  float sums[2] = {0.0f, 0.0f};  // [0]: sum dy, [1]: sum dy xhat
  for_channel_elements(B, C, S, c, [&](size_t i) {
    const float g = dy[i];
    sums[0] += g;
    sums[1] += g * ((x[i] - mean) * inv_std);
  });
  block_sum(sums);

  if (threadIdx.x == 0) {
    if (mode == GradMode::Overwrite) {
      dgamma[c] = sums[1];
      dbeta[c] = sums[0];
    } else if (mode == GradMode::Accumulate) {
      dgamma[c] += sums[1];
      dbeta[c] += sums[0];
    }
  }

  const float mean_dy = sums[0] / float(n), mean_dy_xhat = sums[1] / float(n);
  const float scale = gamma[c] * inv_std;
  for_channel_elements(B, C, S, c, [&](size_t i) {
    const float xhat = (x[i] - mean) * inv_std;
    dx[i] = scale * (dy[i] - mean_dy - xhat * mean_dy_xhat);
  });
}

dim3 reduction_grid(int F) { return dim3(unsigned((F + kFeatures - 1) / kFeatures)); }

}  // namespace

// x, y: (B, F); gamma, beta, save_mean, save_inv_std, running_mean, running_var: (F).
void batchnorm_forward_train(const BatchNormConfig& cfg, const float* x, float* y, int B, int F,
                             const float* gamma, const float* beta, float* save_mean,
                             float* save_inv_std, float* running_mean, float* running_var,
                             cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  batchnorm_forward_train_kernel<<<reduction_grid(F), dim3(kFeatures, kRows), 0, stream>>>(
      cfg, x, y, B, F, gamma, beta, save_mean, save_inv_std, running_mean, running_var);
  CUDA_CHECK_LAUNCH();
}

// x, y: (B, F); gamma, beta, running_mean, running_var: (F).
void batchnorm_forward_eval(const BatchNormConfig& cfg, const float* x, float* y, int B, int F,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  const size_t N = size_t(B) * size_t(F);
  batchnorm_forward_eval_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(
      cfg.eps, x, y, N, F, gamma, beta, running_mean, running_var);
  CUDA_CHECK_LAUNCH();
}

// x, dy, dx: (B, F); gamma, save_mean, save_inv_std, dgamma, dbeta: (F).
void batchnorm_backward(const float* x, const float* dy, float* dx, int B, int F,
                        const float* gamma, const float* save_mean, const float* save_inv_std,
                        float* dgamma, float* dbeta, GradMode mode, cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  batchnorm_backward_kernel<<<reduction_grid(F), dim3(kFeatures, kRows), 0, stream>>>(
      x, dy, dx, B, F, gamma, save_mean, save_inv_std, dgamma, dbeta, mode);
  CUDA_CHECK_LAUNCH();
}

// x, y: (B, C, S); gamma, beta, save_mean, save_inv_std, running_mean, running_var: (C).
void batchnorm2d_forward_train(const BatchNormConfig& cfg, const float* x, float* y, int B, int C,
                               int S, const float* gamma, const float* beta, float* save_mean,
                               float* save_inv_std, float* running_mean, float* running_var,
                               cudaStream_t stream) {
  if (B <= 0 || C <= 0 || S <= 0) return;
  if (S == 1)  // flat rows: the 1d kernels read 32 features of a row in one coalesced load
    return batchnorm_forward_train(cfg, x, y, B, C, gamma, beta, save_mean, save_inv_std,
                                   running_mean, running_var, stream);
  batchnorm2d_forward_train_kernel<<<unsigned(C), kChannelThreads, 0, stream>>>(
      cfg, x, y, B, C, S, gamma, beta, save_mean, save_inv_std, running_mean, running_var);
  CUDA_CHECK_LAUNCH();
}

// x, y: (B, C, S); gamma, beta, running_mean, running_var: (C).
void batchnorm2d_forward_eval(const BatchNormConfig& cfg, const float* x, float* y, int B, int C,
                              int S, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var,
                              cudaStream_t stream) {
  if (B <= 0 || C <= 0 || S <= 0) return;
  if (S == 1)
    return batchnorm_forward_eval(cfg, x, y, B, C, gamma, beta, running_mean, running_var, stream);
  const size_t N = size_t(B) * size_t(C) * size_t(S);
  batchnorm2d_forward_eval_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(
      cfg.eps, x, y, N, C, S, gamma, beta, running_mean, running_var);
  CUDA_CHECK_LAUNCH();
}

// x, dy, dx: (B, C, S); gamma, save_mean, save_inv_std, dgamma, dbeta: (C).
void batchnorm2d_backward(const float* x, const float* dy, float* dx, int B, int C, int S,
                          const float* gamma, const float* save_mean, const float* save_inv_std,
                          float* dgamma, float* dbeta, GradMode mode, cudaStream_t stream) {
  if (B <= 0 || C <= 0 || S <= 0) return;
  if (S == 1)
    return batchnorm_backward(x, dy, dx, B, C, gamma, save_mean, save_inv_std, dgamma, dbeta,
                              mode, stream);
  batchnorm2d_backward_kernel<<<unsigned(C), kChannelThreads, 0, stream>>>(
      x, dy, dx, B, C, S, gamma, save_mean, save_inv_std, dgamma, dbeta, mode);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
