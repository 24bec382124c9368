// CUDA batch gathering and sampling against the CPU reference in float: the scaled pixels bit for
// bit, and sample_batch drawing the same indices (all < n_images) from the same Philox bits.
#include <gtest/gtest.h>

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
