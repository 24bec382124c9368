// CUDA class conditioning against the CPU reference in float, bit for bit (labels are the same
// Philox words or table bytes; the one-hot codes and column slices are copies and constants):
// labels drawn from a device counter and fresh after counter_add, gathered labels, one-hot codes
// with out-of-range labels, columns taken back out; B = 0 launches nothing.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/condition.h"
#include "kernels/random.h"
#include "label_fixtures.h"

using namespace gan;
using namespace gan::test;

namespace {

// Batches up to one past the 4096-block grid, where the loops stride.
const int kBatches[] = {1, 7, 100, 4097, 4096 * 256 + 3};
const uint32_t kClasses[] = {1, 2, 10, 1000};

}  // namespace

TEST_F(GpuTest, RandomLabelsMatchCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  for (int B : kBatches)
    for (uint32_t K : kClasses) {
      SCOPED_TRACE("B=" + std::to_string(B) + " K=" + std::to_string(K));
      const uint64_t seed = rng_.bits(), counter = rng_.bits();
      const uint32_t stream = uint32_t(rng_.bits());
      DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
      DeviceBuffer<uint32_t> labels(B);
      labels.poison();
      cuda::random_labels(labels.data(), B, K, seed, stream, counter_dev.data(), stream_);
      std::vector<uint32_t> want(B);
      cpu::random_labels(want.data(), B, K, seed, stream, &counter);
      const auto got = fetch(labels);
      for (int b = 0; b < B; ++b) {
        ASSERT_EQ(got[b], want[b]) << "row " << b;
        ASSERT_LT(got[b], K) << "row " << b;
      }
    }
}

// counter_add on the device gives the CPU's labels at the advanced counter (a replayed graph's
// case), and they differ from the first draw (K = 10: ~1/10 of rows agree by chance).
TEST_F(GpuTest, RandomLabelsFollowDeviceCounter) {
  SCOPED_TRACE(rng_.trace());
  const int B = 1000;
  const uint64_t seed = rng_.bits(), counter = rng_.bits();
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
  DeviceBuffer<uint32_t> first(B), second(B);
  cuda::random_labels(first.data(), B, 10, seed, 3, counter_dev.data(), stream_);
  cuda::counter_add(counter_dev.data(), 1, stream_);
  second.poison();
  cuda::random_labels(second.data(), B, 10, seed, 3, counter_dev.data(), stream_);
  const uint64_t advanced = counter + 1;
  std::vector<uint32_t> want(B);
  cpu::random_labels(want.data(), B, 10, seed, 3, &advanced);
  const auto a = fetch(first), b = fetch(second);
  EXPECT_EQ(b, want);
  int same = 0;
  for (int i = 0; i < B; ++i) same += a[i] == b[i];
  EXPECT_LT(same, B / 5);
}

TEST_F(GpuTest, GatherLabelsMatchCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  for (int B : kBatches) {
    SCOPED_TRACE("B=" + std::to_string(B));
    const int n = 60000;
    std::vector<uint8_t> table(n);
    for (auto& t : table) t = uint8_t(rng_.uniform_int(0, 255));
    std::vector<uint32_t> indices(B);
    for (auto& i : indices) i = uint32_t(rng_.uniform_int(0, n - 1));
    indices[B - 1] = uint32_t(n - 1);
    DeviceBuffer<uint8_t> table_dev(table);
    DeviceBuffer<uint32_t> indices_dev(indices), labels(B);
    labels.poison();
    cuda::gather_labels(table_dev.data(), indices_dev.data(), B, labels.data(), stream_);
    std::vector<uint32_t> want(B);
    cpu::gather_labels(table.data(), indices.data(), B, want.data());
    EXPECT_EQ(fetch(labels), want);
  }
}

// (B, F, K, S): G's noise and D's flat input (S = 1), a conv D's input planes (S = H W), the
// code alone (F = 0), and a grid-striding batch.
TEST_F(GpuTest, AppendOnehotAndTakeColumnsMatchCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  struct Shape {
    int B;
    size_t F;
    int K;
    size_t S;
  };
  const Shape shapes[] = {{1, 1, 1, 1},
                          {7, 3, 2, 1},
                          {100, 100, 10, 1},
                          {64, 784, 10, 1},
                          {7, 3 * 28 * 28, 10, 49},
                          {100, 1, 10, 784},
                          {33, 0, 10, 1},
                          {5000, 100, 10, 1},
                          {2, 5, 0, 49}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE("B=" + std::to_string(s.B) + " F=" + std::to_string(s.F) +
                 " K=" + std::to_string(s.K) + " S=" + std::to_string(s.S));
    const size_t W = s.F + size_t(s.K) * s.S;
    const auto x = rng_.vec<float>(size_t(s.B) * s.F, -3, 3);
    const auto labels = labels_with_strays(rng_, s.B, s.K > 0 ? s.K : 1);
    DeviceBuffer<float> x_dev(x), y_dev(size_t(s.B) * W), back_dev(x.size());
    DeviceBuffer<uint32_t> labels_dev(labels);
    y_dev.poison();
    back_dev.poison();
    cuda::append_onehot(x_dev.data(), s.B, s.F, labels_dev.data(), s.K, s.S, y_dev.data(), stream_);
    cuda::take_columns(y_dev.data(), s.B, W, s.F, back_dev.data(), stream_);
    std::vector<float> want(y_dev.size(), std::numeric_limits<float>::quiet_NaN());
    cpu::append_onehot<float>(x.data(), s.B, s.F, labels.data(), s.K, s.S, want.data());
    EXPECT_TRUE(same_bits("y", fetch(y_dev), want));
    EXPECT_TRUE(same_bits("take_columns(y)", fetch(back_dev), x));

    // take_columns on its own input (random, not a code) against the CPU.
    const auto wide = rng_.vec<float>(size_t(s.B) * W, -3, 3);
    DeviceBuffer<float> wide_dev(wide), cols_dev(x.size());
    cols_dev.poison();
    cuda::take_columns(wide_dev.data(), s.B, W, s.F, cols_dev.data(), stream_);
    std::vector<float> want_cols(x.size());
    cpu::take_columns<float>(wide.data(), s.B, W, s.F, want_cols.data());
    EXPECT_TRUE(same_bits("take_columns", fetch(cols_dev), want_cols));
  }
}

TEST_F(GpuTest, ConditionEmptyLaunchesNothing) {
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{0});
  cuda::random_labels(nullptr, 0, 10, 1, 0, counter_dev.data(), stream_);
  cuda::gather_labels(nullptr, nullptr, 0, nullptr, stream_);
  cuda::append_onehot(nullptr, 0, 784, nullptr, 10, 1, nullptr, stream_);
  cuda::append_onehot(nullptr, 5, 0, nullptr, 0, 49, nullptr, stream_);
  cuda::take_columns(nullptr, 0, 794, 784, nullptr, stream_);
  cuda::take_columns(nullptr, 5, 794, 0, nullptr, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
  CUDA_CHECK(cudaGetLastError());
}
