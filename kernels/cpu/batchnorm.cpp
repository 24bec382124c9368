#include "kernels/batchnorm.h"

#include <cmath>
#include <vector>

#include "kernels/cpu/lanes16.h"

namespace gan::cpu {

// x: (B, C, S); element (r, c, s) at (r C + c) S + s. BatchNorm1d is S = 1. Rows outer, channels,
// then positions inner, so every pass walks x contiguously. Mean first, then the biased variance
// around it (two passes: no cancellation of large means); each channel sums its n = B S values in
// that fixed order.
//
// f(i, c) for every element i (channel c) in that order. For S = 1 the channel loop is the inner
// one, so that it vectorises; GAN_IVDEP: a pass writes either per-channel sums (distinct for
// distinct c) or y / dx, which is x / dy itself or disjoint from them.
template <class F>
void for_each_element(int B, int C, int S, F f) {
  if (S == 1) {
    for (int r = 0; r < B; ++r) {
      const size_t row = size_t(r) * C;
      GAN_IVDEP
      for (int c = 0; c < C; ++c) f(row + c, c);
    }
    return;
  }
  for (int r = 0; r < B; ++r)
    for (int c = 0; c < C; ++c) {
      const size_t base = (size_t(r) * C + c) * S;
      GAN_IVDEP
      for (int s = 0; s < S; ++s) f(base + s, c);
    }
}

template <class T>
void batchnorm2d_forward_train(const BatchNormConfig& cfg, const T* x, T* y, int B, int C, int S,
                               const T* gamma, const T* beta, T* save_mean, T* save_inv_std,
                               T* running_mean, T* running_var) {
  const size_t n = size_t(B) * S;
  thread_local std::vector<T> mean, var;  // reused: no allocation once C has been seen
  mean.assign(size_t(C), T(0));
  var.assign(size_t(C), T(0));
  T* mu = mean.data();
  T* va = var.data();
  for_each_element(B, C, S, [&](size_t i, int c) { mu[c] += x[i]; });
  for (int c = 0; c < C; ++c) mu[c] /= T(n);
  for_each_element(B, C, S, [&](size_t i, int c) {
    const T d = x[i] - mu[c];
    va[c] += d * d;
  });
  for (int c = 0; c < C; ++c) va[c] /= T(n);

  for (int c = 0; c < C; ++c) {
    save_mean[c] = mu[c];
    save_inv_std[c] = T(1) / std::sqrt(va[c] + T(cfg.eps));
  }
  for_each_element(B, C, S, [&](size_t i, int c) {
    y[i] = gamma[c] * (x[i] - save_mean[c]) * save_inv_std[c] + beta[c];
  });

  if (running_mean) {
    const T keep = T(cfg.running_keep);
    const T unbias = (cfg.unbiased_running_var && n > 1) ? T(n) / T(n - 1) : T(1);
    for (int c = 0; c < C; ++c) {
      running_mean[c] = keep * running_mean[c] + (T(1) - keep) * mu[c];
      running_var[c] = keep * running_var[c] + (T(1) - keep) * va[c] * unbias;
    }
  }
}

template <class T>
void batchnorm2d_forward_eval(const BatchNormConfig& cfg, const T* x, T* y, int B, int C, int S,
                              const T* gamma, const T* beta, const T* running_mean,
                              const T* running_var) {
  thread_local std::vector<T> inv;  // per channel, once (the same value every row computed)
  inv.resize(size_t(C));
  for (int c = 0; c < C; ++c) inv[c] = T(1) / std::sqrt(running_var[c] + T(cfg.eps));
  const T* inv_std = inv.data();
  for_each_element(B, C, S, [&](size_t i, int c) {
    y[i] = gamma[c] * (x[i] - running_mean[c]) * inv_std[c] + beta[c];
  });
}

// y = gamma xhat + beta, xhat = (x - mean) s, s = (var + eps)^-1/2, mean and var over the n values
// of a channel. dxhat = gamma dy; differentiating through mean and var gives
// dx = s (dxhat - mean_n(dxhat) - xhat mean_n(dxhat xhat)) = gamma s (dy - mean_n(dy) - xhat
// mean_n(dy xhat)).
template <class T>
void batchnorm2d_backward(const T* x, const T* dy, T* dx, int B, int C, int S, const T* gamma,
                          const T* save_mean, const T* save_inv_std, T* dgamma, T* dbeta,
                          GradMode mode) {
  const T n = T(size_t(B) * S);
  thread_local std::vector<T> sums_dy, sums_dy_xhat;  // reused: no allocation once C is seen
  sums_dy.assign(size_t(C), T(0));
  sums_dy_xhat.assign(size_t(C), T(0));
  T* sum_dy = sums_dy.data();
  T* sum_dy_xhat = sums_dy_xhat.data();
  for_each_element(B, C, S, [&](size_t i, int c) {
    const T xhat = (x[i] - save_mean[c]) * save_inv_std[c];
    sum_dy[c] += dy[i];
    sum_dy_xhat[c] += dy[i] * xhat;
  });
  for_each_element(B, C, S, [&](size_t i, int c) {
    const T xhat = (x[i] - save_mean[c]) * save_inv_std[c];
    dx[i] = gamma[c] * save_inv_std[c] * (dy[i] - sum_dy[c] / n - xhat * sum_dy_xhat[c] / n);
  });
  if (mode == GradMode::Overwrite) {
    for (int c = 0; c < C; ++c) {
      dgamma[c] = sum_dy_xhat[c];
      dbeta[c] = sum_dy[c];
    }
  } else if (mode == GradMode::Accumulate) {
    for (int c = 0; c < C; ++c) {
      dgamma[c] += sum_dy_xhat[c];
      dbeta[c] += sum_dy[c];
    }
  }
}

// BatchNorm1d: (B, F) is (B, C = F, S = 1).
template <class T>
void batchnorm_forward_train(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                             const T* gamma, const T* beta, T* save_mean, T* save_inv_std,
                             T* running_mean, T* running_var) {
  batchnorm2d_forward_train(cfg, x, y, B, F, 1, gamma, beta, save_mean, save_inv_std,
                            running_mean, running_var);
}

template <class T>
void batchnorm_forward_eval(const BatchNormConfig& cfg, const T* x, T* y, int B, int F,
                            const T* gamma, const T* beta, const T* running_mean,
                            const T* running_var) {
  batchnorm2d_forward_eval(cfg, x, y, B, F, 1, gamma, beta, running_mean, running_var);
}

template <class T>
void batchnorm_backward(const T* x, const T* dy, T* dx, int B, int F, const T* gamma,
                        const T* save_mean, const T* save_inv_std, T* dgamma, T* dbeta,
                        GradMode mode) {
  batchnorm2d_backward(x, dy, dx, B, F, 1, gamma, save_mean, save_inv_std, dgamma, dbeta, mode);
}

#define GAN_BATCHNORM_INSTANTIATE(T)                                                              \
  template void batchnorm_forward_train<T>(const BatchNormConfig&, const T*, T*, int, int,        \
                                           const T*, const T*, T*, T*, T*, T*);                   \
  template void batchnorm_forward_eval<T>(const BatchNormConfig&, const T*, T*, int, int,         \
                                          const T*, const T*, const T*, const T*);                \
  template void batchnorm_backward<T>(const T*, const T*, T*, int, int, const T*, const T*,       \
                                      const T*, T*, T*, GradMode);                                \
  template void batchnorm2d_forward_train<T>(const BatchNormConfig&, const T*, T*, int, int, int, \
                                             const T*, const T*, T*, T*, T*, T*);                 \
  template void batchnorm2d_forward_eval<T>(const BatchNormConfig&, const T*, T*, int, int, int,  \
                                            const T*, const T*, const T*, const T*);              \
  template void batchnorm2d_backward<T>(const T*, const T*, T*, int, int, int, const T*,          \
                                        const T*, const T*, T*, T*, GradMode);
GAN_BATCHNORM_INSTANTIATE(float)
GAN_BATCHNORM_INSTANTIATE(double)
#undef GAN_BATCHNORM_INSTANTIATE

}  // namespace gan::cpu
