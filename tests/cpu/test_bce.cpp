// BCE-with-logits: float64 gradient check, statistics by hand, stability at extreme logits.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "kernels/bce.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuBce, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (size_t N : {1, 7, 64}) {
    auto z = rng.vec<double>(N, -6, 6);
    auto t = rng.vec<double>(N, 0, 1);  // soft targets: label smoothing must work
    const double scale = rng.uniform(0.25, 2.0);
    BceStats<double> st{};
    LossFn loss = [&](KinkSignature*) {
      cpu::bce_with_logits<double>(z.data(), t.data(), N, 1.0, nullptr, &st);
      return scale * st.loss;
    };
    std::vector<double> dz(N);
    cpu::bce_with_logits<double>(z.data(), t.data(), N, scale, dz.data(), nullptr);
    expect_gradient("logits", z, dz, loss);
  }
}

TEST(CpuBce, StatisticsMatchDefinitions) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 37;
  auto z = rng.vec<double>(N, -4, 4);
  std::vector<double> t(N);
  for (size_t i = 0; i < N; ++i) t[i] = (i % 3 == 0) ? 0.0 : 0.9;  // smoothed "real" labels
  double loss = 0, prob = 0, correct = 0;
  for (size_t i = 0; i < N; ++i) {
    const double s = 1.0 / (1.0 + std::exp(-z[i]));
    loss += -(t[i] * std::log(s) + (1 - t[i]) * std::log(1 - s));
    prob += s;
    correct += ((s > 0.5) == (t[i] > 0.5));
  }
  BceStats<double> st{};
  cpu::bce_with_logits<double>(z.data(), t.data(), N, 1.0, nullptr, &st);
  EXPECT_NEAR(st.loss, loss / N, 1e-12);
  EXPECT_NEAR(st.mean_prob, prob / N, 1e-14);
  EXPECT_DOUBLE_EQ(st.accuracy, correct / N);
}

TEST(CpuBce, ExtremeLogitsStayFinite) {
  const std::vector<float> z = {1000.f, -1000.f, 80.f, -80.f, 0.f};
  const std::vector<float> t = {0.f, 1.f, 1.f, 0.f, 1.f};
  std::vector<float> dz(z.size());
  BceStats<float> st{};
  cpu::bce_with_logits<float>(z.data(), t.data(), z.size(), 1.0f, dz.data(), &st);
  // Per element: 1000, 1000, ~0, ~0, log 2.
  EXPECT_NEAR(st.loss, (2000.0 + std::log(2.0)) / 5, 1e-3);
  for (float d : dz) EXPECT_TRUE(std::isfinite(d));
  EXPECT_NEAR(dz[0], 1.0f / 5, 1e-7);
  EXPECT_NEAR(dz[1], -1.0f / 5, 1e-7);
  EXPECT_NEAR(st.accuracy, 2.0f / 5, 1e-7);  // the 80/-80 pair right, 0 counts as "fake"
}
