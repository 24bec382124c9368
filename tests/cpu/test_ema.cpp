// G's weight EMA against sequences computed by hand in float64: a copy of p before `start`, the
// average p + decay (e - p) from it on, exactly that formula per element in float, decay 0 a copy.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/ema.h"
#include "kernels/scalar.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {
const size_t kSizes[] = {1, 7, 100, 4097};
}  // namespace

// decay 0.5, start 3, one parameter taking p = 1, 2, 3, 4, 5 at steps 1..5 (every value exact):
// t = 1, 2 copy p (1, 2); t = 3: 3 + 0.5 (2 - 3) = 2.5; t = 4: 4 + 0.5 (2.5 - 4) = 3.25;
// t = 5: 5 + 0.5 (3.25 - 5) = 4.125. The second parameter's p = -t with decay 0.5: -1, -2, -2.5,
// -3.25, -4.125.
TEST(CpuEma, HandComputedSequence) {
  const double want0[] = {1, 2, 2.5, 3.25, 4.125};
  std::vector<double> ema = {99, -99};
  std::vector<float> ema_f = {99, -99};
  for (uint64_t t = 1; t <= 5; ++t) {
    const std::vector<double> p = {double(t), -double(t)};
    const std::vector<float> p_f = {float(t), -float(t)};
    cpu::ema_update<double>(ema.data(), p.data(), 2, 0.5f, 3, &t);
    cpu::ema_update<float>(ema_f.data(), p_f.data(), 2, 0.5f, 3, &t);
    EXPECT_EQ(ema[0], want0[t - 1]) << "step " << t;
    EXPECT_EQ(ema[1], -want0[t - 1]) << "step " << t;
    EXPECT_EQ(ema_f[0], float(want0[t - 1])) << "step " << t;
    EXPECT_EQ(ema_f[1], -float(want0[t - 1])) << "step " << t;
  }
}

// Random p over 8 steps with start 4 and a decay that is not a power of 2: the double op against
// the recurrence written out here in float64 (steps 1-3 copy p, 4-8 average): equal, the same
// operations in the same order.
TEST(CpuEma, DoubleMatchesRecurrenceOverSteps) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const float decay = 0.999f;
  const uint64_t start = 4;
  for (size_t N : kSizes) {
    SCOPED_TRACE("N=" + std::to_string(N));
    std::vector<double> ema = rng.vec<double>(N, -50, 50), want(N);
    for (uint64_t t = 1; t <= 8; ++t) {
      const auto p = rng.vec<double>(N, -2, 2);
      for (size_t i = 0; i < N; ++i)
        want[i] = t < start ? p[i] : p[i] + double(decay) * (want[i] - p[i]);
      cpu::ema_update<double>(ema.data(), p.data(), N, decay, start, &t);
      EXPECT_TRUE(all_close("ema", ema, want, 0, 0)) << "step " << t;
    }
  }
}

// In float every element is exactly p + decay (e - p) rounded step by step (the product on its
// own, not fused); before `start` it is p exactly, whatever ema held.
TEST(CpuEma, FloatIsTheFormulaPerElement) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint64_t start = 3;
  for (float decay : {0.5f, 0.9f, 0.999f, 0.9999f})
    for (size_t N : kSizes) {
      SCOPED_TRACE("decay=" + std::to_string(decay) + " N=" + std::to_string(N));
      std::vector<float> ema = rng.vec<float>(N, -5, 5);
      for (uint64_t t = 1; t <= 5; ++t) {
        const auto p = rng.vec<float>(N, -5, 5);
        std::vector<float> want(N);
        for (size_t i = 0; i < N; ++i) {
          const float product = decay * (ema[i] - p[i]);
          want[i] = t < start ? p[i] : p[i] + product;
        }
        cpu::ema_update<float>(ema.data(), p.data(), N, decay, start, &t);
        ASSERT_TRUE(same_bits("ema", ema, want)) << "step " << t;
      }
    }
}

// decay 0 gives p at every step (from any ema), start 0 averages from the first step, and a step
// far past start still averages (the comparison is on 64-bit steps).
TEST(CpuEma, DecayZeroCopiesAndStartBounds) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (size_t N : kSizes) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const auto p = rng.vec<float>(N, -3, 3);
    for (uint64_t t : {uint64_t(0), uint64_t(1), uint64_t(7), uint64_t(1) << 40}) {
      std::vector<float> ema = rng.vec<float>(N, -3, 3);
      cpu::ema_update<float>(ema.data(), p.data(), N, 0.0f, 0, &t);
      ASSERT_TRUE(same_bits("ema (decay 0)", ema, p)) << "step " << t;
    }
    std::vector<float> ema(N, 1.0f), pd(N, 3.0f);
    const uint64_t t0 = 0, far = (uint64_t(1) << 33) + 5;
    cpu::ema_update<float>(ema.data(), pd.data(), N, 0.5f, 0, &t0);
    EXPECT_EQ(ema, std::vector<float>(N, 2.0f)) << "start 0 averages at step 0";
    cpu::ema_update<float>(ema.data(), pd.data(), N, 0.5f, uint64_t(1) << 33, &far);
    EXPECT_EQ(ema, std::vector<float>(N, 2.5f)) << "step 2^33 + 5 >= start 2^33";
    const uint64_t before = (uint64_t(1) << 33) - 1;
    cpu::ema_update<float>(ema.data(), pd.data(), N, 0.5f, uint64_t(1) << 33, &before);
    EXPECT_EQ(ema, pd) << "step 2^33 - 1 < start 2^33 copies";
  }
  const uint64_t t = 5;
  cpu::ema_update<float>(nullptr, nullptr, 0, 0.5f, 1, &t);  // N = 0: nothing
}
