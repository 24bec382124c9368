// Random fills: Philox known answers, moments within statistical bounds, determinism by
// (seed, stream, counter), float and double drawing the same numbers.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/random.h"
#include "kernels/scalar.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuRandom, PhiloxKnownAnswers) {
  // Random123's kat_vectors for philox4x32-10: counter words, key words -> output words.
  struct Kat {
    uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    Philox4 r =
        philox4x32_10(Philox4{{k.ctr[0], k.ctr[1], k.ctr[2], k.ctr[3]}}, k.key[0], k.key[1]);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(r.v[j], k.out[j]) << "word " << j;
  }
}

namespace {
struct Moments {
  double mean = 0, var = 0, min = 1e300, max = -1e300;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= double(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= double(v.size() - 1);
  return m;
}
}  // namespace

TEST(CpuRandom, MomentsWithinStatisticalBounds) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 1 << 20;
  const uint64_t seed = rng.bits(), counter = rng.bits();
  std::vector<double> v(N);
  const double n = double(N);
  // Bounds are 6 standard errors: sd(mean) = sigma / sqrt(N), sd(var) ~ sigma^2 sqrt((k - 1) / N)
  // with kurtosis k (3 normal, 1.8 uniform).
  {
    cpu::random_fill<double>(v.data(), N, Distribution::Normal, seed, 0, &counter);
    Moments m = moments(v);
    EXPECT_NEAR(m.mean, 0.0, 6 / std::sqrt(n));
    EXPECT_NEAR(m.var, 1.0, 6 * std::sqrt(2.0 / n));
    double fourth = 0;
    for (double x : v) fourth += x * x * x * x / n;
    EXPECT_NEAR(fourth, 3.0, 6 * std::sqrt(96.0 / n));  // var(x^4) = 105 - 9
  }
  {
    cpu::random_fill<double>(v.data(), N, Distribution::UniformSym, seed, 1, &counter);
    Moments m = moments(v);
    EXPECT_NEAR(m.mean, 0.0, 6 * std::sqrt(1.0 / 3 / n));
    EXPECT_NEAR(m.var, 1.0 / 3, 6 * (1.0 / 3) * std::sqrt(0.8 / n));
    EXPECT_GE(m.min, -1.0);
    EXPECT_LT(m.max, 1.0);
  }
  {
    cpu::random_fill<double>(v.data(), N, Distribution::Uniform01, seed, 2, &counter);
    Moments m = moments(v);
    EXPECT_NEAR(m.mean, 0.5, 6 * std::sqrt(1.0 / 12 / n));
    EXPECT_NEAR(m.var, 1.0 / 12, 6 * (1.0 / 12) * std::sqrt(0.8 / n));
    EXPECT_GE(m.min, 0.0);
    EXPECT_LT(m.max, 1.0);
    // Ten equal bins: a chi-square test with 9 degrees of freedom (0.9999 quantile ~ 33.7).
    std::vector<double> bins(10, 0);
    for (double x : v) bins[size_t(x * 10)] += 1;
    double chi2 = 0;
    for (double b : bins) chi2 += (b - n / 10) * (b - n / 10) / (n / 10);
    EXPECT_LT(chi2, 33.7);
  }
}

TEST(CpuRandom, DeterministicBySeedStreamAndCounter) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 1001;
  const uint64_t seed = rng.bits();
  uint64_t counter = 17;
  std::vector<float> a(N), b(N), c(N), d(N), e(N);
  cpu::random_fill<float>(a.data(), N, Distribution::Normal, seed, 3, &counter);
  cpu::random_fill<float>(b.data(), N, Distribution::Normal, seed, 3, &counter);
  EXPECT_TRUE(all_close("same seed, stream and counter", b, a, 0, 0));
  cpu::random_fill<float>(c.data(), N, Distribution::Normal, seed, 4, &counter);
  cpu::random_fill<float>(e.data(), N, Distribution::Normal, seed + 1, 3, &counter);
  cpu::counter_add(&counter, 1);
  cpu::random_fill<float>(d.data(), N, Distribution::Normal, seed, 3, &counter);
  size_t same_c = 0, same_d = 0, same_e = 0;
  for (size_t i = 0; i < N; ++i) {
    same_c += c[i] == a[i];
    same_d += d[i] == a[i];
    same_e += e[i] == a[i];
  }
  EXPECT_LT(same_c, 3u) << "another stream must draw other numbers";
  EXPECT_LT(same_d, 3u) << "an advanced counter must draw other numbers";
  EXPECT_LT(same_e, 3u) << "another seed must draw other numbers";
}

TEST(CpuRandom, PrefixStableAndFloatMatchesDouble) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint64_t seed = rng.bits(), counter = 0;
  for (Distribution dist :
       {Distribution::Normal, Distribution::UniformSym, Distribution::Uniform01}) {
    std::vector<double> longer(16), shorter(10);
    cpu::random_fill<double>(longer.data(), 16, dist, seed, 9, &counter);
    cpu::random_fill<double>(shorter.data(), 10, dist, seed, 9, &counter);
    longer.resize(10);
    EXPECT_TRUE(all_close("prefix", shorter, longer, 0, 0)) << distribution_name(dist);
    std::vector<float> f(1000);
    std::vector<double> d(1000);
    cpu::random_fill<float>(f.data(), 1000, dist, seed, 9, &counter);
    cpu::random_fill<double>(d.data(), 1000, dist, seed, 9, &counter);
    // Uniforms are exact in float; Box-Muller in float differs from double by float rounding of
    // log, sqrt and cos/sin: a few 1e-7 relative, up to ~1e-6 absolute for |z| near 5.
    const double atol = dist == Distribution::Normal ? 5e-6 : 0.0;
    EXPECT_TRUE(all_close("float vs double", f, d, atol, 0)) << distribution_name(dist);
  }
}
