// CUDA minibatch stddev and distance against the CPU reference in float64: forward (the copy
// exactly, the feature within float rounding) and backward over odd (B, F) shapes, F not a
// multiple of the 32-feature tile, B from 1 to 8192, F up to 4096; outputs poisoned before each
// call, so an unwritten element (or a parked intermediate left in y) fails; fixed-order
// reductions giving the same bits twice.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "gpu_test.h"
#include "kernels/minibatch.h"

using namespace gan;
using namespace gan::test;

namespace {

const std::pair<int, int> kShapes[] = {{1, 1},     {1, 5},    {7, 3},    {100, 1}, {32, 256},
                                       {64, 1024}, {8192, 7}, {100, 33}, {3, 65},  {5, 4096}};

std::string shape_label(int B, int F) {
  return "B=" + std::to_string(B) + " F=" + std::to_string(F);
}

// Tolerances.
// The feature: column means and variances are float sums over up to 8192 rows (runs of B/32 per
// thread, then a fixed 32-way tree), the stddev's mean over F and the distance's sum over F
// (runs of F/1024 or F/256, then a tree) likewise: ~1e-6 relative. 2e-5 keeps a margin and still
// catches a dropped or doubled row or column (a >= 1/8192 ~ 1.2e-4 effect). The distance of a
// row next to the mean can be ~0: atol 1e-6.
constexpr double kFeatureAtol = 1e-6, kFeatureRtol = 2e-5;
// dx: terms up to ~12 (|x - m| <= 4, g <= 1.5; float ulp(12) ~ 1e-6) that may cancel, each a few
// float roundings plus the statistics' ~1e-6 relative error: atol 1e-5. The smallest term a bug
// could drop or double, the stddev's G (x - m) / (F B sqrt(v + eps)) with G ~ B, is typically
// |x - m| / (F std) ~ 1 / F (2.4e-4 at F = 4096): well above the allowance.
constexpr double kGradAtol = 1e-5, kGradRtol = 2e-5;

// x with a per-feature offset (|mean| up to 3) and spread (0.5 to 2), so the two-pass variance
// matters.
std::vector<float> batch_input(Rng& rng, int B, int F) {
  const auto offset = rng.vec<double>(F, -3.0, 3.0), spread = rng.vec<double>(F, 0.5, 2.0);
  std::vector<float> x(size_t(B) * F);
  for (int b = 0; b < B; ++b)
    for (int f = 0; f < F; ++f)
      x[size_t(b) * F + f] = float(offset[f] + spread[f] * rng.uniform(-1.0, 1.0));
  return x;
}

// dy (B, F + 1): the copy's gradient in [-1, 1]; the feature's gradient in [0.5, 1.5], so its sum
// over the batch is ~B (not a cancellation near 0) and the feature's term in dx is visible.
std::vector<float> output_gradient(Rng& rng, int B, int F) {
  std::vector<float> dy(size_t(B) * (F + 1));
  for (int b = 0; b < B; ++b)
    for (int j = 0; j <= F; ++j)
      dy[size_t(b) * (F + 1) + j] = float(j < F ? rng.uniform(-1.0, 1.0) : rng.uniform(0.5, 1.5));
  return dy;
}

// Splits y (B, F + 1) into its copy of x (B, F) and its feature column (B).
template <class T>
std::pair<std::vector<T>, std::vector<T>> split_output(const std::vector<T>& y, int B, int F) {
  std::vector<T> copy, feature;
  copy.reserve(size_t(B) * F);
  feature.reserve(B);
  for (int b = 0; b < B; ++b) {
    for (int j = 0; j < F; ++j) copy.push_back(y[size_t(b) * (F + 1) + j]);
    feature.push_back(y[size_t(b) * (F + 1) + F]);
  }
  return {copy, feature};
}

using CudaForward = void (*)(const float*, float*, int, int, cudaStream_t);
using CudaBackward = void (*)(const float*, const float*, float*, int, int, cudaStream_t);
using CpuForward = void (*)(const double*, double*, int, int);
using CpuBackward = void (*)(const double*, const double*, double*, int, int);

}  // namespace

class MinibatchParity : public GpuTest {
 protected:
  void check_forward(CudaForward gpu, CpuForward cpu, int B, int F) {
    SCOPED_TRACE(shape_label(B, F));
    const auto x = batch_input(rng_, B, F);
    DeviceBuffer<float> x_dev(x), y_dev(size_t(B) * (F + 1));
    y_dev.poison();
    gpu(x_dev.data(), y_dev.data(), B, F, stream_);
    const auto [copy, feature] = split_output(fetch(y_dev), B, F);

    const auto x64 = to_double(x);
    std::vector<double> want(size_t(B) * (F + 1));
    cpu(x64.data(), want.data(), B, F);
    EXPECT_TRUE(all_close("y[:, :F]", copy, x64, 0.0, 0.0));  // a copy: exact
    EXPECT_TRUE(
        all_close("y[:, F]", feature, split_output(want, B, F).second, kFeatureAtol, kFeatureRtol));
    EXPECT_TRUE(all_close("x after the call", fetch(x_dev), x64, 0.0, 0.0));
  }

  void check_backward(CudaBackward gpu, CpuBackward cpu, int B, int F) {
    SCOPED_TRACE(shape_label(B, F));
    const auto x = batch_input(rng_, B, F);
    const auto dy = output_gradient(rng_, B, F);
    DeviceBuffer<float> x_dev(x), dy_dev(dy), dx_dev(x.size());
    dx_dev.poison();
    gpu(x_dev.data(), dy_dev.data(), dx_dev.data(), B, F, stream_);

    const auto x64 = to_double(x), dy64 = to_double(dy);
    std::vector<double> want(x.size());
    cpu(x64.data(), dy64.data(), want.data(), B, F);
    EXPECT_TRUE(all_close("dx", fetch(dx_dev), want, kGradAtol, kGradRtol));
  }
};

TEST_F(MinibatchParity, StddevForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (auto [B, F] : kShapes)
    check_forward(cuda::minibatch_stddev_forward, cpu::minibatch_stddev_forward<double>, B, F);
}

TEST_F(MinibatchParity, StddevBackwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (auto [B, F] : kShapes)
    check_backward(cuda::minibatch_stddev_backward, cpu::minibatch_stddev_backward<double>, B, F);
}

TEST_F(MinibatchParity, DistanceForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (auto [B, F] : kShapes)
    check_forward(cuda::minibatch_distance_forward, cpu::minibatch_distance_forward<double>, B, F);
}

TEST_F(MinibatchParity, DistanceBackwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (auto [B, F] : kShapes)
    check_backward(cuda::minibatch_distance_backward, cpu::minibatch_distance_backward<double>, B,
                   F);
}

// The largest shapes the engine allows: 8192 rows of 4096 features (128 column blocks, 8192 row
// blocks, the stddev's finishing block striding 4 times over F and 8 times over B).
TEST_F(MinibatchParity, LargestShapeMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const int B = 8192, F = 4096;
  check_forward(cuda::minibatch_stddev_forward, cpu::minibatch_stddev_forward<double>, B, F);
  check_backward(cuda::minibatch_stddev_backward, cpu::minibatch_stddev_backward<double>, B, F);
  check_forward(cuda::minibatch_distance_forward, cpu::minibatch_distance_forward<double>, B, F);
  check_backward(cuda::minibatch_distance_backward, cpu::minibatch_distance_backward<double>, B, F);
}

// One row: v = 0 exactly (x - m = 0 in float too), so the stddev is sqrt(eps) to float rounding,
// the distance exactly 0, and dx = dy[:, :F] bit for bit.
TEST_F(MinibatchParity, SingleRowGivesSqrtEpsAndZeroDistance) {
  SCOPED_TRACE(rng_.trace());
  for (int F : {1, 5, 1000}) {
    SCOPED_TRACE("F=" + std::to_string(F));
    const auto x = batch_input(rng_, 1, F);
    const auto dy = output_gradient(rng_, 1, F);
    const std::vector<float> dy_copy(dy.begin(), dy.begin() + F);
    DeviceBuffer<float> x_dev(x), y_dev(size_t(F) + 1), dy_dev(dy), dx_dev(F);

    y_dev.poison();
    cuda::minibatch_stddev_forward(x_dev.data(), y_dev.data(), 1, F, stream_);
    auto y = fetch(y_dev);
    // F equal values summed by the tree, then divided by F: a few float roundings (1e-6).
    EXPECT_NEAR(y[F], std::sqrt(kMinibatchStddevEps), 1e-6 * std::sqrt(kMinibatchStddevEps));
    EXPECT_TRUE(
        all_close("y[0, :F] (stddev)", std::vector<float>(y.begin(), y.begin() + F), x, 0.0, 0.0));
    dx_dev.poison();
    cuda::minibatch_stddev_backward(x_dev.data(), dy_dev.data(), dx_dev.data(), 1, F, stream_);
    EXPECT_TRUE(all_close("dx (stddev)", fetch(dx_dev), dy_copy, 0.0, 0.0));

    y_dev.poison();
    cuda::minibatch_distance_forward(x_dev.data(), y_dev.data(), 1, F, stream_);
    y = fetch(y_dev);
    EXPECT_EQ(y[F], 0.0f);
    EXPECT_TRUE(all_close("y[0, :F] (distance)", std::vector<float>(y.begin(), y.begin() + F), x,
                          0.0, 0.0));
    dx_dev.poison();
    cuda::minibatch_distance_backward(x_dev.data(), dy_dev.data(), dx_dev.data(), 1, F, stream_);
    EXPECT_TRUE(all_close("dx (distance)", fetch(dx_dev), dy_copy, 0.0, 0.0));
  }
}

// Fixed reduction orders: a second call gives the same bits, forward and backward.
TEST_F(MinibatchParity, IsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const int B = 4096, F = 300;
  const auto x = batch_input(rng_, B, F);
  const auto dy = output_gradient(rng_, B, F);
  const size_t ny = size_t(B) * (F + 1);
  DeviceBuffer<float> x_dev(x), dy_dev(dy), y1(ny), y2(ny), dx1(x.size()), dx2(x.size());
  const std::pair<CudaForward, CudaBackward> ops[] = {
      {cuda::minibatch_stddev_forward, cuda::minibatch_stddev_backward},
      {cuda::minibatch_distance_forward, cuda::minibatch_distance_backward}};
  for (const auto& [forward, backward] : ops) {
    forward(x_dev.data(), y1.data(), B, F, stream_);
    forward(x_dev.data(), y2.data(), B, F, stream_);
    backward(x_dev.data(), dy_dev.data(), dx1.data(), B, F, stream_);
    backward(x_dev.data(), dy_dev.data(), dx2.data(), B, F, stream_);
    EXPECT_TRUE(all_close("y (second call)", fetch(y2), fetch(y1), 0.0, 0.0));
    EXPECT_TRUE(all_close("dx (second call)", fetch(dx2), fetch(dx1), 0.0, 0.0));
  }
}
