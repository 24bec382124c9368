#include "engine/data/toy_data.h"

#include <cmath>
#include <numbers>
#include <stdexcept>
#include <string>

#include "kernels/random.h"

namespace gan {
namespace {

void check_sigma(const char* fn, float sigma) {
  if (!(sigma > 0.0f) || !std::isfinite(sigma))
    throw std::invalid_argument(std::string(fn) + ": sigma must be > 0 and finite, got " +
                                std::to_string(sigma));
}

void check_modes(const char* fn, const ToyModes& m) {
  if (m.centers.empty())
    throw std::invalid_argument(std::string(fn) + ": modes have no centers");
  if (m.centers.size() % 2 != 0)
    throw std::invalid_argument(std::string(fn) + ": centers must be (k, 2), got an odd size " +
                                std::to_string(m.centers.size()));
  check_sigma(fn, m.sigma);
}

}  // namespace

ToyModes ring_modes(int k, float radius, float sigma) {
  if (k < 1) throw std::invalid_argument("ring_modes: k must be >= 1, got " + std::to_string(k));
  if (!(radius > 0.0f) || !std::isfinite(radius))
    throw std::invalid_argument("ring_modes: radius must be > 0 and finite, got " +
                                std::to_string(radius));
  check_sigma("ring_modes", sigma);
  ToyModes m;
  m.sigma = sigma;
  m.centers.resize(size_t(2) * k);
  for (int i = 0; i < k; ++i) {
    const double a = 2.0 * std::numbers::pi * i / k;
    m.centers[2 * i] = float(radius * std::cos(a));
    m.centers[2 * i + 1] = float(radius * std::sin(a));
  }
  return m;
}

ToyModes grid_modes(float sigma) {
  check_sigma("grid_modes", sigma);
  ToyModes m;
  m.sigma = sigma;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) {
      m.centers.push_back(float(-4 + 2 * i));
      m.centers.push_back(float(-4 + 2 * j));
    }
  return m;
}

std::vector<float> sample_mixture(const ToyModes& m, int n, uint64_t seed) {
  check_modes("sample_mixture", m);
  if (n < 1) throw std::invalid_argument("sample_mixture: n must be >= 1, got " + std::to_string(n));
  const size_t k = m.centers.size() / 2;
  const uint64_t counter = 0;
  std::vector<double> u(static_cast<size_t>(n)), z(size_t(2) * n);
  cpu::random_fill(u.data(), u.size(), Distribution::Uniform01, seed, kToyStreamModeIndex,
                   &counter);
  cpu::random_fill(z.data(), z.size(), Distribution::Normal, seed, kToyStreamNoise, &counter);
  std::vector<float> out(size_t(2) * n);
  for (size_t p = 0; p < size_t(n); ++p) {
    size_t mode = size_t(u[p] * double(k));
    if (mode >= k) mode = k - 1;  // u < 1, but guard the rounding anyway
    out[2 * p] = float(double(m.centers[2 * mode]) + double(m.sigma) * z[2 * p]);
    out[2 * p + 1] = float(double(m.centers[2 * mode + 1]) + double(m.sigma) * z[2 * p + 1]);
  }
  return out;
}

std::vector<float> sample_parabola(int n, uint64_t seed) {
  if (n < 1)
    throw std::invalid_argument("sample_parabola: n must be >= 1, got " + std::to_string(n));
  const uint64_t counter = 0;
  std::vector<double> u(static_cast<size_t>(n));
  cpu::random_fill(u.data(), u.size(), Distribution::Uniform01, seed, kToyStreamParabolaX,
                   &counter);
  std::vector<float> out(size_t(2) * n);
  for (size_t p = 0; p < size_t(n); ++p) {
    float x = float(-5.0 + 10.0 * u[p]);
    if (x >= 5.0f) x = std::nextafter(5.0f, 0.0f);  // keep x in [-5, 5) after float rounding
    out[2 * p] = x;
    out[2 * p + 1] = float(double(x) * double(x) + 5.0);
  }
  return out;
}

}  // namespace gan
