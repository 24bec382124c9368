#include "kernels/batchnorm.h"

#include <cmath>
#include <vector>

namespace gan::cpu {

// Rows outer, features inner, so every pass walks x contiguously. Mean first, then the biased
// variance around it (two passes: no cancellation of large means).
template <class T>
void batchnorm_forward_train(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                             const T* gamma, const T* beta, T* save_mean, T* save_inv_std,
                             T* running_mean, T* running_var) {
  std::vector<T> mean(static_cast<size_t>(F), T(0)), var(static_cast<size_t>(F), T(0));
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) mean[f] += x[size_t(r) * F + f];
  for (int f = 0; f < F; ++f) mean[f] /= T(B);
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      T d = x[size_t(r) * F + f] - mean[f];
      var[f] += d * d;
    }
  for (int f = 0; f < F; ++f) var[f] /= T(B);

  for (int f = 0; f < F; ++f) {
    save_mean[f] = mean[f];
    save_inv_std[f] = T(1) / std::sqrt(var[f] + T(cfg.eps));
  }
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      size_t i = size_t(r) * F + f;
      y[i] = gamma[f] * (x[i] - save_mean[f]) * save_inv_std[f] + beta[f];
    }

  if (running_mean) {
    const T keep = T(cfg.running_keep);
    const T unbias = (cfg.unbiased_running_var && B > 1) ? T(B) / T(B - 1) : T(1);
    for (int f = 0; f < F; ++f) {
      running_mean[f] = keep * running_mean[f] + (T(1) - keep) * mean[f];
      running_var[f] = keep * running_var[f] + (T(1) - keep) * var[f] * unbias;
    }
  }
}

template <class T>
void batchnorm_forward_eval(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                            const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var) {
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      size_t i = size_t(r) * F + f;
      T inv_std = T(1) / std::sqrt(running_var[f] + T(cfg.eps));
      y[i] = gamma[f] * (x[i] - running_mean[f]) * inv_std + beta[f];
    }
}

// y = gamma xhat + beta, xhat = (x - mean) s, s = (var + eps)^-1/2, mean and var over the batch.
// dxhat = gamma dy; differentiating through mean and var gives
// dx = s (dxhat - mean_b(dxhat) - xhat mean_b(dxhat xhat)) = gamma s (dy - mean_b(dy) - xhat
// mean_b(dy xhat)).
template <class T>
void batchnorm_backward(const T* x, const T* dy, T* dx, int B, int F, const T* gamma,
                        const T* save_mean, const T* save_inv_std, T* dgamma, T* dbeta,
                        GradMode mode) {
  std::vector<T> sum_dy(static_cast<size_t>(F), T(0)), sum_dy_xhat(static_cast<size_t>(F), T(0));
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      size_t i = size_t(r) * F + f;
      T xhat = (x[i] - save_mean[f]) * save_inv_std[f];
      sum_dy[f] += dy[i];
      sum_dy_xhat[f] += dy[i] * xhat;
    }
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      size_t i = size_t(r) * F + f;
      T xhat = (x[i] - save_mean[f]) * save_inv_std[f];
      dx[i] =
          gamma[f] * save_inv_std[f] * (dy[i] - sum_dy[f] / T(B) - xhat * sum_dy_xhat[f] / T(B));
    }
  if (mode == GradMode::Overwrite) {
    for (int f = 0; f < F; ++f) {
      dgamma[f] = sum_dy_xhat[f];
      dbeta[f] = sum_dy[f];
    }
  } else if (mode == GradMode::Accumulate) {
    for (int f = 0; f < F; ++f) {
      dgamma[f] += sum_dy_xhat[f];
      dbeta[f] += sum_dy[f];
    }
  }
}

template void batchnorm_forward_train<float>(const BatchNormConfig&, const float*, float*, int, int,
                                             const float*, const float*, float*, float*, float*,
                                             float*);
template void batchnorm_forward_train<double>(const BatchNormConfig&, const double*, double*, int,
                                              int, const double*, const double*, double*, double*,
                                              double*, double*);
template void batchnorm_forward_eval<float>(const BatchNormConfig&, const float*, float*, int, int,
                                            const float*, const float*, const float*, const float*);
template void batchnorm_forward_eval<double>(const BatchNormConfig&, const double*, double*, int,
                                             int, const double*, const double*, const double*,
                                             const double*);
template void batchnorm_backward<float>(const float*, const float*, float*, int, int, const float*,
                                        const float*, const float*, float*, float*, GradMode);
template void batchnorm_backward<double>(const double*, const double*, double*, int, int,
                                         const double*, const double*, const double*, double*,
                                         double*, GradMode);

}  // namespace gan::cpu
