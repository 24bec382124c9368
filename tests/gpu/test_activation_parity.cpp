// CUDA activations against the CPU reference in float64: every kind, forward and backward, odd
// sizes, outputs poisoned so an unwritten element fails; in-place use; N = 0 launches nothing.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/activation.h"

using namespace gan;
using namespace gan::test;

namespace {

const size_t kSizes[] = {1, 7, 100, 784, 1000, 4097};

std::vector<Activation> all_activations() {
  return {Activation::identity(), Activation::relu(),    Activation::leaky_relu(0.2f),
          Activation::tanh(),     Activation::sigmoid(), Activation::elu(1.0f),
          Activation::elu(0.5f)};
}

std::string label(Activation act, size_t N) {
  return std::string(activation_name(act.kind)) + "(" + std::to_string(act.param) +
         ") N=" + std::to_string(N);
}

// Tolerance: the inputs are identical float values; the GPU rounds each result to float and its
// tanhf/expf are within 2 ulp of the true value, so a few ulp (rtol 2e-6, ~16 ulp) covers them.
// atol 1e-6 covers ELU's exp(x) - 1 just below 0 (an absolute error of an ulp of 1) and
// tanh's 1 - y^2 near |y| = 1 in backward.
constexpr double kAtol = 1e-6, kRtol = 2e-6;

}  // namespace

TEST_F(GpuTest, ActivationForwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (Activation act : all_activations())
    for (size_t N : kSizes) {
      SCOPED_TRACE(label(act, N));
      const auto x = rng_.vec<float>(N, -4.0, 4.0);
      DeviceBuffer<float> x_dev(x), y_dev(N);
      y_dev.poison();
      cuda::activation_forward(act, x_dev.data(), y_dev.data(), N, stream_);
      const auto y = fetch(y_dev);

      const auto x64 = to_double(x);
      std::vector<double> want(N);
      cpu::activation_forward<double>(act, x64.data(), want.data(), N);
      EXPECT_TRUE(all_close("y", y, want, kAtol, kRtol));
    }
}

TEST_F(GpuTest, ActivationBackwardMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (Activation act : all_activations())
    for (size_t N : kSizes) {
      SCOPED_TRACE(label(act, N));
      // y is a genuine forward output (in float), so f'(y) is evaluated where it is meant to be.
      const auto x64 = to_double(rng_.vec<float>(N, -4.0, 4.0));
      std::vector<double> y64(N);
      cpu::activation_forward<double>(act, x64.data(), y64.data(), N);
      const std::vector<float> y(y64.begin(), y64.end());
      const auto dy = rng_.vec<float>(N);

      DeviceBuffer<float> y_dev(y), dy_dev(dy), dx_dev(N);
      dx_dev.poison();
      cuda::activation_backward(act, y_dev.data(), dy_dev.data(), dx_dev.data(), N, stream_);
      const auto dx = fetch(dx_dev);

      const auto yf64 = to_double(y), dy64 = to_double(dy);
      std::vector<double> want(N);
      cpu::activation_backward<double>(act, yf64.data(), dy64.data(), want.data(), N);
      EXPECT_TRUE(all_close("dx", dx, want, kAtol, kRtol));
    }
}

// The contract lets y alias x and dx alias dy; each element is read before it is written.
TEST_F(GpuTest, ActivationInPlace) {
  SCOPED_TRACE(rng_.trace());
  const size_t N = 1000;
  const Activation act = Activation::leaky_relu(0.2f);
  const auto x = rng_.vec<float>(N, -4.0, 4.0), dy = rng_.vec<float>(N);

  DeviceBuffer<float> buf(x), out(N);
  cuda::activation_forward(act, buf.data(), out.data(), N, stream_);
  cuda::activation_forward(act, buf.data(), buf.data(), N, stream_);
  EXPECT_TRUE(all_close("in-place y", fetch(buf), fetch(out), 0.0, 0.0));

  DeviceBuffer<float> y_dev(fetch(out)), grad(dy), dx(N);
  cuda::activation_backward(act, y_dev.data(), grad.data(), dx.data(), N, stream_);
  cuda::activation_backward(act, y_dev.data(), grad.data(), grad.data(), N, stream_);
  EXPECT_TRUE(all_close("in-place dx", fetch(grad), fetch(dx), 0.0, 0.0));
}

TEST_F(GpuTest, ActivationEmptyLaunchesNothing) {
  cuda::activation_forward(Activation::tanh(), nullptr, nullptr, 0, stream_);
  cuda::activation_backward(Activation::tanh(), nullptr, nullptr, nullptr, 0, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}
