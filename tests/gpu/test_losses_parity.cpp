// CUDA Wasserstein loss and sigmoid-MSE against the CPU reference in float64: values, gradients
// and statistics over odd sizes, extreme logits staying finite, each output optional, and the
// fixed-order reductions giving the same bits twice.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/losses.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 7, 100, 784, 1000, 4097};

// Tolerances. Loss values and the mean score are float sums of N terms (runs of N/1024 per
// thread, then a 10-level tree): ~1e-6 relative, as for BCE.
constexpr double kStatTol = 1e-5;
// dscores = sign / N: one correctly rounded float division of exact operands (N <= 2^24), so
// within half a float ulp (6e-8 relative) of the float64 value.
constexpr double kDscoresRtol = 1e-7;
// dlogits = 2 (s - t) s (1 - s) / N: expf is within 2 ulp, and s - t and 1 - s cancel to an
// absolute error of about an ulp of 1 each, multiplied by factors <= 1: an absolute allowance of
// 1e-6 / N, plus 1e-5 relative.
double dlogits_atol(size_t N) { return 1e-6 / double(N); }
constexpr double kDlogitsRtol = 1e-5;

// Logits in [-8, 8] with +-80 planted (saturated sigmoid); targets soft, in [0, 1] (a pdf).
struct MseCase {
  std::vector<float> logits, targets;
};

MseCase make_mse_case(Rng& rng, size_t N) {
  MseCase c{rng.vec<float>(N, -8.0, 8.0), rng.vec<float>(N, 0.0, 1.0)};
  if (N >= 2) c.logits[0] = 80.0f;
  if (N >= 2) c.logits[1] = -80.0f;
  return c;
}

}  // namespace

TEST_F(GpuTest, WassersteinLossMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (float sign : {-1.0f, 1.0f})
    for (size_t N : kSizes) {
      SCOPED_TRACE("sign=" + std::to_string(sign) + " N=" + std::to_string(N));
      const auto scores = rng_.vec<float>(N, -8.0, 8.0);
      DeviceBuffer<float> scores_dev(scores), d_dev(N);
      DeviceBuffer<BceStats<float>> stats_dev(1);
      d_dev.poison();
      stats_dev.poison();
      cuda::wasserstein_loss(scores_dev.data(), N, sign, d_dev.data(), stats_dev.data(), stream_);
      const auto got_d = fetch(d_dev);
      const BceStats<float> got = fetch(stats_dev)[0];

      const auto s64 = to_double(scores);
      std::vector<double> want_d(N);
      BceStats<double> want{};
      cpu::wasserstein_loss<double>(s64.data(), N, sign, want_d.data(), &want);

      EXPECT_TRUE(all_close("dscores", got_d, want_d, 0.0, kDscoresRtol));
      EXPECT_TRUE(all_close("loss", std::vector<float>{got.loss}, std::vector<double>{want.loss},
                            kStatTol, kStatTol));
      EXPECT_TRUE(all_close("mean_prob", std::vector<float>{got.mean_prob},
                            std::vector<double>{want.mean_prob}, kStatTol, kStatTol));
      EXPECT_EQ(got.accuracy, 0.0f);
      EXPECT_EQ(got.loss, sign * got.mean_prob);  // both from the same float mean
    }
}

// Each output is optional: stats alone, dscores alone, and the results match the full call.
TEST_F(GpuTest, WassersteinLossOutputsAreOptional) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1000;
  const auto scores = rng_.vec<float>(N, -8.0, 8.0);
  DeviceBuffer<float> scores_dev(scores), d_full(N), d_only(N);
  DeviceBuffer<BceStats<float>> s_full(1), s_only(1);
  cuda::wasserstein_loss(scores_dev.data(), N, -1.0f, d_full.data(), s_full.data(), stream_);
  s_only.poison();
  cuda::wasserstein_loss(scores_dev.data(), N, -1.0f, nullptr, s_only.data(), stream_);
  d_only.poison();
  cuda::wasserstein_loss(scores_dev.data(), N, -1.0f, d_only.data(), nullptr, stream_);
  cuda::wasserstein_loss(scores_dev.data(), N, -1.0f, nullptr, nullptr, stream_);
  EXPECT_TRUE(all_close("dscores alone", fetch(d_only), fetch(d_full), 0.0, 0.0));
  const BceStats<float> a = fetch(s_only)[0], b = fetch(s_full)[0];
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.mean_prob, b.mean_prob);
  EXPECT_EQ(a.accuracy, b.accuracy);
}

TEST_F(GpuTest, SigmoidMseLossMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (size_t N : kSizes) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const MseCase c = make_mse_case(rng_, N);
    DeviceBuffer<float> logits(c.logits), targets(c.targets), d_dev(N), loss_dev(1);
    d_dev.poison();
    loss_dev.poison();
    cuda::sigmoid_mse(logits.data(), targets.data(), N, d_dev.data(), loss_dev.data(), stream_);
    const auto got_d = fetch(d_dev);
    const float got_loss = fetch(loss_dev)[0];

    const auto z64 = to_double(c.logits), t64 = to_double(c.targets);
    std::vector<double> want_d(N);
    double want_loss = 0;
    cpu::sigmoid_mse<double>(z64.data(), t64.data(), N, want_d.data(), &want_loss);

    EXPECT_TRUE(all_close("dlogits", got_d, want_d, dlogits_atol(N), kDlogitsRtol));
    EXPECT_TRUE(all_close("loss", std::vector<float>{got_loss}, std::vector<double>{want_loss},
                          kStatTol, kStatTol));
  }
}

TEST_F(GpuTest, SigmoidMseLossOutputsAreOptional) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1000;
  const MseCase c = make_mse_case(rng_, N);
  DeviceBuffer<float> logits(c.logits), targets(c.targets), d_full(N), d_only(N), l_full(1),
      l_only(1);
  cuda::sigmoid_mse(logits.data(), targets.data(), N, d_full.data(), l_full.data(), stream_);
  l_only.poison();
  cuda::sigmoid_mse(logits.data(), targets.data(), N, nullptr, l_only.data(), stream_);
  d_only.poison();
  cuda::sigmoid_mse(logits.data(), targets.data(), N, d_only.data(), nullptr, stream_);
  cuda::sigmoid_mse(logits.data(), targets.data(), N, nullptr, nullptr, stream_);
  EXPECT_TRUE(all_close("dlogits alone", fetch(d_only), fetch(d_full), 0.0, 0.0));
  EXPECT_EQ(fetch(l_only)[0], fetch(l_full)[0]);
}

// Saturated logits: s is 0 or 1 in float, so each element's loss is its squared target error and
// its gradient 0 (s (1 - s) = 0, or a product below float's range), with nothing overflowing.
TEST_F(GpuTest, SigmoidMseLossExtremeLogitsStayFinite) {
  const std::vector<float> z = {1000.0f, -1000.0f, 80.0f, -80.0f};
  const std::vector<float> t = {0.0f, 1.0f, 1.0f, 0.0f};
  const size_t N = z.size();
  DeviceBuffer<float> z_dev(z), t_dev(t), d_dev(N), loss_dev(1);
  d_dev.poison();
  loss_dev.poison();
  cuda::sigmoid_mse(z_dev.data(), t_dev.data(), N, d_dev.data(), loss_dev.data(), stream_);
  const auto d = fetch(d_dev);
  for (size_t i = 0; i < N; ++i) {
    EXPECT_TRUE(std::isfinite(d[i])) << "dlogits[" << i << "]";
    EXPECT_NEAR(d[i], 0.0f, 1e-30) << "dlogits[" << i << "]";
  }
  EXPECT_NEAR(fetch(loss_dev)[0], 0.5, 1e-7);  // per element: 1, 1, 0, 0
}

// One block, a fixed reduction order: the same bits on a second call.
TEST_F(GpuTest, LossesAreDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 8192;
  const MseCase c = make_mse_case(rng_, N);
  DeviceBuffer<float> logits(c.logits), targets(c.targets), l1(1), l2(1);
  DeviceBuffer<BceStats<float>> s1(1), s2(1);
  cuda::wasserstein_loss(logits.data(), N, 1.0f, nullptr, s1.data(), stream_);
  cuda::wasserstein_loss(logits.data(), N, 1.0f, nullptr, s2.data(), stream_);
  cuda::sigmoid_mse(logits.data(), targets.data(), N, nullptr, l1.data(), stream_);
  cuda::sigmoid_mse(logits.data(), targets.data(), N, nullptr, l2.data(), stream_);
  const BceStats<float> a = fetch(s1)[0], b = fetch(s2)[0];
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.mean_prob, b.mean_prob);
  EXPECT_EQ(fetch(l1)[0], fetch(l2)[0]);
}
