// Built instead of tests/gpu/*.cpp when the project is configured without CUDA, so the GPU parity
// suite shows up as skipped rather than vanishing.
#include <gtest/gtest.h>

TEST(GpuParity, NotBuilt) {
  GTEST_SKIP() << "no CUDA device: built with GAN_CUDA=OFF, GPU parity tests not compiled";
}
