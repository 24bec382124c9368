// Softmax cross-entropy: float64 gradient check, probabilities and statistics against the
// definitions written out by hand (argmax ties included), labels through indices, each output
// optional, in-place use, extreme logits finite, float against double, the engine's dispatch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/core/ops.h"
#include "gradcheck.h"
#include "kernels/softmax_xent.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

// Two calls' statistics are the same bits (loss, mean true-class probability, accuracy).
template <class T>
::testing::AssertionResult same_stats(const BceStats<T>& a, const BceStats<T>& b) {
  if (a.loss == b.loss && a.mean_prob == b.mean_prob && a.accuracy == b.accuracy)
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "stats differ: loss " << a.loss << " vs " << b.loss
                                       << ", mean_prob " << a.mean_prob << " vs " << b.mean_prob
                                       << ", accuracy " << a.accuracy << " vs " << b.accuracy;
}

struct Shape {
  int B, C;
};
const Shape kShapes[] = {{1, 2}, {1, 10}, {3, 2}, {5, 10}, {4, 37}, {2, 100}};

std::string shape_name(const Shape& s) {
  return "B=" + std::to_string(s.B) + " C=" + std::to_string(s.C);
}

std::vector<uint8_t> random_labels(Rng& rng, size_t n, int C) {
  std::vector<uint8_t> y(n);
  for (auto& v : y) v = uint8_t(rng.uniform_int(0, std::min(C, 256) - 1));
  return y;
}

std::vector<uint32_t> random_indices(Rng& rng, int B, uint32_t n) {
  std::vector<uint32_t> idx(size_t(B), 0);
  for (auto& i : idx) i = uint32_t(rng.uniform_int(0, int(n) - 1));
  return idx;
}

template <class T>
std::vector<T> nans(size_t n) {
  return std::vector<T>(n, std::numeric_limits<T>::quiet_NaN());
}

// The definitions, written out independently of the reference: softmax as e^z / sum e^z (inputs
// here are moderate, so no shift is needed), the label's probability, the first maximum.
struct HandResult {
  std::vector<double> probs, dlogits;
  double loss = 0, mean_prob = 0, accuracy = 0;
};

HandResult by_hand(const std::vector<double>& z, const std::vector<uint8_t>& y, int B, int C,
                   double grad_scale) {
  HandResult r;
  r.probs.resize(z.size());
  r.dlogits.resize(z.size());
  for (int b = 0; b < B; ++b) {
    const double* row = z.data() + size_t(b) * C;
    double sum = 0;
    for (int c = 0; c < C; ++c) sum += std::exp(row[c]);
    for (int c = 0; c < C; ++c) {
      const double p = std::exp(row[c]) / sum;
      r.probs[size_t(b) * C + c] = p;
      r.dlogits[size_t(b) * C + c] = grad_scale * (p - (c == y[b] ? 1.0 : 0.0)) / B;
    }
    const double py = std::exp(row[y[b]]) / sum;
    r.loss += -std::log(py);
    r.mean_prob += py;
    const int argmax = int(std::max_element(row, row + C) - row);  // the first maximum
    r.accuracy += argmax == y[b] ? 1.0 : 0.0;
  }
  r.loss /= B;
  r.mean_prob /= B;
  r.accuracy /= B;
  return r;
}

}  // namespace

TEST(CpuSoftmaxXent, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const Shape& s : kShapes)
    for (bool use_indices : {false, true}) {
      SCOPED_TRACE(shape_name(s) + (use_indices ? " with indices" : ""));
      auto z = rng.vec<double>(size_t(s.B) * s.C, -6, 6);
      const uint32_t n_labels = use_indices ? uint32_t(2 * s.B + 3) : uint32_t(s.B);
      const auto labels = random_labels(rng, n_labels, s.C);
      const auto idx = random_indices(rng, s.B, n_labels);
      const uint32_t* indices = use_indices ? idx.data() : nullptr;
      const double scale = rng.uniform(0.25, 2.0);
      BceStats<double> st{};
      LossFn loss = [&](KinkSignature*) {
        cpu::softmax_xent<double>(z.data(), labels.data(), indices, s.B, s.C, 1.0, nullptr, nullptr,
                                  &st);
        return scale * st.loss;
      };
      auto dz = nans<double>(z.size());
      cpu::softmax_xent<double>(z.data(), labels.data(), indices, s.B, s.C, scale, nullptr,
                                dz.data(), nullptr);
      const GradCheckResult r = expect_gradient("logits", z, dz, loss);
      EXPECT_EQ(r.checked, z.size());  // smooth everywhere: nothing skipped
    }
}

// Every element of probs and dlogits, and the three statistics, against by_hand(); rows of probs
// sum to 1. Integer logits in [-2, 2] make ties for the maximum common (C = 10: most rows).
TEST(CpuSoftmaxXent, OutputsMatchDefinitions) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const Shape& s : kShapes)
    for (bool integer_logits : {false, true}) {
      SCOPED_TRACE(shape_name(s) + (integer_logits ? " integer logits" : ""));
      const size_t n = size_t(s.B) * s.C;
      auto z = rng.vec<double>(n, -8, 8);
      if (integer_logits)
        for (auto& v : z) v = double(rng.uniform_int(-2, 2));
      const auto y = random_labels(rng, size_t(s.B), s.C);
      const double scale = rng.uniform(0.25, 2.0);
      auto probs = nans<double>(n), dz = nans<double>(n);
      BceStats<double> st{std::nan(""), std::nan(""), std::nan("")};
      cpu::softmax_xent<double>(z.data(), y.data(), nullptr, s.B, s.C, scale, probs.data(),
                                dz.data(), &st);
      const HandResult want = by_hand(z, y, s.B, s.C, scale);
      EXPECT_TRUE(all_close("probs", probs, want.probs, 1e-15, 1e-13));
      EXPECT_TRUE(all_close("dlogits", dz, want.dlogits, 1e-15 * scale / s.B, 1e-13));
      for (int b = 0; b < s.B; ++b) {
        double sum = 0;
        for (int c = 0; c < s.C; ++c) sum += probs[size_t(b) * s.C + c];
        EXPECT_NEAR(sum, 1.0, 1e-14 * s.C) << "row " << b;
      }
      EXPECT_NEAR(st.loss, want.loss, 1e-12);
      EXPECT_NEAR(st.mean_prob, want.mean_prob, 1e-14);
      EXPECT_DOUBLE_EQ(st.accuracy, want.accuracy);
    }
}

// Ties: the first index of the maximum is the prediction, even where a later tied index is the
// label; a row of equal logits predicts class 0. The rows are chosen so that other rules score
// differently (the last maximum: 1/5).
TEST(CpuSoftmaxXent, AccuracyTakesTheFirstMaximum) {
  const int B = 5, C = 3;
  const std::vector<double> z = {1, 5, 5,   // label 1: first maximum, right
                                 7, 7, 7,   // label 0: right
                                 5, 5, 1,   // label 0: right
                                 0, 0, 1,   // label 2: right (no tie)
                                 4, 4, 4};  // label 1: tied but not first, wrong
  const std::vector<uint8_t> y = {1, 0, 0, 2, 1};
  BceStats<double> st{};
  cpu::softmax_xent<double>(z.data(), y.data(), nullptr, B, C, 1.0, nullptr, nullptr, &st);
  EXPECT_DOUBLE_EQ(st.accuracy, 4.0 / 5);
  const HandResult want = by_hand(z, y, B, C, 1.0);
  EXPECT_DOUBLE_EQ(want.accuracy, 4.0 / 5);  // the hand version agrees on the same rule
  EXPECT_NEAR(st.loss, want.loss, 1e-14);
  EXPECT_NEAR(st.mean_prob, want.mean_prob, 1e-15);
}

// Labels through indices (a resident label set) give exactly the call with the labels gathered
// by hand: same arithmetic, same bits, for every output.
TEST(CpuSoftmaxXent, LabelsThroughIndices) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 20, C = 10;
  const uint32_t n_labels = 64;
  const auto z = rng.vec<double>(size_t(B) * C, -4, 4);
  const auto label_set = random_labels(rng, n_labels, C);
  const auto idx = random_indices(rng, B, n_labels);
  std::vector<uint8_t> gathered(B);
  for (int b = 0; b < B; ++b) gathered[b] = label_set[idx[b]];

  auto p1 = nans<double>(z.size()), d1 = nans<double>(z.size());
  auto p2 = nans<double>(z.size()), d2 = nans<double>(z.size());
  BceStats<double> s1{}, s2{};
  cpu::softmax_xent<double>(z.data(), label_set.data(), idx.data(), B, C, 0.7, p1.data(), d1.data(),
                            &s1);
  cpu::softmax_xent<double>(z.data(), gathered.data(), nullptr, B, C, 0.7, p2.data(), d2.data(),
                            &s2);
  EXPECT_TRUE(all_close("probs", p1, p2, 0.0, 0.0));
  EXPECT_TRUE(all_close("dlogits", d1, d2, 0.0, 0.0));
  EXPECT_TRUE(same_stats(s1, s2));
  const HandResult want = by_hand(z, gathered, B, C, 0.7);
  EXPECT_NEAR(s1.loss, want.loss, 1e-12);
}

// Each output is optional (softmax alone needs no labels), and each alone is the same bits as in
// the full call. Outputs not requested are left untouched.
TEST(CpuSoftmaxXent, OutputsAreOptional) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 7, C = 37;
  const size_t n = size_t(B) * C;
  const auto z = rng.vec<float>(n, -8, 8);
  const auto y = random_labels(rng, B, C);
  auto p_full = nans<float>(n), d_full = nans<float>(n);
  BceStats<float> s_full{};
  cpu::softmax_xent<float>(z.data(), y.data(), nullptr, B, C, 1.5f, p_full.data(), d_full.data(),
                           &s_full);

  auto p_only = nans<float>(n);
  cpu::softmax_xent<float>(z.data(), nullptr, nullptr, B, C, 1.5f, p_only.data(), nullptr, nullptr);
  EXPECT_TRUE(all_close("probs alone", p_only, p_full, 0.0, 0.0));

  auto d_only = nans<float>(n);
  cpu::softmax_xent<float>(z.data(), y.data(), nullptr, B, C, 1.5f, nullptr, d_only.data(),
                           nullptr);
  EXPECT_TRUE(all_close("dlogits alone", d_only, d_full, 0.0, 0.0));

  BceStats<float> s_only{};
  cpu::softmax_xent<float>(z.data(), y.data(), nullptr, B, C, 1.5f, nullptr, nullptr, &s_only);
  EXPECT_TRUE(same_stats(s_only, s_full));
}

// probs or dlogits may be the logits themselves: the same bits as with separate buffers.
TEST(CpuSoftmaxXent, InPlace) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 9, C = 10;
  const size_t n = size_t(B) * C;
  const auto z = rng.vec<double>(n, -8, 8);
  const auto y = random_labels(rng, B, C);
  auto p = nans<double>(n), d = nans<double>(n);
  BceStats<double> st{};
  cpu::softmax_xent<double>(z.data(), y.data(), nullptr, B, C, 2.0, p.data(), d.data(), &st);

  auto buf = z;
  auto p_sep = nans<double>(n);
  BceStats<double> st_d{};
  cpu::softmax_xent<double>(buf.data(), y.data(), nullptr, B, C, 2.0, p_sep.data(), buf.data(),
                            &st_d);
  EXPECT_TRUE(all_close("dlogits in place", buf, d, 0.0, 0.0));
  EXPECT_TRUE(all_close("probs beside in-place dlogits", p_sep, p, 0.0, 0.0));
  EXPECT_TRUE(same_stats(st_d, st));

  buf = z;
  auto d_sep = nans<double>(n);
  BceStats<double> st_p{};
  cpu::softmax_xent<double>(buf.data(), y.data(), nullptr, B, C, 2.0, buf.data(), d_sep.data(),
                            &st_p);
  EXPECT_TRUE(all_close("probs in place", buf, p, 0.0, 0.0));
  EXPECT_TRUE(all_close("dlogits beside in-place probs", d_sep, d, 0.0, 0.0));
  EXPECT_TRUE(same_stats(st_p, st));
}

// Logits of +-1000 (e^1000 overflows any float type): every output finite and the exact limits.
template <class T>
void check_extreme_logits() {
  const int B = 4, C = 3;
  const std::vector<T> z = {1000,  -1000, 0,      // label 1: loss 2000, probs (1, 0, 0), wrong
                            -1000, -1000, -1000,  // label 2: loss log 3, probs 1/3, wrong
                            1000,  1000,  -1000,  // label 0: loss log 2, right (first maximum)
                            -1000, 1000,  1000};  // label 2: loss log 2, wrong
  const std::vector<uint8_t> y = {1, 2, 0, 2};
  auto p = nans<T>(z.size()), d = nans<T>(z.size());
  BceStats<T> st{};
  cpu::softmax_xent<T>(z.data(), y.data(), nullptr, B, C, T(1), p.data(), d.data(), &st);
  const double third = 1.0 / 3;
  const std::vector<double> want_p = {1, 0, 0, third, third, third, 0.5, 0.5, 0, 0, 0.5, 0.5};
  std::vector<double> want_d(z.size());
  for (int b = 0; b < B; ++b)
    for (int c = 0; c < C; ++c)
      want_d[size_t(b) * C + c] = (want_p[size_t(b) * C + c] - (c == y[b] ? 1.0 : 0.0)) / B;
  const double eps = double(std::numeric_limits<T>::epsilon());
  EXPECT_TRUE(all_close("probs", p, want_p, 4 * eps, 0.0));
  EXPECT_TRUE(all_close("dlogits", d, want_d, 4 * eps, 0.0));
  EXPECT_NEAR(st.loss, (2000 + std::log(3.0) + 2 * std::log(2.0)) / 4, 2000 * 4 * eps);
  EXPECT_NEAR(st.mean_prob, (0 + third + 0.5 + 0.5) / 4, 4 * eps);
  EXPECT_NEAR(st.accuracy, 0.25, eps);
}

TEST(CpuSoftmaxXent, ExtremeLogitsStayFiniteFloat) { check_extreme_logits<float>(); }
TEST(CpuSoftmaxXent, ExtremeLogitsStayFiniteDouble) { check_extreme_logits<double>(); }

// The float instantiation against the double one on the same (float) inputs. Tolerances: p =
// e^(z - m) / s with |z - m| <= 20 rounds z - m to ~1e-6 absolute (a relative 1e-6 in p), expf
// adds ~1 ulp and s a sum of C terms ~C/2 ulp: rtol 1e-5, atol 1e-7 for the tiniest p. dlogits
// cancel p - 1 to an ulp of 1: atol 1e-6 grad_scale / B. The loss is a float mean of terms up to
// ~20: ~1e-6 relative.
TEST(CpuSoftmaxXent, FloatMatchesDouble) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(shape_name(s));
    const size_t n = size_t(s.B) * s.C;
    const auto z = rng.vec<float>(n, -10, 10);
    const auto y = random_labels(rng, s.B, s.C);
    const float scale = float(rng.uniform(0.25, 2.0));
    auto pf = nans<float>(n), df = nans<float>(n);
    BceStats<float> sf{};
    cpu::softmax_xent<float>(z.data(), y.data(), nullptr, s.B, s.C, scale, pf.data(), df.data(),
                             &sf);
    const auto z64 = to_double(z);
    auto pd = nans<double>(n), dd = nans<double>(n);
    BceStats<double> sd{};
    cpu::softmax_xent<double>(z64.data(), y.data(), nullptr, s.B, s.C, scale, pd.data(), dd.data(),
                              &sd);
    EXPECT_TRUE(all_close("probs", pf, pd, 1e-7, 1e-5));
    EXPECT_TRUE(all_close("dlogits", df, dd, 1e-6 * scale / s.B, 1e-5));
    EXPECT_NEAR(sf.loss, sd.loss, 1e-5 * std::max(1.0, std::fabs(sd.loss)));
    EXPECT_NEAR(sf.mean_prob, sd.mean_prob, 1e-6);
    EXPECT_NEAR(sf.accuracy, sd.accuracy, 1e-7);  // the same counts: one rounding apart
  }
}

// ops::softmax_xent on a CPU context is the float reference, bit for bit.
TEST(CpuSoftmaxXent, DispatchRunsTheReference) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 6, C = 10;
  const size_t n = size_t(B) * C;
  const auto z = rng.vec<float>(n, -5, 5);
  const auto label_set = random_labels(rng, 32, C);
  const auto idx = random_indices(rng, B, 32);
  auto p1 = nans<float>(n), d1 = nans<float>(n), p2 = nans<float>(n), d2 = nans<float>(n);
  BceStats<float> s1{}, s2{};
  const ExecContext ctx{};
  ops::softmax_xent(ctx, z.data(), label_set.data(), idx.data(), B, C, 0.5f, p1.data(), d1.data(),
                    &s1);
  cpu::softmax_xent<float>(z.data(), label_set.data(), idx.data(), B, C, 0.5f, p2.data(), d2.data(),
                           &s2);
  EXPECT_TRUE(all_close("probs", p1, p2, 0.0, 0.0));
  EXPECT_TRUE(all_close("dlogits", d1, d2, 0.0, 0.0));
  EXPECT_TRUE(same_stats(s1, s2));
}
