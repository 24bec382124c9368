// Batch gather and sampling from a uint8 image set.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/gather.h"
#include "kernels/stats.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

TEST(CpuGather, GathersAndScalesToUnitRange) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint32_t n_images = 37;
  const size_t D = 29;
  std::vector<uint8_t> images(n_images * D);
  for (auto& px : images) px = uint8_t(rng.uniform_int(0, 255));
  images[0] = 0;
  images[1] = 255;
  const int B = 11;
  std::vector<uint32_t> idx(B);
  for (auto& i : idx) i = uint32_t(rng.uniform_int(0, int(n_images) - 1));
  idx[0] = 0;
  std::vector<double> out(B * D), want(B * D);
  cpu::gather_batch<double>(images.data(), D, idx.data(), B, out.data());
  for (int b = 0; b < B; ++b)
    for (size_t j = 0; j < D; ++j) want[b * D + j] = images[idx[b] * D + j] / 127.5 - 1.0;
  EXPECT_TRUE(all_close("out", out, want, 1e-15, 0));
  EXPECT_EQ(out[0], -1.0);
  EXPECT_EQ(out[1], 1.0);
}

TEST(CpuGather, SampleBatchDrawsUniformIndicesDeterministically) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint32_t n_images = 10;
  const size_t D = 3;
  std::vector<uint8_t> images(n_images * D);
  for (uint32_t i = 0; i < n_images; ++i)
    for (size_t j = 0; j < D; ++j) images[i * D + j] = uint8_t(i * 20 + j);
  const int B = 50001;
  const uint64_t seed = rng.bits(), counter = 4;
  std::vector<float> out(B * D), out2(B * D);
  std::vector<uint32_t> idx(B), idx2(B);
  cpu::sample_batch<float>(images.data(), n_images, D, B, seed, 2, &counter, out.data(),
                           idx.data());
  cpu::sample_batch<float>(images.data(), n_images, D, B, seed, 2, &counter, out2.data(),
                           idx2.data());
  EXPECT_EQ(idx, idx2);
  EXPECT_TRUE(all_close("same draw", out2, out, 0, 0));
  std::vector<double> counts(n_images, 0);
  for (int b = 0; b < B; ++b) {
    ASSERT_LT(idx[b], n_images);
    counts[idx[b]] += 1;
    for (size_t j = 0; j < D; ++j)
      ASSERT_EQ(out[b * D + j], (float(images[idx[b] * D + j]) - 127.5f) / 127.5f);
  }
  // Chi-square, 9 degrees of freedom, 0.9999 quantile ~ 33.7.
  double chi2 = 0, e = double(B) / n_images;
  for (double c : counts) chi2 += (c - e) * (c - e) / e;
  EXPECT_LT(chi2, 33.7);
}

TEST(CpuStats, StatsToSlotFilesByStepCounter) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int n = 9;
  const uint32_t n_slots = 5;
  std::vector<float> slots(size_t(n) * n_slots, -1.0f);
  for (uint64_t step = 1; step <= 12; ++step) {
    const std::vector<float> src = rng.vec<float>(n);
    cpu::stats_to_slot(src.data(), n, slots.data(), n_slots, &step);
    const size_t at = size_t((step - 1) % n_slots) * n;
    for (int i = 0; i < n; ++i) ASSERT_EQ(slots[at + i], src[i]) << "step " << step << " i " << i;
  }
}
