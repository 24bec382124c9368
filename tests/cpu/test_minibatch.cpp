// Minibatch stddev and distance: forward against a direct float64 computation written here (every
// element of y), float64 gradient checks of both backward ops, the single-row limits (v = 0, so
// the stddev is sqrt(eps) and the distance 0), and the float instantiations against the contract's
// formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gradcheck.h"
#include "kernels/minibatch.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

// B = 1 (v = 0), F = 1, B = 100 with F = 1 (the seed's shape: 100 scalar samples), odd sizes.
const std::pair<int, int> kShapes[] = {{1, 1}, {1, 4}, {3, 1}, {5, 3}, {16, 7}, {100, 1}, {4, 33}};

std::string shape_label(int B, int F) {
  return "B=" + std::to_string(B) + " F=" + std::to_string(F);
}

// Column statistics computed column by column (a different loop order from the op's).
std::vector<double> column_means(const std::vector<double>& x, int B, int F) {
  std::vector<double> m(F);
  for (int j = 0; j < F; ++j) {
    double s = 0;
    for (int b = 0; b < B; ++b) s += x[size_t(b) * F + j];
    m[j] = s / B;
  }
  return m;
}

std::vector<double> column_variances(const std::vector<double>& x, int B, int F) {
  const auto m = column_means(x, B, F);
  std::vector<double> v(F);
  for (int j = 0; j < F; ++j) {
    double s = 0;
    for (int b = 0; b < B; ++b) s += std::pow(x[size_t(b) * F + j] - m[j], 2);
    v[j] = s / B;
  }
  return v;
}

// The appended column of y, by the definitions in kernels/minibatch.h.
std::vector<double> direct_stddev_feature(const std::vector<double>& x, int B, int F) {
  const auto v = column_variances(x, B, F);
  double s = 0;
  for (int j = 0; j < F; ++j) s += std::sqrt(v[j] + kMinibatchStddevEps);
  return std::vector<double>(B, s / F);
}

std::vector<double> direct_distance_feature(const std::vector<double>& x, int B, int F) {
  const auto m = column_means(x, B, F);
  std::vector<double> d(B, 0.0);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < F; ++j) d[b] += std::pow(x[size_t(b) * F + j] - m[j], 2);
  return d;
}

// The contract's backward formulas, written out element by element.
std::vector<double> direct_stddev_backward(const std::vector<double>& x,
                                           const std::vector<double>& dy, int B, int F) {
  const auto m = column_means(x, B, F);
  const auto v = column_variances(x, B, F);
  double G = 0;
  for (int c = 0; c < B; ++c) G += dy[size_t(c) * (F + 1) + F];
  std::vector<double> dx(size_t(B) * F);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < F; ++j)
      dx[size_t(b) * F + j] =
          dy[size_t(b) * (F + 1) + j] + G * (x[size_t(b) * F + j] - m[j]) /
                                            (double(F) * B * std::sqrt(v[j] + kMinibatchStddevEps));
  return dx;
}

std::vector<double> direct_distance_backward(const std::vector<double>& x,
                                             const std::vector<double>& dy, int B, int F) {
  const auto m = column_means(x, B, F);
  std::vector<double> dx(size_t(B) * F);
  for (int j = 0; j < F; ++j) {
    double weighted = 0;
    for (int b = 0; b < B; ++b)
      weighted += dy[size_t(b) * (F + 1) + F] * (x[size_t(b) * F + j] - m[j]);
    for (int c = 0; c < B; ++c)
      dx[size_t(c) * F + j] = dy[size_t(c) * (F + 1) + j] +
                              2 * (x[size_t(c) * F + j] - m[j]) * dy[size_t(c) * (F + 1) + F] -
                              2.0 / B * weighted;
  }
  return dx;
}

// Splits y (B, F + 1) into its copy of x (B, F) and its feature column (B).
template <class T>
std::pair<std::vector<T>, std::vector<T>> split_output(const std::vector<T>& y, int B, int F) {
  std::vector<T> copy, feature;
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < F; ++j) copy.push_back(y[size_t(b) * (F + 1) + j]);
    feature.push_back(y[size_t(b) * (F + 1) + F]);
  }
  return {copy, feature};
}

using Forward64 = void (*)(const double*, double*, int, int);
using Forward32 = void (*)(const float*, float*, int, int);
using Backward64 = void (*)(const double*, const double*, double*, int, int);
using Backward32 = void (*)(const float*, const float*, float*, int, int);
using DirectFeature = std::vector<double> (*)(const std::vector<double>&, int, int);
using DirectBackward = std::vector<double> (*)(const std::vector<double>&,
                                               const std::vector<double>&, int, int);

// Every element of y: the copy exactly, the feature within rounding. float64 to 1e-12 (sums of at
// most 100 terms of size ~1, a few ulp each); float32 to 1e-5 relative (the same sums in float,
// ~1e-7 per rounding).
void check_forward(Rng& rng, Forward64 op64, Forward32 op32, DirectFeature direct) {
  for (auto [B, F] : kShapes) {
    SCOPED_TRACE(shape_label(B, F));
    const size_t ld = size_t(F) + 1;
    const auto x = rng.vec<double>(size_t(B) * F, -2, 2);
    std::vector<double> y(size_t(B) * ld, std::numeric_limits<double>::quiet_NaN());
    op64(x.data(), y.data(), B, F);
    auto [copy, feature] = split_output(y, B, F);
    EXPECT_TRUE(all_close("y[:, :F] (double)", copy, x, 0, 0));
    EXPECT_TRUE(all_close("y[:, F] (double)", feature, direct(x, B, F), 1e-12, 1e-12));

    const auto x32 = rng.vec<float>(size_t(B) * F, -2, 2);
    std::vector<float> y32(size_t(B) * ld, std::numeric_limits<float>::quiet_NaN());
    op32(x32.data(), y32.data(), B, F);
    auto [copy32, feature32] = split_output(y32, B, F);
    EXPECT_TRUE(all_close("y[:, :F] (float)", copy32, x32, 0, 0));
    EXPECT_TRUE(all_close("y[:, F] (float)", feature32, direct(to_double(x32), B, F), 1e-6, 1e-5));
  }
}

// L = sum w y, so dy = w; every element of x is checked against two-sided differences.
void check_gradient(Rng& rng, Forward64 forward, Backward64 backward) {
  for (auto [B, F] : kShapes) {
    SCOPED_TRACE(shape_label(B, F));
    auto x = rng.vec<double>(size_t(B) * F, -2, 2);
    const auto w = rng.vec<double>(size_t(B) * (F + 1));
    std::vector<double> y(w.size());
    LossFn loss = [&](KinkSignature*) {
      forward(x.data(), y.data(), B, F);
      return weighted_sum(w, y);
    };
    std::vector<double> dx(x.size(), std::numeric_limits<double>::quiet_NaN());
    backward(x.data(), w.data(), dx.data(), B, F);
    expect_gradient("x", x, dx, loss);
  }
}

// The float instantiation of backward against the formula in float64 on the same inputs; dx is
// poisoned first, so an unwritten element fails. 1e-5: a few float roundings on terms of size ~1.
void check_backward_formula(Rng& rng, Backward32 op32, DirectBackward direct) {
  for (auto [B, F] : kShapes) {
    SCOPED_TRACE(shape_label(B, F));
    const auto x = rng.vec<float>(size_t(B) * F, -2, 2);
    const auto dy = rng.vec<float>(size_t(B) * (F + 1));
    std::vector<float> dx(x.size(), std::numeric_limits<float>::quiet_NaN());
    op32(x.data(), dy.data(), dx.data(), B, F);
    EXPECT_TRUE(all_close("dx", dx, direct(to_double(x), to_double(dy), B, F), 1e-5, 1e-5));
  }
}

}  // namespace

TEST(CpuMinibatch, StddevForwardMatchesDirectComputation) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_forward(rng, cpu::minibatch_stddev_forward<double>, cpu::minibatch_stddev_forward<float>,
                direct_stddev_feature);
}

TEST(CpuMinibatch, DistanceForwardMatchesDirectComputation) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_forward(rng, cpu::minibatch_distance_forward<double>,
                cpu::minibatch_distance_forward<float>, direct_distance_feature);
}

TEST(CpuMinibatch, StddevGradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_gradient(rng, cpu::minibatch_stddev_forward<double>,
                 cpu::minibatch_stddev_backward<double>);
}

TEST(CpuMinibatch, DistanceGradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_gradient(rng, cpu::minibatch_distance_forward<double>,
                 cpu::minibatch_distance_backward<double>);
}

TEST(CpuMinibatch, StddevBackwardMatchesFormulaInFloat) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_backward_formula(rng, cpu::minibatch_stddev_backward<float>, direct_stddev_backward);
}

TEST(CpuMinibatch, DistanceBackwardMatchesFormulaInFloat) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_backward_formula(rng, cpu::minibatch_distance_backward<float>, direct_distance_backward);
}

// One row: every column has v = 0 exactly (x - m = 0), so the stddev is sqrt(eps) and the
// distance 0, on every call; nothing flows back through the feature, so dx = dy[:, :F] exactly.
TEST(CpuMinibatch, SingleRowGivesSqrtEpsAndZeroDistance) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int F : {1, 5}) {
    SCOPED_TRACE("F=" + std::to_string(F));
    const auto x = rng.vec<double>(F, -2, 2);
    const auto dy = rng.vec<double>(size_t(F) + 1);
    const std::vector<double> dy_copy(dy.begin(), dy.begin() + F);
    std::vector<double> y(size_t(F) + 1), dx(F);

    cpu::minibatch_stddev_forward<double>(x.data(), y.data(), 1, F);
    EXPECT_DOUBLE_EQ(y[F], std::sqrt(1e-8));
    EXPECT_TRUE(
        all_close("y[0, :F] (stddev)", std::vector<double>(y.begin(), y.begin() + F), x, 0, 0));
    cpu::minibatch_stddev_backward<double>(x.data(), dy.data(), dx.data(), 1, F);
    EXPECT_TRUE(all_close("dx (stddev)", dx, dy_copy, 0, 0));

    cpu::minibatch_distance_forward<double>(x.data(), y.data(), 1, F);
    EXPECT_EQ(y[F], 0.0);
    EXPECT_TRUE(
        all_close("y[0, :F] (distance)", std::vector<double>(y.begin(), y.begin() + F), x, 0, 0));
    cpu::minibatch_distance_backward<double>(x.data(), dy.data(), dx.data(), 1, F);
    EXPECT_TRUE(all_close("dx (distance)", dx, dy_copy, 0, 0));

    std::vector<float> y32(size_t(F) + 1);
    const auto x32 = rng.vec<float>(F, -2, 2);
    cpu::minibatch_stddev_forward<float>(x32.data(), y32.data(), 1, F);
    EXPECT_FLOAT_EQ(y32[F], std::sqrt(1e-8f));
  }
}

// A hand-sized case: x = [[1, 0], [3, 4]] -> m = (2, 2), v = (1, 4), stddev = (1 + 2) / 2 = 1.5
// (to eps), distances = (1 + 4, 1 + 4) = 5.
TEST(CpuMinibatch, HandComputedFeatures) {
  const std::vector<double> x = {1, 0, 3, 4};
  std::vector<double> y(6);
  cpu::minibatch_stddev_forward<double>(x.data(), y.data(), 2, 2);
  EXPECT_NEAR(y[2], 1.5, 1e-8);
  EXPECT_NEAR(y[5], 1.5, 1e-8);
  cpu::minibatch_distance_forward<double>(x.data(), y.data(), 2, 2);
  EXPECT_DOUBLE_EQ(y[2], 5.0);
  EXPECT_DOUBLE_EQ(y[5], 5.0);
  EXPECT_TRUE(all_close("y", y, std::vector<double>{1, 0, 5, 3, 4, 5}, 0, 0));
}
