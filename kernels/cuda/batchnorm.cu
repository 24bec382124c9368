// BatchNorm1d on the GPU: per-feature reductions over the batch dimension of a (B, F) row-major
// batch, in a fixed order so every run gives the same bits.
#include <algorithm>

#include "kernels/batchnorm.h"
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
    if (running_mean != nullptr) {
      const float keep = cfg.running_keep, take = 1.0f - cfg.running_keep;
      const float batch_var =
          (cfg.unbiased_running_var && B > 1) ? var * (float(B) / float(B - 1)) : var;
      running_mean[f] = keep * running_mean[f] + take * mean;
      running_var[f] = keep * running_var[f] + take * batch_var;
    }
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

}  // namespace gan::cuda
