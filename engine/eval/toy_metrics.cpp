#include "engine/eval/toy_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace gan {
namespace {

void check_points(const char* fn, const std::vector<float>& points) {
  if (points.empty()) throw std::invalid_argument(std::string(fn) + ": points are empty");
  if (points.size() % 2 != 0)
    throw std::invalid_argument(std::string(fn) + ": points must be (n, 2), got an odd size " +
                                std::to_string(points.size()));
}

}  // namespace

ModeMetrics mode_metrics(const ToyModes& m, const std::vector<float>& points,
                         int min_hq_per_mode) {
  if (m.centers.empty()) throw std::invalid_argument("mode_metrics: modes have no centers");
  if (m.centers.size() % 2 != 0)
    throw std::invalid_argument("mode_metrics: centers must be (k, 2), got an odd size " +
                                std::to_string(m.centers.size()));
  if (!(m.sigma > 0.0f) || !std::isfinite(m.sigma))
    throw std::invalid_argument("mode_metrics: sigma must be > 0 and finite, got " +
                                std::to_string(m.sigma));
  if (min_hq_per_mode < 1)
    throw std::invalid_argument("mode_metrics: min_hq_per_mode must be >= 1, got " +
                                std::to_string(min_hq_per_mode));
  check_points("mode_metrics", points);

  const size_t k = m.centers.size() / 2, n = points.size() / 2;
  const double r = 3.0 * double(m.sigma), r2 = r * r;
  std::vector<long> counts(k, 0);
  long hq = 0;
  for (size_t p = 0; p < n; ++p) {
    const double x = points[2 * p], y = points[2 * p + 1];
    double best = std::numeric_limits<double>::infinity();
    size_t best_i = 0;
    for (size_t i = 0; i < k; ++i) {
      const double dx = x - m.centers[2 * i], dy = y - m.centers[2 * i + 1];
      const double d2 = dx * dx + dy * dy;
      if (d2 < best) best = d2, best_i = i;
    }
    if (best <= r2) ++hq, ++counts[best_i];  // NaN points compare false: never HQ
  }

  ModeMetrics out;
  out.high_quality_count = int(hq);
  out.high_quality_fraction = double(hq) / double(n);
  for (long c : counts) out.modes_captured += c >= min_hq_per_mode ? 1 : 0;
  if (hq == 0) {
    out.reverse_kl = std::numeric_limits<double>::quiet_NaN();
  } else {
    double kl = 0.0;
    for (long c : counts)
      if (c > 0) {
        const double q = double(c) / double(hq);
        kl += q * std::log(q * double(k));
      }
    out.reverse_kl = std::max(kl, 0.0);  // >= 0 exactly; clamp -1e-17 rounding
  }
  return out;
}

Moments1D moments_1d(const std::vector<float>& x) {
  if (x.empty()) throw std::invalid_argument("moments_1d: samples are empty");
  double sum = 0.0;
  for (float v : x) sum += v;
  const double mean = sum / double(x.size());
  double ss = 0.0;
  for (float v : x) ss += (v - mean) * (v - mean);
  return {mean, std::sqrt(ss / double(x.size()))};
}

double wasserstein1_1d(std::vector<float> a, std::vector<float> b) {
  if (a.size() != b.size())
    throw std::invalid_argument("wasserstein1_1d: sample sets differ in size (" +
                                std::to_string(a.size()) + " vs " + std::to_string(b.size()) + ")");
  if (a.empty()) throw std::invalid_argument("wasserstein1_1d: sample sets are empty");
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += std::fabs(double(a[i]) - double(b[i]));
  return sum / double(a.size());
}

double parabola_median_residual(const std::vector<float>& points) {
  check_points("parabola_median_residual", points);
  const size_t n = points.size() / 2;
  std::vector<double> r(n);
  for (size_t p = 0; p < n; ++p) {
    const double x = points[2 * p], y = points[2 * p + 1];
    r[p] = std::fabs(y - x * x - 5.0);
  }
  std::sort(r.begin(), r.end());
  return n % 2 ? r[n / 2] : 0.5 * (r[n / 2 - 1] + r[n / 2]);
}

}  // namespace gan
