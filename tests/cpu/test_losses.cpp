// Wasserstein critic loss and sigmoid-MSE: values by hand, float64 gradient checks (finite
// differences of the loss value), the statistics fields, each output optional, extreme logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "kernels/losses.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

// scores (1, -2, 3.5, 0.5): mean 0.75. Real samples in the critic's step (sign -1): loss -0.75,
// gradient -1/4 each; fakes (sign +1): loss 0.75, gradient 1/4. mean_prob is the mean score either
// way, accuracy 0.
TEST(CpuLosses, WassersteinHandComputed) {
  const std::vector<double> scores = {1.0, -2.0, 3.5, 0.5};
  for (double sign : {-1.0, 1.0}) {
    SCOPED_TRACE("sign=" + std::to_string(sign));
    std::vector<double> d(scores.size(), kNaN);
    BceStats<double> st{kNaN, kNaN, kNaN};
    cpu::wasserstein_loss<double>(scores.data(), scores.size(), sign, d.data(), &st);
    EXPECT_DOUBLE_EQ(st.loss, sign * 0.75);
    EXPECT_DOUBLE_EQ(st.mean_prob, 0.75);
    EXPECT_EQ(st.accuracy, 0.0);
    EXPECT_TRUE(all_close("dscores", d, std::vector<double>(4, sign / 4), 0, 0));

    const std::vector<float> scores32(scores.begin(), scores.end());
    std::vector<float> d32(scores.size());
    BceStats<float> st32{};
    cpu::wasserstein_loss<float>(scores32.data(), scores32.size(), float(sign), d32.data(), &st32);
    EXPECT_FLOAT_EQ(st32.loss, float(sign * 0.75));
    EXPECT_FLOAT_EQ(st32.mean_prob, 0.75f);
    EXPECT_EQ(st32.accuracy, 0.0f);
    EXPECT_TRUE(all_close("dscores (float)", d32, std::vector<double>(4, sign / 4), 0, 0));
  }
}

TEST(CpuLosses, WassersteinGradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (double sign : {-1.0, 1.0})
    for (size_t N : {1, 7, 64}) {
      SCOPED_TRACE("sign=" + std::to_string(sign) + " N=" + std::to_string(N));
      auto scores = rng.vec<double>(N, -5, 5);
      BceStats<double> st{};
      LossFn loss = [&](KinkSignature*) {
        cpu::wasserstein_loss<double>(scores.data(), N, sign, nullptr, &st);
        return st.loss;
      };
      std::vector<double> d(N, kNaN);
      cpu::wasserstein_loss<double>(scores.data(), N, sign, d.data(), nullptr);
      expect_gradient("scores", scores, d, loss);
    }
}

TEST(CpuLosses, WassersteinStatisticsMatchDefinitions) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 37;
  const auto scores = rng.vec<double>(N, -10, 10);
  const double sign = -1.0;
  double sum = 0;
  for (double s : scores) sum += s;
  BceStats<double> st{kNaN, kNaN, kNaN};
  cpu::wasserstein_loss<double>(scores.data(), N, sign, nullptr, &st);
  EXPECT_NEAR(st.loss, -sum / N, 1e-13);
  EXPECT_NEAR(st.mean_prob, sum / N, 1e-13);
  EXPECT_EQ(st.accuracy, 0.0);
}

// Each output is optional, and alone it matches the full call; with neither, nothing is touched.
TEST(CpuLosses, WassersteinOutputsAreOptional) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 9;
  const auto scores = rng.vec<double>(N, -3, 3);
  std::vector<double> d_full(N), d_only(N, kNaN);
  BceStats<double> s_full{}, s_only{kNaN, kNaN, kNaN};
  cpu::wasserstein_loss<double>(scores.data(), N, 1.0, d_full.data(), &s_full);
  cpu::wasserstein_loss<double>(scores.data(), N, 1.0, d_only.data(), nullptr);
  cpu::wasserstein_loss<double>(scores.data(), N, 1.0, nullptr, &s_only);
  cpu::wasserstein_loss<double>(scores.data(), N, 1.0, nullptr, nullptr);
  EXPECT_TRUE(all_close("dscores alone", d_only, d_full, 0, 0));
  EXPECT_EQ(s_only.loss, s_full.loss);
  EXPECT_EQ(s_only.mean_prob, s_full.mean_prob);
  EXPECT_EQ(s_only.accuracy, s_full.accuracy);
}

// logits (0, ln 3, -ln 3) give s = (1/2, 3/4, 1/4); targets (1/2, 1, 0) give errors (0, -1/4, 1/4):
// loss = (0 + 1/16 + 1/16) / 3 = 1/24; dlogits = 2 e s (1 - s) / 3 = (0, -1/32, 1/32).
TEST(CpuLosses, SigmoidMseHandComputed) {
  const std::vector<double> z = {0.0, std::log(3.0), -std::log(3.0)};
  const std::vector<double> t = {0.5, 1.0, 0.0};
  std::vector<double> d(3, kNaN);
  double loss = kNaN;
  cpu::sigmoid_mse<double>(z.data(), t.data(), 3, d.data(), &loss);
  EXPECT_NEAR(loss, 1.0 / 24, 1e-15);
  EXPECT_TRUE(all_close("dlogits", d, std::vector<double>{0.0, -1.0 / 32, 1.0 / 32}, 1e-16, 1e-14));

  const std::vector<float> z32(z.begin(), z.end()), t32(t.begin(), t.end());
  std::vector<float> d32(3);
  float loss32 = 0;
  cpu::sigmoid_mse<float>(z32.data(), t32.data(), 3, d32.data(), &loss32);
  EXPECT_NEAR(loss32, 1.0 / 24, 1e-7);
  EXPECT_TRUE(
      all_close("dlogits (float)", d32, std::vector<double>{0.0, -1.0 / 32, 1.0 / 32}, 1e-8, 1e-6));
}

TEST(CpuLosses, SigmoidMseGradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (size_t N : {1, 7, 64}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    auto z = rng.vec<double>(N, -6, 6);
    const auto t = rng.vec<double>(N, 0, 1);  // soft targets: a regression on a pdf
    double value = 0;
    LossFn loss = [&](KinkSignature*) {
      cpu::sigmoid_mse<double>(z.data(), t.data(), N, nullptr, &value);
      return value;
    };
    std::vector<double> dz(N, kNaN);
    cpu::sigmoid_mse<double>(z.data(), t.data(), N, dz.data(), nullptr);
    expect_gradient("logits", z, dz, loss);
  }
}

TEST(CpuLosses, SigmoidMseOutputsAreOptional) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 11;
  const auto z = rng.vec<double>(N, -4, 4), t = rng.vec<double>(N, 0, 1);
  std::vector<double> d_full(N), d_only(N, kNaN);
  double l_full = 0, l_only = kNaN;
  cpu::sigmoid_mse<double>(z.data(), t.data(), N, d_full.data(), &l_full);
  cpu::sigmoid_mse<double>(z.data(), t.data(), N, d_only.data(), nullptr);
  cpu::sigmoid_mse<double>(z.data(), t.data(), N, nullptr, &l_only);
  cpu::sigmoid_mse<double>(z.data(), t.data(), N, nullptr, nullptr);
  EXPECT_TRUE(all_close("dlogits alone", d_only, d_full, 0, 0));
  EXPECT_EQ(l_only, l_full);
}

// Saturated logits: s is 0 or 1, so the loss is the squared target error and the gradient
// vanishes (s (1 - s) = 0) without overflow.
TEST(CpuLosses, SigmoidMseExtremeLogitsStayFinite) {
  const std::vector<float> z = {1000.f, -1000.f, 80.f, -80.f};
  const std::vector<float> t = {0.f, 1.f, 1.f, 0.f};
  std::vector<float> d(z.size());
  float loss = 0;
  cpu::sigmoid_mse<float>(z.data(), t.data(), z.size(), d.data(), &loss);
  EXPECT_NEAR(loss, 0.5, 1e-7);  // per element: 1, 1, 0, 0
  for (size_t i = 0; i < d.size(); ++i) {
    EXPECT_TRUE(std::isfinite(d[i])) << "dlogits[" << i << "]";
    EXPECT_NEAR(d[i], 0.0f, 1e-30) << "dlogits[" << i << "]";
  }
}
