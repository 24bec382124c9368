// CUDA random fills against the CPU reference in float: the uniforms and stratified fills bit for
// bit (same Philox bits, exact or correctly rounded arithmetic), normals within a few ulp (device
// and host libm differ), repeatable for a fixed (seed, stream, counter), fresh after counter_add,
// with N not a multiple of the Philox block; instance noise likewise.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/random.h"
#include "kernels/scalar.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 3, 7, 100, 784, 1000, 4097, (1u << 20) + 3};
const Distribution kDistributions[] = {Distribution::Uniform01, Distribution::UniformSym,
                                       Distribution::Normal, Distribution::Stratified01};

// Uniform01 is 24 bits times 2^-24 and UniformSym 2u - 1: every step exact in float on both
// paths, so they must agree bit for bit. Stratified01 is (i + u) / N in double (the sum exact, the
// division correctly rounded on the device as on the host, nothing to contract into an FMA) and
// one rounding to float: bit for bit too. Normal goes through logf, cosf, sinf, whose device
// versions are within 1-2 ulp and the host's within 1: a relative 4e-6 (~32 ulp) bounds the
// difference with margin; atol 1e-6 covers outputs near 0, where cos or sin crosses zero.
struct Tolerance {
  double atol, rtol;
};
Tolerance tolerance(Distribution d) {
  return d == Distribution::Normal ? Tolerance{1e-6, 4e-6} : Tolerance{0.0, 0.0};
}

std::string label(Distribution d, size_t N) {
  return std::string(distribution_name(d)) + " N=" + std::to_string(N);
}

std::vector<float> cpu_fill(size_t N, Distribution d, uint64_t seed, uint32_t stream,
                            uint64_t counter) {
  std::vector<float> out(N);
  cpu::random_fill<float>(out.data(), N, d, seed, stream, &counter);
  return out;
}

}  // namespace

TEST_F(GpuTest, RandomFillMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (Distribution d : kDistributions)
    for (size_t N : kSizes) {
      SCOPED_TRACE(label(d, N));
      const uint64_t seed = rng_.bits(), counter = rng_.bits();
      const uint32_t stream = uint32_t(rng_.bits());
      DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
      DeviceBuffer<float> out(N);
      out.poison();
      cuda::random_fill(out.data(), N, d, seed, stream, counter_dev.data(), stream_);
      const Tolerance tol = tolerance(d);
      EXPECT_TRUE(
          all_close("out", fetch(out), cpu_fill(N, d, seed, stream, counter), tol.atol, tol.rtol));
    }
}

// Same (seed, stream, counter): the same bits. counter_add on the device: new draws, equal to the
// CPU's at the advanced counter, including a carry into the counter's high word.
TEST_F(GpuTest, RandomFillRepeatsAndAdvancesWithCounter) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1001;
  for (Distribution d : kDistributions) {
    SCOPED_TRACE(distribution_name(d));
    const uint64_t seed = rng_.bits(), counter = 0xFFFFFFFFull;
    const uint32_t stream = uint32_t(rng_.bits());
    DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
    DeviceBuffer<float> first(N), again(N), advanced(N);
    again.poison();
    advanced.poison();
    cuda::random_fill(first.data(), N, d, seed, stream, counter_dev.data(), stream_);
    cuda::random_fill(again.data(), N, d, seed, stream, counter_dev.data(), stream_);
    cuda::counter_add(counter_dev.data(), 1, stream_);
    cuda::random_fill(advanced.data(), N, d, seed, stream, counter_dev.data(), stream_);
    const auto a = fetch(first), b = fetch(again), c = fetch(advanced);

    EXPECT_TRUE(all_close("repeat", b, a, 0.0, 0.0));
    EXPECT_EQ(fetch(counter_dev)[0], counter + 1);
    const Tolerance tol = tolerance(d);
    EXPECT_TRUE(
        all_close("advanced", c, cpu_fill(N, d, seed, stream, counter + 1), tol.atol, tol.rtol));
    // Independent 24-bit uniforms coincide with P = 2^-24 per element (normals less often), so
    // P(10 of 1001 equal) < 1e-60.
    size_t same = 0;
    for (size_t i = 0; i < N; ++i) same += a[i] == c[i];
    EXPECT_LT(same, N / 100) << "the advanced counter should draw fresh numbers";
  }
}

// Different streams at the same counter draw different numbers (the stream is part of the
// Philox counter, not a shift of the sequence).
TEST_F(GpuTest, RandomFillStreamsDiffer) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 4097;
  const uint64_t seed = rng_.bits();
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{rng_.bits()});
  DeviceBuffer<float> s0(N), s1(N);
  cuda::random_fill(s0.data(), N, Distribution::Uniform01, seed, 0, counter_dev.data(), stream_);
  cuda::random_fill(s1.data(), N, Distribution::Uniform01, seed, 1, counter_dev.data(), stream_);
  const auto a = fetch(s0), b = fetch(s1);
  size_t same = 0;
  for (size_t i = 0; i < N; ++i) same += a[i] == b[i];
  EXPECT_LT(same, N / 100);  // P(41 of 4097 independent 24-bit uniforms equal) < 1e-200
}

TEST_F(GpuTest, RandomFillEmptyLaunchesNothing) {
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{0});
  cuda::random_fill(nullptr, 0, Distribution::Normal, 1, 0, counter_dev.data(), stream_);
  cuda::add_noise(nullptr, nullptr, 0, 1.0f, 0, 1, 0, counter_dev.data(), stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// The GPU's stratified fill, checked on its own terms too: in [0, 1), ascending, element i in
// its (rounded) stratum.
TEST_F(GpuTest, Stratified01IsSortedWithOneDrawPerStratum) {
  SCOPED_TRACE(rng_.trace());
  for (size_t N : {size_t(1), size_t(2), size_t(64), size_t(4097)}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{rng_.bits()});
    DeviceBuffer<float> out(N);
    out.poison();
    cuda::random_fill(out.data(), N, Distribution::Stratified01, rng_.bits(), 5, counter_dev.data(),
                      stream_);
    const auto v = fetch(out);
    for (size_t i = 0; i < N; ++i) {
      ASSERT_GE(v[i], float(double(i) / double(N))) << i;
      ASSERT_LE(v[i], float(double(i + 1) / double(N))) << i;
      ASSERT_LT(v[i], 1.0f) << i;
      if (i > 0) ASSERT_LE(v[i - 1], v[i]) << i;
    }
  }
}

namespace {

// |got - want| <= tol[i] for every element, with up to 10 offenders reported.
::testing::AssertionResult within(const std::string& name, const std::vector<float>& got,
                                  const std::vector<double>& want, const std::vector<double>& tol) {
  size_t bad = 0;
  std::string msg;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= tol[i]) && ++bad <= 10)
      msg += "\n  " + name + "[" + std::to_string(i) + "]: got " + std::to_string(got[i]) +
             ", want " + std::to_string(want[i]) + " (diff " + std::to_string(err) + ", tol " +
             std::to_string(tol[i]) + ")";
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << name << ": " << bad << " of " << got.size() << " elements outside tolerance" << msg;
}

std::vector<uint32_t> bit_patterns(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

}  // namespace

// Instance noise against the CPU in float, at steps along and past the anneal (sigma_t is the
// same float expression on both paths, so the same value). Two references:
//  - x + sigma_t n with n the GPU's own Normal fill: only the final rounding differs (an FMA on
//    the device, a product and a sum on the host), so |diff| <= 2^-23 (|x| + sigma_t |n|): the
//    GPU draws exactly random_fill's normals;
//  - the CPU's add_noise: its normals are within the Normal tolerance above (1e-6 + 4e-6 |n|),
//    scaled by sigma_t, plus that final rounding.
// At sigma_t = 0 the output is x's bits exactly (-0 included), in place or not.
TEST_F(GpuTest, AddNoiseMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const float sigma0 = 0.7f;
  const uint64_t anneal = 10;
  for (size_t N : {size_t(1), size_t(7), size_t(784), size_t(4097), size_t(100003)})
    for (uint64_t anneal_steps : {anneal, uint64_t(0)})
      for (uint64_t t : {uint64_t(1), uint64_t(4), uint64_t(10), uint64_t(11), uint64_t(12),
                         uint64_t(1) << 33}) {
        SCOPED_TRACE("N=" + std::to_string(N) + " anneal=" + std::to_string(anneal_steps) +
                     " t=" + std::to_string(t));
        const uint64_t seed = rng_.bits();
        const uint32_t stream = uint32_t(rng_.bits());
        auto x = rng_.vec<float>(N, -1.5, 1.5);
        x[0] = -0.0f;
        DeviceBuffer<float> x_dev(x), y_dev(N), in_place(x), n_dev(N);
        DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{t});
        y_dev.poison();
        n_dev.poison();
        cuda::add_noise(x_dev.data(), y_dev.data(), N, sigma0, anneal_steps, seed, stream,
                        counter_dev.data(), stream_);
        cuda::add_noise(in_place.data(), in_place.data(), N, sigma0, anneal_steps, seed, stream,
                        counter_dev.data(), stream_);
        cuda::random_fill(n_dev.data(), N, Distribution::Normal, seed, stream, counter_dev.data(),
                          stream_);
        const auto y = fetch(y_dev), y_in_place = fetch(in_place), n_gpu = fetch(n_dev);
        EXPECT_EQ(bit_patterns(y_in_place), bit_patterns(y)) << "in place equals out of place";
        EXPECT_EQ(bit_patterns(fetch(x_dev)), bit_patterns(x)) << "x is left alone";

        std::vector<float> want(N), n_cpu(N);
        cpu::add_noise<float>(x.data(), want.data(), N, sigma0, anneal_steps, seed, stream, &t);
        cpu::random_fill<float>(n_cpu.data(), N, Distribution::Normal, seed, stream, &t);
        const float sigma = instance_noise_sigma<float>(sigma0, anneal_steps, t);
        if (sigma == 0.0f) {
          EXPECT_EQ(bit_patterns(y), bit_patterns(x)) << "sigma_t 0 copies x";
          EXPECT_EQ(bit_patterns(want), bit_patterns(x));
          continue;
        }
        const double s = sigma;
        std::vector<double> own(N), own_tol(N), cpu_ref(N), cpu_tol(N);
        for (size_t i = 0; i < N; ++i) {
          const double rounding = 0x1p-23 * (std::fabs(x[i]) + s * std::fabs(double(n_gpu[i])));
          own[i] = double(x[i]) + s * double(n_gpu[i]);
          own_tol[i] = rounding;
          cpu_ref[i] = double(want[i]);
          cpu_tol[i] = s * (1e-6 + 4e-6 * std::fabs(double(n_cpu[i]))) + 2 * rounding;
        }
        EXPECT_TRUE(within("y vs x + sigma_t n_gpu", y, own, own_tol));
        EXPECT_TRUE(within("y vs cpu", y, cpu_ref, cpu_tol));
      }
}

// The step comes from the device counter: counter_add moves along the schedule with no host
// round trip, to the CPU's result at the advanced step (here past the anneal: an exact copy).
TEST_F(GpuTest, AddNoiseFollowsDeviceCounter) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1001;
  const uint64_t seed = rng_.bits();
  const auto x = rng_.vec<float>(N);
  DeviceBuffer<float> x_dev(x), y_dev(N);
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{1});
  cuda::add_noise(x_dev.data(), y_dev.data(), N, 1.0f, 3, seed, 0, counter_dev.data(), stream_);
  const auto first = fetch(y_dev);
  size_t same = 0;
  for (size_t i = 0; i < N; ++i) same += first[i] == x[i];
  // x + n == x in float needs |n| below half an ulp of x (< 6e-8 for |x| <= 1): P < 1e-7 per
  // element, so P(10 of 1001) < 1e-50.
  EXPECT_LT(same, N / 100) << "sigma_1 = sigma0: noise added";
  cuda::counter_add(counter_dev.data(), 3, stream_);  // t = 4 = anneal + 1
  y_dev.poison();
  cuda::add_noise(x_dev.data(), y_dev.data(), N, 1.0f, 3, seed, 0, counter_dev.data(), stream_);
  EXPECT_EQ(bit_patterns(fetch(y_dev)), bit_patterns(x));
}
