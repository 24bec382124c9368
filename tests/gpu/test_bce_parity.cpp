// CUDA BCE-with-logits against the CPU reference in float64: the statistics and the gradient, with
// label-smoothed targets, extreme logits (+-80) staying finite, each output optional, and the
// fixed-order reduction giving the same bits twice.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/bce.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 7, 100, 784, 1000, 4097};

struct Case {
  std::vector<float> logits, targets;
};

// Logits in [-8, 8] with +-80 planted; targets a mix of hard labels and smoothed ones (0.9, 0.1).
Case make_case(Rng& rng, size_t N) {
  Case c{rng.vec<float>(N, -8.0, 8.0), std::vector<float>(N)};
  const float labels[] = {0.0f, 1.0f, 0.9f, 0.1f};
  for (auto& t : c.targets) t = labels[rng.uniform_int(0, 3)];
  if (N >= 1) c.logits[0] = 80.0f;
  if (N >= 2) c.logits[1] = -80.0f;
  if (N >= 4) c.logits[N / 2] = rng.uniform(0, 1) < 0.5 ? 80.0f : -80.0f;
  return c;
}

// Tolerances. loss and mean_prob are float sums of N terms (runs of N/1024 per thread, then a
// 10-level tree): ~1e-6 relative. accuracy counts exactly on both paths, so only the final float
// division differs (< 1e-7); atol 1e-6 is far below one miscounted element (1/N >= 2.4e-4).
constexpr double kStatTol = 1e-5, kAccuracyAtol = 1e-6;
// dlogits = grad_scale (sigmoid(z) - t) / N: expf is within 2 ulp, and s - t cancels to an
// absolute error of about an ulp of 1, so the allowance is absolute, scaled by grad_scale / N.
double dlogits_atol(float grad_scale, size_t N) { return 1e-6 * grad_scale / double(N); }
constexpr double kDlogitsRtol = 1e-5;

}  // namespace

TEST_F(GpuTest, BceStatsAndGradientMatchCpu) {
  SCOPED_TRACE(rng_.trace());
  for (float grad_scale : {1.0f, 0.5f})
    for (size_t N : kSizes) {
      SCOPED_TRACE("grad_scale=" + std::to_string(grad_scale) + " N=" + std::to_string(N));
      const Case c = make_case(rng_, N);
      DeviceBuffer<float> logits(c.logits), targets(c.targets), dlogits(N);
      DeviceBuffer<BceStats<float>> stats(1);
      dlogits.poison();
      stats.poison();
      cuda::bce_with_logits(logits.data(), targets.data(), N, grad_scale, dlogits.data(),
                            stats.data(), stream_);
      const auto got_d = fetch(dlogits);
      const BceStats<float> got = fetch(stats)[0];

      const auto z64 = to_double(c.logits), t64 = to_double(c.targets);
      std::vector<double> want_d(N);
      BceStats<double> want{};
      cpu::bce_with_logits<double>(z64.data(), t64.data(), N, grad_scale, want_d.data(), &want);

      EXPECT_TRUE(all_close("dlogits", got_d, want_d, dlogits_atol(grad_scale, N), kDlogitsRtol));
      EXPECT_TRUE(all_close("loss", std::vector<float>{got.loss}, std::vector<double>{want.loss},
                            kStatTol, kStatTol));
      EXPECT_TRUE(all_close("mean_prob", std::vector<float>{got.mean_prob},
                            std::vector<double>{want.mean_prob}, kStatTol, kStatTol));
      EXPECT_TRUE(all_close("accuracy", std::vector<float>{got.accuracy},
                            std::vector<double>{want.accuracy}, kAccuracyAtol, 0.0));
    }
}

// Each output is optional: stats alone, dlogits alone, and the results match the full call.
TEST_F(GpuTest, BceOutputsAreOptional) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1000;
  const Case c = make_case(rng_, N);
  DeviceBuffer<float> logits(c.logits), targets(c.targets), d_full(N), d_only(N);
  DeviceBuffer<BceStats<float>> s_full(1), s_only(1);
  cuda::bce_with_logits(logits.data(), targets.data(), N, 1.0f, d_full.data(), s_full.data(),
                        stream_);
  s_only.poison();
  cuda::bce_with_logits(logits.data(), targets.data(), N, 1.0f, nullptr, s_only.data(), stream_);
  d_only.poison();
  cuda::bce_with_logits(logits.data(), targets.data(), N, 1.0f, d_only.data(), nullptr, stream_);
  EXPECT_TRUE(all_close("dlogits alone", fetch(d_only), fetch(d_full), 0.0, 0.0));
  const BceStats<float> a = fetch(s_only)[0], b = fetch(s_full)[0];
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.mean_prob, b.mean_prob);
  EXPECT_EQ(a.accuracy, b.accuracy);
}

// Extreme logits with hard and smoothed targets: every output finite, the loss the exact
// asymptote (|z| (1 - t) or |z| t) to float precision.
TEST_F(GpuTest, BceExtremeLogitsStayFinite) {
  const std::vector<float> logits = {80.0f, -80.0f, 80.0f, -80.0f, 80.0f, -80.0f};
  const std::vector<float> targets = {1.0f, 0.0f, 0.9f, 0.1f, 0.0f, 1.0f};
  const size_t N = logits.size();
  DeviceBuffer<float> z(logits), t(targets), d(N);
  DeviceBuffer<BceStats<float>> stats(1);
  d.poison();
  stats.poison();
  cuda::bce_with_logits(z.data(), t.data(), N, 1.0f, d.data(), stats.data(), stream_);
  const auto got_d = fetch(d);
  const BceStats<float> got = fetch(stats)[0];
  for (size_t i = 0; i < N; ++i) EXPECT_TRUE(std::isfinite(got_d[i])) << "dlogits[" << i << "]";
  // Per element: 0, 0, 8, 8, 80, 80 (plus e^-80, far below float resolution at these sizes).
  EXPECT_NEAR(got.loss, 176.0 / 6.0, 1e-4);
  EXPECT_NEAR(got.mean_prob, 0.5, 1e-6);
  EXPECT_NEAR(got.accuracy, 4.0 / 6.0, 1e-6);
}

// One block, a fixed reduction order: the same bits on a second call.
TEST_F(GpuTest, BceIsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 8192;
  const Case c = make_case(rng_, N);
  DeviceBuffer<float> logits(c.logits), targets(c.targets);
  DeviceBuffer<BceStats<float>> first(1), second(1);
  cuda::bce_with_logits(logits.data(), targets.data(), N, 1.0f, nullptr, first.data(), stream_);
  cuda::bce_with_logits(logits.data(), targets.data(), N, 1.0f, nullptr, second.data(), stream_);
  const BceStats<float> a = fetch(first)[0], b = fetch(second)[0];
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.mean_prob, b.mean_prob);
  EXPECT_EQ(a.accuracy, b.accuracy);
}
