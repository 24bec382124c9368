// SGD with momentum, RMSprop and clipping on the GPU against the CPU reference in double.
#include <gtest/gtest.h>

#include <limits>

#include "gpu_test.h"
#include "kernels/optimizers.h"

namespace gan::test {
namespace {

// Element-wise float updates against double: a few roundings per step, so 1e-6 relative plus a
// small absolute term for values near 0.
constexpr double kAtol = 1e-7, kRtol = 1e-5;

TEST_F(GpuTest, SgdAndRmspropMatchCpuOverSteps) {
  SCOPED_TRACE(rng_.trace());
  for (size_t N : {size_t(1), size_t(7), size_t(4097)}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const auto p0 = rng_.vec<float>(N);
    DeviceBuffer<float> ps(p0), pr(p0), buf(std::vector<float>(N, 0.0f)),
        v(std::vector<float>(N, 0.0f)), g(N);
    auto ps_ref = to_double(p0), pr_ref = to_double(p0);
    std::vector<double> buf_ref(N, 0.0), v_ref(N, 0.0);
    const SgdConfig sgd{0.05f, 0.9f};
    const RmspropConfig rms;
    for (int t = 0; t < 5; ++t) {
      const auto grad = rng_.vec<float>(N);
      g.upload(grad);
      cuda::sgd_step(sgd, ps.data(), g.data(), buf.data(), N, stream_);
      cuda::rmsprop_step(rms, pr.data(), g.data(), v.data(), N, stream_);
      const auto gd = to_double(grad);
      cpu::sgd_step<double>(sgd, ps_ref.data(), gd.data(), buf_ref.data(), N);
      cpu::rmsprop_step<double>(rms, pr_ref.data(), gd.data(), v_ref.data(), N);
      EXPECT_TRUE(all_close("sgd p", fetch(ps), ps_ref, kAtol, kRtol));
      EXPECT_TRUE(all_close("sgd buf", fetch(buf), buf_ref, kAtol, kRtol));
      EXPECT_TRUE(all_close("rmsprop p", fetch(pr), pr_ref, kAtol, kRtol));
      EXPECT_TRUE(all_close("rmsprop v", fetch(v), v_ref, kAtol, kRtol));
    }
  }
}

TEST_F(GpuTest, ClipMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  auto p = rng_.vec<float>(1000, -1, 1);
  p.push_back(std::numeric_limits<float>::quiet_NaN());
  DeviceBuffer<float> d(p);
  cuda::clip_values(d.data(), p.size(), 0.01f, stream_);
  cpu::clip_values<float>(p.data(), p.size(), 0.01f);
  const auto got = fetch(d);
  for (size_t i = 0; i + 1 < p.size(); ++i) ASSERT_EQ(got[i], p[i]) << i;
  EXPECT_TRUE(std::isnan(got.back()));
}

}  // namespace
}  // namespace gan::test
