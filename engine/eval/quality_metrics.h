// GAN sample-quality metrics on a classifier's outputs, all sums in double: the Frechet distance
// between feature statistics (TF-GAN's mnist_frechet_distance), the classifier ("Inception")
// score and class coverage on class probabilities (TF-GAN's mnist_score), and improved precision
// and recall on k-NN manifolds (Kynkaanniemi et al. 2019). Inputs are row-major float arrays as a
// classifier writes them; every function throws std::invalid_argument with a one-line message
// naming itself and the bad argument.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace gan {

// Mean and covariance of n feature rows of dimension dim, in double. cov: (dim, dim) row-major,
// unbiased (divisor n - 1).
struct FeatureStats {
  int dim = 0;
  int64_t n = 0;
  std::vector<double> mean;  // (dim)
  std::vector<double> cov;   // (dim, dim)
};

// x: (n, dim). Two passes (mean, then centered products), so a large common offset costs no
// precision. Throws on n < 2, dim < 1, a null x or a non-finite feature.
FeatureStats feature_stats(const float* x, size_t n, int dim);

// ||mu1 - mu2||^2 + tr S1 + tr S2 - 2 tr sqrt(S1^{1/2} S2 S1^{1/2}): the Frechet (2-Wasserstein)
// distance squared between Gaussians with these moments. Both square roots come from symmetric
// eigendecompositions with eigenvalues below 0 (rounding) clamped to 0, and the total is clamped
// at 0, so singular or rank-deficient covariances (n <= dim, points on a subspace) give a finite,
// non-negative value. Throws on mismatched dims, n < 2, or mean/cov sizes that do not match dim.
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

// probs: (n, C), each row a distribution (entries >= 0, summing to 1 within 1e-3).
// exp(mean_i KL(p(y|x_i) || p(y))), p(y) the mean of the rows, 0 log 0 = 0: between 1 (every row
// the same) and C (confident predictions spread evenly over the classes).
double classifier_score(const float* probs, size_t n, int C);

// The argmax-class histogram of n predictions (ties go to the lowest class index).
struct ClassCoverage {
  std::vector<int64_t> count;   // (C) samples whose argmax is each class
  std::vector<double> fraction;  // (C) count / n
  int covered = 0;               // classes with fraction >= min_fraction
  double kl_to_uniform = 0.0;    // sum over fraction > 0 of f log(f C), nats: 0 even, log C one class
};

// probs: (n, C) as for classifier_score; min_fraction in [0, 1].
ClassCoverage class_coverage(const float* probs, size_t n, int C, double min_fraction = 0.01);

// Improved precision and recall with k-NN manifolds (Kynkaanniemi et al. 2019). Each set's
// manifold is the union of closed balls around its points, radius = distance to the point's k-th
// nearest neighbour in its own set (the point itself excluded by index, so duplicates count as
// neighbours at distance 0). precision = fraction of fake points inside the real manifold,
// recall = fraction of real points inside the fake manifold.
struct PrecisionRecall {
  double precision = 0.0, recall = 0.0;
};

// The per-point detail behind PrecisionRecall: squared radii and membership flags.
struct KnnManifolds {
  std::vector<double> real_radius2;    // (n_real) squared k-NN radius within the real set
  std::vector<double> fake_radius2;    // (n_fake) squared k-NN radius within the fake set
  std::vector<uint8_t> fake_in_real;   // (n_fake) 1 when some real i has |f - r_i|^2 <= radius2_i
  std::vector<uint8_t> real_in_fake;   // (n_real) 1 when some fake j has |r - f_j|^2 <= radius2_j
};

// real: (n_real, dim), fake: (n_fake, dim). Distances come blockwise from a float Gram matrix
// (cpu::gemm) as |a|^2 + |b|^2 - 2 a.b, never the whole n x n matrix; the selected neighbours'
// radii and every membership test within the float error bound of its radius are recomputed
// exactly in double (see quality_metrics.cpp). Throws on dim < 1, k < 1, a set with fewer than
// k + 1 points, null pointers or a non-finite feature.
KnnManifolds knn_manifolds(const float* real, size_t n_real, const float* fake, size_t n_fake,
                           int dim, int k = 3);

// The fractions of knn_manifolds' flags; same arguments and errors.
PrecisionRecall precision_recall(const float* real, size_t n_real, const float* fake,
                                 size_t n_fake, int dim, int k = 3);

}  // namespace gan
