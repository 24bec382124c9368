// Quality metrics for the toy experiments: mode coverage of 2D mixtures (VEEGAN, Srivastava et al.
// 2017; PacGAN, Lin et al. 2018), 1D moments and Wasserstein-1 (seed 2), and the parabola's
// residual (seed 3). Points are (n, 2) row-major float arrays; all sums are in double.
#pragma once
#include <vector>

#include "engine/data/toy_data.h"

namespace gan {

struct ModeMetrics {
  // Modes with at least `min_hq_per_mode` (default 1, PacGAN's count) high-quality samples whose
  // nearest center is that mode.
  int modes_captured = 0;
  // Fraction of all samples that are high quality: Euclidean distance to the nearest center
  // <= 3 * sigma (inclusive; ties in "nearest" go to the lower mode index).
  double high_quality_fraction = 0.0;
  // KL(q || uniform over the k modes), q_i = (HQ samples nearest mode i) / (all HQ samples):
  // sum over modes with q_i > 0 of q_i log(q_i k). 0 when the HQ samples are spread exactly
  // evenly, log(k) when they all sit in one mode. Non-HQ samples do not enter q. NaN when there
  // are no HQ samples at all (q is undefined).
  double reverse_kl = 0.0;
  int high_quality_count = 0;  // the HQ samples behind the fraction
};

// The metrics above for `points` against m's modes. An isotropic 2D Gaussian puts
// 1 - exp(-9/2) = 0.98889 of its mass within 3 sigma, so a perfect generator scores about that.
// Throws std::invalid_argument on empty or odd-size points, modes without centers or with an odd
// number of center coordinates, sigma <= 0, or min_hq_per_mode < 1.
ModeMetrics mode_metrics(const ToyModes& m, const std::vector<float>& points,
                         int min_hq_per_mode = 1);

// Sample mean and population standard deviation sqrt(mean((x - mean)^2)) (divisor n, as numpy's
// default std). Throws std::invalid_argument when x is empty.
struct Moments1D {
  double mean, std;
};
Moments1D moments_1d(const std::vector<float>& x);

// 1D Wasserstein-1 (earth mover's) distance between the empirical distributions of two
// equal-size sample sets: sort both, mean over i of |a_(i) - b_(i)|. Throws
// std::invalid_argument when the sizes differ or are 0.
double wasserstein1_1d(std::vector<float> a, std::vector<float> b);

// Parabola quality (seed 3): median over points of |y - x^2 - 5| (mean of the two middle values
// for an even count). Throws std::invalid_argument on empty or odd-size points.
double parabola_median_residual(const std::vector<float>& points);

}  // namespace gan
