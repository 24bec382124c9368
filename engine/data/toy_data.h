// 2D toy distributions for the mode-collapse experiments (SEEDS.md sections 3 and 4).
//
// Points are (n, 2) row-major float arrays: x0, y0, x1, y1, ...
// Sampling is deterministic by seed: every draw comes from gan::cpu::random_fill (Philox, keyed by
// the seed) on its own stream id, with counter 0, so the CPU and CUDA paths could draw the same
// numbers and a run is reproducible from its seed alone.
#pragma once
#include <cstdint>
#include <vector>

namespace gan {

// A mixture of k isotropic Gaussians N(center_i, sigma^2 I), equal weights.
struct ToyModes {
  std::vector<float> centers;  // (k, 2)
  float sigma = 0.0f;
  int k() const { return int(centers.size() / 2); }
};

// Random streams used by the toy samplers (distinct from one another).
inline constexpr uint32_t kToyStreamModeIndex = 0x70790001u;  // Uniform01: which mode
inline constexpr uint32_t kToyStreamNoise = 0x70790002u;      // Normal: offset from the center
inline constexpr uint32_t kToyStreamParabolaX = 0x70790003u;  // Uniform01: the parabola's x

// The Unrolled-GAN ring (Metz et al. 2017; seed 4's mode-collapse demo): k centers on a circle of
// `radius`, center i at angle 2*pi*i/k, i.e. (radius cos(2 pi i / k), radius sin(2 pi i / k)).
// Throws std::invalid_argument unless k >= 1, radius > 0 and sigma > 0 (finite).
ToyModes ring_modes(int k = 8, float radius = 2.0f, float sigma = 0.02f);

// The 25-mode grid (VEEGAN / PacGAN): centers at {-4,-2,0,2,4}^2, row-major in (x, y) with x
// varying slowest: center 5*i + j = (-4 + 2i, -4 + 2j). Throws unless sigma > 0 (finite).
ToyModes grid_modes(float sigma = 0.05f);

// n points from the equal-weight mixture of m's Gaussians: point p takes mode
// floor(u_p * k) (u_p uniform [0, 1) on kToyStreamModeIndex) and adds sigma * (z_2p, z_2p+1)
// (standard normals on kToyStreamNoise). Computed in double, stored as float.
// Throws std::invalid_argument when n < 1, m has no centers, an odd number of center
// coordinates, or sigma is not > 0.
std::vector<float> sample_mixture(const ToyModes& m, int n, uint64_t seed);

// Seed 3's parabola: n points (x, x^2 + 5), x = -5 + 10 u with u uniform [0, 1) (so x in [-5, 5)),
// x rounded to float first and y = float(double(x)^2 + 5), so each point lies on the parabola to
// y's float rounding (half an ulp of y <= 2^-20 for y in [16, 32)). Throws when n < 1.
std::vector<float> sample_parabola(int n, uint64_t seed);

}  // namespace gan
