// Dropout: gradient check with the mask fixed by (seed, stream, counter), keep-rate statistics,
// inverted scaling, eval identity, determinism.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "kernels/dropout.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuDropout, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint64_t seed = rng.bits(), counter = rng.bits() % 1000;
  for (float p : {0.3f, 0.5f}) {
    auto x = rng.vec<double>(103);
    auto w = rng.vec<double>(x.size());
    std::vector<double> y(x.size()), dx(x.size());
    LossFn loss = [&](KinkSignature*) {
      cpu::dropout_forward<double>(x.data(), y.data(), x.size(), p, true, seed, 7, &counter);
      return weighted_sum(w, y);
    };
    cpu::dropout_backward<double>(w.data(), dx.data(), x.size(), p, seed, 7, &counter);
    expect_gradient("x", x, dx, loss);
  }
}

TEST(CpuDropout, KeepRateAndScaling) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 200001;  // not a multiple of 4
  const uint64_t seed = rng.bits(), counter = 3;
  for (float p : {0.3f, 0.5f, 0.0f}) {
    std::vector<double> x(N, 1.0), y(N);
    cpu::dropout_forward<double>(x.data(), y.data(), N, p, true, seed, 1, &counter);
    size_t kept = 0;
    for (double v : y) {
      if (v != 0.0) {
        ++kept;
        EXPECT_DOUBLE_EQ(v, 1.0 / (1.0 - double(p)));
      }
    }
    // Binomial(N, 1 - p): 6 standard deviations, exact binomial tails 2.0e-9 for each of p = 0.3
    // and 0.5 (p = 0 is exact: sd 0), so P(fail) < 4e-9. A wrong keep rate (p instead of 1 - p,
    // or a threshold off by 1%) is hundreds of standard deviations off.
    const double q = 1.0 - double(p), sd = std::sqrt(N * q * (1 - q));
    EXPECT_NEAR(double(kept), N * q, 6 * sd + 1e-9) << "p=" << p;
  }
}

TEST(CpuDropout, EvalIsIdentityAndMasksAreDeterministic) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  auto x = rng.vec<double>(99);
  std::vector<double> y(x.size()), y2(x.size()), y3(x.size());
  const uint64_t c0 = 5, c1 = 6;
  cpu::dropout_forward<double>(x.data(), y.data(), x.size(), 0.5f, false, 1, 0, &c0);
  EXPECT_TRUE(all_close("eval", y, x, 0, 0));
  cpu::dropout_forward<double>(x.data(), y.data(), x.size(), 0.5f, true, 42, 0, &c0);
  cpu::dropout_forward<double>(x.data(), y2.data(), x.size(), 0.5f, true, 42, 0, &c0);
  EXPECT_TRUE(all_close("same draw", y2, y, 0, 0));
  cpu::dropout_forward<double>(x.data(), y3.data(), x.size(), 0.5f, true, 42, 0, &c1);
  size_t differ = 0;
  for (size_t i = 0; i < x.size(); ++i) differ += (y3[i] == 0.0) != (y[i] == 0.0);
  // Independent masks at p = 0.5 differ in Binomial(99, 1/2) elements: P(<= 10) = 2.8e-17.
  EXPECT_GT(differ, 10u) << "a new counter value must draw a new mask";
}
