// CUDA dropout against the CPU reference: the same elements dropped (the mask is drawn from the
// same Philox bits on both paths), kept values scaled alike, backward regenerating the same mask,
// inference an exact identity, the counter read from device memory.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/dropout.h"
#include "kernels/random.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 7, 100, 784, 1000, 4097};
const float kRates[] = {0.0f, 0.25f, 0.5f, 0.9f};

// Inputs bounded away from 0, so an output is 0 exactly when its element was dropped.
std::vector<float> nonzero_values(Rng& rng, size_t N) {
  std::vector<float> v(N);
  for (auto& x : v) x = float(rng.uniform(0.1, 1.0) * (rng.bits() & 1 ? 1.0 : -1.0));
  return v;
}

// Indices where exactly one of got / want is zero: elements whose keep/drop decisions differ.
std::string mask_mismatches(const std::vector<float>& got, const std::vector<double>& want) {
  std::string out;
  size_t count = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if ((got[i] == 0.0f) != (want[i] == 0.0) && ++count <= 10) out += " " + std::to_string(i);
  return count == 0 ? "" : std::to_string(count) + " mask mismatches at:" + out;
}

// Tolerance for kept values: scale = 1 / (1 - p) and x * scale are each rounded to float
// (1 - p may be too), so the float result is within ~3 float ulps (~2e-7) of the float64 one.
constexpr double kRtol = 1e-6;

}  // namespace

TEST_F(GpuTest, DropoutForwardAndBackwardMatchCpu) {
  SCOPED_TRACE(rng_.trace());
  for (float p : kRates)
    for (size_t N : kSizes) {
      SCOPED_TRACE("p=" + std::to_string(p) + " N=" + std::to_string(N));
      const uint64_t seed = rng_.bits(), counter = rng_.bits();
      const uint32_t stream = uint32_t(rng_.bits());
      const auto x = nonzero_values(rng_, N), dy = nonzero_values(rng_, N);
      DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
      DeviceBuffer<float> x_dev(x), y_dev(N), dy_dev(dy), dx_dev(N);
      y_dev.poison();
      dx_dev.poison();
      cuda::dropout_forward(x_dev.data(), y_dev.data(), N, p, true, seed, stream,
                            counter_dev.data(), stream_);
      cuda::dropout_backward(dy_dev.data(), dx_dev.data(), N, p, seed, stream, counter_dev.data(),
                             stream_);
      const auto y = fetch(y_dev), dx = fetch(dx_dev);

      const auto x64 = to_double(x), dy64 = to_double(dy);
      std::vector<double> want_y(N), want_dx(N);
      cpu::dropout_forward<double>(x64.data(), want_y.data(), N, p, true, seed, stream, &counter);
      cpu::dropout_backward<double>(dy64.data(), want_dx.data(), N, p, seed, stream, &counter);

      EXPECT_EQ(mask_mismatches(y, want_y), "") << "forward";
      EXPECT_EQ(mask_mismatches(dx, want_dx), "") << "backward";
      EXPECT_TRUE(all_close("y", y, want_y, 0.0, kRtol));
      EXPECT_TRUE(all_close("dx", dx, want_dx, 0.0, kRtol));
      // Backward drops exactly the elements forward dropped.
      for (size_t i = 0; i < N; ++i) ASSERT_EQ(y[i] == 0.0f, dx[i] == 0.0f) << "element " << i;
    }
}

// In place (y == x, dx == dy) gives the same result as out of place.
TEST_F(GpuTest, DropoutInPlace) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1001;
  const float p = 0.3f;
  const uint64_t seed = rng_.bits(), counter = rng_.bits();
  const auto x = nonzero_values(rng_, N);
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
  DeviceBuffer<float> buf(x), out(N), grad_buf(x), grad_out(N);
  cuda::dropout_forward(buf.data(), out.data(), N, p, true, seed, 3, counter_dev.data(), stream_);
  cuda::dropout_forward(buf.data(), buf.data(), N, p, true, seed, 3, counter_dev.data(), stream_);
  EXPECT_TRUE(all_close("in-place y", fetch(buf), fetch(out), 0.0, 0.0));
  cuda::dropout_backward(grad_buf.data(), grad_out.data(), N, p, seed, 3, counter_dev.data(),
                         stream_);
  cuda::dropout_backward(grad_buf.data(), grad_buf.data(), N, p, seed, 3, counter_dev.data(),
                         stream_);
  EXPECT_TRUE(all_close("in-place dx", fetch(grad_buf), fetch(grad_out), 0.0, 0.0));
}

// training = false: y = x bit for bit, out of place and in place.
TEST_F(GpuTest, DropoutInferenceIsIdentity) {
  SCOPED_TRACE(rng_.trace());
  for (size_t N : kSizes) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const auto x = rng_.vec<float>(N);
    DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{rng_.bits()});
    DeviceBuffer<float> x_dev(x), y_dev(N);
    y_dev.poison();
    cuda::dropout_forward(x_dev.data(), y_dev.data(), N, 0.5f, false, rng_.bits(), 0,
                          counter_dev.data(), stream_);
    EXPECT_TRUE(all_close("y", fetch(y_dev), x, 0.0, 0.0));
    cuda::dropout_forward(x_dev.data(), x_dev.data(), N, 0.5f, false, rng_.bits(), 0,
                          counter_dev.data(), stream_);
    EXPECT_TRUE(all_close("in-place y", fetch(x_dev), x, 0.0, 0.0));
  }
}

// The counter is read on the device: advancing it with counter_add changes the mask, to the one
// the CPU reference draws at the advanced counter.
TEST_F(GpuTest, DropoutFollowsDeviceCounter) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 4097;
  const float p = 0.5f;
  const uint64_t seed = rng_.bits(), counter = rng_.bits();
  const auto x = nonzero_values(rng_, N);
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
  DeviceBuffer<float> x_dev(x), y0(N), y1(N);
  cuda::dropout_forward(x_dev.data(), y0.data(), N, p, true, seed, 1, counter_dev.data(), stream_);
  cuda::counter_add(counter_dev.data(), 1, stream_);
  cuda::dropout_forward(x_dev.data(), y1.data(), N, p, true, seed, 1, counter_dev.data(), stream_);
  const auto first = fetch(y0), second = fetch(y1);

  const uint64_t advanced = counter + 1;
  const auto x64 = to_double(x);
  std::vector<double> want(N);
  cpu::dropout_forward<double>(x64.data(), want.data(), N, p, true, seed, 1, &advanced);
  EXPECT_EQ(mask_mismatches(second, want), "");
  size_t same_mask = 0;
  for (size_t i = 0; i < N; ++i) same_mask += (first[i] == 0.0f) == (second[i] == 0.0f);
  // Independent masks at p = 0.5 agree in Binomial(4097, 1/2) elements (mean 2049, sd 32):
  // P(>= 3072) < 1e-200. A counter the kernel ignores agrees everywhere.
  EXPECT_LT(same_mask, N * 3 / 4) << "a fresh counter should give an independent mask";
}
