// Float64 finite-difference gradient checks for the CPU reference ops.
//
// Two-sided differences with step h; an element passes when
//   |analytic - numeric| <= tol * max(1, |analytic|, |numeric|).
// The loss may report a "kink signature" (e.g. the signs of every pre-activation feeding a
// piecewise function); an element whose +h and -h evaluations give different signatures straddles
// a kink, where the derivative is undefined, and is skipped (and counted).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

namespace gan::test {

using KinkSignature = std::vector<char>;
// Evaluates the scalar loss at the current parameter values; fills *sig when sig is not null.
using LossFn = std::function<double(KinkSignature* sig)>;

struct GradCheckResult {
  size_t checked = 0;
  size_t skipped = 0;
};

inline GradCheckResult expect_gradient(const std::string& tensor, std::vector<double>& param,
                                       const std::vector<double>& analytic, const LossFn& loss,
                                       double h = 1e-6, double tol = 1e-6) {
  GradCheckResult r;
  EXPECT_EQ(param.size(), analytic.size()) << tensor;
  int failures = 0;
  for (size_t i = 0; i < param.size(); ++i) {
    const double orig = param[i];
    KinkSignature sp, sm;
    param[i] = orig + h;
    const double lp = loss(&sp);
    param[i] = orig - h;
    const double lm = loss(&sm);
    param[i] = orig;
    if (sp != sm) {
      ++r.skipped;
      continue;
    }
    ++r.checked;
    const double numeric = (lp - lm) / (2 * h);
    const double a = analytic[i];
    const double scale = std::max({1.0, std::fabs(a), std::fabs(numeric)});
    if (!(std::fabs(a - numeric) <= tol * scale) && ++failures <= 10) {
      ADD_FAILURE() << "gradient of " << tensor << "[" << i << "]: analytic " << a << ", numeric "
                    << numeric << " (relative error " << std::fabs(a - numeric) / scale << ")";
    }
  }
  EXPECT_EQ(failures, 0) << tensor << ": " << failures << " of " << r.checked << " elements failed";
  // A check that skipped everything proves nothing.
  EXPECT_GT(r.checked, 0u) << tensor << ": every element straddled a kink";
  return r;
}

// Loss weights: L = sum_i w_i y_i, so dL/dy = w.
inline double weighted_sum(const std::vector<double>& w, const std::vector<double>& y) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += w[i] * y[i];
  return s;
}

// One char per element: is it positive? The kink signature of ReLU-like and ELU layers.
inline void append_signs(KinkSignature* sig, const std::vector<double>& pre) {
  if (!sig) return;
  for (double v : pre) sig->push_back(v > 0 ? 1 : 0);
}

}  // namespace gan::test
