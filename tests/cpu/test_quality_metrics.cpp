// Evaluation metrics (engine/eval/quality_metrics.h): feature statistics against a by-hand
// two-pass sum; the Frechet distance against closed forms (diagonal, commuting and general 2 x 2
// covariances) and on singular covariances; the classifier score and class coverage on known
// predictions; k-NN precision/recall on hand-made sets with radii worked out by hand, on point
// clouds with a known answer, and against a brute-force double implementation on random data;
// bad inputs rejected with their message.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "engine/eval/quality_metrics.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

// A FeatureStats built directly from a mean and a (dim, dim) covariance.
FeatureStats make_stats(std::vector<double> mean, std::vector<double> cov, int64_t n = 100) {
  FeatureStats s;
  s.dim = int(mean.size());
  s.n = n;
  s.mean = std::move(mean);
  s.cov = std::move(cov);
  return s;
}

// Standard normal by Box-Muller from the test's Rng.
double normal(Rng& rng) {
  const double u1 = rng.uniform(1e-12, 1.0), u2 = rng.uniform(0.0, 1.0);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// A random orthogonal (d, d) matrix, row-major: Gram-Schmidt on Gaussian columns.
std::vector<double> random_rotation(Rng& rng, int d) {
  std::vector<double> q(size_t(d) * d);
  for (int c = 0; c < d; ++c) {
    std::vector<double> v(d);
    for (double& x : v) x = normal(rng);
    for (int p = 0; p < c; ++p) {
      double dot = 0.0;
      for (int r = 0; r < d; ++r) dot += v[r] * q[size_t(r) * d + p];
      for (int r = 0; r < d; ++r) v[r] -= dot * q[size_t(r) * d + p];
    }
    double nrm = 0.0;
    for (double x : v) nrm += x * x;
    nrm = std::sqrt(nrm);
    for (int r = 0; r < d; ++r) q[size_t(r) * d + c] = v[r] / nrm;
  }
  return q;
}

// Q diag(lambda) Q^T.
std::vector<double> conjugate(const std::vector<double>& q, const std::vector<double>& lambda) {
  const int d = int(lambda.size());
  std::vector<double> s(size_t(d) * d, 0.0);
  for (int r = 0; r < d; ++r)
    for (int c = 0; c < d; ++c)
      for (int p = 0; p < d; ++p) s[size_t(r) * d + c] += q[r * d + p] * lambda[p] * q[c * d + p];
  return s;
}

double dist2(const float* a, const float* b, int dim) {
  double s = 0.0;
  for (int c = 0; c < dim; ++c) s += (double(a[c]) - double(b[c])) * (double(a[c]) - double(b[c]));
  return s;
}

// Brute force in double: k-th smallest squared distance to the other points (by index).
std::vector<double> brute_radius2(const std::vector<float>& x, int dim, int k) {
  const size_t n = x.size() / dim;
  std::vector<double> out(n), d(n - 1);
  for (size_t i = 0; i < n; ++i) {
    size_t m = 0;
    for (size_t j = 0; j < n; ++j)
      if (j != i) d[m++] = dist2(&x[i * dim], &x[j * dim], dim);
    std::nth_element(d.begin(), d.begin() + (k - 1), d.end());
    out[i] = d[k - 1];
  }
  return out;
}

// Brute force: 1 where some point j of `ref` has |q - ref_j|^2 <= radius2_j.
std::vector<uint8_t> brute_inside(const std::vector<float>& q, const std::vector<float>& ref,
                                  const std::vector<double>& radius2, int dim) {
  std::vector<uint8_t> out(q.size() / dim, 0);
  for (size_t i = 0; i < out.size(); ++i)
    for (size_t j = 0; j < radius2.size() && !out[i]; ++j)
      out[i] = dist2(&q[i * dim], &ref[j * dim], dim) <= radius2[j];
  return out;
}

// Largest |x_i - mean|^2 over the rows of x: the scale of the float Gram's error bound.
double max_centered_norm2(const std::vector<float>& x, int dim) {
  const size_t n = x.size() / dim;
  std::vector<double> mu(dim, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < dim; ++c) mu[c] += x[i * dim + c] / double(n);
  double worst = 0.0;
  for (size_t i = 0; i < n; ++i) {
    double s = 0.0;
    for (int c = 0; c < dim; ++c) s += (x[i * dim + c] - mu[c]) * (x[i * dim + c] - mu[c]);
    worst = std::max(worst, s);
  }
  return worst;
}

// knn_manifolds against the brute force. Radii: exactly equal when exact_radii, otherwise within
// the documented bound (a float-Gram near tie at the k-th neighbour may pick a neighbour whose
// exact squared distance is up to 2 (dim + 4) 2^-24 (|a'|^2 + |b'|^2) larger; checked with twice
// that). Flags: membership given the returned radii is decided exactly, so every flag must equal
// the brute force computed with those radii.
void expect_matches_brute_force(const std::vector<float>& real, const std::vector<float>& fake,
                                int dim, int k, bool exact_radii) {
  const KnnManifolds m =
      knn_manifolds(real.data(), real.size() / dim, fake.data(), fake.size() / dim, dim, k);
  const std::vector<double> rr = brute_radius2(real, dim, k), rf = brute_radius2(fake, dim, k);
  const double bound = 4.0 * (dim + 4) * 0x1p-24 * 2.0;
  const double atol_r = exact_radii ? 0.0 : bound * max_centered_norm2(real, dim);
  const double atol_f = exact_radii ? 0.0 : bound * max_centered_norm2(fake, dim);
  EXPECT_TRUE(all_close("real_radius2", m.real_radius2, rr, atol_r, 0.0));
  EXPECT_TRUE(all_close("fake_radius2", m.fake_radius2, rf, atol_f, 0.0));
  const std::vector<uint8_t> fin = brute_inside(fake, real, m.real_radius2, dim);
  const std::vector<uint8_t> rin = brute_inside(real, fake, m.fake_radius2, dim);
  EXPECT_TRUE(all_close("fake_in_real", m.fake_in_real, fin, 0.0, 0.0));
  EXPECT_TRUE(all_close("real_in_fake", m.real_in_fake, rin, 0.0, 0.0));
  const PrecisionRecall pr =
      precision_recall(real.data(), real.size() / dim, fake.data(), fake.size() / dim, dim, k);
  EXPECT_EQ(pr.precision, double(std::accumulate(fin.begin(), fin.end(), 0)) / fin.size());
  EXPECT_EQ(pr.recall, double(std::accumulate(rin.begin(), rin.end(), 0)) / rin.size());
}

}  // namespace

// ---- feature statistics and the Frechet distance ----------------------------------------------

TEST(QualityMetrics, FeatureStatsMatchesTwoPassByHand) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 9);
  const size_t n = size_t(rng.uniform_int(2, 2100));  // crosses feature_stats' 1024-row chunks
  // A common offset of 1000: a one-pass sum of squares would lose most digits.
  std::vector<float> x = rng.vec<float>(n * dim, 999.0, 1001.0);
  const FeatureStats s = feature_stats(x.data(), n, dim);
  EXPECT_EQ(s.dim, dim);
  EXPECT_EQ(s.n, int64_t(n));
  std::vector<double> mean(dim, 0.0), cov(size_t(dim) * dim, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < dim; ++c) mean[c] += x[i * dim + c];
  for (double& m : mean) m /= double(n);
  for (size_t i = 0; i < n; ++i)
    for (int r = 0; r < dim; ++r)
      for (int c = 0; c < dim; ++c)
        cov[r * dim + c] += (x[i * dim + r] - mean[r]) * (x[i * dim + c] - mean[c]);
  for (double& v : cov) v /= double(n - 1);
  EXPECT_TRUE(all_close("mean", s.mean, mean, 0.0, 1e-13));
  // Entries are ~1/3 (uniform on width 2); summation-order differences are ~1e-16 relative to
  // the sum of |products|, so 1e-12 absolute.
  EXPECT_TRUE(all_close("cov", s.cov, cov, 1e-12, 1e-10));
}

TEST(QualityMetrics, FrechetOfASetWithItselfIsZero) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 24);
  const size_t n = size_t(rng.uniform_int(dim + 2, 400));
  std::vector<float> x = rng.vec<float>(n * dim, -3.0, 5.0);
  const FeatureStats s = feature_stats(x.data(), n, dim);
  double tr = 0.0;
  for (int c = 0; c < dim; ++c) tr += s.cov[c * dim + c];
  const double fd = frechet_distance(s, s);
  EXPECT_GE(fd, 0.0);
  EXPECT_LE(fd, 1e-9 * 2.0 * tr);
}

TEST(QualityMetrics, FrechetDiagonalAndCommutingCovariancesMatchClosedForm) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 12);
  // Commuting pair: S1 = Q D1 Q^T, S2 = Q D2 Q^T, so S1^{1/2} S2 S1^{1/2} = Q D1 D2 Q^T and
  // FD = |mu1 - mu2|^2 + sum (sqrt d1 - sqrt d2)^2. Q = I is the diagonal case.
  for (bool rotate : {false, true}) {
    SCOPED_TRACE(rotate ? "rotated" : "diagonal");
    std::vector<double> q(size_t(dim) * dim, 0.0);
    if (rotate)
      q = random_rotation(rng, dim);
    else
      for (int c = 0; c < dim; ++c) q[c * dim + c] = 1.0;
    std::vector<double> mu1 = rng.vec<double>(dim, -2, 2), mu2 = rng.vec<double>(dim, -2, 2);
    std::vector<double> d1 = rng.vec<double>(dim, 0.1, 4.0), d2 = rng.vec<double>(dim, 0.1, 4.0);
    double want = 0.0;
    for (int c = 0; c < dim; ++c)
      want += (mu1[c] - mu2[c]) * (mu1[c] - mu2[c]) +
              (std::sqrt(d1[c]) - std::sqrt(d2[c])) * (std::sqrt(d1[c]) - std::sqrt(d2[c]));
    const double got = frechet_distance(make_stats(mu1, conjugate(q, d1)),
                                        make_stats(mu2, conjugate(q, d2)));
    // Eigen-solver and rounding errors ~1e-14 times the traces (<= 4 dim each).
    EXPECT_NEAR(got, want, 1e-10 * (1.0 + 8.0 * dim)) << "dim " << dim;
  }
}

TEST(QualityMetrics, FrechetGeneral2x2MatchesClosedForm) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  // For 2 x 2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)). With M = A^{1/2} B A^{1/2}:
  // tr M = tr(AB), det M = det A det B, so no matrix square root is needed.
  for (int rep = 0; rep < 20; ++rep) {
    auto spd = [&] {
      const double a = rng.uniform(-2, 2), b = rng.uniform(-2, 2), c = rng.uniform(-2, 2),
                   d = rng.uniform(-2, 2);
      // L L^T + 0.01 I with L = [[a, b], [c, d]].
      return std::vector<double>{a * a + b * b + 0.01, a * c + b * d, a * c + b * d,
                                 c * c + d * d + 0.01};
    };
    const std::vector<double> A = spd(), B = spd();
    const std::vector<double> mu1 = rng.vec<double>(2, -1, 1), mu2 = rng.vec<double>(2, -1, 1);
    const double tr_ab = A[0] * B[0] + A[1] * B[2] + A[2] * B[1] + A[3] * B[3];
    const double det = (A[0] * A[3] - A[1] * A[2]) * (B[0] * B[3] - B[1] * B[2]);
    const double want = (mu1[0] - mu2[0]) * (mu1[0] - mu2[0]) +
                        (mu1[1] - mu2[1]) * (mu1[1] - mu2[1]) + A[0] + A[3] + B[0] + B[3] -
                        2.0 * std::sqrt(tr_ab + 2.0 * std::sqrt(det));
    const double got = frechet_distance(make_stats(mu1, A), make_stats(mu2, B));
    EXPECT_NEAR(got, want, 1e-11 * (1.0 + A[0] + A[3] + B[0] + B[3])) << "rep " << rep;
  }
}

TEST(QualityMetrics, FrechetOnSingularCovariancesIsFiniteAndNonNegative) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(3, 20);
  // (1) All points on one line c + t v: rank-1 covariance. Two such sets on the same line are
  // commuting rank-1 covariances s_i^2 v v^T: FD = |mu1 - mu2|^2 + (s1 - s2)^2 |v|^2.
  std::vector<float> v = rng.vec<float>(dim, -1, 1), c = rng.vec<float>(dim, -1, 1);
  auto on_line = [&](size_t n, double scale, double shift) {
    std::vector<float> x(n * dim);
    for (size_t i = 0; i < n; ++i) {
      const double t = shift + scale * rng.uniform(-1, 1);
      for (int k = 0; k < dim; ++k) x[i * dim + k] = float(c[k] + t * v[k]);
    }
    return x;
  };
  const size_t n = 300;
  const std::vector<float> x1 = on_line(n, 1.0, 0.0), x2 = on_line(n, 2.0, 0.5);
  const FeatureStats s1 = feature_stats(x1.data(), n, dim), s2 = feature_stats(x2.data(), n, dim);
  double v2 = 0.0;
  for (float e : v) v2 += double(e) * e;
  // The float points sit on the line only to float rounding: the sample covariances are rank 1
  // plus ~1e-7-relative noise, whose square roots add up to ~dim * 1e-4 * scale to the FD.
  auto t_var = [&](const FeatureStats& s) {
    double dot = 0.0;  // s_i^2 = v^T S v / |v|^4
    for (int r = 0; r < dim; ++r)
      for (int k = 0; k < dim; ++k) dot += v[r] * s.cov[r * dim + k] * v[k];
    return dot / (v2 * v2);
  };
  double want = 0.0;
  for (int k = 0; k < dim; ++k) want += (s1.mean[k] - s2.mean[k]) * (s1.mean[k] - s2.mean[k]);
  want += (std::sqrt(t_var(s1)) - std::sqrt(t_var(s2))) * (std::sqrt(t_var(s1)) -
                                                           std::sqrt(t_var(s2))) * v2;
  const double fd = frechet_distance(s1, s2);
  EXPECT_TRUE(std::isfinite(fd));
  EXPECT_GE(fd, 0.0);
  EXPECT_NEAR(fd, want, 1e-3 * (1.0 + want));
  const double self = frechet_distance(s1, s1);
  EXPECT_TRUE(std::isfinite(self));
  EXPECT_GE(self, 0.0);
  EXPECT_LE(self, 1e-6);

  // (2) Fewer points than dimensions, (3) every point the same (zero covariance), and an exact
  // rank-deficient matrix built directly (zero eigenvalues, against the closed form).
  const size_t few = size_t(rng.uniform_int(2, dim - 1));
  std::vector<float> y = rng.vec<float>(few * dim), z(4 * size_t(dim), 0.5f);
  const FeatureStats sy = feature_stats(y.data(), few, dim), sz = feature_stats(z.data(), 4, dim);
  for (double f : {frechet_distance(sy, s1), frechet_distance(sy, sz), frechet_distance(sz, sz),
                   frechet_distance(sz, s2), frechet_distance(sy, sy)}) {
    EXPECT_TRUE(std::isfinite(f));
    EXPECT_GE(f, 0.0);
  }
  EXPECT_EQ(frechet_distance(sz, sz), 0.0);
  const std::vector<double> q = random_rotation(rng, dim);
  std::vector<double> d1 = rng.vec<double>(dim, 0.5, 2.0), d2 = rng.vec<double>(dim, 0.5, 2.0);
  for (int k = 0; k < dim; k += 2) d1[k] = 0.0;
  for (int k = 0; k < dim; k += 3) d2[k] = 0.0;
  double closed = 0.0;
  for (int k = 0; k < dim; ++k)
    closed += (std::sqrt(d1[k]) - std::sqrt(d2[k])) * (std::sqrt(d1[k]) - std::sqrt(d2[k]));
  const std::vector<double> zero(dim, 0.0);
  // Zero eigenvalues come out as +-1e-16 and their square roots as up to 1e-8 each.
  EXPECT_NEAR(frechet_distance(make_stats(zero, conjugate(q, d1)),
                               make_stats(zero, conjugate(q, d2))),
              closed, 1e-6 * dim);
}

// ---- classifier score and class coverage --------------------------------------------------------

TEST(QualityMetrics, ClassifierScoreOfOneHotSpreadOverKClassesIsK) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int C = rng.uniform_int(1, 12), k = rng.uniform_int(1, C), per = rng.uniform_int(1, 40);
  // `per` one-hot rows for each of k distinct classes, in shuffled order.
  std::vector<int> classes(C);
  std::iota(classes.begin(), classes.end(), 0);
  for (int i = C - 1; i > 0; --i) std::swap(classes[i], classes[rng.uniform_int(0, i)]);
  std::vector<int> label;
  for (int c = 0; c < k; ++c) label.insert(label.end(), per, classes[c]);
  for (int i = int(label.size()) - 1; i > 0; --i) std::swap(label[i], label[rng.uniform_int(0, i)]);
  std::vector<float> probs(label.size() * C, 0.0f);
  for (size_t i = 0; i < label.size(); ++i) probs[i * C + label[i]] = 1.0f;
  EXPECT_NEAR(classifier_score(probs.data(), label.size(), C), double(k), 1e-12 * k)
      << "C " << C << " k " << k;

  // Identical rows: every KL term is 0, score 1.
  std::vector<float> row = rng.vec<float>(C, 0.0, 1.0);
  const float sum = std::accumulate(row.begin(), row.end(), 0.0f);
  for (float& p : row) p /= sum;
  std::vector<float> same;
  const int n = rng.uniform_int(1, 50);
  for (int i = 0; i < n; ++i) same.insert(same.end(), row.begin(), row.end());
  EXPECT_NEAR(classifier_score(same.data(), n, C), 1.0, 1e-12);
}

TEST(QualityMetrics, ClassifierScoreMatchesTheDefinition) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int C = rng.uniform_int(2, 10);
  const size_t n = size_t(rng.uniform_int(1, 60));
  std::vector<float> p(n * C);
  for (size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (int c = 0; c < C; ++c) {
      // Some exact zeros, to exercise 0 log 0 = 0.
      p[i * C + c] = rng.uniform(0, 1) < 0.3 ? 0.0f : float(rng.uniform(0.0, 1.0));
      sum += p[i * C + c];
    }
    if (sum == 0.0) p[i * C] = 1.0f, sum = 1.0;
    for (int c = 0; c < C; ++c) p[i * C + c] = float(p[i * C + c] / sum);
  }
  std::vector<double> marg(C, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) marg[c] += p[i * C + c] / double(n);
  double kl = 0.0;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c)
      if (p[i * C + c] > 0) kl += p[i * C + c] * std::log(p[i * C + c] / marg[c]);
  const double want = std::exp(kl / double(n));
  EXPECT_NEAR(classifier_score(p.data(), n, C), want, 1e-12 * want);
}

TEST(QualityMetrics, ClassCoverageOnAKnownHistogram) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int C = rng.uniform_int(2, 12);
  std::vector<int64_t> counts(C);
  size_t n = 0;
  for (auto& c : counts) n += size_t(c = rng.uniform_int(0, 3) == 0 ? 0 : rng.uniform_int(1, 30));
  if (n == 0) counts[0] = 1, n = 1;
  // Rows whose argmax is the wanted class, the rest of the mass spread below it; every fourth
  // row a tie between the class and a higher one (ties go to the lower index).
  std::vector<float> probs;
  for (int c = 0; c < C; ++c)
    for (int64_t i = 0; i < counts[c]; ++i) {
      std::vector<float> row(C, 0.0f);
      if (i % 4 == 3 && c + 1 < C) {
        row[c] = row[c + 1] = 0.5f;
      } else {
        row[c] = 0.6f;
        for (int o = 0; o < C; ++o)
          if (o != c) row[o] = 0.4f / float(C - 1);
      }
      probs.insert(probs.end(), row.begin(), row.end());
    }
  const double min_fraction = rng.uniform(0.0, 0.2);
  const ClassCoverage cc = class_coverage(probs.data(), n, C, min_fraction);
  std::vector<double> fraction(C);
  int covered = 0;
  double kl = 0.0;
  for (int c = 0; c < C; ++c) {
    fraction[c] = double(counts[c]) / double(n);
    covered += fraction[c] >= min_fraction;
    if (counts[c] > 0) kl += fraction[c] * std::log(fraction[c] * C);
  }
  EXPECT_TRUE(all_close("count", cc.count, counts, 0.0, 0.0));
  EXPECT_TRUE(all_close("fraction", cc.fraction, fraction, 0.0, 1e-15));
  EXPECT_EQ(cc.covered, covered);
  EXPECT_NEAR(cc.kl_to_uniform, kl, 1e-12);

  // Edge cases by hand: all in one class (KL = log C), evenly spread (KL = 0).
  std::vector<float> one(size_t(5) * C, 0.0f), even(size_t(C) * C, 0.0f);
  for (int i = 0; i < 5; ++i) one[size_t(i) * C + C - 1] = 1.0f;
  for (int c = 0; c < C; ++c) even[size_t(c) * C + c] = 1.0f;
  const ClassCoverage a = class_coverage(one.data(), 5, C), b = class_coverage(even.data(), C, C);
  EXPECT_EQ(a.covered, 1);
  EXPECT_EQ(a.count[C - 1], 5);
  EXPECT_NEAR(a.kl_to_uniform, std::log(double(C)), 1e-14);
  EXPECT_EQ(b.covered, C);
  EXPECT_NEAR(b.kl_to_uniform, 0.0, 1e-14);
}

// ---- k-NN precision and recall ------------------------------------------------------------------

// Worked by hand in 1-D (k = 1 and 2), then embedded in dim dimensions along a random axis with
// a random integer value in the other coordinates, and shuffled: every value is exact in float.
TEST(QualityMetrics, PrecisionRecallHandMadeSets) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 5), axis = rng.uniform_int(0, dim - 1);
  const float other = float(rng.uniform_int(-4, 4));
  struct Case {
    int k;
    std::vector<float> real, fake;
    std::vector<double> real_r2, fake_r2;
    std::vector<uint8_t> fake_in, real_in;
  };
  // real {0, 1, 3, 4}, fake {5, 6.5, 10, 10.5, -1.25}.
  //  k = 1: real radii 1, 1, 1, 1; fake radii 1.5 (5->6.5), 1.5, 0.5, 0.5, 6.25 (-1.25->5).
  //    fake in real: 5 (|5 - 4| = 1 <= 1: on the boundary, inside); 6.5, 10, 10.5 no; -1.25 no
  //    (1.25 > 1). real in fake: 0, 1, 3 via -1.25 (<= 6.25), 4 via 5 (1 <= 1.5): all.
  //  k = 2: real radii 3 (0: 1, 3), 2, 2, 3; fake radii 5 (5: 1.5, 5 <- 10 is 5), 3.5, 3.5,
  //    4 (10.5: 0.5, 4), 7.75. fake in real: 5 (1 <= 3), 6.5 (2.5 <= 3), -1.25 (1.25 <= 3);
  //    10 (6 > 3), 10.5 no. real in fake: all, via -1.25's ball of radius 7.75.
  // Duplicates count as neighbours at distance 0: real {0, 0, 5}, fake {0.5, 8, 9}, k = 1:
  //  real radii 0, 0, 5; fake radii 7.5, 1, 1; 0.5 is not in the 0-radius balls but in 5's
  //  (4.5 <= 5), 8 in 5's (3 <= 5), 9 in 5's (4 <= 5); real 0, 0 in 0.5's ball (7.5), 5 too.
  const std::vector<Case> cases = {
      {1, {0, 1, 3, 4}, {5, 6.5f, 10, 10.5f, -1.25f}, {1, 1, 1, 1}, {2.25, 2.25, 0.25, 0.25, 39.0625},
       {1, 0, 0, 0, 0}, {1, 1, 1, 1}},
      {2, {0, 1, 3, 4}, {5, 6.5f, 10, 10.5f, -1.25f}, {9, 4, 4, 9}, {25, 12.25, 12.25, 16, 60.0625},
       {1, 1, 0, 0, 1}, {1, 1, 1, 1}},
      {1, {0, 0, 5}, {0.5f, 8, 9}, {0, 0, 25}, {56.25, 1, 1}, {1, 1, 1}, {1, 1, 1}},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& cs = cases[ci];
    SCOPED_TRACE("case " + std::to_string(ci));
    // Random order (applied to values and expectations alike), then the embedding.
    auto perm = [&](size_t n) {
      std::vector<size_t> p(n);
      std::iota(p.begin(), p.end(), 0);
      for (size_t i = n - 1; i > 0; --i) std::swap(p[i], p[size_t(rng.uniform_int(0, int(i)))]);
      return p;
    };
    const std::vector<size_t> pr = perm(cs.real.size()), pf = perm(cs.fake.size());
    auto embed = [&](const std::vector<float>& v, const std::vector<size_t>& p) {
      std::vector<float> x(v.size() * dim, other);
      for (size_t i = 0; i < v.size(); ++i) x[i * dim + axis] = v[p[i]];
      return x;
    };
    auto apply = [](const auto& v, const std::vector<size_t>& p) {
      std::remove_cvref_t<decltype(v)> out(v.size());
      for (size_t i = 0; i < v.size(); ++i) out[i] = v[p[i]];
      return out;
    };
    const std::vector<float> real = embed(cs.real, pr), fake = embed(cs.fake, pf);
    const KnnManifolds m =
        knn_manifolds(real.data(), cs.real.size(), fake.data(), cs.fake.size(), dim, cs.k);
    EXPECT_TRUE(all_close("real_radius2", m.real_radius2, apply(cs.real_r2, pr), 0.0, 0.0));
    EXPECT_TRUE(all_close("fake_radius2", m.fake_radius2, apply(cs.fake_r2, pf), 0.0, 0.0));
    EXPECT_TRUE(all_close("fake_in_real", m.fake_in_real, apply(cs.fake_in, pf), 0.0, 0.0));
    EXPECT_TRUE(all_close("real_in_fake", m.real_in_fake, apply(cs.real_in, pr), 0.0, 0.0));
    const PrecisionRecall p =
        precision_recall(real.data(), cs.real.size(), fake.data(), cs.fake.size(), dim, cs.k);
    EXPECT_EQ(p.precision, double(std::accumulate(cs.fake_in.begin(), cs.fake_in.end(), 0)) /
                               double(cs.fake.size()));
    EXPECT_EQ(p.recall, double(std::accumulate(cs.real_in.begin(), cs.real_in.end(), 0)) /
                            double(cs.real.size()));
  }
}

TEST(QualityMetrics, PrecisionRecallOfIdenticalSetsIsOneAndOfFarClustersZero) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 20), k = rng.uniform_int(1, 5);
  const size_t n = size_t(rng.uniform_int(k + 1, 700));
  // Identical sets: every point is at distance 0 from its copy, inside any radius >= 0.
  std::vector<float> x = rng.vec<float>(n * dim, -1, 1);
  if (n > 3) std::copy(x.begin(), x.begin() + dim, x.begin() + 2 * dim);  // a duplicate too
  const PrecisionRecall same = precision_recall(x.data(), n, x.data(), n, dim, k);
  EXPECT_EQ(same.precision, 1.0);
  EXPECT_EQ(same.recall, 1.0);
  // Unit cubes [0, 1]^dim and [10, 11]^dim: radii <= sqrt(dim), cross distances >= 9 sqrt(dim).
  std::vector<float> a = rng.vec<float>(n * dim, 0, 1);
  const size_t nf = size_t(rng.uniform_int(k + 1, 700));
  std::vector<float> b = rng.vec<float>(nf * dim, 10, 11);
  const PrecisionRecall far = precision_recall(a.data(), n, b.data(), nf, dim, k);
  EXPECT_EQ(far.precision, 0.0);
  EXPECT_EQ(far.recall, 0.0);
}

// Real: the grid (i/16, j/16), i, j = 0..32, covering [0, 2]^2; fake: 2000 uniform points in
// [0, 1]^2. Every grid point's 3rd-nearest neighbour is >= 1/16 away and every point of [0, 2]^2
// is within sqrt(2)/32 < 1/16 of a grid point, so precision is exactly 1. A grid point with a
// coordinate above 1.5 is in the fake manifold only if some fake point's 3-NN radius exceeds 0.5,
// i.e. a disc of radius 0.5 around it (area >= pi/16 inside the square) holds at most 2 of the
// other 1999 points: probability <= 2000 * P(Binomial(1999, 0.196) <= 2) < 1e-180. So recall
// <= 25^2 / 33^2 = 0.574 except with that probability.
TEST(QualityMetrics, PrecisionRecallOfASubsetRegion) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  std::vector<float> real;
  for (int i = 0; i <= 32; ++i)
    for (int j = 0; j <= 32; ++j) real.push_back(float(i) / 16), real.push_back(float(j) / 16);
  const size_t nf = 2000;
  std::vector<float> fake = rng.vec<float>(nf * 2, 0, 1);
  const PrecisionRecall pr = precision_recall(real.data(), real.size() / 2, fake.data(), nf, 2, 3);
  EXPECT_EQ(pr.precision, 1.0);
  EXPECT_LE(pr.recall, 625.0 / 1089.0);
  EXPECT_GT(pr.recall, 0.0);
}

// Integer coordinates: every squared distance is an integer, exact in double and far (>= 1) from
// every other, so the float Gram's error (~1e-3 here) cannot change which neighbours are chosen
// and the radii must match exactly. Many cross distances equal a radius exactly (fake points
// reflected through a real point's k-th neighbour, and copies of real points): those decisions
// fall within the float error bound and must be recomputed exactly, or some flags go wrong.
TEST(QualityMetrics, KnnManifoldsMatchBruteForceOnIntegerPointsWithTies) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 24), k = rng.uniform_int(1, 4);
  // Sizes across the 128-row blocks and 512-column tiles, ragged at both ends.
  const size_t n_real = size_t(rng.uniform_int(500, 700)), n_fake = size_t(rng.uniform_int(5, 650));
  auto ints = [&](size_t n, int lo, int hi) {
    std::vector<float> v(n * dim);
    for (float& x : v) x = float(rng.uniform_int(lo, hi));
    return v;
  };
  std::vector<float> real = ints(n_real, 0, 6), fake = ints(n_fake, -2, 8);
  for (size_t i = 0; i + 1 < n_real; i += 37)  // duplicates within the real set
    std::copy(&real[i * dim], &real[i * dim] + dim, &real[(i + 1) * dim]);
  const std::vector<double> rr = brute_radius2(real, dim, k);
  for (size_t j = 0; j < n_fake; ++j) {
    const size_t i = size_t(rng.uniform_int(0, int(n_real) - 1));
    const int kind = rng.uniform_int(0, 3);
    if (kind == 0) {  // a copy of a real point
      std::copy(&real[i * dim], &real[i * dim] + dim, &fake[j * dim]);
    } else if (kind == 1) {  // exactly on real i's sphere: i + (m - i) for a point m at radius
      for (size_t m = 0; m < n_real; ++m)
        if (m != i && dist2(&real[i * dim], &real[m * dim], dim) == rr[i]) {
          for (int c = 0; c < dim; ++c) fake[j * dim + c] = 2 * real[i * dim + c] - real[m * dim + c];
          break;
        }
    }
  }
  expect_matches_brute_force(real, fake, dim, k, /*exact_radii=*/true);
}

// Gaussian clouds with a large common offset (centering keeps the float Gram accurate); low
// dimensions make near ties at the k-th neighbour common, exercising the radius bound. Both checks
// are deterministic given the documented bounds.
TEST(QualityMetrics, KnnManifoldsMatchBruteForceOnRandomClouds) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int dim = rng.uniform_int(1, 40), k = rng.uniform_int(1, 5);
  const size_t n_real = size_t(rng.uniform_int(k + 1, 700)),
               n_fake = size_t(rng.uniform_int(k + 1, 700));
  auto cloud = [&](size_t n, double shift, double scale) {
    std::vector<float> v(n * dim);
    for (float& x : v) x = float(100.0 + shift + scale * normal(rng));
    return v;
  };
  const std::vector<float> real = cloud(n_real, 0.0, 1.0), fake = cloud(n_fake, 0.3, 1.2);
  expect_matches_brute_force(real, fake, dim, k, /*exact_radii=*/false);
}

// ---- bad inputs ---------------------------------------------------------------------------------

TEST(QualityMetrics, BadInputsAreRejectedWithTheirMessage) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const std::vector<float> x = rng.vec<float>(40 * 4);
  const FeatureStats s4 = feature_stats(x.data(), 40, 4), s2 = feature_stats(x.data(), 80, 2);
  EXPECT_TRUE(throws_with([&] { frechet_distance(s4, s2); },
                          {"frechet_distance", "feature dims differ: 4 vs 2"}));
  FeatureStats one = s4;
  one.n = 1;
  EXPECT_TRUE(throws_with([&] { frechet_distance(s4, one); }, {"frechet_distance", "b.n", ">= 2"}));
  FeatureStats bad = s4;
  bad.cov.pop_back();
  EXPECT_TRUE(throws_with([&] { frechet_distance(bad, s4); }, {"a has mean size 4", "cov size 15"}));
  EXPECT_TRUE(throws_with([&] { feature_stats(x.data(), 1, 4); }, {"feature_stats", "n >= 2"}));
  EXPECT_TRUE(throws_with([&] { feature_stats(x.data(), 4, 0); }, {"feature_stats", "dim"}));
  std::vector<float> nan = x;
  nan[6] = NAN;
  EXPECT_TRUE(throws_with([&] { feature_stats(nan.data(), 40, 4); }, {"x[1, 2]", "not finite"}));

  const int k = rng.uniform_int(1, 6);
  EXPECT_TRUE(throws_with([&] { precision_recall(x.data(), size_t(k), x.data(), 30, 4, k); },
                          {"precision_recall", "real has " + std::to_string(k) + " points",
                           "at least k + 1 = " + std::to_string(k + 1)}));
  EXPECT_TRUE(throws_with([&] { precision_recall(x.data(), 30, x.data(), size_t(k), 4, k); },
                          {"fake has " + std::to_string(k) + " points"}));
  EXPECT_TRUE(throws_with([&] { knn_manifolds(x.data(), 30, x.data(), 30, 4, 0); },
                          {"knn_manifolds", "k must be >= 1, got 0"}));
  EXPECT_TRUE(throws_with([&] { precision_recall(x.data(), 30, x.data(), 30, 0, 3); },
                          {"dim must be >= 1, got 0"}));
  EXPECT_TRUE(throws_with([&] { precision_recall(x.data(), 30, nan.data(), 30, 4, 3); },
                          {"fake[1, 2] is not finite"}));

  const std::vector<float> p = {0.25f, 0.75f, 1.0f, 0.0f};
  EXPECT_TRUE(throws_with([&] { classifier_score(p.data(), 2, 0); },
                          {"classifier_score", "C (classes) must be >= 1, got 0"}));
  EXPECT_TRUE(throws_with([&] { class_coverage(p.data(), 2, -1); }, {"class_coverage", "C"}));
  EXPECT_TRUE(throws_with([&] { classifier_score(p.data(), 0, 2); }, {"n (samples)"}));
  const std::vector<float> logits = {2.0f, 1.0f}, neg = {1.5f, -0.5f};
  EXPECT_TRUE(throws_with([&] { classifier_score(logits.data(), 1, 2); },
                          {"row 0 of probs sums to", "not logits"}));
  EXPECT_TRUE(throws_with([&] { class_coverage(neg.data(), 1, 2); }, {"probs[0, 1]", ">= 0"}));
  EXPECT_TRUE(throws_with([&] { class_coverage(p.data(), 2, 2, 1.5); }, {"min_fraction"}));
}
