// CUDA random fills against the CPU reference in float: the uniforms bit for bit (same Philox bits,
// exact arithmetic), normals within a few ulp (device and host libm differ), repeatable for a fixed
// (seed, stream, counter), fresh after counter_add, with N not a multiple of the Philox block.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/random.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 3, 7, 100, 784, 1000, 4097, (1u << 20) + 3};
const Distribution kDistributions[] = {Distribution::Uniform01, Distribution::UniformSym,
                                       Distribution::Normal};

// Uniform01 is 24 bits times 2^-24 and UniformSym 2u - 1: every step exact in float on both
// paths, so they must agree bit for bit. Normal goes through logf, cosf, sinf, whose device
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
  EXPECT_LT(same, N / 100);
}

TEST_F(GpuTest, RandomFillEmptyLaunchesNothing) {
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{0});
  cuda::random_fill(nullptr, 0, Distribution::Normal, 1, 0, counter_dev.data(), stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
