#include "kernels/minibatch.h"

#include <cmath>
#include <vector>

namespace gan::cpu {
namespace {

// Column means of x (B, F): rows outer, features inner, so the pass walks x contiguously; each
// column sums its rows in order 0..B-1.
template <class T>
std::vector<T> column_means(const T* x, int B, int F) {
  std::vector<T> mean(static_cast<size_t>(F), T(0));
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < F; ++j) mean[j] += x[size_t(b) * F + j];
  for (int j = 0; j < F; ++j) mean[j] /= T(B);
  return mean;
}

// Biased column variances about the given means (the second of two passes: no cancellation when
// |mean| >> std).
template <class T>
std::vector<T> column_variances(const T* x, const std::vector<T>& mean, int B, int F) {
  std::vector<T> var(static_cast<size_t>(F), T(0));
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < F; ++j) {
      const T d = x[size_t(b) * F + j] - mean[j];
      var[j] += d * d;
    }
  for (int j = 0; j < F; ++j) var[j] /= T(B);
  return var;
}

}  // namespace

// x: (B, F), y: (B, F + 1). s = (1/F) sum_j sqrt(v_j + eps), summed over j in order.
template <class T>
void minibatch_stddev_forward(const T* x, T* y, int B, int F) {
  const auto mean = column_means(x, B, F);
  const auto var = column_variances(x, mean, B, F);
  const T eps = T(kMinibatchStddevEps);
  T s = T(0);
  for (int j = 0; j < F; ++j) s += std::sqrt(var[j] + eps);
  s /= T(F);
  const size_t ld = size_t(F) + 1;
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < F; ++j) y[b * ld + j] = x[size_t(b) * F + j];
    y[b * ld + F] = s;
  }
}

// s depends on x[b, j] only through v_j, and dv_j/dx[b, j] = (2/B)(x[b, j] - m_j) (the m_j term
// drops out: sum_b (x[b, j] - m_j) = 0). So ds/dx[b, j] = (x[b, j] - m_j) / (F B sqrt(v_j + eps)),
// and s feeds every row: dx[b, j] = dy[b, j] + G (x[b, j] - m_j) / (F B sqrt(v_j + eps)) with
// G = sum_c dy[c, F].
// x, dx: (B, F); dy: (B, F + 1).
template <class T>
void minibatch_stddev_backward(const T* x, const T* dy, T* dx, int B, int F) {
  const auto mean = column_means(x, B, F);
  const auto var = column_variances(x, mean, B, F);
  const T eps = T(kMinibatchStddevEps);
  const size_t ld = size_t(F) + 1;
  T G = T(0);
  for (int c = 0; c < B; ++c) G += dy[c * ld + F];
  std::vector<T> coef(static_cast<size_t>(F));
  for (int j = 0; j < F; ++j) coef[j] = G / (T(F) * T(B) * std::sqrt(var[j] + eps));
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < F; ++j) {
      const size_t i = size_t(b) * F + j;
      dx[i] = dy[b * ld + j] + coef[j] * (x[i] - mean[j]);
    }
}

// x: (B, F), y: (B, F + 1). d_b = sum_j (x[b, j] - m_j)^2, summed over j in order.
template <class T>
void minibatch_distance_forward(const T* x, T* y, int B, int F) {
  const auto mean = column_means(x, B, F);
  const size_t ld = size_t(F) + 1;
  for (int b = 0; b < B; ++b) {
    T d = T(0);
    for (int j = 0; j < F; ++j) {
      const T v = x[size_t(b) * F + j];
      const T diff = v - mean[j];
      d += diff * diff;
      y[b * ld + j] = v;
    }
    y[b * ld + F] = d;
  }
}

// L depends on d through g_b = dy[b, F]: dL = sum_b g_b sum_j 2 (x[b, j] - m_j)(dx[b, j] - dm_j)
// with dm_j = (1/B) sum_c dx[c, j], so
//   dx[c, j] = dy[c, j] + 2 (x[c, j] - m_j) g_c - (2/B) sum_b g_b (x[b, j] - m_j).
// x, dx: (B, F); dy: (B, F + 1).
template <class T>
void minibatch_distance_backward(const T* x, const T* dy, T* dx, int B, int F) {
  const auto mean = column_means(x, B, F);
  const size_t ld = size_t(F) + 1;
  std::vector<T> weighted(static_cast<size_t>(F), T(0));  // sum_b g_b (x[b, j] - m_j)
  for (int b = 0; b < B; ++b) {
    const T g = dy[b * ld + F];
    for (int j = 0; j < F; ++j) weighted[j] += g * (x[size_t(b) * F + j] - mean[j]);
  }
  for (int b = 0; b < B; ++b) {
    const T g = dy[b * ld + F];
    for (int j = 0; j < F; ++j) {
      const size_t i = size_t(b) * F + j;
      dx[i] = dy[b * ld + j] + T(2) * (x[i] - mean[j]) * g - T(2) / T(B) * weighted[j];
    }
  }
}

template void minibatch_stddev_forward<float>(const float*, float*, int, int);
template void minibatch_stddev_forward<double>(const double*, double*, int, int);
template void minibatch_stddev_backward<float>(const float*, const float*, float*, int, int);
template void minibatch_stddev_backward<double>(const double*, const double*, double*, int, int);
template void minibatch_distance_forward<float>(const float*, float*, int, int);
template void minibatch_distance_forward<double>(const double*, double*, int, int);
template void minibatch_distance_backward<float>(const float*, const float*, float*, int, int);
template void minibatch_distance_backward<double>(const double*, const double*, double*, int, int);

}  // namespace gan::cpu
