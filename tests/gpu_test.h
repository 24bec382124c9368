// Fixture for GPU parity tests: skipped, visibly, where no CUDA device exists. It touches CUDA
// only inside SetUp, never during static initialisation (test discovery runs the binaries).
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/core/device.h"
#include "engine/core/device_buffer.h"
#include "kernels/gemm.h"
#include "test_util.h"

namespace gan::test {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (cuda_device_count(&why) == 0) GTEST_SKIP() << why;
    CUDA_CHECK(cudaStreamCreate(&stream_));
  }
  // Waits for the test's work and fails it on an asynchronous error (a fault in a kernel it
  // launched), so the error is blamed on this test rather than on the next CUDA call of another.
  void TearDown() override {
    if (!stream_) return;
    const cudaError_t done = cudaDeviceSynchronize();  // every stream the test used
    EXPECT_EQ(done, cudaSuccess) << "asynchronous CUDA error: " << cudaGetErrorString(done);
    cudaStreamDestroy(stream_);
  }
  template <class T>
  std::vector<T> fetch(const DeviceBuffer<T>& buf) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    return buf.download();
  }
  cudaStream_t stream_ = nullptr;
  Rng rng_;
};

// A backward op's gradient outputs before the call: dx poisoned (it is always written); dW and db
// poisoned under Overwrite, else set to their starting values dW0 and db0 (Accumulate adds to
// them, Ignore must leave them).
inline void reset_grads(GradMode mode, DeviceBuffer<float>& dx, DeviceBuffer<float>& dW,
                        DeviceBuffer<float>& db, const std::vector<float>& dW0,
                        const std::vector<float>& db0) {
  dx.poison();
  if (mode == GradMode::Overwrite) {
    dW.poison();
    db.poison();
  } else {
    dW.upload(dW0);
    db.upload(db0);
  }
}

// GpuTest with a cuBLAS handle, for the GEMM-backed ops.
class CublasGpuTest : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    CUBLAS_CHECK(cublasCreate(&cublas_));
  }
  void TearDown() override {
    if (cublas_) cublasDestroy(cublas_);
    GpuTest::TearDown();
  }
  cuda::GemmContext context(GemmBackend backend, bool tf32 = false) const {
    return {stream_, cublas_, backend, tf32};
  }
  cublasHandle_t cublas_ = nullptr;
};

}  // namespace gan::test
