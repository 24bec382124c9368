// CUDA batch gathering and sampling against the CPU reference in float: the scaled pixels bit for
// bit, sample_batch and sample_rows drawing the same indices (all < n_images) from the same Philox
// bits; the ranking sort equal to the CPU's stable sort, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/gather.h"
#include "kernels/random.h"
#include "kernels/stats.h"

using namespace gan;
using namespace gan::test;

namespace {

// (px - 127.5) / 127.5: the subtraction is exact in float, the division is correctly rounded on
// both paths (nvcc's default -prec-div=true, SSE on the host) and nothing can be contracted into
// an FMA, so the results are identical, not merely close.
constexpr double kExact = 0.0;

// Every byte value appears (the first 256 bytes run through 0..255), the rest random.
std::vector<uint8_t> make_images(Rng& rng, size_t n_images, size_t D) {
  std::vector<uint8_t> images(n_images * D);
  for (size_t i = 0; i < images.size(); ++i)
    images[i] = i < 256 ? uint8_t(i) : uint8_t(rng.bits() & 0xFF);
  return images;
}

struct Shape {
  uint32_t n_images;
  size_t D;
  int B;
};
const Shape kShapes[] = {{1, 784, 1},    {1, 784, 7},    {37, 784, 100},  {1000, 784, 1000},
                         {500, 1, 4097}, {600, 7, 8192}, {60000, 3, 4097}};

std::string label(const Shape& s) {
  return "n_images=" + std::to_string(s.n_images) + " D=" + std::to_string(s.D) +
         " B=" + std::to_string(s.B);
}

}  // namespace

TEST_F(GpuTest, GatherBatchMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(label(s));
    const auto images = make_images(rng_, s.n_images, s.D);
    std::vector<uint32_t> indices(s.B);
    for (auto& i : indices) i = uint32_t(rng_.uniform_int(0, int(s.n_images) - 1));
    if (s.B >= 2) indices[s.B - 1] = s.n_images - 1;  // the last image, at the end of the buffer

    DeviceBuffer<uint8_t> images_dev(images);
    DeviceBuffer<uint32_t> indices_dev(indices);
    DeviceBuffer<float> out(size_t(s.B) * s.D);
    out.poison();
    cuda::gather_batch(images_dev.data(), s.D, indices_dev.data(), s.B, out.data(), stream_);

    std::vector<float> want(out.size());
    cpu::gather_batch<float>(images.data(), s.D, indices.data(), s.B, want.data());
    EXPECT_TRUE(all_close("out", fetch(out), want, kExact, kExact));
  }
}

TEST_F(GpuTest, SampleBatchMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(label(s));
    const auto images = make_images(rng_, s.n_images, s.D);
    const uint64_t seed = rng_.bits(), counter = rng_.bits();
    const uint32_t stream = uint32_t(rng_.bits());

    DeviceBuffer<uint8_t> images_dev(images);
    DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
    DeviceBuffer<float> out(size_t(s.B) * s.D), out_no_indices(out.size());
    DeviceBuffer<uint32_t> indices_dev(s.B);
    out.poison();
    out_no_indices.poison();
    indices_dev.poison();
    cuda::sample_batch(images_dev.data(), s.n_images, s.D, s.B, seed, stream, counter_dev.data(),
                       out.data(), indices_dev.data(), stream_);
    cuda::sample_batch(images_dev.data(), s.n_images, s.D, s.B, seed, stream, counter_dev.data(),
                       out_no_indices.data(), nullptr, stream_);

    std::vector<float> want(out.size());
    std::vector<uint32_t> want_indices(s.B);
    cpu::sample_batch<float>(images.data(), s.n_images, s.D, s.B, seed, stream, &counter,
                             want.data(), want_indices.data());
    const auto indices = fetch(indices_dev);
    EXPECT_EQ(indices, want_indices);
    for (int b = 0; b < s.B; ++b) ASSERT_LT(indices[b], s.n_images) << "row " << b;
    EXPECT_TRUE(all_close("out", fetch(out), want, kExact, kExact));
    EXPECT_TRUE(all_close("out (indices_out null)", fetch(out_no_indices), want, kExact, kExact));
  }
}

// counter_add on the device gives a fresh batch: the CPU's at the advanced counter.
TEST_F(GpuTest, SampleBatchFollowsDeviceCounter) {
  SCOPED_TRACE(rng_.trace());
  const uint32_t n_images = 60000;
  const size_t D = 5;
  const int B = 1000;
  const auto images = make_images(rng_, n_images, D);
  const uint64_t seed = rng_.bits(), counter = rng_.bits();
  DeviceBuffer<uint8_t> images_dev(images);
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
  DeviceBuffer<float> out(size_t(B) * D);
  DeviceBuffer<uint32_t> first(B), second(B);
  cuda::sample_batch(images_dev.data(), n_images, D, B, seed, 2, counter_dev.data(), out.data(),
                     first.data(), stream_);
  cuda::counter_add(counter_dev.data(), 1, stream_);
  cuda::sample_batch(images_dev.data(), n_images, D, B, seed, 2, counter_dev.data(), out.data(),
                     second.data(), stream_);
  const auto a = fetch(first), b = fetch(second);

  const uint64_t advanced = counter + 1;
  std::vector<float> want(out.size());
  std::vector<uint32_t> want_indices(B);
  cpu::sample_batch<float>(images.data(), n_images, D, B, seed, 2, &advanced, want.data(),
                           want_indices.data());
  EXPECT_EQ(b, want_indices);
  EXPECT_TRUE(all_close("out", fetch(out), want, kExact, kExact));
  size_t same = 0;
  for (int i = 0; i < B; ++i) same += a[i] == b[i];
  EXPECT_LT(same, size_t(B) / 10);
}

TEST_F(GpuTest, GatherEmptyLaunchesNothing) {
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{0});
  cuda::gather_batch(nullptr, 784, nullptr, 0, nullptr, stream_);
  cuda::sample_batch(nullptr, 10, 784, 0, 1, 0, counter_dev.data(), nullptr, nullptr, stream_);
  cuda::sample_rows(nullptr, 10, 2, 0, 1, 0, counter_dev.data(), nullptr, nullptr, stream_);
  cuda::sort_values(nullptr, nullptr, 0, stream_);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

// sample_rows copies floats (no arithmetic), from the indices sample_batch draws: bit for bit.
// Shapes: the toy sets' D of 1 and 2, wider rows, D = 0 (indices only), B past a grid stride.
TEST_F(GpuTest, SampleRowsMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  const Shape shapes[] = {{1, 1, 1},       {1, 2, 7},        {37, 2, 100},
                          {1000, 1, 4097}, {60000, 2, 8192}, {500, 7, 1000},
                          {3, 784, 7},     {100, 0, 5},      {5000, 2, 1 << 20}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(label(s));
    const auto rows = rng_.vec<float>(size_t(s.n_images) * s.D, -4, 4);
    const uint64_t seed = rng_.bits(), counter = rng_.bits();
    const uint32_t stream = uint32_t(rng_.bits());

    DeviceBuffer<float> rows_dev(rows);
    DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
    DeviceBuffer<float> out(size_t(s.B) * s.D), out_no_indices(out.size());
    DeviceBuffer<uint32_t> indices_dev(s.B);
    out.poison();
    out_no_indices.poison();
    indices_dev.poison();
    cuda::sample_rows(rows_dev.data(), s.n_images, s.D, s.B, seed, stream, counter_dev.data(),
                      out.data(), indices_dev.data(), stream_);
    cuda::sample_rows(rows_dev.data(), s.n_images, s.D, s.B, seed, stream, counter_dev.data(),
                      out_no_indices.data(), nullptr, stream_);

    std::vector<float> want(out.size());
    std::vector<uint32_t> want_indices(s.B);
    cpu::sample_rows<float>(rows.data(), s.n_images, s.D, s.B, seed, stream, &counter, want.data(),
                            want_indices.data());
    // And the indices are sample_batch's for the same (seed, stream, counter).
    std::vector<uint8_t> images(size_t(s.n_images) * s.D, 0);
    std::vector<float> ignored(want.size());
    std::vector<uint32_t> batch_indices(s.B);
    cpu::sample_batch<float>(images.data(), s.n_images, s.D, s.B, seed, stream, &counter,
                             ignored.data(), batch_indices.data());
    EXPECT_EQ(want_indices, batch_indices);
    const auto indices = fetch(indices_dev);
    EXPECT_EQ(indices, want_indices);
    EXPECT_TRUE(all_close("out", fetch(out), want, kExact, kExact));
    EXPECT_TRUE(all_close("out (indices_out null)", fetch(out_no_indices), want, kExact, kExact));
  }
}

// counter_add on the device gives the CPU's rows at the advanced counter.
TEST_F(GpuTest, SampleRowsFollowsDeviceCounter) {
  SCOPED_TRACE(rng_.trace());
  const uint32_t n_rows = 20000;
  const size_t D = 2;
  const int B = 512;
  const auto rows = rng_.vec<float>(size_t(n_rows) * D);
  const uint64_t seed = rng_.bits(), counter = rng_.bits();
  DeviceBuffer<float> rows_dev(rows), out(size_t(B) * D);
  DeviceBuffer<uint64_t> counter_dev(std::vector<uint64_t>{counter});
  cuda::counter_add(counter_dev.data(), 3, stream_);
  out.poison();
  cuda::sample_rows(rows_dev.data(), n_rows, D, B, seed, 1, counter_dev.data(), out.data(), nullptr,
                    stream_);
  const uint64_t advanced = counter + 3;
  std::vector<float> want(out.size());
  cpu::sample_rows<float>(rows.data(), n_rows, D, B, seed, 1, &advanced, want.data(), nullptr);
  EXPECT_TRUE(all_close("out", fetch(out), want, kExact, kExact));
}

namespace {

// Random values with many ties (a few distinct magnitudes, -0 and +0), +-inf, and NaNs carrying
// their position in the payload, so a wrong order among equal keys shows in the output bits.
std::vector<float> values_with_ties(Rng& rng, size_t N) {
  std::vector<float> x(N);
  for (size_t i = 0; i < N; ++i) {
    switch (rng.uniform_int(0, 9)) {
      case 0: x[i] = 0.0f; break;
      case 1: x[i] = -0.0f; break;
      case 2: x[i] = std::numeric_limits<float>::infinity(); break;
      case 3: x[i] = -std::numeric_limits<float>::infinity(); break;
      case 4: {
        const float qnan = std::numeric_limits<float>::quiet_NaN();
        uint32_t b;
        std::memcpy(&b, &qnan, sizeof b);
        b |= uint32_t(i & 0xFFFF);
        if (i & 1) b |= 0x80000000u;
        std::memcpy(&x[i], &b, sizeof b);
        break;
      }
      case 5:
      case 6: x[i] = float(rng.uniform_int(-3, 3)) / 2.0f; break;
      default: x[i] = float(rng.uniform(-10, 10));
    }
  }
  return x;
}

std::vector<uint32_t> bit_patterns(const std::vector<float>& v) {
  std::vector<uint32_t> bits(v.size());
  std::memcpy(bits.data(), v.data(), v.size() * sizeof(float));
  return bits;
}

}  // namespace

// The ranking sort against the CPU's stable sort: a permutation, so equal bit patterns (NaN
// payloads and the sign of zero included) or it is wrong; sizes around the tile of 256 and the
// 65536 limit, inputs with ties, with distinct values, and already sorted or reversed.
TEST_F(GpuTest, SortValuesMatchesCpuExactly) {
  SCOPED_TRACE(rng_.trace());
  for (size_t N : {size_t(1), size_t(2), size_t(7), size_t(100), size_t(255), size_t(256),
                   size_t(257), size_t(1000), size_t(4097), size_t(65536)})
    for (int kind = 0; kind < 4; ++kind) {
      SCOPED_TRACE("N=" + std::to_string(N) + " kind=" + std::to_string(kind));
      std::vector<float> x = kind == 0 ? values_with_ties(rng_, N) : rng_.vec<float>(N, -1, 1);
      if (kind == 2) std::sort(x.begin(), x.end());
      if (kind == 3) std::sort(x.rbegin(), x.rend());
      DeviceBuffer<float> x_dev(x), y_dev(N);
      y_dev.poison();
      cuda::sort_values(x_dev.data(), y_dev.data(), N, stream_);
      std::vector<float> want(N);
      cpu::sort_values<float>(x.data(), want.data(), N);
      EXPECT_EQ(bit_patterns(fetch(y_dev)), bit_patterns(want));
      EXPECT_EQ(bit_patterns(fetch(x_dev)), bit_patterns(x)) << "the input is left alone";
    }
}

TEST_F(GpuTest, SortValuesRejectsMoreThan65536) {
  EXPECT_TRUE(throws_with([&] { cuda::sort_values(nullptr, nullptr, 65537, stream_); },
                          {"65537", "65536"}));
  EXPECT_THROW(cuda::sort_values(nullptr, nullptr, size_t(1) << 32, stream_),
               std::invalid_argument);
  CUDA_CHECK(cudaStreamSynchronize(stream_));
}

TEST_F(GpuTest, StatsToSlotMatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  const int n = 9;
  const uint32_t n_slots = 7;
  const std::vector<float> initial = rng_.vec<float>(size_t(n) * n_slots);
  std::vector<float> want(initial);
  DeviceBuffer<float> slots(initial), src(static_cast<size_t>(n));
  DeviceBuffer<uint64_t> step(std::vector<uint64_t>{0});
  for (uint64_t s = 1; s <= 10; ++s) {
    const std::vector<float> v = rng_.vec<float>(n);
    src.upload(v);
    cuda::counter_add(step.data(), 1, stream_);
    cuda::stats_to_slot(src.data(), n, slots.data(), n_slots, step.data(), stream_);
    cpu::stats_to_slot(v.data(), n, want.data(), n_slots, &s);
    EXPECT_TRUE(all_close("slots", fetch(slots), want, 0.0, 0.0)) << "step " << s;
  }
}
