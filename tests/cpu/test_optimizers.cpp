// SGD with momentum, RMSprop and weight clipping against sequences computed by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/optimizers.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuOptimizers, SgdMomentumHandComputed) {
  // lr 0.1, momentum 0.9, gradients 1, 2, -1 on one parameter starting at 0:
  // buf 1 -> p -0.1; buf 0.9 + 2 = 2.9 -> p -0.39; buf 2.61 - 1 = 1.61 -> p -0.551.
  SgdConfig cfg{0.1f, 0.9f};
  double p = 0, buf = 0;
  const double grads[] = {1, 2, -1}, want_p[] = {-0.1, -0.39, -0.551}, want_buf[] = {1, 2.9, 1.61};
  for (int t = 0; t < 3; ++t) {
    cpu::sgd_step<double>(cfg, &p, &grads[t], &buf, 1);
    // 1e-7: 0.1f and 0.9f are not exactly 0.1 and 0.9.
    EXPECT_NEAR(p, want_p[t], 1e-7) << "step " << t;
    EXPECT_NEAR(buf, want_buf[t], 1e-7) << "step " << t;
  }
  // Momentum 0 is plain SGD and leaves the buffer alone.
  SgdConfig plain{0.5f, 0.0f};
  double q = 1, b = 7, g = 2;
  cpu::sgd_step<double>(plain, &q, &g, &b, 1);
  EXPECT_DOUBLE_EQ(q, 0.0);
  EXPECT_DOUBLE_EQ(b, 7.0);
}

TEST(CpuOptimizers, RmspropHandComputed) {
  RmspropConfig cfg;  // lr 5e-5, alpha 0.99, eps 1e-8
  const double lr = double(cfg.lr), alpha = double(cfg.alpha), eps = double(cfg.eps);
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 9;
  auto p = rng.vec<double>(N), v = std::vector<double>(N, 0.0);
  auto p_want = p, v_want = v;
  for (int t = 0; t < 4; ++t) {
    const auto g = rng.vec<double>(N);
    cpu::rmsprop_step<double>(cfg, p.data(), g.data(), v.data(), N);
    for (size_t i = 0; i < N; ++i) {
      v_want[i] = alpha * v_want[i] + (1 - alpha) * g[i] * g[i];
      p_want[i] -= lr * g[i] / (std::sqrt(v_want[i]) + eps);
    }
    EXPECT_TRUE(all_close("v", v, v_want, 1e-16, 1e-14));
    EXPECT_TRUE(all_close("p", p, p_want, 1e-16, 1e-14));
  }
  // First step from v = 0: |step| = lr |g| / (sqrt(0.01) |g| + eps) ~ 10 lr.
  double q = 0, vq = 0, g = 0.3;
  cpu::rmsprop_step<double>(cfg, &q, &g, &vq, 1);
  EXPECT_NEAR(q, -10 * lr, 1e-9);
}

TEST(CpuOptimizers, ClipKeepsEveryWeightWithinTheBound) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  auto p = rng.vec<float>(1001, -1, 1);
  const auto before = p;
  const float c = 0.01f;
  cpu::clip_values<float>(p.data(), p.size(), c);
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_LE(std::fabs(p[i]), c);
    if (std::fabs(before[i]) <= c)
      ASSERT_EQ(p[i], before[i]) << "inside the bound: unchanged";
    else
      ASSERT_EQ(p[i], before[i] < 0 ? -c : c);
  }
  std::vector<float> special = {std::numeric_limits<float>::infinity(),
                                -std::numeric_limits<float>::infinity(),
                                std::numeric_limits<float>::quiet_NaN()};
  cpu::clip_values<float>(special.data(), special.size(), c);
  EXPECT_EQ(special[0], c);
  EXPECT_EQ(special[1], -c);
  EXPECT_TRUE(std::isnan(special[2])) << "a NaN must stay visible, not be clipped away";
}
