// BatchNorm1d over a (B, F) batch: per-feature statistics over the batch dimension; and
// BatchNorm2d over a (B, C, S) batch (NCHW with S = H W): per-channel statistics over B and S.
#pragma once
#include "common.h"

namespace gan {

// running = running_keep * running + (1 - running_keep) * batch_statistic.
// Keras' momentum m is running_keep = m (keep 0.8 of the running value); PyTorch's momentum m is
// running_keep = 1 - m (take 0.1 of the batch value). PyTorch stores the unbiased batch variance
// in running_var, Keras the biased one; the normalisation itself always uses the biased variance.
struct BatchNormConfig {
  float eps = 1e-5f;
  float running_keep = 0.9f;
  bool unbiased_running_var = true;

  static BatchNormConfig keras(float momentum = 0.99f, float eps = 1e-3f) {
    return {eps, momentum, false};
  }
  static BatchNormConfig torch(float momentum = 0.1f, float eps = 1e-5f) {
    return {eps, 1.0f - momentum, true};
  }
};

// x, y: (B, F); gamma, beta, running_mean, running_var, save_mean, save_inv_std: (F).
// Training: y = gamma (x - mean) inv_std + beta with batch mean and inv_std = 1 / sqrt(var + eps)
// (biased var), saved for backward; running statistics updated unless running_mean is null.
// Eval: the same with running_mean and running_var.
// Backward (dy -> dx, dgamma, dbeta under `mode`), with xhat = (x - mean) inv_std:
//   dgamma = sum_b dy xhat, dbeta = sum_b dy,
//   dx = gamma inv_std (dy - mean_b(dy) - xhat mean_b(dy xhat)).
// y may alias x and dx may alias dy. B >= 1 (with B = 1 the unbiased running variance falls back
// to the biased one, i.e. 0).
namespace cpu {
template <class T>
void batchnorm_forward_train(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                             const T* gamma, const T* beta, T* save_mean, T* save_inv_std,
                             T* running_mean, T* running_var);
template <class T>
void batchnorm_forward_eval(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                            const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var);
template <class T>
void batchnorm_backward(const T* x, const T* dy, T* dx, int B, int F, const T* gamma,
                        const T* save_mean, const T* save_inv_std, T* dgamma, T* dbeta,
                        GradMode mode);

// BatchNorm2d: the same contract with x, y, dy, dx: (B, C, S) and the per-feature vectors (C);
// every statistic runs over the n = B S values of a channel (the unbiased running variance uses
// n / (n - 1)). With S = 1 it is BatchNorm1d with F = C (on CUDA it runs BatchNorm1d's kernels,
// whose blocks read a row's features together; one block a channel suits long channels).
template <class T>
void batchnorm2d_forward_train(const BatchNormConfig& cfg, const T* x, T* y, int B, int C, int S,
                               const T* gamma, const T* beta, T* save_mean, T* save_inv_std,
                               T* running_mean, T* running_var);
template <class T>
void batchnorm2d_forward_eval(const BatchNormConfig& cfg, const T* x, T* y, int B, int C, int S,
                              const T* gamma, const T* beta, const T* running_mean,
                              const T* running_var);
template <class T>
void batchnorm2d_backward(const T* x, const T* dy, T* dx, int B, int C, int S, const T* gamma,
                          const T* save_mean, const T* save_inv_std, T* dgamma, T* dbeta,
                          GradMode mode);
}  // namespace cpu

namespace cuda {
void batchnorm_forward_train(const BatchNormConfig& cfg, const float* x, float* y, int B, int F,
                             const float* gamma, const float* beta, float* save_mean,
                             float* save_inv_std, float* running_mean, float* running_var,
                             cudaStream_t stream);
void batchnorm_forward_eval(const BatchNormConfig& cfg, const float* x, float* y, int B, int F,
                            const float* gamma, const float* beta, const float* running_mean,
                            const float* running_var, cudaStream_t stream);
void batchnorm_backward(const float* x, const float* dy, float* dx, int B, int F,
                        const float* gamma, const float* save_mean, const float* save_inv_std,
                        float* dgamma, float* dbeta, GradMode mode, cudaStream_t stream);
void batchnorm2d_forward_train(const BatchNormConfig& cfg, const float* x, float* y, int B, int C,
                               int S, const float* gamma, const float* beta, float* save_mean,
                               float* save_inv_std, float* running_mean, float* running_var,
                               cudaStream_t stream);
void batchnorm2d_forward_eval(const BatchNormConfig& cfg, const float* x, float* y, int B, int C,
                              int S, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var,
                              cudaStream_t stream);
void batchnorm2d_backward(const float* x, const float* dy, float* dx, int B, int C, int S,
                          const float* gamma, const float* save_mean, const float* save_inv_std,
                          float* dgamma, float* dbeta, GradMode mode, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
