// CUDA weight EMA against the CPU reference in float, bit for bit (ema_element, scalar.h: the same
// roundings, the product never fused into an FMA on the device), with the step in device memory
// advanced by counter_add as a replayed graph advances it: copies before `start`, averages after.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/ema.h"
#include "kernels/random.h"

using namespace gan;
using namespace gan::test;

// N up to one past the 4096-block grid (where threads stride); decays that round differently.
TEST_F(GpuTest, EmaUpdateMatchesCpuExactlyOverSteps) {
  SCOPED_TRACE(rng_.trace());
  const uint64_t start = 3;
  for (size_t N : {size_t(1), size_t(7), size_t(4097), size_t(4096) * 256 + 1001})
    for (float decay : {0.0f, 0.5f, 0.999f, 0.9999f}) {
      SCOPED_TRACE("N=" + std::to_string(N) + " decay=" + std::to_string(decay));
      auto ema = rng_.vec<float>(N, -5, 5);
      DeviceBuffer<float> ema_dev(ema), p_dev(N);
      DeviceBuffer<uint64_t> step_dev(std::vector<uint64_t>{0});
      for (uint64_t t = 1; t <= 5; ++t) {
        const auto p = rng_.vec<float>(N, -5, 5);
        p_dev.upload(p);
        cuda::counter_add(step_dev.data(), 1, stream_);
        cuda::ema_update(ema_dev.data(), p_dev.data(), N, decay, start, step_dev.data(), stream_);
        cpu::ema_update<float>(ema.data(), p.data(), N, decay, start, &t);
        ASSERT_TRUE(same_bits("ema", fetch(ema_dev), ema)) << "step " << t;
        if (t < start || decay == 0.0f) ASSERT_TRUE(same_bits("ema = p", ema, p)) << "step " << t;
      }
    }
}

// A poisoned (NaN) ema before start is overwritten by p: the copy reads nothing of ema.
TEST_F(GpuTest, EmaUpdateCopiesOverPoisonBeforeStart) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 4097;
  const auto p = rng_.vec<float>(N);
  DeviceBuffer<float> ema_dev(N), p_dev(p);
  DeviceBuffer<uint64_t> step_dev(std::vector<uint64_t>{9});
  ema_dev.poison();
  cuda::ema_update(ema_dev.data(), p_dev.data(), N, 0.999f, 10, step_dev.data(), stream_);
  EXPECT_TRUE(same_bits("ema", fetch(ema_dev), p));
}

TEST_F(GpuTest, EmaEmptyLaunchesNothing) {
  cuda::ema_update(nullptr, nullptr, 0, 0.999f, 1, nullptr, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  CUDA_CHECK(cudaGetLastError());
}
