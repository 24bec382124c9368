// BatchNorm1d and 2d: float64 gradient checks through the batch statistics, running-statistics
// conventions (Keras momentum 0.8, PyTorch momentum 0.1), eval forward, gradient modes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <tuple>

#include "gradcheck.h"
#include "kernels/batchnorm.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuBatchNorm, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const BatchNormConfig cfg = BatchNormConfig::torch();
  for (auto [B, F] : {std::pair{2, 1}, std::pair{5, 3}, std::pair{16, 7}, std::pair{3, 64}}) {
    SCOPED_TRACE("B=" + std::to_string(B) + " F=" + std::to_string(F));
    auto x = rng.vec<double>(size_t(B) * F, -2, 2);
    auto gamma = rng.vec<double>(F, 0.5, 1.5), beta = rng.vec<double>(F);
    auto w = rng.vec<double>(x.size());
    std::vector<double> y(x.size()), mean(F), inv_std(F);
    LossFn loss = [&](KinkSignature*) {
      cpu::batchnorm_forward_train<double>(cfg, x.data(), y.data(), B, F, gamma.data(), beta.data(),
                                           mean.data(), inv_std.data(), nullptr, nullptr);
      return weighted_sum(w, y);
    };
    loss(nullptr);
    std::vector<double> dx(x.size()), dgamma(F), dbeta(F);
    cpu::batchnorm_backward<double>(x.data(), w.data(), dx.data(), B, F, gamma.data(), mean.data(),
                                    inv_std.data(), dgamma.data(), dbeta.data(),
                                    GradMode::Overwrite);
    expect_gradient("x", x, dx, loss);
    expect_gradient("gamma", gamma, dgamma, loss);
    expect_gradient("beta", beta, dbeta, loss);
  }
}

TEST(CpuBatchNorm, ForwardNormalisesAndSavesStatistics) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 50, F = 4;
  const BatchNormConfig cfg = BatchNormConfig::keras(0.8f);
  auto x = rng.vec<double>(B * F, 3, 7);  // a large mean, to exercise the two-pass variance
  std::vector<double> gamma(F, 1.0), beta(F, 0.0), y(x.size()), mean(F), inv_std(F);
  cpu::batchnorm_forward_train<double>(cfg, x.data(), y.data(), B, F, gamma.data(), beta.data(),
                                       mean.data(), inv_std.data(), nullptr, nullptr);
  for (int f = 0; f < F; ++f) {
    double m = 0, v = 0, ym = 0, yv = 0;
    for (int r = 0; r < B; ++r) m += x[r * F + f] / B;
    for (int r = 0; r < B; ++r) v += (x[r * F + f] - m) * (x[r * F + f] - m) / B;
    for (int r = 0; r < B; ++r) ym += y[r * F + f] / B;
    for (int r = 0; r < B; ++r) yv += y[r * F + f] * y[r * F + f] / B;
    EXPECT_NEAR(mean[f], m, 1e-12);
    EXPECT_NEAR(inv_std[f], 1.0 / std::sqrt(v + cfg.eps), 1e-9);
    EXPECT_NEAR(ym, 0.0, 1e-12);
    EXPECT_NEAR(yv, v / (v + cfg.eps), 1e-9);  // eps keeps the variance just below 1
  }
}

TEST(CpuBatchNorm, RunningStatisticsConventions) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 8, F = 3;
  auto x = rng.vec<double>(B * F);
  std::vector<double> gamma(F, 1.0), beta(F, 0.0), y(x.size()), mean(F), inv_std(F);
  std::vector<double> bm(F), bv(F);  // batch mean and biased variance, by hand
  for (int f = 0; f < F; ++f) {
    for (int r = 0; r < B; ++r) bm[f] += x[r * F + f] / B;
    for (int r = 0; r < B; ++r) bv[f] += (x[r * F + f] - bm[f]) * (x[r * F + f] - bm[f]) / B;
  }
  {  // Keras momentum 0.8: running = 0.8 running + 0.2 batch, biased variance.
    std::vector<double> rm(F, 0.5), rv(F, 2.0);
    cpu::batchnorm_forward_train<double>(BatchNormConfig::keras(0.8f), x.data(), y.data(), B, F,
                                         gamma.data(), beta.data(), mean.data(), inv_std.data(),
                                         rm.data(), rv.data());
    for (int f = 0; f < F; ++f) {
      EXPECT_NEAR(rm[f], 0.8 * 0.5 + 0.2 * bm[f], 1e-7);  // 1e-7: 0.8f is not exactly 0.8
      EXPECT_NEAR(rv[f], 0.8 * 2.0 + 0.2 * bv[f], 1e-7);
    }
  }
  {  // PyTorch momentum 0.1: running = 0.9 running + 0.1 batch, unbiased variance.
    std::vector<double> rm(F, 0.5), rv(F, 2.0);
    cpu::batchnorm_forward_train<double>(BatchNormConfig::torch(0.1f), x.data(), y.data(), B, F,
                                         gamma.data(), beta.data(), mean.data(), inv_std.data(),
                                         rm.data(), rv.data());
    for (int f = 0; f < F; ++f) {
      EXPECT_NEAR(rm[f], 0.9 * 0.5 + 0.1 * bm[f], 1e-7);
      EXPECT_NEAR(rv[f], 0.9 * 2.0 + 0.1 * bv[f] * B / (B - 1), 1e-7);
    }
  }
}

TEST(CpuBatchNorm, EvalUsesRunningStatistics) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 6, F = 5;
  const BatchNormConfig cfg = BatchNormConfig::keras(0.8f);
  auto x = rng.vec<double>(B * F), gamma = rng.vec<double>(F), beta = rng.vec<double>(F);
  auto rm = rng.vec<double>(F), rv = rng.vec<double>(F, 0.1, 3);
  std::vector<double> y(x.size()), want(x.size());
  cpu::batchnorm_forward_eval<double>(cfg, x.data(), y.data(), B, F, gamma.data(), beta.data(),
                                      rm.data(), rv.data());
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f)
      want[r * F + f] =
          gamma[f] * (x[r * F + f] - rm[f]) / std::sqrt(rv[f] + double(cfg.eps)) + beta[f];
  EXPECT_TRUE(all_close("y", y, want, 1e-14, 1e-14));
}

TEST(CpuBatchNorm, GradModes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 7, F = 3;
  const BatchNormConfig cfg;
  auto x = rng.vec<double>(B * F), gamma = rng.vec<double>(F), beta = rng.vec<double>(F);
  auto dy = rng.vec<double>(B * F);
  std::vector<double> y(x.size()), mean(F), inv_std(F), dx(x.size()), dg(F), dbt(F);
  cpu::batchnorm_forward_train<double>(cfg, x.data(), y.data(), B, F, gamma.data(), beta.data(),
                                       mean.data(), inv_std.data(), nullptr, nullptr);
  cpu::batchnorm_backward<double>(x.data(), dy.data(), dx.data(), B, F, gamma.data(), mean.data(),
                                  inv_std.data(), dg.data(), dbt.data(), GradMode::Overwrite);
  auto dg_acc = rng.vec<double>(F), db_acc = rng.vec<double>(F);
  std::vector<double> dg_want(dg_acc), db_want(db_acc), dx2(x.size());
  for (int f = 0; f < F; ++f) {
    dg_want[f] += dg[f];
    db_want[f] += dbt[f];
  }
  cpu::batchnorm_backward<double>(x.data(), dy.data(), dx2.data(), B, F, gamma.data(), mean.data(),
                                  inv_std.data(), dg_acc.data(), db_acc.data(),
                                  GradMode::Accumulate);
  EXPECT_TRUE(all_close("dgamma (accumulate)", dg_acc, dg_want, 1e-14, 1e-14));
  EXPECT_TRUE(all_close("dbeta (accumulate)", db_acc, db_want, 1e-14, 1e-14));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> dg_nan(F, nan), db_nan(F, nan), dx3(x.size(), nan);
  cpu::batchnorm_backward<double>(x.data(), dy.data(), dx3.data(), B, F, gamma.data(), mean.data(),
                                  inv_std.data(), dg_nan.data(), db_nan.data(), GradMode::Ignore);
  for (int f = 0; f < F; ++f) EXPECT_TRUE(std::isnan(dg_nan[f]) && std::isnan(db_nan[f]));
  EXPECT_TRUE(all_close("dx (ignore)", dx3, dx, 0, 0));
}

// BatchNorm2d: per-channel statistics over the batch and the positions of (B, C, S).
TEST(CpuBatchNorm2d, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (BatchNormConfig cfg : {BatchNormConfig::torch(), BatchNormConfig::keras(0.99f)})
    for (auto [B, C, S] : {std::tuple{1, 2, 5}, std::tuple{3, 1, 4}, std::tuple{2, 3, 9}}) {
      SCOPED_TRACE("B=" + std::to_string(B) + " C=" + std::to_string(C) + " S=" + std::to_string(S));
      auto x = rng.vec<double>(size_t(B) * C * S, -2, 2);
      auto gamma = rng.vec<double>(C, 0.5, 1.5), beta = rng.vec<double>(C);
      auto w = rng.vec<double>(x.size());
      std::vector<double> y(x.size()), mean(C), inv_std(C);
      LossFn loss = [&](KinkSignature*) {
        cpu::batchnorm2d_forward_train<double>(cfg, x.data(), y.data(), B, C, S, gamma.data(),
                                               beta.data(), mean.data(), inv_std.data(), nullptr,
                                               nullptr);
        return weighted_sum(w, y);
      };
      loss(nullptr);
      std::vector<double> dx(x.size()), dgamma(C), dbeta(C);
      cpu::batchnorm2d_backward<double>(x.data(), w.data(), dx.data(), B, C, S, gamma.data(),
                                        mean.data(), inv_std.data(), dgamma.data(), dbeta.data(),
                                        GradMode::Overwrite);
      expect_gradient("x", x, dx, loss);
      expect_gradient("gamma", gamma, dgamma, loss);
      expect_gradient("beta", beta, dbeta, loss);
    }
}

// Statistics, running conventions (n = B S values a channel; PyTorch's unbiased n / (n - 1)) and
// eval, against sums written out by hand over the NCHW layout.
TEST(CpuBatchNorm2d, StatisticsAndRunningConventionsPerChannel) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 3, C = 4, S = 6, n = B * S;
  auto x = rng.vec<double>(size_t(B) * C * S, 2, 5);
  auto gamma = rng.vec<double>(C, 0.5, 1.5), beta = rng.vec<double>(C);
  std::vector<double> bm(C), bv(C);
  for (int c = 0; c < C; ++c) {
    for (int b = 0; b < B; ++b)
      for (int s = 0; s < S; ++s) bm[c] += x[(b * C + c) * S + s] / n;
    for (int b = 0; b < B; ++b)
      for (int s = 0; s < S; ++s) {
        const double d = x[(b * C + c) * S + s] - bm[c];
        bv[c] += d * d / n;
      }
  }
  for (BatchNormConfig cfg : {BatchNormConfig::keras(0.8f), BatchNormConfig::torch(0.1f)}) {
    std::vector<double> y(x.size()), mean(C), inv_std(C), rm(C, 0.5), rv(C, 2.0);
    cpu::batchnorm2d_forward_train<double>(cfg, x.data(), y.data(), B, C, S, gamma.data(),
                                           beta.data(), mean.data(), inv_std.data(), rm.data(),
                                           rv.data());
    const double keep = cfg.running_keep;
    const double unbias = cfg.unbiased_running_var ? double(n) / (n - 1) : 1.0;
    for (int c = 0; c < C; ++c) {
      EXPECT_NEAR(mean[c], bm[c], 1e-12);
      EXPECT_NEAR(inv_std[c], 1.0 / std::sqrt(bv[c] + cfg.eps), 1e-9);
      EXPECT_NEAR(rm[c], keep * 0.5 + (1 - keep) * bm[c], 1e-12);
      EXPECT_NEAR(rv[c], keep * 2.0 + (1 - keep) * bv[c] * unbias, 1e-12);
      for (int b = 0; b < B; ++b)
        for (int s = 0; s < S; ++s) {
          const size_t i = size_t(b * C + c) * S + s;
          EXPECT_NEAR(y[i], gamma[c] * (x[i] - bm[c]) / std::sqrt(bv[c] + cfg.eps) + beta[c], 1e-9);
        }
    }
    std::vector<double> ye(x.size());
    cpu::batchnorm2d_forward_eval<double>(cfg, x.data(), ye.data(), B, C, S, gamma.data(),
                                          beta.data(), rm.data(), rv.data());
    for (int b = 0; b < B; ++b)
      for (int c = 0; c < C; ++c)
        for (int s = 0; s < S; ++s) {
          const size_t i = size_t(b * C + c) * S + s;
          EXPECT_NEAR(ye[i], gamma[c] * (x[i] - rm[c]) / std::sqrt(rv[c] + cfg.eps) + beta[c], 1e-12);
        }
  }
}
