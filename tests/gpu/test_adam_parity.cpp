// CUDA Adam against the CPU reference in float64 over several steps, the step number living in
// device memory and advanced there by cuda::counter_add between steps (as a replayed CUDA graph
// does): plain Adam, GAN settings, L2 weight decay and decoupled (AdamW) decay.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/adam.h"
#include "kernels/random.h"

using namespace gan;
using namespace gan::test;

namespace {

struct NamedConfig {
  const char* name;
  AdamConfig cfg;
};

std::vector<NamedConfig> configs() {
  AdamConfig plain;
  AdamConfig gan;  // the DCGAN / Keras-tutorial settings
  gan.lr = 2e-4f;
  gan.beta1 = 0.5f;
  gan.eps = 1e-7f;
  AdamConfig l2;
  l2.weight_decay = 0.1f;
  AdamConfig adamw = l2;
  adamw.decoupled = true;
  return {{"adam", plain}, {"gan", gan}, {"l2", l2}, {"adamw", adamw}};
}

const size_t kSizes[] = {1, 7, 1000, 4097};
constexpr int kSteps = 5;

// Tolerances. The GPU's bias corrections come from powf, a few ulp off the float64 pow; at small t
// 1 - beta2^t ~ 1e-3 amplifies that to ~1e-4 relative in one step's size (<= lr = 1e-3), and each
// step rounds p to float (~6e-8): 2e-6 over five steps. That is still 25x below what AdamW's decay
// moves p by here (lr wd |p| ~ 5e-5 per step), and 1e-4 of a step is far below a wrong t.
// m and v are a few float roundings of sums of g and g^2.
constexpr double kParamAtol = 2e-6;
constexpr double kMomentAtol = 1e-7, kMomentRtol = 1e-5;

}  // namespace

TEST_F(GpuTest, AdamMatchesCpuOverSeveralSteps) {
  SCOPED_TRACE(rng_.trace());
  for (const NamedConfig& nc : configs())
    for (size_t N : kSizes) {
      SCOPED_TRACE(std::string(nc.name) + " N=" + std::to_string(N));
      const AdamConfig& cfg = nc.cfg;
      const auto p0 = rng_.vec<float>(N);
      DeviceBuffer<float> p(p0), g(N), m(std::vector<float>(N, 0.0f)),
          v(std::vector<float>(N, 0.0f));
      DeviceBuffer<uint64_t> step(std::vector<uint64_t>{1});

      std::vector<double> p_ref = to_double(p0), m_ref(N, 0.0), v_ref(N, 0.0);
      uint64_t step_ref = 1;
      for (int s = 0; s < kSteps; ++s) {
        SCOPED_TRACE("step " + std::to_string(step_ref));
        const auto grad = rng_.vec<float>(N);
        g.upload(grad);
        cuda::adam_step(cfg, p.data(), g.data(), m.data(), v.data(), N, step.data(), nullptr,
                        stream_);
        cuda::counter_add(step.data(), 1, stream_);

        const auto g_ref = to_double(grad);
        cpu::adam_step<double>(cfg, p_ref.data(), g_ref.data(), m_ref.data(), v_ref.data(), N,
                               &step_ref, nullptr);
        cpu::counter_add(&step_ref, 1);

        EXPECT_TRUE(all_close("p", fetch(p), p_ref, kParamAtol, 0.0));
        EXPECT_TRUE(all_close("m", fetch(m), m_ref, kMomentAtol, kMomentRtol));
        EXPECT_TRUE(all_close("v", fetch(v), v_ref, kMomentAtol, kMomentRtol));
      }
      EXPECT_EQ(fetch(step)[0], step_ref);
    }
}

// The step is read on the device when the kernel runs: the same launch arguments with the
// counter advanced give a different update (the bias correction changes), equal to the CPU's.
TEST_F(GpuTest, AdamReadsStepFromDevice) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 257;
  AdamConfig cfg;
  cfg.decay = 0.5f;  // the rate's staircase decay reads the same step: x1 at t = 3, x0.25 at 10
  cfg.decay_every = 4;
  const auto p0 = rng_.vec<float>(N), grad = rng_.vec<float>(N);
  // v bounded away from 0 keeps |m_hat| / sqrt(v_hat) ~ 1, so the tolerance above applies.
  const auto m0 = rng_.vec<float>(N, -0.1, 0.1), v0 = rng_.vec<float>(N, 1e-4, 1e-2);
  DeviceBuffer<float> g(grad);
  DeviceBuffer<uint64_t> step(std::vector<uint64_t>{3});
  std::vector<float> after[2];
  for (int k = 0; k < 2; ++k) {
    DeviceBuffer<float> p(p0), m(m0), v(v0);
    if (k == 1) cuda::counter_add(step.data(), 7, stream_);
    cuda::adam_step(cfg, p.data(), g.data(), m.data(), v.data(), N, step.data(), nullptr,
                    stream_);
    after[k] = fetch(p);

    const uint64_t t = k == 0 ? 3 : 10;
    auto p_ref = to_double(p0), m_ref = to_double(m0), v_ref = to_double(v0);
    const auto g_ref = to_double(grad);
    cpu::adam_step<double>(cfg, p_ref.data(), g_ref.data(), m_ref.data(), v_ref.data(), N, &t,
                           nullptr);
    EXPECT_TRUE(all_close("p at t=" + std::to_string(t), after[k], p_ref, kParamAtol, 0.0));
  }
  size_t same = 0;
  for (size_t i = 0; i < N; ++i) same += after[0][i] == after[1][i];
  EXPECT_LT(same, N / 2);
}

TEST_F(GpuTest, AdamEmptyLaunchesNothing) {
  DeviceBuffer<uint64_t> step(std::vector<uint64_t>{1});
  cuda::adam_step(AdamConfig{}, nullptr, nullptr, nullptr, nullptr, 0, step.data(), nullptr,
                  stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
