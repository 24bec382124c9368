// Adam and AdamW against sequences computed by hand from the update equations.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/adam.h"
#include "kernels/cpu/isa.h"
#include "kernels/random.h"
#include "kernels/scalar.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuAdam, FirstStepIsLrTimesSign) {
  // At t = 1, m_hat = g and v_hat = g^2, so the step is lr g / (|g| + eps) ~= lr sign(g).
  AdamConfig cfg;
  cfg.lr = 0.01f;
  cfg.eps = 0.0f;
  std::vector<double> p = {1.0, -2.0, 0.5}, g = {3.0, -0.25, 1e-3}, m(3, 0.0), v(3, 0.0);
  const uint64_t t = 1;
  cpu::adam_step<double>(cfg, p.data(), g.data(), m.data(), v.data(), 3, &t, nullptr);
  const double lr = double(cfg.lr);
  EXPECT_NEAR(p[0], 1.0 - lr, 1e-15);
  EXPECT_NEAR(p[1], -2.0 + lr, 1e-15);
  EXPECT_NEAR(p[2], 0.5 - lr, 1e-15);
}

TEST(CpuAdam, HandComputedSequence) {
  // Three steps on one parameter with gradients 0.5, -1.0, 2.0, beta1 0.5 (as the GAN seeds use),
  // beta2 0.999, lr 2e-4, eps 1e-7, written out term by term.
  AdamConfig cfg;
  cfg.lr = 2e-4f;
  cfg.beta1 = 0.5f;
  cfg.eps = 1e-7f;
  const double lr = double(cfg.lr), b1 = 0.5, b2 = double(cfg.beta2), eps = double(cfg.eps);
  const double grads[3] = {0.5, -1.0, 2.0};
  double p = 0.3, m = 0, v = 0;
  double p_op = 0.3, m_op = 0, v_op = 0;
  for (uint64_t t = 1; t <= 3; ++t) {
    const double g = grads[t - 1];
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const double m_hat = m / (1 - std::pow(b1, double(t)));
    const double v_hat = v / (1 - std::pow(b2, double(t)));
    p -= lr * m_hat / (std::sqrt(v_hat) + eps);
    cpu::adam_step<double>(cfg, &p_op, &g, &m_op, &v_op, 1, &t, nullptr);
    EXPECT_NEAR(m_op, m, 1e-15) << "t=" << t;
    EXPECT_NEAR(v_op, v, 1e-15) << "t=" << t;
    EXPECT_NEAR(p_op, p, 1e-15) << "t=" << t;
  }
  // Spot values: m after three steps = 0.5 (0.5 (0.5 * 0.5) - 0.5) + 1.0 = 0.8125.
  EXPECT_NEAR(m_op, 0.8125, 1e-15);
}

TEST(CpuAdam, WeightDecayL2AndDecoupled) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 17;
  auto p0 = rng.vec<double>(N), g = rng.vec<double>(N);
  for (bool decoupled : {false, true}) {
    AdamConfig cfg;
    cfg.lr = 0.05f;
    cfg.weight_decay = 0.1f;
    cfg.decoupled = decoupled;
    std::vector<double> p(p0), m(N, 0), v(N, 0);
    const uint64_t t = 1;
    cpu::adam_step<double>(cfg, p.data(), g.data(), m.data(), v.data(), N, &t, nullptr);
    const double lr = double(cfg.lr), wd = double(cfg.weight_decay), eps = double(cfg.eps);
    for (size_t i = 0; i < N; ++i) {
      double want;
      if (decoupled) {  // p (1 - lr wd) - lr g / (|g| + eps)
        want = p0[i] * (1 - lr * wd) - lr * g[i] / (std::fabs(g[i]) + eps);
      } else {  // g' = g + wd p; p - lr g' / (|g'| + eps)
        const double ge = g[i] + wd * p0[i];
        want = p0[i] - lr * ge / (std::fabs(ge) + eps);
      }
      EXPECT_NEAR(p[i], want, 1e-14) << (decoupled ? "AdamW" : "L2") << " element " << i;
    }
  }
}

TEST(CpuAdam, StepCounterDrivesBiasCorrection) {
  // Same state, different t: the update must differ exactly as 1 - beta^t says.
  AdamConfig cfg;
  std::vector<double> g = {0.7};
  for (uint64_t t : {1ull, 2ull, 10ull, 1000ull}) {
    std::vector<double> p = {0.0}, m = {0.2}, v = {0.04};
    const double b1 = double(cfg.beta1), b2 = double(cfg.beta2);
    const double mm = b1 * 0.2 + (1 - b1) * 0.7, vv = b2 * 0.04 + (1 - b2) * 0.49;
    const double want = -double(cfg.lr) * (mm / (1 - std::pow(b1, double(t)))) /
                        (std::sqrt(vv / (1 - std::pow(b2, double(t)))) + double(cfg.eps));
    uint64_t step = 0;
    cpu::counter_add(&step, t);
    cpu::adam_step<double>(cfg, p.data(), g.data(), m.data(), v.data(), 1, &step, nullptr);
    EXPECT_NEAR(p[0], want, 1e-15) << "t=" << t;
  }
}

TEST(CpuAdam, StaircaseDecayScalesTheRate) {
  // At t = 1 each step is lr_t sign(g) (eps 0): lr 0.1 halved every 2 steps is 0.1, 0.1, 0.05,
  // 0.05, 0.025 at t = 1..5, read from the step counter; decay_every 0 keeps 0.1.
  AdamConfig cfg;
  cfg.lr = 0.1f;
  cfg.eps = 0.0f;
  cfg.decay = 0.5f;
  cfg.decay_every = 2;
  const double want[] = {0.1, 0.1, 0.05, 0.05, 0.025};
  for (uint64_t t = 1; t <= 5; ++t) {
    // Moments as after t - 1 gradients of 1 make m_hat = v_hat = 1 at step t: a step of lr_t.
    double p = 0, g = 1;
    double m = 1 - std::pow(double(cfg.beta1), double(t - 1));
    double v = 1 - std::pow(double(cfg.beta2), double(t - 1));
    cpu::adam_step<double>(cfg, &p, &g, &m, &v, 1, &t, nullptr);
    // 1e-8: 0.1f is not 0.1.
    EXPECT_NEAR(-p, want[t - 1], 1e-8) << "t " << t;
  }
  cfg.decay_every = 0;
  double p = 0, g = 1, m = 0, v = 0;
  const uint64_t t = 7;
  m = 1 - std::pow(double(cfg.beta1), 6.0);
  v = 1 - std::pow(double(cfg.beta2), 6.0);
  cpu::adam_step<double>(cfg, &p, &g, &m, &v, 1, &t, nullptr);
  EXPECT_NEAR(-p, double(cfg.lr), 1e-12) << "decay_every 0: no decay";
}

// The float path's vector code (AVX-512, AVX2: whichever this CPU has) and its thread split give
// the scalar update's bits, element for element: random states at several magnitudes, lengths
// that leave every kind of tail, special values, both weight-decay modes, and the non-finite flags.
TEST(CpuAdam, FloatVectorPathsEqualTheScalarUpdateBitwise) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const cpu::Isa detected = cpu::isa_detected();
  for (int level = 0; level <= int(detected); ++level) {
    cpu::set_isa_cap(cpu::Isa(level));
    ASSERT_EQ(cpu::isa(), cpu::Isa(level));
    for (size_t N : {size_t(1), size_t(15), size_t(17), size_t(100003), size_t(200000)}) {
      for (int mode = 0; mode < 3; ++mode) {  // plain, L2 decay, decoupled decay
        AdamConfig cfg;
        cfg.lr = float(rng.uniform(1e-4, 1e-2));
        cfg.beta1 = float(rng.uniform(0.5, 0.95));
        cfg.eps = mode == 0 ? 1e-7f : 1e-8f;
        cfg.weight_decay = mode == 0 ? 0.0f : float(rng.uniform(0.01, 0.1));
        cfg.decoupled = mode == 2;
        cfg.decay = 0.9f, cfg.decay_every = 3;
        const uint64_t t = uint64_t(rng.uniform_int(1, 50));
        std::vector<float> p = rng.vec<float>(N, -2, 2), g = rng.vec<float>(N, -1, 1);
        std::vector<float> m = rng.vec<float>(N, -0.1, 0.1), v = rng.vec<float>(N, 0, 0.01);
        for (size_t i = 0; i < N; i += 7) g[i] *= 1e-20f;  // tiny gradients: v near eps^2
        // One non-finite input per mode, so each of the three checks is needed for its flag: a NaN
        // m (bad state and, through the step, a bad p); an infinite v (bad state, p finite: the
        // step is 0); an infinite p with decoupled decay (p - lr wd p is NaN, g untouched). The
        // last is at N - 1: the scalar tail when N is not a whole number of vectors.
        bool want_p = false, want_state = false;
        if (N > 15 && mode == 0) m[N / 2] = NAN, want_p = want_state = true;
        if (N > 15 && mode == 1) v[N / 3] = INFINITY, want_state = true;
        if (N > 15 && mode == 2) p[N - 1] = INFINITY, want_p = true;
        std::vector<float> pw = p, mw = m, vw = v;
        const float lr = staircase_lr(cfg.lr, cfg.decay, cfg.decay_every, t);
        float step_size, v_scale;
        adam_step_factors(lr, cfg.beta1, cfg.beta2, t, step_size, v_scale);
        for (size_t i = 0; i < N; ++i)
          adam_update<float>(pw[i], g[i], mw[i], vw[i], lr, step_size, v_scale, cfg.beta1,
                             cfg.beta2, cfg.eps, cfg.weight_decay, cfg.decoupled);
        float flags[kNonfiniteFlags] = {0, 0};
        cpu::adam_step<float>(cfg, p.data(), g.data(), m.data(), v.data(), N, &t, flags);
        const std::string where = std::string(cpu::isa_name(cpu::Isa(level))) + " N " +
                                  std::to_string(N) + " mode " + std::to_string(mode);
        EXPECT_TRUE(same_bits("p " + where, p, pw));
        EXPECT_TRUE(same_bits("m " + where, m, mw));
        EXPECT_TRUE(same_bits("v " + where, v, vw));
        EXPECT_EQ(flags[kNonfiniteParams], want_p ? 1.0f : 0.0f) << where;
        EXPECT_EQ(flags[kNonfiniteState], want_state ? 1.0f : 0.0f) << where;
      }
    }
  }
  cpu::set_isa_cap(cpu::Isa::Avx512);
}
