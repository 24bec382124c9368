// Class conditioning against the contract written out element by element: labels drawn (as
// sample_batch draws rows, uniform over K classes) or gathered, one-hot codes appended to rows (a
// label out of range gives an all-zero code), and the row's own columns taken back out.
#include <gtest/gtest.h>

#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "kernels/condition.h"
#include "kernels/gather.h"
#include "label_fixtures.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

const int kBatches[] = {1, 7, 100};
const size_t kWidths[] = {1, 3, 784};
const int kClasses[] = {1, 2, 10};
const size_t kPlanes[] = {1, 49};

std::vector<uint32_t> draw_labels(int B, uint32_t K, uint64_t seed, uint32_t stream,
                                  uint64_t counter) {
  std::vector<uint32_t> labels(B, 0xFFFFFFFFu);
  cpu::random_labels(labels.data(), B, K, seed, stream, &counter);
  return labels;
}

template <class T>
void check_append_onehot(Rng& rng) {
  for (int B : kBatches)
    for (size_t F : kWidths)
      for (int K : kClasses)
        for (size_t S : kPlanes) {
          SCOPED_TRACE("B=" + std::to_string(B) + " F=" + std::to_string(F) +
                       " K=" + std::to_string(K) + " S=" + std::to_string(S));
          const auto x = rng.vec<T>(size_t(B) * F, -3, 3);
          const auto labels = labels_with_strays(rng, B, K);
          const size_t W = F + size_t(K) * S;
          std::vector<T> y(size_t(B) * W, std::numeric_limits<T>::quiet_NaN());
          cpu::append_onehot<T>(x.data(), B, F, labels.data(), K, S, y.data());
          for (int b = 0; b < B; ++b) {
            const T* row = y.data() + size_t(b) * W;
            for (size_t c = 0; c < F; ++c)
              ASSERT_EQ(row[c], x[size_t(b) * F + c]) << "row " << b << " column " << c;
            for (int j = 0; j < K; ++j)
              for (size_t s = 0; s < S; ++s)
                ASSERT_EQ(row[F + size_t(j) * S + s], labels[b] == uint32_t(j) ? T(1) : T(0))
                    << "row " << b << " (label " << labels[b] << ") block " << j << " at " << s;
            if (labels[b] >= uint32_t(K)) {
              for (size_t c = F; c < W; ++c)
                ASSERT_EQ(row[c], T(0)) << "out-of-range label " << labels[b] << ", row " << b;
            }
          }
        }
}

}  // namespace

// Same (seed, stream, counter): the same labels, and they are sample_batch's row indices over a
// set of K rows (the contract's "as sample_batch draws rows"); every label < K.
TEST(CpuCondition, RandomLabelsRepeatAndMatchSampleBatch) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int B : kBatches)
    for (int K : kClasses) {
      SCOPED_TRACE("B=" + std::to_string(B) + " K=" + std::to_string(K));
      const uint64_t seed = rng.bits(), counter = rng.bits();
      const uint32_t stream = uint32_t(rng.bits());
      const auto labels = draw_labels(B, uint32_t(K), seed, stream, counter);
      EXPECT_EQ(draw_labels(B, uint32_t(K), seed, stream, counter), labels);
      for (int b = 0; b < B; ++b) ASSERT_LT(labels[b], uint32_t(K)) << "row " << b;
      const std::vector<uint8_t> images(size_t(K), 0);
      std::vector<float> ignored(B);
      std::vector<uint32_t> rows(B);
      cpu::sample_batch<float>(images.data(), uint32_t(K), 1, B, seed, stream, &counter,
                               ignored.data(), rows.data());
      EXPECT_EQ(labels, rows);
    }
}

// A changed counter (or stream) gives fresh labels: with K = 10 two independent draws agree on a
// row with chance 1/10, so about 10 of 100; 40 or more is a chance of ~1e-12 (Bin(100, 0.1)).
TEST(CpuCondition, RandomLabelsChangeWithCounterAndStream) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 100;
  const uint64_t seed = rng.bits(), counter = rng.bits();
  const uint32_t stream = uint32_t(rng.bits());
  const auto base = draw_labels(B, 10, seed, stream, counter);
  for (const auto& other : {draw_labels(B, 10, seed, stream, counter + 1),
                            draw_labels(B, 10, seed, stream + 1, counter)}) {
    int same = 0;
    for (int b = 0; b < B; ++b) same += other[b] == base[b];
    EXPECT_LT(same, 40);
  }
}

// B = 10,000 over K = 10: each class count is Bin(10000, 0.1), mean 1000, sd 30. Within 6 sd
// (|count - 1000| <= 180) fails for uniform labels with chance ~2e-9 per class (the index's
// multiply-shift bias, < K / 2^32, is far below this); a class 20% more or less likely, or one
// never drawn, is far outside it.
TEST(CpuCondition, RandomLabelsAreUniform) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 10000;
  const uint32_t K = 10;
  const auto labels = draw_labels(B, K, rng.bits(), uint32_t(rng.bits()), rng.bits());
  std::vector<int> counts(K, 0);
  for (uint32_t l : labels) {
    ASSERT_LT(l, K);
    ++counts[l];
  }
  for (uint32_t k = 0; k < K; ++k) EXPECT_LE(std::abs(counts[k] - 1000), 180) << "class " << k;
}

TEST(CpuCondition, GatherLabelsReadsTheTable) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int B : kBatches) {
    SCOPED_TRACE("B=" + std::to_string(B));
    const int n = rng.uniform_int(1, 300);
    std::vector<uint8_t> table(n);
    for (auto& t : table) t = uint8_t(rng.uniform_int(0, 255));
    std::vector<uint32_t> indices(B);
    for (auto& i : indices) i = uint32_t(rng.uniform_int(0, n - 1));
    indices[B - 1] = uint32_t(n - 1);  // the table's last entry
    std::vector<uint32_t> labels(B, 0xFFFFFFFFu);
    cpu::gather_labels(table.data(), indices.data(), B, labels.data());
    for (int b = 0; b < B; ++b) ASSERT_EQ(labels[b], uint32_t(table[indices[b]])) << "row " << b;
  }
}

TEST(CpuCondition, AppendOnehotFloat) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_append_onehot<float>(rng);
}

TEST(CpuCondition, AppendOnehotDouble) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_append_onehot<double>(rng);
}

// Every column of y is x's column; and take_columns undoes append_onehot (W = F + K S).
TEST(CpuCondition, TakeColumnsTakesTheFirstF) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int B : kBatches)
    for (size_t F : kWidths)
      for (size_t extra : {size_t(0), size_t(10), size_t(490)}) {
        const size_t W = F + extra;
        SCOPED_TRACE("B=" + std::to_string(B) + " W=" + std::to_string(W) +
                     " F=" + std::to_string(F));
        const auto x = rng.vec<float>(size_t(B) * W, -3, 3);
        std::vector<float> y(size_t(B) * F, std::numeric_limits<float>::quiet_NaN());
        std::vector<double> yd(y.size(), std::numeric_limits<double>::quiet_NaN());
        const auto xd = to_double(x);
        cpu::take_columns<float>(x.data(), B, W, F, y.data());
        cpu::take_columns<double>(xd.data(), B, W, F, yd.data());
        for (int b = 0; b < B; ++b)
          for (size_t j = 0; j < F; ++j) {
            ASSERT_EQ(y[size_t(b) * F + j], x[size_t(b) * W + j]) << "row " << b << " col " << j;
            ASSERT_EQ(yd[size_t(b) * F + j], xd[size_t(b) * W + j]) << "row " << b << " col " << j;
          }
      }
  const int B = 7, K = 10;
  const size_t F = 3, S = 49, W = F + size_t(K) * S;
  const auto x = rng.vec<float>(size_t(B) * F);
  const auto labels = labels_with_strays(rng, B, K);
  std::vector<float> y(size_t(B) * W), back(x.size());
  cpu::append_onehot<float>(x.data(), B, F, labels.data(), K, S, y.data());
  cpu::take_columns<float>(y.data(), B, W, F, back.data());
  EXPECT_TRUE(same_bits("round trip", back, x));
}

// B = 0 or F = 0 writes nothing; K = 0 appends no code.
TEST(CpuCondition, EmptyShapesTouchNothing) {
  const uint64_t counter = 0;
  cpu::random_labels(nullptr, 0, 10, 1, 0, &counter);
  cpu::gather_labels(nullptr, nullptr, 0, nullptr);
  cpu::append_onehot<float>(nullptr, 0, 784, nullptr, 10, 1, nullptr);
  cpu::take_columns<float>(nullptr, 0, 794, 784, nullptr);
  const std::vector<float> wide(50, 1.0f);
  cpu::take_columns<float>(wide.data(), 5, 10, 0, nullptr);
  // K = 0: y is x.
  const std::vector<float> x = {1, 2, 3, 4};
  const std::vector<uint32_t> labels = {0, 1};
  std::vector<float> y(4, -1.0f);
  cpu::append_onehot<float>(x.data(), 2, 2, labels.data(), 0, 49, y.data());
  EXPECT_EQ(y, x);
}
