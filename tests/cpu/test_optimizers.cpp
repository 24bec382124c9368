// SGD with momentum and staircase decay, RMSprop and weight clipping against sequences computed
// by hand; the divergence flags of every optimizer op (Adam included) against their outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "kernels/optimizers.h"
#include "kernels/scalar.h"
#include "optimizer_flag_cases.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuOptimizers, SgdMomentumHandComputed) {
  // lr 0.1, momentum 0.9, gradients 1, 2, -1 on one parameter starting at 0:
  // buf 1 -> p -0.1; buf 0.9 + 2 = 2.9 -> p -0.39; buf 2.61 - 1 = 1.61 -> p -0.551.
  // No decay configured (decay_every 0): the step count must not matter.
  SgdConfig cfg{0.1f, 0.9f};
  double p = 0, buf = 0;
  const double grads[] = {1, 2, -1}, want_p[] = {-0.1, -0.39, -0.551}, want_buf[] = {1, 2.9, 1.61};
  for (int i = 0; i < 3; ++i) {
    const uint64_t t = uint64_t(i) + 1;
    cpu::sgd_step<double>(cfg, &p, &grads[i], &buf, 1, &t, nullptr);
    // 1e-7: 0.1f and 0.9f are not exactly 0.1 and 0.9.
    EXPECT_NEAR(p, want_p[i], 1e-7) << "step " << t;
    EXPECT_NEAR(buf, want_buf[i], 1e-7) << "step " << t;
  }
  // Momentum 0 is plain SGD and leaves the buffer alone.
  SgdConfig plain{0.5f, 0.0f};
  double q = 1, b = 7, g = 2;
  const uint64_t t = 1;
  cpu::sgd_step<double>(plain, &q, &g, &b, 1, &t, nullptr);
  EXPECT_DOUBLE_EQ(q, 0.0);
  EXPECT_DOUBLE_EQ(b, 7.0);
}

TEST(CpuOptimizers, SgdStaircaseDecayHandComputed) {
  // lr 0.1, decay 0.5 every 2 steps: lr_t = 0.1, 0.1, 0.05, 0.05, 0.025 for t = 1..5. Plain SGD
  // with gradient 1 from p = 0: p = -0.1, -0.2, -0.25, -0.3, -0.325.
  SgdConfig cfg{0.1f, 0.0f, 0.5f, 2};
  const double want_p[] = {-0.1, -0.2, -0.25, -0.3, -0.325};
  double p = 0, buf = 0;
  const double g = 1;
  for (uint64_t t = 1; t <= 5; ++t) {
    cpu::sgd_step<double>(cfg, &p, &g, &buf, 1, &t, nullptr);
    EXPECT_NEAR(p, want_p[t - 1], 1e-7) << "step " << t;  // 0.1f is not exactly 0.1
  }
  // Powers of 0.5 times 0.1f are exact in float and double: the schedule itself, bit for bit,
  // including a far step (floor(1000 / 2) = 500 halvings underflow float to 0).
  const float lr = 0.1f;
  const float want_lr[] = {lr, lr, lr / 2, lr / 2, lr / 4, lr / 4, lr / 8};
  for (uint64_t t = 1; t <= 7; ++t) {
    EXPECT_EQ(staircase_lr<float>(lr, 0.5f, 2, t), want_lr[t - 1]) << "t " << t;
    EXPECT_EQ(staircase_lr<double>(lr, 0.5, 2, t), double(want_lr[t - 1])) << "t " << t;
  }
  EXPECT_EQ(staircase_lr<double>(lr, 0.5, 2, 1001), std::ldexp(double(lr), -500));
  EXPECT_EQ(staircase_lr<float>(lr, 0.5f, 2, 1001), 0.0f);
  // decay_every 1 and a decay that is not a power of two: 0.96^floor(t - 1).
  EXPECT_NEAR(staircase_lr<double>(1.0, 0.96, 1, 11), std::pow(0.96, 10), 1e-15);
  EXPECT_NEAR(staircase_lr<double>(1.0, 0.96, 3, 11), std::pow(0.96, 3), 1e-15);
  // decay_every 0: the constant lr whatever the step (and the decay).
  SgdConfig constant{0.1f, 0.0f, 0.5f, 0};
  for (uint64_t t : {uint64_t(1), uint64_t(2), uint64_t(3), uint64_t(1000000)}) {
    double q = 0, b = 0;
    cpu::sgd_step<double>(constant, &q, &g, &b, 1, &t, nullptr);
    EXPECT_EQ(q, -double(0.1f)) << "step " << t;
    EXPECT_EQ(staircase_lr<float>(lr, 0.5f, 0, t), lr);
  }
  // With momentum the decayed lr scales the whole buffer: t = 3, lr_t = 0.05, buf = 0.9 * 2 + 1.
  SgdConfig momentum{0.1f, 0.9f, 0.5f, 2};
  double q = 1, b = 2;
  const uint64_t t3 = 3;
  cpu::sgd_step<double>(momentum, &q, &g, &b, 1, &t3, nullptr);
  EXPECT_NEAR(b, 2.8, 1e-7);
  EXPECT_NEAR(q, 1 - 0.05 * 2.8, 1e-7);
  // Random vectors in float: every element moved by the step's lr_t exactly as computed here.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 37;
  auto pv = rng.vec<float>(N), bv = rng.vec<float>(N);
  const auto gv = rng.vec<float>(N);
  auto p_want = pv, b_want = bv;
  SgdConfig decayed{0.05f, 0.5f, 0.9f, 3};
  const uint64_t t8 = 8;  // floor(7 / 3) = 2 decays
  cpu::sgd_step<float>(decayed, pv.data(), gv.data(), bv.data(), N, &t8, nullptr);
  const float lr8 = 0.05f * (0.9f * 0.9f);
  for (size_t i = 0; i < N; ++i) {
    b_want[i] = 0.5f * b_want[i] + gv[i];
    p_want[i] -= lr8 * b_want[i];
  }
  EXPECT_TRUE(all_close("buf", bv, b_want, 0, 0));
  EXPECT_TRUE(all_close("p", pv, p_want, 0, 0));
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
    cpu::rmsprop_step<double>(cfg, p.data(), g.data(), v.data(), N, nullptr);
    for (size_t i = 0; i < N; ++i) {
      v_want[i] = alpha * v_want[i] + (1 - alpha) * g[i] * g[i];
      p_want[i] -= lr * g[i] / (std::sqrt(v_want[i]) + eps);
    }
    EXPECT_TRUE(all_close("v", v, v_want, 1e-16, 1e-14));
    EXPECT_TRUE(all_close("p", p, p_want, 1e-16, 1e-14));
  }
  // First step from v = 0: |step| = lr |g| / (sqrt(0.01) |g| + eps) ~ 10 lr.
  double q = 0, vq = 0, g = 0.3;
  cpu::rmsprop_step<double>(cfg, &q, &g, &vq, 1, nullptr);
  EXPECT_NEAR(q, -10 * lr, 1e-9);
}

TEST(CpuOptimizers, ClipKeepsEveryWeightWithinTheBound) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  auto p = rng.vec<float>(1001, -1, 1);
  const auto before = p;
  const float c = 0.01f;
  cpu::clip_values<float>(p.data(), p.size(), c, nullptr);
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
  cpu::clip_values<float>(special.data(), special.size(), c, nullptr);
  EXPECT_EQ(special[0], c);
  EXPECT_EQ(special[1], -c);
  EXPECT_TRUE(std::isnan(special[2])) << "a NaN must stay visible, not be clipped away";
}

// The divergence flags (kernels/common.h) of every optimizer op and of clipping, on fresh random
// inputs with one element (at a random place) driven non-finite: [params] is set iff a written
// parameter is not finite and [state] iff a written state value is not (checked against every
// element of the outputs and against what the case must set); the values are bitwise those of
// the element update run without any check (the ops before the flags existed), flags or not;
// flags already set stay set; a null flag pointer changes nothing. N = 70001 runs Adam's
// OpenMP-split loop.
TEST(CpuOptimizerFlags, SetExactlyWhenAWrittenValueIsNotFinite) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (FlagOp op :
       {FlagOp::Adam, FlagOp::SgdMomentum, FlagOp::Sgd, FlagOp::Rmsprop, FlagOp::Clip})
    for (size_t N : {size_t(1), size_t(7), size_t(1000), size_t(70001)})
      for (const FlagCase& c : flag_cases(op)) {
        SCOPED_TRACE(std::string(flag_op_name(op)) + ", " + c.name + ", N=" + std::to_string(N));
        FlagInputs in = flag_inputs(rng, N);
        inject(c, in, size_t(rng.uniform_int(0, int(N) - 1)));
        FlagInputs flagged = in, unflagged = in, reference = in, preset = in;
        float flags[kNonfiniteFlags] = {0.0f, 0.0f};
        run_cpu_op(op, c, flagged, flags);
        run_cpu_op(op, c, unflagged, nullptr);
        run_unflagged_reference(op, c, reference);
        bool want_params, want_state;
        flags_from_outputs(op, flagged, want_params, want_state);
        EXPECT_EQ(want_params, c.want_params) << "the case does not do what it says";
        EXPECT_EQ(want_state, c.want_state) << "the case does not do what it says";
        EXPECT_EQ(flags[kNonfiniteParams], want_params ? 1.0f : 0.0f);
        EXPECT_EQ(flags[kNonfiniteState], want_state ? 1.0f : 0.0f);
        for (const auto& [name, got, want] :
             {std::tuple{"p", &flagged.p, &reference.p}, std::tuple{"m", &flagged.m, &reference.m},
              std::tuple{"v", &flagged.v, &reference.v}}) {
          EXPECT_TRUE(same_bits(name, *got, *want));
        }
        EXPECT_TRUE(same_bits("p without flags", unflagged.p, reference.p));
        // Only ever set: flags raised by an earlier op survive a finite one.
        float raised[kNonfiniteFlags] = {1.0f, 1.0f};
        run_cpu_op(op, c, preset, raised);
        EXPECT_EQ(raised[kNonfiniteParams], 1.0f);
        EXPECT_EQ(raised[kNonfiniteState], 1.0f);
      }
}
