// CUDA BatchNorm2d against the CPU reference in float64: training forward with both running-
// statistics conventions and without running statistics, eval forward, backward in every GradMode,
// in place (y = x, dx = dy), and bitwise repeatability, over (B, C, S) shapes with batch 1 to 64,
// channels 1 to 128 and planes from 1x1 (BatchNorm1d) to 64x64, outputs poisoned before each call.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/batchnorm.h"

using namespace gan;
using namespace gan::test;

namespace {

struct Shape {
  int B, C, S;
};
// DCGAN's BatchNorm2d layers (128 x 7x7, 64 x 14x14) at batch 64 and 3, S = 1 (BatchNorm1d), one
// channel, planes smaller and larger than a block's 512 threads, a prime plane, 65536 per channel.
const Shape kShapes[] = {{64, 128, 49}, {64, 64, 196}, {3, 128, 49},  {1, 5, 1},    {7, 3, 1},
                         {1, 1, 100},   {5, 7, 13},    {2, 33, 1031}, {16, 2, 4096}};

std::string shape_label(const Shape& s) {
  return "B=" + std::to_string(s.B) + " C=" + std::to_string(s.C) + " S=" + std::to_string(s.S);
}

// Tolerances. The GPU sums a channel's n = B S values in float (runs of n / 512 per thread, then a
// fixed tree over 512 partial sums); the relative error of a mean, variance or inv_std is ~1e-6 for
// the n here, so 2e-5 keeps a margin. A dropped or doubled value is a ~1/n effect: caught for
// n <= 12544 (all shapes but the last); a dropped or doubled run of S values, the likelier bug with
// this layout, moves a statistic by ~S/n, far above the tolerance everywhere.
constexpr double kStatTol = 2e-5;
// Per-element outputs (y, dx) are a few float roundings on top of those statistics.
constexpr double kElemTol = 2e-5;
// dgamma, dbeta are sums of n signed terms of size ~1: the float rounding of the partial sums grows
// about linearly with the run length n / 512, ~1.5e-5 (one sigma) at n = 8192, so an absolute
// allowance of 2e-4 per 8192 values. A dropped or doubled value moves them by ~0.5.
constexpr double kParamGradRtol = 2e-5;
double param_grad_atol(const Shape& s) { return 2e-4 * std::max(1.0, double(s.B) * s.S / 8192.0); }

// x with a per-channel offset (|mean| up to 3) and spread, so the two-pass variance matters.
std::vector<float> batch_input(Rng& rng, const Shape& s) {
  const auto offset = rng.vec<double>(s.C, -3.0, 3.0), spread = rng.vec<double>(s.C, 0.5, 2.0);
  std::vector<float> x(size_t(s.B) * s.C * s.S);
  for (int b = 0; b < s.B; ++b)
    for (int c = 0; c < s.C; ++c)
      for (int k = 0; k < s.S; ++k)
        x[(size_t(b) * s.C + c) * s.S + k] = float(offset[c] + spread[c] * rng.uniform(-1.0, 1.0));
  return x;
}

}  // namespace

TEST_F(GpuTest, BatchNorm2dTrainForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const std::pair<const char*, BatchNormConfig> configs[] = {
      {"keras(0.8)", BatchNormConfig::keras(0.8f)}, {"torch(0.1)", BatchNormConfig::torch(0.1f)}};
  for (const auto& [name, cfg] : configs)
    for (const Shape& s : kShapes)
      for (bool running : {true, false}) {
        SCOPED_TRACE(std::string(name) + " " + shape_label(s) +
                     (running ? " running stats" : " no running stats"));
        const size_t N = size_t(s.B) * s.C * s.S;
        const auto x = batch_input(rng_, s);
        const auto gamma = rng_.vec<float>(s.C, 0.5, 1.5), beta = rng_.vec<float>(s.C, -0.5, 0.5);
        const auto running_mean = rng_.vec<float>(s.C);
        const auto running_var = rng_.vec<float>(s.C, 0.5, 2.0);

        DeviceBuffer<float> x_dev(x), y_dev(N), gamma_dev(gamma), beta_dev(beta), mean_dev(s.C),
            inv_std_dev(s.C), rm_dev(running_mean), rv_dev(running_var);
        y_dev.poison();
        mean_dev.poison();
        inv_std_dev.poison();
        cuda::batchnorm2d_forward_train(cfg, x_dev.data(), y_dev.data(), s.B, s.C, s.S,
                                        gamma_dev.data(), beta_dev.data(), mean_dev.data(),
                                        inv_std_dev.data(), running ? rm_dev.data() : nullptr,
                                        running ? rv_dev.data() : nullptr, stream_);

        std::vector<double> y(N), mean(s.C), inv_std(s.C);
        std::vector<double> rm = to_double(running_mean), rv = to_double(running_var);
        const auto x64 = to_double(x), gamma64 = to_double(gamma), beta64 = to_double(beta);
        cpu::batchnorm2d_forward_train<double>(
            cfg, x64.data(), y.data(), s.B, s.C, s.S, gamma64.data(), beta64.data(), mean.data(),
            inv_std.data(), running ? rm.data() : nullptr, running ? rv.data() : nullptr);

        EXPECT_TRUE(all_close("y", fetch(y_dev), y, kElemTol, kElemTol));
        EXPECT_TRUE(all_close("save_mean", fetch(mean_dev), mean, kStatTol, kStatTol));
        EXPECT_TRUE(all_close("save_inv_std", fetch(inv_std_dev), inv_std, kStatTol, kStatTol));
        if (running) {
          EXPECT_TRUE(all_close("running_mean", fetch(rm_dev), rm, kStatTol, kStatTol));
          EXPECT_TRUE(all_close("running_var", fetch(rv_dev), rv, kStatTol, kStatTol));
        } else {
          // Null running buffers: the device copies are not touched, bit for bit.
          EXPECT_TRUE(all_close("running_mean (untouched)", fetch(rm_dev), running_mean, 0.0, 0.0));
          EXPECT_TRUE(all_close("running_var (untouched)", fetch(rv_dev), running_var, 0.0, 0.0));
        }
      }
}

TEST_F(GpuTest, BatchNorm2dEvalForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const BatchNormConfig cfg = BatchNormConfig::keras(0.8f);
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_label(s));
    const size_t N = size_t(s.B) * s.C * s.S;
    const auto x = batch_input(rng_, s);
    const auto gamma = rng_.vec<float>(s.C, 0.5, 1.5), beta = rng_.vec<float>(s.C, -0.5, 0.5);
    const auto running_mean = rng_.vec<float>(s.C, -3.0, 3.0);
    const auto running_var = rng_.vec<float>(s.C, 0.25, 4.0);

    DeviceBuffer<float> x_dev(x), y_dev(N), gamma_dev(gamma), beta_dev(beta), rm_dev(running_mean),
        rv_dev(running_var);
    y_dev.poison();
    cuda::batchnorm2d_forward_eval(cfg, x_dev.data(), y_dev.data(), s.B, s.C, s.S, gamma_dev.data(),
                                   beta_dev.data(), rm_dev.data(), rv_dev.data(), stream_);

    std::vector<double> want(N);
    const auto x64 = to_double(x), gamma64 = to_double(gamma), beta64 = to_double(beta),
               rm64 = to_double(running_mean), rv64 = to_double(running_var);
    cpu::batchnorm2d_forward_eval<double>(cfg, x64.data(), want.data(), s.B, s.C, s.S,
                                          gamma64.data(), beta64.data(), rm64.data(), rv64.data());
    // Element-wise: a handful of float roundings, no reduction.
    EXPECT_TRUE(all_close("y", fetch(y_dev), want, 1e-5, 1e-5));
  }
}

TEST_F(GpuTest, BatchNorm2dBackwardMatchesCpuInEveryGradMode) {
  SCOPED_TRACE(rng_.trace());
  const BatchNormConfig cfg = BatchNormConfig::torch();
  for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore})
    for (const Shape& s : kShapes) {
      SCOPED_TRACE("mode " + std::to_string(int(mode)) + " " + shape_label(s));
      const size_t N = size_t(s.B) * s.C * s.S;
      const auto x = batch_input(rng_, s);
      const auto gamma = rng_.vec<float>(s.C, 0.5, 1.5), dy = rng_.vec<float>(N);

      // The saved statistics come from a genuine forward (the float64 reference, rounded to
      // float), and both paths get exactly these float values.
      std::vector<double> y64(N), mean64(s.C), inv_std64(s.C);
      const auto x64 = to_double(x), gamma64 = to_double(gamma), dy64 = to_double(dy);
      const std::vector<double> zeros(s.C, 0.0);
      cpu::batchnorm2d_forward_train<double>(cfg, x64.data(), y64.data(), s.B, s.C, s.S,
                                             gamma64.data(), zeros.data(), mean64.data(),
                                             inv_std64.data(), nullptr, nullptr);
      const std::vector<float> mean(mean64.begin(), mean64.end());
      const std::vector<float> inv_std(inv_std64.begin(), inv_std64.end());
      const auto dgamma0 = rng_.vec<float>(s.C), dbeta0 = rng_.vec<float>(s.C);

      DeviceBuffer<float> x_dev(x), dy_dev(dy), dx_dev(N), gamma_dev(gamma), mean_dev(mean),
          inv_std_dev(inv_std), dgamma_dev(dgamma0), dbeta_dev(dbeta0);
      dx_dev.poison();
      if (mode == GradMode::Overwrite) {
        dgamma_dev.poison();
        dbeta_dev.poison();
      }
      cuda::batchnorm2d_backward(x_dev.data(), dy_dev.data(), dx_dev.data(), s.B, s.C, s.S,
                                 gamma_dev.data(), mean_dev.data(), inv_std_dev.data(),
                                 dgamma_dev.data(), dbeta_dev.data(), mode, stream_);

      std::vector<double> dx(N), dgamma = to_double(dgamma0), dbeta = to_double(dbeta0);
      const auto meanf64 = to_double(mean), inv_stdf64 = to_double(inv_std);
      cpu::batchnorm2d_backward<double>(x64.data(), dy64.data(), dx.data(), s.B, s.C, s.S,
                                        gamma64.data(), meanf64.data(), inv_stdf64.data(),
                                        dgamma.data(), dbeta.data(), mode);

      EXPECT_TRUE(all_close("dx", fetch(dx_dev), dx, kElemTol, kElemTol));
      if (mode == GradMode::Ignore) {
        // Untouched: bit for bit the values that were there before.
        EXPECT_TRUE(all_close("dgamma (Ignore)", fetch(dgamma_dev), dgamma0, 0.0, 0.0));
        EXPECT_TRUE(all_close("dbeta (Ignore)", fetch(dbeta_dev), dbeta0, 0.0, 0.0));
      } else {
        const double atol = param_grad_atol(s);
        EXPECT_TRUE(all_close("dgamma", fetch(dgamma_dev), dgamma, atol, kParamGradRtol));
        EXPECT_TRUE(all_close("dbeta", fetch(dbeta_dev), dbeta, atol, kParamGradRtol));
      }
    }
}

// y may alias x and dx may alias dy (batchnorm.h): in place gives the out-of-place bits.
TEST_F(GpuTest, BatchNorm2dInPlaceMatchesOutOfPlace) {
  SCOPED_TRACE(rng_.trace());
  const BatchNormConfig cfg = BatchNormConfig::torch();
  for (const Shape& s : {Shape{64, 64, 196}, Shape{5, 7, 13}}) {
    SCOPED_TRACE(shape_label(s));
    const size_t N = size_t(s.B) * s.C * s.S;
    const auto x = batch_input(rng_, s), dy = rng_.vec<float>(N);
    const auto gamma = rng_.vec<float>(s.C, 0.5, 1.5), beta = rng_.vec<float>(s.C, -0.5, 0.5);
    DeviceBuffer<float> x_dev(x), dy_dev(dy), gamma_dev(gamma), beta_dev(beta), mean(s.C),
        inv_std(s.C), y(N), dx(N), dgamma(s.C), dbeta(s.C);
    cuda::batchnorm2d_forward_train(cfg, x_dev.data(), y.data(), s.B, s.C, s.S, gamma_dev.data(),
                                    beta_dev.data(), mean.data(), inv_std.data(), nullptr, nullptr,
                                    stream_);
    cuda::batchnorm2d_backward(x_dev.data(), dy_dev.data(), dx.data(), s.B, s.C, s.S,
                               gamma_dev.data(), mean.data(), inv_std.data(), dgamma.data(),
                               dbeta.data(), GradMode::Overwrite, stream_);
    const std::vector<float> y_out = fetch(y), dx_out = fetch(dx);

    // Backward in place first (it reads the original x), then the forward in place.
    DeviceBuffer<float> inplace_x(x), inplace_dy(dy);
    cuda::batchnorm2d_backward(x_dev.data(), inplace_dy.data(), inplace_dy.data(), s.B, s.C, s.S,
                               gamma_dev.data(), mean.data(), inv_std.data(), dgamma.data(),
                               dbeta.data(), GradMode::Overwrite, stream_);
    cuda::batchnorm2d_forward_train(cfg, inplace_x.data(), inplace_x.data(), s.B, s.C, s.S,
                                    gamma_dev.data(), beta_dev.data(), mean.data(), inv_std.data(),
                                    nullptr, nullptr, stream_);
    EXPECT_TRUE(all_close("y in place", fetch(inplace_x), y_out, 0.0, 0.0));
    EXPECT_TRUE(all_close("dx in place", fetch(inplace_dy), dx_out, 0.0, 0.0));
  }
}

// Fixed-order reductions: the same inputs give the same bits on a second call.
TEST_F(GpuTest, BatchNorm2dIsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const Shape s{64, 64, 196};
  const size_t N = size_t(s.B) * s.C * s.S;
  const auto cfg = BatchNormConfig::keras(0.8f);
  const auto x = batch_input(rng_, s), dy = rng_.vec<float>(N);
  const std::vector<float> gamma(s.C, 1.0f), beta(s.C, 0.0f);
  DeviceBuffer<float> x_dev(x), dy_dev(dy), gamma_dev(gamma), beta_dev(beta);
  std::vector<float> first[5];
  for (int run = 0; run < 2; ++run) {
    DeviceBuffer<float> y(N), mean(s.C), inv_std(s.C), dx(N), dgamma(s.C), dbeta(s.C);
    cuda::batchnorm2d_forward_train(cfg, x_dev.data(), y.data(), s.B, s.C, s.S, gamma_dev.data(),
                                    beta_dev.data(), mean.data(), inv_std.data(), nullptr, nullptr,
                                    stream_);
    cuda::batchnorm2d_backward(x_dev.data(), dy_dev.data(), dx.data(), s.B, s.C, s.S,
                               gamma_dev.data(), mean.data(), inv_std.data(), dgamma.data(),
                               dbeta.data(), GradMode::Overwrite, stream_);
    std::vector<float> got[5] = {fetch(y), fetch(inv_std), fetch(dx), fetch(dgamma), fetch(dbeta)};
    for (int k = 0; k < 5; ++k) {
      if (run == 0)
        first[k] = got[k];
      else
        EXPECT_TRUE(all_close("repeat " + std::to_string(k), got[k], first[k], 0.0, 0.0));
    }
  }
}
