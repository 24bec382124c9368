// SGD with momentum, RMSprop and clipping on the GPU against the CPU reference in double; the
// divergence flags of every optimizer op (Adam included) against the CPU's on the same inputs.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/optimizers.h"
#include "kernels/random.h"
#include "optimizer_flag_cases.h"

namespace gan::test {
namespace {

// Element-wise float updates against double: a few roundings per step, so 1e-6 relative plus a
// small absolute term for values near 0.
constexpr double kAtol = 1e-7, kRtol = 1e-5;
// SGD's p travels (steps of lr buf up to ~0.3), so its float rounding is an ulp of the path's
// magnitudes (|p| ~ 1: 6e-8 a step), not of where p ends: up to ~3e-7 absolute after 5 steps for
// a p that lands near 0. atol 1e-6 (a float emulation of the kernel, FMAs included, peaked at 0.15
// of this bound over 3000 runs of each config; atol 1e-7 failed in ~0.5% of runs).
constexpr double kSgdAtol = 1e-6;

// The step t lives in device memory and is advanced there (counter_add), as the engine's graph
// replays do; SGD runs without decay, with staircase decay (and momentum), and plain with decay
// every step. lr_t is a product of floats on the GPU, of doubles on the CPU: within the tolerance.
TEST_F(GpuTest, SgdAndRmspropMatchCpuOverSteps) {
  SCOPED_TRACE(rng_.trace());
  const SgdConfig sgd_configs[] = {{0.05f, 0.9f}, {0.05f, 0.9f, 0.7f, 2}, {0.1f, 0.0f, 0.8f, 1}};
  for (size_t N : {size_t(1), size_t(7), size_t(4097)})
    for (const SgdConfig& sgd : sgd_configs) {
      SCOPED_TRACE("N=" + std::to_string(N) + " momentum=" + std::to_string(sgd.momentum) +
                   " decay=" + std::to_string(sgd.decay) +
                   " every=" + std::to_string(sgd.decay_every));
      const auto p0 = rng_.vec<float>(N);
      DeviceBuffer<float> ps(p0), pr(p0), buf(std::vector<float>(N, 0.0f)),
          v(std::vector<float>(N, 0.0f)), g(N);
      DeviceBuffer<uint64_t> t_dev(std::vector<uint64_t>{0});
      auto ps_ref = to_double(p0), pr_ref = to_double(p0);
      std::vector<double> buf_ref(N, 0.0), v_ref(N, 0.0);
      const RmspropConfig rms;
      for (uint64_t t = 1; t <= 5; ++t) {
        const auto grad = rng_.vec<float>(N);
        g.upload(grad);
        cuda::counter_add(t_dev.data(), 1, stream_);
        cuda::sgd_step(sgd, ps.data(), g.data(), buf.data(), N, t_dev.data(), nullptr, stream_);
        cuda::rmsprop_step(rms, pr.data(), g.data(), v.data(), N, nullptr, stream_);
        const auto gd = to_double(grad);
        cpu::sgd_step<double>(sgd, ps_ref.data(), gd.data(), buf_ref.data(), N, &t, nullptr);
        cpu::rmsprop_step<double>(rms, pr_ref.data(), gd.data(), v_ref.data(), N, nullptr);
        EXPECT_TRUE(all_close("sgd p", fetch(ps), ps_ref, kSgdAtol, kRtol)) << "t " << t;
        EXPECT_TRUE(all_close("sgd buf", fetch(buf), buf_ref, kSgdAtol, kRtol)) << "t " << t;
        EXPECT_TRUE(all_close("rmsprop p", fetch(pr), pr_ref, kAtol, kRtol)) << "t " << t;
        EXPECT_TRUE(all_close("rmsprop v", fetch(v), v_ref, kAtol, kRtol)) << "t " << t;
      }
    }
}

// The schedule alone: from p = 0 with gradient 1 and no momentum, p = -lr_t after one step, and
// lr_t is the same product of floats on both sides (staircase_lr multiplies, no pow), so the CUDA
// result equals the CPU float one bit for bit, at steps far into the schedule too.
TEST_F(GpuTest, SgdStaircaseLrMatchesCpuFloatExactly) {
  const SgdConfig cfg{0.1f, 0.0f, 0.96f, 3};
  for (uint64_t t : {uint64_t(1), uint64_t(3), uint64_t(4), uint64_t(100), uint64_t(1000001)}) {
    SCOPED_TRACE("t=" + std::to_string(t));
    DeviceBuffer<float> p(std::vector<float>{0.0f}), g(std::vector<float>{1.0f}), buf(1);
    DeviceBuffer<uint64_t> t_dev(std::vector<uint64_t>{t});
    cuda::sgd_step(cfg, p.data(), g.data(), buf.data(), 1, t_dev.data(), nullptr, stream_);
    float p_ref = 0.0f, g_ref = 1.0f, buf_ref = 0.0f;
    cpu::sgd_step<float>(cfg, &p_ref, &g_ref, &buf_ref, 1, &t, nullptr);
    EXPECT_EQ(fetch(p)[0], p_ref);
  }
}

TEST_F(GpuTest, ClipMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  auto p = rng_.vec<float>(1000, -1, 1);
  p.push_back(std::numeric_limits<float>::quiet_NaN());
  DeviceBuffer<float> d(p);
  cuda::clip_values(d.data(), p.size(), 0.01f, nullptr, stream_);
  cpu::clip_values<float>(p.data(), p.size(), 0.01f, nullptr);
  const auto got = fetch(d);
  for (size_t i = 0; i + 1 < p.size(); ++i) ASSERT_EQ(got[i], p[i]) << i;
  EXPECT_TRUE(std::isnan(got.back()));
}

// The divergence flags (kernels/common.h) on the GPU equal the CPU reference's on the same inputs,
// for every case of optimizer_flag_cases.h, with the bad element at a random place: in the first
// block, a middle one, or past the 4096-block grid (N > 4096 * 256, where threads stride). The
// flags are only ever set (raised flags stay raised), and a null flag pointer is allowed.
TEST_F(GpuTest, NonfiniteFlagsMatchCpu) {
  SCOPED_TRACE(rng_.trace());
  for (FlagOp op :
       {FlagOp::Adam, FlagOp::SgdMomentum, FlagOp::Sgd, FlagOp::Rmsprop, FlagOp::Clip})
    for (size_t N : {size_t(1), size_t(7), size_t(4097), size_t(4096) * 256 + 1001})
      for (const FlagCase& c : flag_cases(op))
        for (float start : {0.0f, 1.0f}) {
          SCOPED_TRACE(std::string(flag_op_name(op)) + ", " + c.name + ", N=" + std::to_string(N) +
                       ", flags start at " + std::to_string(start));
          FlagInputs in = flag_inputs(rng_, N);
          inject(c, in, size_t(rng_.uniform_int(0, int(N) - 1)));
          DeviceBuffer<float> p(in.p), g(in.g), m(in.m), v(in.v),
              flags(std::vector<float>(kNonfiniteFlags, start));
          DeviceBuffer<uint64_t> t_dev(std::vector<uint64_t>{kFlagStep});
          switch (op) {
            case FlagOp::Adam:
              cuda::adam_step(flag_adam(c), p.data(), g.data(), m.data(), v.data(), N,
                              t_dev.data(), flags.data(), stream_);
              break;
            case FlagOp::SgdMomentum:
            case FlagOp::Sgd:
              cuda::sgd_step(flag_sgd(c, op), p.data(), g.data(), m.data(), N, t_dev.data(),
                             flags.data(), stream_);
              break;
            case FlagOp::Rmsprop:
              cuda::rmsprop_step(flag_rmsprop(c), p.data(), g.data(), v.data(), N, flags.data(),
                                 stream_);
              break;
            case FlagOp::Clip: cuda::clip_values(p.data(), N, kClip, flags.data(), stream_); break;
          }
          float want[kNonfiniteFlags] = {start, start};
          run_cpu_op(op, c, in, want);
          const std::vector<float> got = fetch(flags);
          EXPECT_EQ(got[kNonfiniteParams], want[kNonfiniteParams]);
          EXPECT_EQ(got[kNonfiniteState], want[kNonfiniteState]);
          if (start == 0.0f) {
            EXPECT_EQ(got[kNonfiniteParams], c.want_params ? 1.0f : 0.0f);
            EXPECT_EQ(got[kNonfiniteState], c.want_state ? 1.0f : 0.0f);
          }
        }
  // No flags: nothing to write, nothing checked.
  DeviceBuffer<float> p(std::vector<float>{kNan}), g(std::vector<float>{1.0f}), buf(1), v(1);
  DeviceBuffer<uint64_t> t_dev(std::vector<uint64_t>{1});
  cuda::sgd_step(SgdConfig{}, p.data(), g.data(), buf.data(), 1, t_dev.data(), nullptr, stream_);
  cuda::rmsprop_step(RmspropConfig{}, p.data(), g.data(), v.data(), 1, nullptr, stream_);
  cuda::clip_values(p.data(), 1, kClip, nullptr, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  CUDA_CHECK(cudaGetLastError());
}

}  // namespace
}  // namespace gan::test
