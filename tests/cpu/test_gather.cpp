// Batch gather and sampling from a uint8 image set or float rows; the stable small-batch sort.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

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
  // Chi-square, 9 degrees of freedom: P(chi2_9 > 50.2) = 1.0e-7, the chance that uniform indices
  // fail (the earlier 33.7, the 0.9999 quantile, failed one fresh run in 10,000). An index 10%
  // more or less likely than 1/10 adds ~50 to chi2 on its own; a never-drawn index, 5,000.
  double chi2 = 0, e = double(B) / n_images;
  for (double c : counts) chi2 += (c - e) * (c - e) / e;
  EXPECT_LT(chi2, 50.2);
}

TEST(CpuGather, SampleRowsGathersSampleBatchIndices) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (size_t D : {size_t(0), size_t(1), size_t(2), size_t(7)})
    for (int B : {1, 5, 64, 1001}) {
      SCOPED_TRACE("D=" + std::to_string(D) + " B=" + std::to_string(B));
      const uint32_t n_rows = uint32_t(rng.uniform_int(1, 3000));
      const auto rows = rng.vec<float>(size_t(n_rows) * D, -5, 5);
      const uint64_t seed = rng.bits(), counter = rng.bits();
      const uint32_t stream = uint32_t(rng.bits());
      // sample_batch's indices for the same (seed, stream, counter) over a same-sized image set.
      std::vector<uint8_t> images(size_t(n_rows) * D, 0);
      std::vector<float> ignored(size_t(B) * D);
      std::vector<uint32_t> want_idx(B);
      cpu::sample_batch<float>(images.data(), n_rows, D, B, seed, stream, &counter, ignored.data(),
                               want_idx.data());

      std::vector<float> out(size_t(B) * D, -99.0f), out_no_idx(out.size(), -99.0f);
      std::vector<double> out_d(out.size(), -99.0);
      std::vector<uint32_t> idx(B, 0xFFFFFFFFu), idx_d(B, 0xFFFFFFFFu);
      cpu::sample_rows<float>(rows.data(), n_rows, D, B, seed, stream, &counter, out.data(),
                              idx.data());
      cpu::sample_rows<float>(rows.data(), n_rows, D, B, seed, stream, &counter, out_no_idx.data(),
                              nullptr);
      cpu::sample_rows<double>(rows.data(), n_rows, D, B, seed, stream, &counter, out_d.data(),
                               idx_d.data());
      ASSERT_EQ(idx, want_idx);
      ASSERT_EQ(idx_d, want_idx);
      std::vector<float> want(out.size());
      for (int b = 0; b < B; ++b) {
        ASSERT_LT(idx[b], n_rows);
        for (size_t j = 0; j < D; ++j) want[b * D + j] = rows[size_t(idx[b]) * D + j];
      }
      EXPECT_TRUE(all_close("out", out, want, 0, 0));
      EXPECT_TRUE(all_close("out (indices_out null)", out_no_idx, want, 0, 0));
      EXPECT_TRUE(all_close("out (double)", out_d, want, 0, 0));
    }
}

namespace {

// The reference order for sort_values, built independently of its comparator: the numbers by a
// stable sort on operator< (equal numbers, -0 and +0 included, keep their order), then the NaNs
// in input order.
template <class T>
std::vector<T> reference_sort(const std::vector<T>& x) {
  std::vector<T> numbers, nans;
  for (T v : x) (std::isnan(v) ? nans : numbers).push_back(v);
  std::stable_sort(numbers.begin(), numbers.end());
  numbers.insert(numbers.end(), nans.begin(), nans.end());
  return numbers;
}

// Bit patterns, so -0 vs +0 and NaN payloads (which tell apart tied elements) must match too.
template <class T>
std::vector<uint64_t> bit_patterns(const std::vector<T>& v) {
  std::vector<uint64_t> bits(v.size(), 0);
  for (size_t i = 0; i < v.size(); ++i) std::memcpy(&bits[i], &v[i], sizeof(T));
  return bits;
}

// Random values with many ties (a few distinct magnitudes), -0 and +0, +-inf, and NaNs that
// carry their position in the payload, so stability is visible in the output bits.
template <class T>
std::vector<T> values_with_ties(Rng& rng, size_t N) {
  std::vector<T> x(N);
  for (size_t i = 0; i < N; ++i) {
    switch (rng.uniform_int(0, 9)) {
      case 0: x[i] = T(0.0); break;
      case 1: x[i] = T(-0.0); break;
      case 2: x[i] = std::numeric_limits<T>::infinity(); break;
      case 3: x[i] = -std::numeric_limits<T>::infinity(); break;
      case 4: {
        using Bits = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
        const T qnan = std::numeric_limits<T>::quiet_NaN();
        Bits b;
        std::memcpy(&b, &qnan, sizeof(T));
        b |= Bits(i & 0xFFFF);  // the position in the payload: still a quiet NaN
        if (i & 1) b |= Bits(1) << (8 * sizeof(T) - 1);  // and a sign, either way
        std::memcpy(&x[i], &b, sizeof(T));
        break;
      }
      case 5:
      case 6: x[i] = T(rng.uniform_int(-3, 3)) / T(2); break;
      default: x[i] = T(rng.uniform(-10, 10));
    }
  }
  return x;
}

}  // namespace

TEST(CpuGather, SortValuesIsAStableSortWithNanLast) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (size_t N : {size_t(1), size_t(2), size_t(7), size_t(100), size_t(1000), size_t(4097)}) {
    SCOPED_TRACE("N=" + std::to_string(N));
    const auto xf = values_with_ties<float>(rng, N);
    std::vector<float> yf(N, -1.0f);
    cpu::sort_values<float>(xf.data(), yf.data(), N);
    EXPECT_EQ(bit_patterns(yf), bit_patterns(reference_sort(xf)));

    const auto xd = values_with_ties<double>(rng, N);
    std::vector<double> yd(N, -1.0);
    cpu::sort_values<double>(xd.data(), yd.data(), N);
    EXPECT_EQ(bit_patterns(yd), bit_patterns(reference_sort(xd)));
  }
  // Small cases spelled out: N = 1 (a NaN too), a NaN before +inf, -0 before +0 stays put.
  const float nan = std::numeric_limits<float>::quiet_NaN(),
              inf = std::numeric_limits<float>::infinity();
  float one = nan, y1 = 0.0f;
  cpu::sort_values<float>(&one, &y1, 1);
  EXPECT_TRUE(std::isnan(y1));
  const std::vector<float> x = {nan, inf, -0.0f, 0.0f, -inf, 2.0f, -0.0f};
  std::vector<float> y(x.size());
  cpu::sort_values<float>(x.data(), y.data(), x.size());
  const std::vector<float> want = {-inf, -0.0f, 0.0f, -0.0f, 2.0f, inf, nan};
  EXPECT_EQ(bit_patterns(y), bit_patterns(want));
  // No values: nothing written.
  cpu::sort_values<float>(nullptr, nullptr, 0);
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
