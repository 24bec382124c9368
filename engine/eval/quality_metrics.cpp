#include "engine/eval/quality_metrics.h"

#include <Eigen/Dense>
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "kernels/gemm.h"

namespace gan {
namespace {

using RowMajorF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMajorD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

[[noreturn]] void fail(const char* fn, const std::string& what) {
  throw std::invalid_argument(std::string(fn) + ": " + what);
}

// x: (n, dim), every element finite.
void check_features(const char* fn, const char* name, const float* x, size_t n, int dim) {
  if (!x) fail(fn, std::string(name) + " is null");
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < dim; ++c)
      if (!std::isfinite(x[i * size_t(dim) + c]))
        fail(fn, std::string(name) + "[" + std::to_string(i) + ", " + std::to_string(c) +
                     "] is not finite (" + std::to_string(x[i * size_t(dim) + c]) + ")");
}

// probs: (n, C), rows of non-negative finite entries summing to 1 within 1e-3 (float softmax).
void check_probs(const char* fn, const float* probs, size_t n, int C) {
  if (C < 1) fail(fn, "C (classes) must be >= 1, got " + std::to_string(C));
  if (n < 1) fail(fn, "n (samples) must be >= 1, got 0");
  if (!probs) fail(fn, "probs is null");
  for (size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (int c = 0; c < C; ++c) {
      const float p = probs[i * size_t(C) + c];
      if (!(p >= 0.0f) || !std::isfinite(p))
        fail(fn, "probs[" + std::to_string(i) + ", " + std::to_string(c) +
                     "] must be finite and >= 0, got " + std::to_string(p));
      sum += p;
    }
    if (std::fabs(sum - 1.0) > 1e-3)
      fail(fn, "row " + std::to_string(i) + " of probs sums to " + std::to_string(sum) +
                   ", not 1 (pass probabilities, not logits)");
  }
}

// |a - b|^2 in double from the float inputs: each difference is exact, the sum in ascending
// coordinate order (the reference every fast decision is checked against).
double exact_dist2(const float* a, const float* b, int dim) {
  double s = 0.0;
  for (int c = 0; c < dim; ++c) {
    const double t = double(a[c]) - double(b[c]);
    s += t * t;
  }
  return s;
}

// ---- k-NN manifolds: blockwise float Gram ------------------------------------------------------
//
// A pair's squared distance is |a'|^2 + |b'|^2 - 2 fl32(a'.b') with a' = fl32(a - mu) and b'
// likewise, mu a set's mean (distances do not change under translation, and centering keeps |a'|
// near the data's spread so the cancellation below stays small). Norms are summed in double. The
// error against the exact |a - b|^2, for any summation order of the float dot product (u = 2^-24):
//   |fl32(a'.b') - a'.b'| <= dim u / (1 - dim u) * sum |a'_c b'_c| <= dim u (|a'|^2 + |b'|^2) / 2
//   rounding a - mu to float moves |a - b|^2 by at most ~4u (|a'|^2 + |b'|^2)
// so |error| <= (dim + 4) u (|a'|^2 + |b'|^2) (plus O(u^2)); kErrScale doubles that for headroom.
// Typical errors are ~sqrt(dim) u relative, a few 1e-7 at dim 256. Membership decisions inside
// that bound of a radius are redone exactly (exact_dist2), so they match a double computation;
// the k nearest neighbours are chosen by the float values and their radius recomputed exactly,
// so a radius can differ from the double one only when the k-th and (k+1)-th neighbours' squared
// distances lie within the bound of each other, and then it is larger by at most twice the bound.
// (Low dimensions and dense sets make such near ties common: in the tests' 1-D clouds of 700
// points, about one run in 40 has one, off by ~1e-7 of the squared norms.)
constexpr int kRowBlock = 128;   // rows per thread task: its Gram tile is kRowBlock x kColTile
constexpr int kColTile = 512;    // columns per Gram tile: (dim, 512) floats stay in L2 at dim 256
constexpr double kErrScale = 2.0 * 0x1p-24;

// One point set prepared for the Gram products: centered float rows (n, dim) for the A side,
// the same packed as column tiles for the B side (tile t: (dim, width_t) row-major, so
// cpu::gemm's (K, N) operand needs no transpose), and the rows' squared norms in double.
struct GramSet {
  const float* x = nullptr;  // the caller's rows, for exact recomputation
  size_t n = 0;
  int dim = 0;
  std::vector<float> rows;     // (n, dim) centered
  std::vector<float> tiles;    // concatenated (dim, width) column tiles
  std::vector<double> norm2;   // (n) |row|^2
};

GramSet make_gram_set(const float* x, size_t n, int dim, const std::vector<double>& mu) {
  GramSet s;
  s.x = x, s.n = n, s.dim = dim;
  s.rows.resize(n * size_t(dim));
  s.tiles.resize(n * size_t(dim));
  s.norm2.resize(n);
  for (size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (int c = 0; c < dim; ++c) {
      const float v = float(double(x[i * size_t(dim) + c]) - mu[c]);
      s.rows[i * size_t(dim) + c] = v;
      sum += double(v) * double(v);
    }
    s.norm2[i] = sum;
  }
  for (size_t j0 = 0; j0 < n; j0 += kColTile) {
    const size_t width = std::min<size_t>(kColTile, n - j0);
    float* tile = s.tiles.data() + j0 * size_t(dim);
    for (size_t j = 0; j < width; ++j)
      for (int c = 0; c < dim; ++c) tile[size_t(c) * width + j] = s.rows[(j0 + j) * dim + c];
  }
  return s;
}

std::vector<double> mean_of(const float* x, size_t n, int dim) {
  std::vector<double> mu(dim, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < dim; ++c) mu[c] += x[i * size_t(dim) + c];
  for (double& m : mu) m /= double(n);
  return mu;
}

// G (rows, width) = A[i0 : i0 + rows] B_tile, float, one thread (called inside a parallel loop).
void gram_tile(const GramSet& a, size_t i0, int rows, const GramSet& b, size_t j0, int width,
               float* g) {
  cpu::gemm<float>(Trans::No, Trans::No, rows, width, a.dim, 1.0f, a.rows.data() + i0 * a.dim,
                   b.tiles.data() + j0 * b.dim, 0.0f, g);
}

// Squared distance from each point of s to its k-th nearest other point of s (by index).
std::vector<double> knn_radius2(const GramSet& s, int k) {
  const size_t n = s.n;
  const int blocks = int((n + kRowBlock - 1) / kRowBlock);
  std::vector<double> radius2(n);
#pragma omp parallel
  {
    std::vector<float> g(size_t(kRowBlock) * kColTile);
    std::vector<double> best(size_t(kRowBlock) * k);
    std::vector<int> best_j(size_t(kRowBlock) * k);
#pragma omp for schedule(dynamic)
    for (int blk = 0; blk < blocks; ++blk) {
      const size_t i0 = size_t(blk) * kRowBlock;
      const int rows = int(std::min<size_t>(kRowBlock, n - i0));
      std::fill(best.begin(), best.end(), std::numeric_limits<double>::infinity());
      std::fill(best_j.begin(), best_j.end(), -1);
      for (size_t j0 = 0; j0 < n; j0 += kColTile) {
        const int width = int(std::min<size_t>(kColTile, n - j0));
        gram_tile(s, i0, rows, s, j0, width, g.data());
        for (int r = 0; r < rows; ++r) {
          const size_t i = i0 + r;
          const double ni = s.norm2[i];
          const float* grow = g.data() + size_t(r) * width;
          double* bd = best.data() + size_t(r) * k;
          int* bj = best_j.data() + size_t(r) * k;
          double worst = bd[k - 1];
          for (int c = 0; c < width; ++c) {
            const double d2 = ni + s.norm2[j0 + c] - 2.0 * double(grow[c]);
            if (d2 < worst && j0 + c != i) {
              // Insertion into the sorted k best; ties keep the earlier index first.
              int p = k - 1;
              while (p > 0 && bd[p - 1] > d2) bd[p] = bd[p - 1], bj[p] = bj[p - 1], --p;
              bd[p] = d2, bj[p] = int(j0 + c);
              worst = bd[k - 1];
            }
          }
        }
      }
      for (int r = 0; r < rows; ++r) {
        const size_t i = i0 + r;
        double rad = 0.0;
        for (int p = 0; p < k; ++p)
          rad = std::max(rad, exact_dist2(s.x + i * s.dim, s.x + size_t(best_j[r * k + p]) * s.dim,
                                          s.dim));
        radius2[i] = rad;
      }
    }
  }
  return radius2;
}

// Is |a - b|^2 <= radius2, given the float estimate d2 with error bound err?
inline bool inside(double d2, double err, double radius2, const float* a, const float* b,
                   int dim) {
  if (d2 <= radius2 - err) return true;
  if (d2 > radius2 + err) return false;
  return exact_dist2(a, b, dim) <= radius2;
}

// One pass over the real x fake Gram: recall flags along rows, precision flags along columns.
void cross_membership(const GramSet& real, const GramSet& fake, KnnManifolds& m) {
  const int dim = real.dim;
  const double err_scale = kErrScale * (dim + 8);
  const int blocks = int((real.n + kRowBlock - 1) / kRowBlock);
  m.real_in_fake.assign(real.n, 0);
  m.fake_in_real.assign(fake.n, 0);
#pragma omp parallel
  {
    std::vector<float> g(size_t(kRowBlock) * kColTile);
    std::vector<uint8_t> fake_in(fake.n, 0);  // this thread's columns; OR-ed together at the end
#pragma omp for schedule(dynamic)
    for (int blk = 0; blk < blocks; ++blk) {
      const size_t i0 = size_t(blk) * kRowBlock;
      const int rows = int(std::min<size_t>(kRowBlock, real.n - i0));
      for (size_t j0 = 0; j0 < fake.n; j0 += kColTile) {
        const int width = int(std::min<size_t>(kColTile, fake.n - j0));
        gram_tile(real, i0, rows, fake, j0, width, g.data());
        for (int r = 0; r < rows; ++r) {
          const size_t i = i0 + r;
          const double ni = real.norm2[i], ri2 = m.real_radius2[i];
          const float* xi = real.x + i * dim;
          const float* grow = g.data() + size_t(r) * width;
          uint8_t in_i = m.real_in_fake[i];
          for (int c = 0; c < width; ++c) {
            const size_t j = j0 + c;
            const double nj = fake.norm2[j];
            const double d2 = ni + nj - 2.0 * double(grow[c]);
            const double err = err_scale * (ni + nj);
            const float* xj = fake.x + j * dim;
            if (!in_i && inside(d2, err, m.fake_radius2[j], xi, xj, dim)) in_i = 1;
            if (!fake_in[j] && inside(d2, err, ri2, xj, xi, dim)) fake_in[j] = 1;
          }
          m.real_in_fake[i] = in_i;
        }
      }
    }
#pragma omp critical
    for (size_t j = 0; j < fake.n; ++j) m.fake_in_real[j] |= fake_in[j];
  }
}

void check_knn_args(const char* fn, const float* real, size_t n_real, const float* fake,
                    size_t n_fake, int dim, int k) {
  if (dim < 1) fail(fn, "dim must be >= 1, got " + std::to_string(dim));
  if (k < 1) fail(fn, "k must be >= 1, got " + std::to_string(k));
  for (auto [name, n] : {std::pair{"real", n_real}, std::pair{"fake", n_fake}}) {
    if (n < size_t(k) + 1)
      fail(fn, std::string(name) + " has " + std::to_string(n) + " points; k = " +
                   std::to_string(k) + " needs at least k + 1 = " + std::to_string(k + 1));
    if (n > size_t(INT_MAX))
      fail(fn, std::string(name) + " has " + std::to_string(n) + " points, more than INT_MAX");
  }
  check_features(fn, "real", real, n_real, dim);
  check_features(fn, "fake", fake, n_fake, dim);
}

}  // namespace

FeatureStats feature_stats(const float* x, size_t n, int dim) {
  constexpr const char* fn = "feature_stats";
  if (dim < 1) fail(fn, "dim must be >= 1, got " + std::to_string(dim));
  if (n < 2) fail(fn, "needs n >= 2 rows for an unbiased covariance, got " + std::to_string(n));
  check_features(fn, "x", x, n, dim);
  FeatureStats st;
  st.dim = dim;
  st.n = int64_t(n);
  st.mean = mean_of(x, n, dim);
  // Sum of outer products of centered rows, lower triangle, in chunks of rows (no n x dim copy).
  const Eigen::Map<const Eigen::RowVectorXd> mu(st.mean.data(), dim);
  const Eigen::Map<const RowMajorF> X(x, Eigen::Index(n), dim);
  Eigen::MatrixXd acc = Eigen::MatrixXd::Zero(dim, dim);
  constexpr Eigen::Index kChunk = 1024;
  for (Eigen::Index r0 = 0; r0 < Eigen::Index(n); r0 += kChunk) {
    const Eigen::Index rows = std::min<Eigen::Index>(kChunk, Eigen::Index(n) - r0);
    const Eigen::MatrixXd xc = X.middleRows(r0, rows).cast<double>().rowwise() - mu;
    acc.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
  }
  st.cov.resize(size_t(dim) * dim);
  for (int r = 0; r < dim; ++r)
    for (int c = 0; c < dim; ++c)
      st.cov[size_t(r) * dim + c] = (r >= c ? acc(r, c) : acc(c, r)) / double(n - 1);
  return st;
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  constexpr const char* fn = "frechet_distance";
  if (a.dim != b.dim)
    fail(fn, "feature dims differ: " + std::to_string(a.dim) + " vs " + std::to_string(b.dim));
  if (a.dim < 1) fail(fn, "dim must be >= 1, got " + std::to_string(a.dim));
  for (auto [name, s] : {std::pair{"a", &a}, std::pair{"b", &b}}) {
    if (s->n < 2) fail(fn, std::string(name) + ".n must be >= 2, got " + std::to_string(s->n));
    if (s->mean.size() != size_t(s->dim) || s->cov.size() != size_t(s->dim) * s->dim)
      fail(fn, std::string(name) + " has mean size " + std::to_string(s->mean.size()) +
                   " and cov size " + std::to_string(s->cov.size()) + "; dim " +
                   std::to_string(s->dim) + " needs " + std::to_string(s->dim) + " and " +
                   std::to_string(size_t(s->dim) * s->dim));
  }
  const int d = a.dim;
  const Eigen::Map<const Eigen::VectorXd> mu1(a.mean.data(), d), mu2(b.mean.data(), d);
  const Eigen::MatrixXd s1 = Eigen::Map<const RowMajorD>(a.cov.data(), d, d);
  const Eigen::MatrixXd s2 = Eigen::Map<const RowMajorD>(b.cov.data(), d, d);

  // S1^{1/2} = V diag(sqrt(max(l, 0))) V^T (the solver reads the lower triangle).
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig1(s1);
  if (eig1.info() != Eigen::Success) fail(fn, "eigendecomposition of a.cov did not converge");
  const Eigen::VectorXd root1 = eig1.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  const Eigen::MatrixXd sqrt1 =
      eig1.eigenvectors() * root1.asDiagonal() * eig1.eigenvectors().transpose();
  // tr sqrt(M) for the PSD M = S1^{1/2} S2 S1^{1/2} (symmetrised against rounding): sum of the
  // square roots of its eigenvalues, negatives from rounding taken as 0.
  Eigen::MatrixXd mid = sqrt1 * s2 * sqrt1;
  mid = 0.5 * (mid + mid.transpose()).eval();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig2(mid, Eigen::EigenvaluesOnly);
  if (eig2.info() != Eigen::Success)
    fail(fn, "eigendecomposition of S1^1/2 S2 S1^1/2 did not converge");
  const double tr_sqrt = eig2.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();

  const double fd = (mu1 - mu2).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
  return std::max(0.0, fd);
}

double classifier_score(const float* probs, size_t n, int C) {
  check_probs("classifier_score", probs, n, C);
  std::vector<double> marginal(C, 0.0);
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) marginal[c] += probs[i * size_t(C) + c];
  for (double& m : marginal) m /= double(n);
  // p > 0 implies marginal > 0, so every logarithm taken is finite.
  double kl_sum = 0.0;
  for (size_t i = 0; i < n; ++i)
    for (int c = 0; c < C; ++c) {
      const double p = probs[i * size_t(C) + c];
      if (p > 0.0) kl_sum += p * (std::log(p) - std::log(marginal[c]));
    }
  return std::exp(kl_sum / double(n));
}

ClassCoverage class_coverage(const float* probs, size_t n, int C, double min_fraction) {
  constexpr const char* fn = "class_coverage";
  check_probs(fn, probs, n, C);
  if (!(min_fraction >= 0.0 && min_fraction <= 1.0))
    fail(fn, "min_fraction must be in [0, 1], got " + std::to_string(min_fraction));
  ClassCoverage out;
  out.count.assign(C, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* row = probs + i * size_t(C);
    ++out.count[std::max_element(row, row + C) - row];  // first maximum: lowest index on ties
  }
  out.fraction.resize(C);
  for (int c = 0; c < C; ++c) {
    const double f = double(out.count[c]) / double(n);
    out.fraction[c] = f;
    out.covered += f >= min_fraction ? 1 : 0;
    if (f > 0.0) out.kl_to_uniform += f * std::log(f * C);
  }
  return out;
}

KnnManifolds knn_manifolds(const float* real, size_t n_real, const float* fake, size_t n_fake,
                           int dim, int k) {
  check_knn_args("knn_manifolds", real, n_real, fake, n_fake, dim, k);
  KnnManifolds m;
  // Within-set passes centered on the set's own mean; the cross pass on the real mean (its
  // decisions near a radius are exact anyway; centering only keeps the recomputations rare).
  const std::vector<double> mu_real = mean_of(real, n_real, dim);
  const GramSet r = make_gram_set(real, n_real, dim, mu_real);
  m.real_radius2 = knn_radius2(r, k);
  {
    const GramSet f_own = make_gram_set(fake, n_fake, dim, mean_of(fake, n_fake, dim));
    m.fake_radius2 = knn_radius2(f_own, k);
  }
  const GramSet f = make_gram_set(fake, n_fake, dim, mu_real);
  // Keeps every float dot product (<= |a'| |b'|) far below FLT_MAX, so none overflows.
  for (const GramSet* s : {&r, &f})
    for (double n2 : s->norm2)
      if (!(n2 < 1e36))
        fail("knn_manifolds", "a centered feature row has squared norm " + std::to_string(n2) +
                                  ", too large for the float Gram (limit 1e36)");
  cross_membership(r, f, m);
  return m;
}

PrecisionRecall precision_recall(const float* real, size_t n_real, const float* fake,
                                 size_t n_fake, int dim, int k) {
  check_knn_args("precision_recall", real, n_real, fake, n_fake, dim, k);
  const KnnManifolds m = knn_manifolds(real, n_real, fake, n_fake, dim, k);
  size_t in_real = 0, in_fake = 0;
  for (uint8_t f : m.fake_in_real) in_real += f;
  for (uint8_t f : m.real_in_fake) in_fake += f;
  return {double(in_real) / double(n_fake), double(in_fake) / double(n_real)};
}

}  // namespace gan
