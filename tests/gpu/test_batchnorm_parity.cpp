// CUDA batch norm against the CPU reference in float64: training forward with both running-
// statistics conventions, eval forward, backward in every GradMode, over odd (B, F) shapes
// (F not a multiple of the 32-feature tile, B from 1 to 8192), outputs poisoned before each call.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "gpu_test.h"
#include "kernels/batchnorm.h"

using namespace gan;
using namespace gan::test;

namespace {

const std::pair<int, int> kShapes[] = {{1, 5},    {7, 3},    {32, 256}, {64, 1024},
                                       {8192, 7}, {100, 33}, {3, 65}};

std::string shape_label(int B, int F) {
  return "B=" + std::to_string(B) + " F=" + std::to_string(F);
}

// Tolerances. The GPU sums in float over up to 8192 rows (runs of B/32 per thread, then a fixed
// 32-way tree); the expected relative error of a mean, variance or inv_std is ~1e-6, so 2e-5
// keeps a margin while still catching a dropped or doubled row (a 1/B ~ 1e-4 effect at B = 8192).
constexpr double kStatTol = 2e-5;
// Per-element outputs (y, dx) are a few float roundings on top of those statistics.
constexpr double kElemTol = 2e-5;
// dgamma, dbeta are sums of B signed terms of size ~1 (|sum| ~ 50 at B = 8192); the float
// rounding of the partial sums gives an absolute error of ~1.5e-5 (one sigma) there, so they get
// an absolute allowance of 2e-4. A dropped or doubled row moves them by ~0.5.
constexpr double kParamGradAtol = 2e-4, kParamGradRtol = 2e-5;

// x with a per-feature offset (|mean| up to 3) and spread, so the two-pass variance matters.
std::vector<float> batch_input(Rng& rng, int B, int F) {
  const auto offset = rng.vec<double>(F, -3.0, 3.0), spread = rng.vec<double>(F, 0.5, 2.0);
  std::vector<float> x(size_t(B) * F);
  for (int b = 0; b < B; ++b)
    for (int f = 0; f < F; ++f)
      x[size_t(b) * F + f] = float(offset[f] + spread[f] * rng.uniform(-1.0, 1.0));
  return x;
}

struct Reference {
  std::vector<double> y, mean, inv_std, running_mean, running_var;
};

}  // namespace

TEST_F(GpuTest, BatchNormTrainForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const std::pair<const char*, BatchNormConfig> configs[] = {
      {"keras(0.8)", BatchNormConfig::keras(0.8f)}, {"torch(0.1)", BatchNormConfig::torch(0.1f)}};
  for (const auto& [name, cfg] : configs)
    for (auto [B, F] : kShapes) {
      SCOPED_TRACE(std::string(name) + " " + shape_label(B, F));
      const size_t N = size_t(B) * F;
      const auto x = batch_input(rng_, B, F);
      const auto gamma = rng_.vec<float>(F, 0.5, 1.5), beta = rng_.vec<float>(F, -0.5, 0.5);
      const auto running_mean = rng_.vec<float>(F), running_var = rng_.vec<float>(F, 0.5, 2.0);

      DeviceBuffer<float> x_dev(x), y_dev(N), gamma_dev(gamma), beta_dev(beta), mean_dev(F),
          inv_std_dev(F), rm_dev(running_mean), rv_dev(running_var);
      y_dev.poison();
      mean_dev.poison();
      inv_std_dev.poison();
      cuda::batchnorm_forward_train(cfg, x_dev.data(), y_dev.data(), B, F, gamma_dev.data(),
                                    beta_dev.data(), mean_dev.data(), inv_std_dev.data(),
                                    rm_dev.data(), rv_dev.data(), stream_);

      Reference want{std::vector<double>(N), std::vector<double>(F), std::vector<double>(F),
                     to_double(running_mean), to_double(running_var)};
      const auto x64 = to_double(x), gamma64 = to_double(gamma), beta64 = to_double(beta);
      cpu::batchnorm_forward_train<double>(cfg, x64.data(), want.y.data(), B, F, gamma64.data(),
                                           beta64.data(), want.mean.data(), want.inv_std.data(),
                                           want.running_mean.data(), want.running_var.data());

      EXPECT_TRUE(all_close("y", fetch(y_dev), want.y, kElemTol, kElemTol));
      EXPECT_TRUE(all_close("save_mean", fetch(mean_dev), want.mean, kStatTol, kStatTol));
      EXPECT_TRUE(all_close("save_inv_std", fetch(inv_std_dev), want.inv_std, kStatTol, kStatTol));
      EXPECT_TRUE(all_close("running_mean", fetch(rm_dev), want.running_mean, kStatTol, kStatTol));
      EXPECT_TRUE(all_close("running_var", fetch(rv_dev), want.running_var, kStatTol, kStatTol));
    }
}

// running_mean == null: batch statistics only, and the running buffers are not touched.
TEST_F(GpuTest, BatchNormTrainForwardWithoutRunningStatistics) {
  SCOPED_TRACE(rng_.trace());
  const int B = 64, F = 40;
  const auto cfg = BatchNormConfig::torch();
  const auto x = batch_input(rng_, B, F);
  const std::vector<float> gamma(F, 1.0f), beta(F, 0.0f);
  DeviceBuffer<float> x_dev(x), y_dev(x.size()), gamma_dev(gamma), beta_dev(beta), mean_dev(F),
      inv_std_dev(F);
  y_dev.poison();
  mean_dev.poison();
  inv_std_dev.poison();
  cuda::batchnorm_forward_train(cfg, x_dev.data(), y_dev.data(), B, F, gamma_dev.data(),
                                beta_dev.data(), mean_dev.data(), inv_std_dev.data(), nullptr,
                                nullptr, stream_);
  std::vector<double> y(x.size()), mean(F), inv_std(F);
  const auto x64 = to_double(x), gamma64 = to_double(gamma), beta64 = to_double(beta);
  cpu::batchnorm_forward_train<double>(cfg, x64.data(), y.data(), B, F, gamma64.data(),
                                       beta64.data(), mean.data(), inv_std.data(), nullptr,
                                       nullptr);
  EXPECT_TRUE(all_close("y", fetch(y_dev), y, kElemTol, kElemTol));
  EXPECT_TRUE(all_close("save_mean", fetch(mean_dev), mean, kStatTol, kStatTol));
  EXPECT_TRUE(all_close("save_inv_std", fetch(inv_std_dev), inv_std, kStatTol, kStatTol));
}

TEST_F(GpuTest, BatchNormEvalForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const BatchNormConfig cfg = BatchNormConfig::keras(0.8f);
  for (auto [B, F] : kShapes) {
    SCOPED_TRACE(shape_label(B, F));
    const size_t N = size_t(B) * F;
    const auto x = batch_input(rng_, B, F);
    const auto gamma = rng_.vec<float>(F, 0.5, 1.5), beta = rng_.vec<float>(F, -0.5, 0.5);
    const auto running_mean = rng_.vec<float>(F, -3.0, 3.0);
    const auto running_var = rng_.vec<float>(F, 0.25, 4.0);

    DeviceBuffer<float> x_dev(x), y_dev(N), gamma_dev(gamma), beta_dev(beta), rm_dev(running_mean),
        rv_dev(running_var);
    y_dev.poison();
    cuda::batchnorm_forward_eval(cfg, x_dev.data(), y_dev.data(), B, F, gamma_dev.data(),
                                 beta_dev.data(), rm_dev.data(), rv_dev.data(), stream_);

    std::vector<double> want(N);
    const auto x64 = to_double(x), gamma64 = to_double(gamma), beta64 = to_double(beta),
               rm64 = to_double(running_mean), rv64 = to_double(running_var);
    cpu::batchnorm_forward_eval<double>(cfg, x64.data(), want.data(), B, F, gamma64.data(),
                                        beta64.data(), rm64.data(), rv64.data());
    // Element-wise: a handful of float roundings, no reduction.
    EXPECT_TRUE(all_close("y", fetch(y_dev), want, 1e-5, 1e-5));
  }
}

TEST_F(GpuTest, BatchNormBackwardMatchesCpuInEveryGradMode) {
  SCOPED_TRACE(rng_.trace());
  const BatchNormConfig cfg = BatchNormConfig::torch();
  for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore})
    for (auto [B, F] : kShapes) {
      SCOPED_TRACE("mode " + std::to_string(int(mode)) + " " + shape_label(B, F));
      const size_t N = size_t(B) * F;
      const auto x = batch_input(rng_, B, F);
      const auto gamma = rng_.vec<float>(F, 0.5, 1.5), dy = rng_.vec<float>(N);

      // The saved statistics come from a genuine forward (the float64 reference, rounded to
      // float), and both paths get exactly these float values.
      std::vector<double> y64(N), mean64(F), inv_std64(F);
      const auto x64 = to_double(x), gamma64 = to_double(gamma), dy64 = to_double(dy);
      const std::vector<double> zeros(F, 0.0);
      cpu::batchnorm_forward_train<double>(cfg, x64.data(), y64.data(), B, F, gamma64.data(),
                                           zeros.data(), mean64.data(), inv_std64.data(), nullptr,
                                           nullptr);
      const std::vector<float> mean(mean64.begin(), mean64.end());
      const std::vector<float> inv_std(inv_std64.begin(), inv_std64.end());
      const auto dgamma0 = rng_.vec<float>(F), dbeta0 = rng_.vec<float>(F);

      DeviceBuffer<float> x_dev(x), dy_dev(dy), dx_dev(N), gamma_dev(gamma), mean_dev(mean),
          inv_std_dev(inv_std), dgamma_dev(dgamma0), dbeta_dev(dbeta0);
      dx_dev.poison();
      if (mode == GradMode::Overwrite) {
        dgamma_dev.poison();
        dbeta_dev.poison();
      }
      cuda::batchnorm_backward(x_dev.data(), dy_dev.data(), dx_dev.data(), B, F, gamma_dev.data(),
                               mean_dev.data(), inv_std_dev.data(), dgamma_dev.data(),
                               dbeta_dev.data(), mode, stream_);

      std::vector<double> dx(N), dgamma = to_double(dgamma0), dbeta = to_double(dbeta0);
      const auto meanf64 = to_double(mean), inv_stdf64 = to_double(inv_std);
      cpu::batchnorm_backward<double>(x64.data(), dy64.data(), dx.data(), B, F, gamma64.data(),
                                      meanf64.data(), inv_stdf64.data(), dgamma.data(),
                                      dbeta.data(), mode);

      EXPECT_TRUE(all_close("dx", fetch(dx_dev), dx, kElemTol, kElemTol));
      if (mode == GradMode::Ignore) {
        // Untouched: bit for bit the values that were there before.
        EXPECT_TRUE(all_close("dgamma (Ignore)", fetch(dgamma_dev), dgamma0, 0.0, 0.0));
        EXPECT_TRUE(all_close("dbeta (Ignore)", fetch(dbeta_dev), dbeta0, 0.0, 0.0));
      } else {
        EXPECT_TRUE(all_close("dgamma", fetch(dgamma_dev), dgamma, kParamGradAtol, kParamGradRtol));
        EXPECT_TRUE(all_close("dbeta", fetch(dbeta_dev), dbeta, kParamGradAtol, kParamGradRtol));
      }
    }
}

// Fixed-order reductions: the same inputs give the same bits on a second call.
TEST_F(GpuTest, BatchNormIsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const int B = 8192, F = 100;
  const auto cfg = BatchNormConfig::keras(0.8f);
  const auto x = batch_input(rng_, B, F), dy = rng_.vec<float>(x.size());
  const std::vector<float> gamma(F, 1.0f), beta(F, 0.0f);
  DeviceBuffer<float> x_dev(x), dy_dev(dy), gamma_dev(gamma), beta_dev(beta);
  std::vector<float> first[5];
  for (int run = 0; run < 2; ++run) {
    DeviceBuffer<float> y(x.size()), mean(F), inv_std(F), dx(x.size()), dgamma(F), dbeta(F);
    cuda::batchnorm_forward_train(cfg, x_dev.data(), y.data(), B, F, gamma_dev.data(),
                                  beta_dev.data(), mean.data(), inv_std.data(), nullptr, nullptr,
                                  stream_);
    cuda::batchnorm_backward(x_dev.data(), dy_dev.data(), dx.data(), B, F, gamma_dev.data(),
                             mean.data(), inv_std.data(), dgamma.data(), dbeta.data(),
                             GradMode::Overwrite, stream_);
    std::vector<float> got[5] = {fetch(y), fetch(inv_std), fetch(dx), fetch(dgamma), fetch(dbeta)};
    for (int k = 0; k < 5; ++k) {
      if (run == 0)
        first[k] = got[k];
      else
        EXPECT_TRUE(all_close("repeat " + std::to_string(k), got[k], first[k], 0.0, 0.0));
    }
  }
}
