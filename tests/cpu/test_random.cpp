// Random fills: Philox known answers, moments within statistical bounds, determinism by
// (seed, stream, counter), float and double drawing the same numbers; stratified fills and
// annealed instance noise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/cpu/isa.h"
#include "kernels/cpu/philox_batch.h"
#include "kernels/dropout.h"
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
  // with kurtosis k (3 normal, 1.8 uniform). At N = 2^20 each statistic is normal to within a
  // skewness correction of < 40% at 6 sd (the worst, mean of x^4: skewness 10 / sqrt(N) = 0.01),
  // so each of the 8 fails a correct fill with P ~ 2e-9 (two-sided); with the chi-square below
  // (1e-7) the test fails by chance with P < 1.2e-7. A real defect moves these statistics by
  // hundreds of standard errors (a missing Box-Muller branch, a 23-bit uniform, an off-by-one bin).
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
    // Ten equal bins: a chi-square test with 9 degrees of freedom. P(chi2_9 > 50.2) = 1.0e-7
    // (the earlier bound, 33.7, is the 0.9999 quantile: one fresh run in 10,000 would fail). The
    // power hardly changes: a bin 1% light or heavy (~1,050 draws) adds ~10 to chi2 alone.
    std::vector<double> bins(10, 0);
    for (double x : v) bins[size_t(x * 10)] += 1;
    double chi2 = 0;
    for (double b : bins) chi2 += (b - n / 10) * (b - n / 10) / (n / 10);
    EXPECT_LT(chi2, 50.2);
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
  // Independent float normals coincide with P < 1e-7 per element: P(3 of 1001) < 1e-12.
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

TEST(CpuRandom, Stratified01HasOneDrawPerStratumInOrder) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  EXPECT_STREQ(distribution_name(Distribution::Stratified01), "stratified01");
  for (size_t N : {size_t(1), size_t(2), size_t(3), size_t(7), size_t(64), size_t(1000),
                   size_t(4097), size_t(1) << 20}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const uint64_t seed = rng.bits(), counter = rng.bits();
    const uint32_t stream = uint32_t(rng.bits());
    std::vector<float> f(N);
    std::vector<double> d(N), u(N);
    cpu::random_fill<float>(f.data(), N, Distribution::Stratified01, seed, stream, &counter);
    cpu::random_fill<double>(d.data(), N, Distribution::Stratified01, seed, stream, &counter);
    cpu::random_fill<double>(u.data(), N, Distribution::Uniform01, seed, stream, &counter);
    for (size_t i = 0; i < N; ++i) {
      // In double, i + u_i is exact and (i + u_i) / N rounded once: the stratum's bounds as the
      // same division rounds them (the exact i / N is not a double in general).
      const double lo = double(i) / double(N), hi = double(i + 1) / double(N);
      ASSERT_GE(d[i], lo) << "i " << i;
      ASSERT_LE(d[i], hi) << "i " << i;
      ASSERT_LT(d[i], 1.0) << "i " << i;
      ASSERT_EQ(d[i], std::min((double(i) + u[i]) / double(N), 0x1.fffffffffffffp-1))
          << "element i uses Uniform01's draw for element i, i " << i;
      ASSERT_GE(f[i], float(lo)) << "i " << i;
      ASSERT_LE(f[i], float(hi)) << "i " << i;
      ASSERT_LT(f[i], 1.0f) << "i " << i;
      ASSERT_GE(f[i], 0.0f) << "i " << i;
      // float is the double fill rounded once more (and kept below 1).
      ASSERT_EQ(f[i], std::min(float(d[i]), 0x1.fffffep-1f)) << "i " << i;
      if (i > 0) {
        ASSERT_LE(d[i - 1], d[i]) << "ascending, i " << i;
        ASSERT_LE(f[i - 1], f[i]) << "ascending, i " << i;
      }
    }
  }
  // The top of the last stratum: u = 1 - 2^-24 with N = 2 gives 1 - 2^-25 in double, which rounds
  // to 1.0f (a tie, to even): clamped to the largest float below 1. Same for double at large N.
  EXPECT_EQ(stratified01_from_bits<float>(0xFFFFFFFFu, 1, 2), 0x1.fffffep-1f);
  EXPECT_EQ(stratified01_from_bits<double>(0xFFFFFFFFu, 1, 2), 1.0 - 0x1p-25);
  EXPECT_EQ(stratified01_from_bits<double>(0xFFFFFFFFu, (uint64_t(1) << 31) - 1, uint64_t(1) << 31),
            0x1.fffffffffffffp-1);
  EXPECT_EQ(stratified01_from_bits<float>(0u, 0, 5), 0.0f);
  EXPECT_EQ(stratified01_from_bits<float>(0u, 3, 4), 0.75f);
}

TEST(CpuRandom, AddNoiseAnnealsLinearlyAndDrawsRandomFillsNormals) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const size_t N = 1003;  // not a multiple of the Philox block
  const uint64_t seed = rng.bits();
  const uint32_t stream = uint32_t(rng.bits());
  const auto x = rng.vec<double>(N, -2, 2);
  const auto xf = rng.vec<float>(N, -2, 2);

  // x = 0, sigma0 = 1, no annealing: exactly random_fill's Normal, in float and double.
  for (uint64_t t : {uint64_t(1), uint64_t(7), rng.bits()}) {
    std::vector<float> zf(N, 0.0f), nf(N);
    std::vector<double> zd(N, 0.0), nd(N);
    cpu::add_noise<float>(zf.data(), zf.data(), N, 1.0f, 0, seed, stream, &t);
    cpu::add_noise<double>(zd.data(), zd.data(), N, 1.0f, 0, seed, stream, &t);
    cpu::random_fill<float>(nf.data(), N, Distribution::Normal, seed, stream, &t);
    cpu::random_fill<double>(nd.data(), N, Distribution::Normal, seed, stream, &t);
    EXPECT_TRUE(all_close("float", zf, nf, 0, 0)) << "t " << t;
    EXPECT_TRUE(all_close("double", zd, nd, 0, 0)) << "t " << t;
  }

  // sigma0 0.8 annealed over 4 steps: sigma_t = 0.8, 0.6, 0.4, 0.2 for t = 1..4, then 0.
  const float sigma0 = 0.8f;
  const uint64_t anneal = 4;
  const double want_sigma[] = {0.8, 0.6, 0.4, 0.2, 0, 0, 0};
  const uint64_t steps[] = {1, 2, 3, 4, 5, 6, 1000};
  for (int s = 0; s < 7; ++s) {
    const uint64_t t = steps[s];
    SCOPED_TRACE("t=" + std::to_string(t));
    // The schedule itself: the hand values (0.8f is not exactly 0.8), 0 exact at and after 5.
    EXPECT_NEAR(instance_noise_sigma<double>(sigma0, anneal, t), want_sigma[s], 1e-7);
    EXPECT_NEAR(instance_noise_sigma<float>(sigma0, anneal, t), want_sigma[s], 1e-7);
    std::vector<double> n(N), y(N);
    cpu::random_fill<double>(n.data(), N, Distribution::Normal, seed, stream, &t);
    cpu::add_noise<double>(x.data(), y.data(), N, sigma0, anneal, seed, stream, &t);
    std::vector<double> want(N);
    for (size_t i = 0; i < N; ++i) want[i] = x[i] + want_sigma[s] * n[i];
    // 0.8f vs 0.8: |sigma error| ~ 1.2e-8 times |n| <= 6.
    EXPECT_TRUE(all_close("y", y, want, 1e-7, 1e-15));
    if (want_sigma[s] == 0) {
      EXPECT_TRUE(all_close("exact copy", y, x, 0, 0));
      // Copied bits: -0 stays -0 (x + 0 n would give +0).
      double minus_zero = -0.0, out = 1.0;
      cpu::add_noise<double>(&minus_zero, &out, 1, sigma0, anneal, seed, stream, &t);
      EXPECT_TRUE(std::signbit(out));
    }
    // In float, in place (y == x): the noise equals sigma_t times random_fill's Normal, where
    // sigma_t is computed as the op does; x + sigma n rounded once, the same expression.
    std::vector<float> yf = xf, nf(N);
    cpu::add_noise<float>(yf.data(), yf.data(), N, sigma0, anneal, seed, stream, &t);
    cpu::random_fill<float>(nf.data(), N, Distribution::Normal, seed, stream, &t);
    const float sf = instance_noise_sigma<float>(sigma0, anneal, t);
    std::vector<float> wantf(N);
    for (size_t i = 0; i < N; ++i) wantf[i] = sf == 0.0f ? xf[i] : xf[i] + sf * nf[i];
    EXPECT_TRUE(all_close("y (float, in place)", yf, wantf, 0, 0));
  }
  // anneal 0: sigma0 at every step.
  for (uint64_t t : {uint64_t(1), uint64_t(2), uint64_t(1) << 40})
    EXPECT_EQ(instance_noise_sigma<float>(sigma0, 0, t), sigma0);
  // t read before any step (0) counts as the first.
  EXPECT_EQ(instance_noise_sigma<float>(sigma0, anneal, 0), sigma0);
}

// The batched Philox behind dropout and random fills (16 or 8 blocks per pass in vector
// registers) gives philox_block's words exactly, at every instruction-set level this CPU has,
// for fresh keys, streams, 64-bit counters (high word set), starting blocks and every count up
// to past two vector widths, and a long run; and dropout, whose masks it now draws, keeps the
// elements whose word says so (forward, and backward in place).
TEST(CpuRandom, BatchedPhiloxIsPhiloxBlockAtEveryLevel) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int level = 0; level <= int(cpu::isa_detected()); ++level) {
    cpu::set_isa_cap(cpu::Isa(level));
    for (int trial = 0; trial < 4; ++trial) {
      const uint64_t seed = rng.bits(), counter = rng.bits();
      const uint32_t stream = uint32_t(rng.bits()), group0 = uint32_t(rng.bits() >> 40);
      for (size_t groups : {0, 1, 7, 8, 9, 15, 16, 17, 33, 1000}) {
        std::vector<uint32_t> got(4 * groups + 1, 0xDEADBEEFu);
        cpu::philox_words(seed, stream, counter, group0, groups, got.data());
        for (size_t g = 0; g < groups; ++g) {
          const Philox4 w = philox_block(seed, stream, counter, group0 + uint32_t(g));
          for (int j = 0; j < 4; ++j)
            ASSERT_EQ(got[4 * g + j], w.v[j])
                << cpu::isa_name(cpu::Isa(level)) << " block " << g << " of " << groups;
        }
        EXPECT_EQ(got[4 * groups], 0xDEADBEEFu) << "wrote past the end";
      }
    }
    const size_t N = 2500;  // two full chunks of 1024 and a ragged one
    const float p = 0.3f;
    const uint64_t seed = rng.bits(), counter = rng.bits();
    std::vector<float> x = rng.vec<float>(N, 0.5, 2.0), y(N);
    cpu::dropout_forward<float>(x.data(), y.data(), N, p, true, seed, 7, &counter);
    std::vector<float> dx = x;  // the backward pass in place: the same mask and scale
    cpu::dropout_backward<float>(dx.data(), dx.data(), N, p, seed, 7, &counter);
    for (size_t i = 0; i < N; ++i) {
      const bool keep = dropout_keep(philox_block(seed, 7, counter, uint32_t(i / 4)).v[i % 4], p);
      ASSERT_EQ(y[i], keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f) << "element " << i;
      ASSERT_EQ(dx[i], y[i]) << "backward, element " << i;
    }
  }
  cpu::set_isa_cap(cpu::Isa::Avx512);
}
