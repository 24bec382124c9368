// Toy 2D distributions (ring, grid, parabola) and their quality metrics: known answers for the
// mode metrics, Wasserstein-1 and moments; statistical checks of the samplers with bounds derived
// from their exact distributions; determinism by seed; bad inputs rejected with their message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/data/toy_data.h"
#include "engine/eval/toy_metrics.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

// Per-mode count, mean and std of points assigned to their nearest center.
struct PerMode {
  std::vector<long> n;
  std::vector<double> mx, my, sx, sy;
};
PerMode per_mode(const ToyModes& m, const std::vector<float>& pts) {
  const size_t k = m.centers.size() / 2;
  PerMode r{std::vector<long>(k), std::vector<double>(k), std::vector<double>(k),
            std::vector<double>(k), std::vector<double>(k)};
  std::vector<size_t> which(pts.size() / 2);
  for (size_t p = 0; p < which.size(); ++p) {
    double best = 1e300;
    for (size_t i = 0; i < k; ++i) {
      double dx = pts[2 * p] - m.centers[2 * i], dy = pts[2 * p + 1] - m.centers[2 * i + 1];
      if (dx * dx + dy * dy < best) best = dx * dx + dy * dy, which[p] = i;
    }
    ++r.n[which[p]];
    r.mx[which[p]] += pts[2 * p];
    r.my[which[p]] += pts[2 * p + 1];
  }
  for (size_t i = 0; i < k; ++i) r.mx[i] /= double(r.n[i]), r.my[i] /= double(r.n[i]);
  for (size_t p = 0; p < which.size(); ++p) {
    size_t i = which[p];
    r.sx[i] += (pts[2 * p] - r.mx[i]) * (pts[2 * p] - r.mx[i]);
    r.sy[i] += (pts[2 * p + 1] - r.my[i]) * (pts[2 * p + 1] - r.my[i]);
  }
  for (size_t i = 0; i < k; ++i)
    r.sx[i] = std::sqrt(r.sx[i] / double(r.n[i])), r.sy[i] = std::sqrt(r.sy[i] / double(r.n[i]));
  return r;
}

}  // namespace

TEST(CpuToyData, RingAndGridCenters) {
  ToyModes ring = ring_modes();
  ASSERT_EQ(ring.k(), 8);
  EXPECT_EQ(ring.sigma, 0.02f);
  std::vector<double> want;
  for (int i = 0; i < 8; ++i) {
    want.push_back(2.0 * std::cos(2.0 * std::numbers::pi * i / 8));
    want.push_back(2.0 * std::sin(2.0 * std::numbers::pi * i / 8));
  }
  EXPECT_TRUE(all_close("ring centers", ring.centers, want, 1e-6, 0.0));

  ToyModes grid = grid_modes();
  ASSERT_EQ(grid.k(), 25);
  EXPECT_EQ(grid.sigma, 0.05f);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      EXPECT_EQ(grid.centers[2 * (5 * i + j)], float(-4 + 2 * i));
      EXPECT_EQ(grid.centers[2 * (5 * i + j) + 1], float(-4 + 2 * j));
    }
}

TEST(CpuToyMetrics, PointsAtEveryCenter) {
  ToyModes m = ring_modes();
  ModeMetrics r = mode_metrics(m, m.centers);  // one point exactly at each of the 8 centers
  EXPECT_EQ(r.modes_captured, 8);
  EXPECT_EQ(r.high_quality_count, 8);
  EXPECT_EQ(r.high_quality_fraction, 1.0);
  EXPECT_NEAR(r.reverse_kl, 0.0, 1e-12);
}

TEST(CpuToyMetrics, AllPointsInOneMode) {
  ToyModes m = ring_modes();
  std::vector<float> pts;
  for (int p = 0; p < 100; ++p) pts.insert(pts.end(), {m.centers[6], m.centers[7]});
  ModeMetrics r = mode_metrics(m, pts);
  EXPECT_EQ(r.modes_captured, 1);
  EXPECT_EQ(r.high_quality_fraction, 1.0);
  EXPECT_NEAR(r.reverse_kl, std::log(8.0), 1e-12);
}

TEST(CpuToyMetrics, PointsFarFromEveryMode) {
  ToyModes m = ring_modes();
  std::vector<float> pts(2 * 50, 0.0f);  // the origin: distance 2 = 100 sigma from every center
  pts.insert(pts.end(), {0.0f, 0.5f, 10.0f, 10.0f});
  ModeMetrics r = mode_metrics(m, pts);
  EXPECT_EQ(r.modes_captured, 0);
  EXPECT_EQ(r.high_quality_count, 0);
  EXPECT_EQ(r.high_quality_fraction, 0.0);
  EXPECT_TRUE(std::isnan(r.reverse_kl)) << "q is undefined without HQ samples";
}

TEST(CpuToyMetrics, ThresholdIsThreeSigmaInclusiveAndMinCount) {
  ToyModes m{{0.0f, 0.0f, 10.0f, 0.0f}, 0.5f};  // 3 sigma = 1.5 (exact in float)
  // On the 3-sigma circle (HQ), just outside it (not HQ), and two HQ points at mode 1.
  std::vector<float> pts{1.5f, 0.0f, 0.0f, std::nextafter(1.5f, 2.0f), 10.0f, 1.0f, 9.0f, 0.0f};
  ModeMetrics r = mode_metrics(m, pts);
  EXPECT_EQ(r.high_quality_count, 3);
  EXPECT_EQ(r.high_quality_fraction, 0.75);
  EXPECT_EQ(r.modes_captured, 2);
  // q = (1/3, 2/3): KL = 1/3 log(2/3) + 2/3 log(4/3)
  EXPECT_NEAR(r.reverse_kl, std::log(2.0 / 3.0) / 3 + 2 * std::log(4.0 / 3.0) / 3, 1e-12);
  EXPECT_EQ(mode_metrics(m, pts, 2).modes_captured, 1);  // only mode 1 has >= 2 HQ samples
}

TEST(CpuToyData, RingMixtureStatistics) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int n = 20000;
  ToyModes m = ring_modes();
  std::vector<float> pts = sample_mixture(m, n, rng.bits());
  ASSERT_EQ(pts.size(), size_t(2 * n));
  ModeMetrics r = mode_metrics(m, pts);
  EXPECT_EQ(r.modes_captured, 8);
  // |x - c|^2 / sigma^2 ~ chi^2_2, so P(|x - c| <= 3 sigma) = 1 - exp(-9/2) = 0.98889 (modes are
  // 1.53 = 77 sigma apart: no sample is nearer another center). Binomial standard error.
  // The exact Binomial(20000, p) tails beyond 5 se hold 9.4e-7.
  const double p = 1.0 - std::exp(-4.5), se = std::sqrt(p * (1.0 - p) / n);
  EXPECT_NEAR(p, 0.98889, 1e-5);
  EXPECT_NEAR(r.high_quality_fraction, p, 5.0 * se);
  // Reverse KL of a multinomial histogram against the true uniform weights: the G statistic
  // 2 N KL is asymptotically chi^2 with k - 1 = 7 degrees of freedom (mean 7, sd 3.7), so
  // E[KL] ~ 7 / (2 N) = 1.8e-4 for N ~ 19,800 HQ samples; 0.01 would need 2 N KL ~ 400 (never).
  // The tighter bound 2 N KL < 50 fails with probability P(chi2_7 > 50) = 1.4e-8.
  EXPECT_LT(r.reverse_kl, 0.01);
  EXPECT_LT(2.0 * r.high_quality_count * r.reverse_kl, 50.0);

  // Per mode: count ~ Binomial(n, 1/8), mean ~ center +- sigma / sqrt(n_i), std ~ sigma
  // +- sigma / sqrt(2 n_i); all within 6 standard errors: 40 checks at ~2e-9 each (the counts'
  // exact binomial tails: 2.3e-9). The whole test fails by chance with P < 1.1e-6.
  PerMode pm = per_mode(m, pts);
  for (int i = 0; i < 8; ++i) {
    SCOPED_TRACE("mode " + std::to_string(i));
    EXPECT_NEAR(double(pm.n[i]), n / 8.0, 6.0 * std::sqrt(n * (1.0 / 8) * (7.0 / 8)));
    const double se_mean = m.sigma / std::sqrt(double(pm.n[i]));
    const double se_std = m.sigma / std::sqrt(2.0 * double(pm.n[i]));
    EXPECT_NEAR(pm.mx[i], m.centers[2 * i], 6.0 * se_mean);
    EXPECT_NEAR(pm.my[i], m.centers[2 * i + 1], 6.0 * se_mean);
    EXPECT_NEAR(pm.sx[i], m.sigma, 6.0 * se_std);
    EXPECT_NEAR(pm.sy[i], m.sigma, 6.0 * se_std);
  }
}

TEST(CpuToyData, GridMixtureCapturesAll25Modes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int n = 50000;
  ToyModes m = grid_modes();
  std::vector<float> pts = sample_mixture(m, n, rng.bits());
  ModeMetrics r = mode_metrics(m, pts);
  EXPECT_EQ(r.modes_captured, 25);  // ~2000 per mode; P(a mode gets none) ~ 25 (24/25)^50000 = 0
  // P(fail by chance) < 7.6e-7 (the exact Binomial(50000, p) tails beyond 5 se) + 3e-11
  // (P(chi2_24 > 100)).
  const double p = 1.0 - std::exp(-4.5), se = std::sqrt(p * (1.0 - p) / n);
  EXPECT_NEAR(r.high_quality_fraction, p, 5.0 * se);
  EXPECT_LT(2.0 * r.high_quality_count * r.reverse_kl, 100.0);  // chi^2_24: mean 24, sd 6.9
}

TEST(CpuToyData, DeterministicBySeed) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint64_t seed = rng.bits();
  ToyModes m = ring_modes();
  EXPECT_EQ(sample_mixture(m, 1000, seed), sample_mixture(m, 1000, seed));
  EXPECT_NE(sample_mixture(m, 1000, seed), sample_mixture(m, 1000, seed + 1));
  EXPECT_EQ(sample_parabola(1000, seed), sample_parabola(1000, seed));
  EXPECT_NE(sample_parabola(1000, seed), sample_parabola(1000, seed + 1));
  // A longer draw starts with the shorter one (element i depends only on (seed, stream, i)).
  std::vector<float> a = sample_parabola(100, seed), b = sample_parabola(300, seed);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
}

TEST(CpuToyData, ParabolaPointsAndMoments) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int n = 20000;
  std::vector<float> pts = sample_parabola(n, rng.bits());
  ASSERT_EQ(pts.size(), size_t(2 * n));
  // y = float(x^2 + 5) with y in [5, 30]: rounding y to float is off by at most half an ulp of
  // y, 2^-20 = 9.5e-7 for y in [16, 32) (less below); x^2 + 5 in double is exact to ~1e-15.
  const double tol = std::ldexp(1.0, -20);
  std::vector<float> xs(n);
  for (int p = 0; p < n; ++p) {
    const double x = pts[2 * p], y = pts[2 * p + 1];
    xs[p] = pts[2 * p];
    ASSERT_GE(x, -5.0) << "point " << p;
    ASSERT_LE(x, 5.0) << "point " << p;
    ASSERT_LE(std::fabs(y - x * x - 5.0), tol) << "point " << p << " (" << x << ", " << y << ")";
  }
  EXPECT_LE(parabola_median_residual(pts), tol);
  // x ~ U[-5, 5]: mean 0, var 100/12 = 25/3; SE(mean) = sqrt(25/3 / n),
  // SE(var) = sqrt((E x^4 - var^2) / n) = sqrt((125 - 625/9) / n). Two checks at 6 se: P(fail by
  // chance) ~ 4e-9.
  Moments1D mo = moments_1d(xs);
  EXPECT_NEAR(mo.mean, 0.0, 6.0 * std::sqrt(25.0 / 3.0 / n));
  EXPECT_NEAR(mo.std * mo.std, 25.0 / 3.0, 6.0 * std::sqrt((125.0 - 625.0 / 9.0) / n));
}

TEST(CpuToyMetrics, ParabolaMedianResidualKnownAnswers) {
  // Residuals 0, 1, 3 -> median 1; adding residual 2 -> median (1 + 2) / 2.
  std::vector<float> pts{0.0f, 5.0f, 1.0f, 7.0f, 2.0f, 6.0f};
  EXPECT_DOUBLE_EQ(parabola_median_residual(pts), 1.0);
  pts.insert(pts.end(), {-1.0f, 4.0f});
  EXPECT_DOUBLE_EQ(parabola_median_residual(pts), 1.5);
}

TEST(CpuToyMetrics, Wasserstein1KnownAnswers) {
  EXPECT_DOUBLE_EQ(wasserstein1_1d({0.0f, 1.0f}, {1.0f, 2.0f}), 1.0);
  EXPECT_DOUBLE_EQ(wasserstein1_1d({3.0f, 0.0f}, {1.0f, 1.0f}), 1.5);  // sorted: |0-1| + |3-1|
  EXPECT_DOUBLE_EQ(wasserstein1_1d({2.0f, -1.0f, 5.0f}, {5.0f, 2.0f, -1.0f}), 0.0);
  EXPECT_DOUBLE_EQ(wasserstein1_1d({0.0f}, {-4.0f}), 4.0);
}

TEST(CpuToyMetrics, Wasserstein1ShiftAndSymmetry) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int t = 0; t < 20; ++t) {
    const size_t n = size_t(rng.uniform_int(1, 500));
    std::vector<float> a = rng.vec<float>(n), b = rng.vec<float>(n, -2.0, 3.0);
    const float c = float(rng.uniform(-3.0, 3.0));
    std::vector<float> ac(n);
    for (size_t i = 0; i < n; ++i) ac[i] = a[i] + c;
    // a_i + c rounds to float: each term is off by at most half an ulp of |a_i + c| <= 4.
    EXPECT_NEAR(wasserstein1_1d(a, ac), std::fabs(double(c)), 1e-6);
    EXPECT_EQ(wasserstein1_1d(a, b), wasserstein1_1d(b, a));
    EXPECT_GE(wasserstein1_1d(a, b), 0.0);
    std::vector<float> shuffled = a;
    std::reverse(shuffled.begin(), shuffled.end());
    EXPECT_EQ(wasserstein1_1d(a, shuffled), 0.0);
  }
}

TEST(CpuToyMetrics, Moments1DByHand) {
  Moments1D m = moments_1d({1.0f, 2.0f, 3.0f, 4.0f});
  EXPECT_DOUBLE_EQ(m.mean, 2.5);
  EXPECT_DOUBLE_EQ(m.std, std::sqrt(1.25));  // (2.25 + 0.25 + 0.25 + 2.25) / 4
  Moments1D one = moments_1d({-7.0f});
  EXPECT_EQ(one.mean, -7.0);
  EXPECT_EQ(one.std, 0.0);
}

TEST(CpuToyMetrics, BadInputsRejected) {
  ToyModes ring = ring_modes();
  EXPECT_TRUE(throws_with([] { wasserstein1_1d({1.0f}, {1.0f, 2.0f}); },
                          {"wasserstein1_1d", "differ in size", "1 vs 2"}));
  EXPECT_TRUE(throws_with([] { wasserstein1_1d({}, {}); }, {"wasserstein1_1d", "empty"}));
  EXPECT_TRUE(throws_with([] { moments_1d({}); }, {"moments_1d", "empty"}));
  EXPECT_TRUE(throws_with([&] { mode_metrics(ring, {}); }, {"mode_metrics", "empty"}));
  EXPECT_TRUE(throws_with([&] { mode_metrics(ring, {1.0f, 2.0f, 3.0f}); },
                          {"mode_metrics", "odd size", "3"}));
  EXPECT_TRUE(throws_with([&] { mode_metrics(ring, {1.0f, 2.0f}, 0); },
                          {"mode_metrics", "min_hq_per_mode"}));
  EXPECT_TRUE(throws_with([] { mode_metrics(ToyModes{{}, 1.0f}, {1.0f, 2.0f}); },
                          {"mode_metrics", "no centers"}));
  EXPECT_TRUE(throws_with([] { mode_metrics(ToyModes{{1.0f, 2.0f, 3.0f}, 1.0f}, {1.0f, 2.0f}); },
                          {"mode_metrics", "odd size"}));
  EXPECT_TRUE(throws_with([] { mode_metrics(ToyModes{{1.0f, 2.0f}, 0.0f}, {1.0f, 2.0f}); },
                          {"mode_metrics", "sigma"}));
  EXPECT_TRUE(throws_with([] { parabola_median_residual({}); },
                          {"parabola_median_residual", "empty"}));
  EXPECT_TRUE(throws_with([] { parabola_median_residual({1.0f}); },
                          {"parabola_median_residual", "odd size"}));
  EXPECT_TRUE(throws_with([&] { sample_mixture(ring, 0, 1); }, {"sample_mixture", "n must be"}));
  EXPECT_TRUE(throws_with([] { sample_mixture(ToyModes{{}, 1.0f}, 5, 1); },
                          {"sample_mixture", "no centers"}));
  EXPECT_TRUE(throws_with([] { sample_parabola(-1, 1); }, {"sample_parabola", "n must be"}));
  EXPECT_TRUE(throws_with([] { ring_modes(0); }, {"ring_modes", "k must be"}));
  EXPECT_TRUE(throws_with([] { ring_modes(8, -1.0f); }, {"ring_modes", "radius"}));
  EXPECT_TRUE(throws_with([] { grid_modes(0.0f); }, {"grid_modes", "sigma"}));
  EXPECT_TRUE(throws_with([] { grid_modes(NAN); }, {"grid_modes", "sigma"}));
}
