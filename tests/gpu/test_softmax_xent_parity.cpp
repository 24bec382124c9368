// CUDA softmax cross-entropy against the CPU reference in float64: probabilities, gradient and
// statistics over odd shapes, with and without indices, outputs poisoned before the call, each
// output optional (both launch shapes giving the same bits), in place, argmax ties across lanes,
// extreme logits staying finite, and the fixed-order reduction giving the same bits twice.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "kernels/softmax_xent.h"

using namespace gan;
using namespace gan::test;

namespace {

const int kRows[] = {1, 7, 100, 1000};
const int kClasses[] = {2, 10, 37};

struct Case {
  int B, C;
  std::vector<float> logits;
  std::vector<uint8_t> labels;    // the resident label set (n_labels) or one per row (B)
  std::vector<uint32_t> indices;  // empty: labels are per row
};

// Logits in [-8, 8] with +-80 planted in some rows; a row of integer logits (ties); labels in
// [0, min(C, 256)) (uint8 names at most 256 classes); with indices, a label set of 2B + 5 entries
// that the indices pick from.
Case make_case(Rng& rng, int B, int C, bool use_indices) {
  Case c{B, C, rng.vec<float>(size_t(B) * C, -8.0, 8.0), {}, {}};
  const size_t n_labels = use_indices ? size_t(2 * B + 5) : size_t(B);
  c.labels.resize(n_labels);
  for (auto& y : c.labels) y = uint8_t(rng.uniform_int(0, std::min(C, 256) - 1));
  if (use_indices) {
    c.indices.resize(size_t(B));
    for (auto& i : c.indices) i = uint32_t(rng.uniform_int(0, int(n_labels) - 1));
  }
  c.logits[0] = 80.0f;
  if (B >= 2) c.logits[size_t(C) + 1] = -80.0f;
  if (B >= 3)
    for (int k = 0; k < C; ++k) c.logits[2 * size_t(C) + k] = float(rng.uniform_int(-1, 1));
  return c;
}

std::vector<uint8_t> row_labels(const Case& c) {
  if (c.indices.empty()) return c.labels;
  std::vector<uint8_t> y(size_t(c.B));
  for (int b = 0; b < c.B; ++b) y[b] = c.labels[c.indices[b]];
  return y;
}

// Tolerances. p = e^(z - m) / s: z - m is rounded to ~|z - m| 6e-8 (|z - m| <= 16 here, or a
// saturated row where the rest underflow), expf is within 2 ulp and s is a float sum of C terms
// in a different order than the reference: rtol 1e-5, with atol 1e-7 for the tiniest p.
constexpr double kProbsAtol = 1e-7, kProbsRtol = 1e-5;
// dlogits = grad_scale (p - onehot) / B: p - 1 cancels to an absolute error of about an ulp of 1,
// so the allowance is absolute, scaled by grad_scale / B.
double dlogits_atol(float grad_scale, int B) { return 1e-6 * grad_scale / double(B); }
constexpr double kDlogitsRtol = 1e-5;
// loss and mean_prob are float sums of B per-row terms (each ~1e-6 relative), added per warp then
// over 32 warps: ~1e-6 relative. accuracy counts exactly on both paths (the argmax sees the same
// float values), so only the final division differs; 1e-6 is far below one row (1/B >= 1e-3).
constexpr double kStatTol = 1e-5, kAccuracyAtol = 1e-6;

struct Outputs {
  std::vector<float> probs, dlogits;
  BceStats<float> stats{};
};

class SoftmaxXentTest : public GpuTest {
 protected:
  // Runs the CUDA op with every output requested (or only some), each poisoned first.
  Outputs run(const Case& c, float grad_scale, bool want_probs, bool want_dlogits, bool want_stats,
              bool pass_labels = true) {
    const size_t n = size_t(c.B) * c.C;
    DeviceBuffer<float> logits(c.logits), probs(n), dlogits(n);
    DeviceBuffer<uint8_t> labels(c.labels);
    DeviceBuffer<uint32_t> indices(c.indices);
    DeviceBuffer<BceStats<float>> stats(1);
    probs.poison();
    dlogits.poison();
    stats.poison();
    cuda::softmax_xent(logits.data(), pass_labels ? labels.data() : nullptr,
                       c.indices.empty() ? nullptr : indices.data(), c.B, c.C, grad_scale,
                       want_probs ? probs.data() : nullptr, want_dlogits ? dlogits.data() : nullptr,
                       want_stats ? stats.data() : nullptr, stream_);
    Outputs out;
    if (want_probs) out.probs = fetch(probs);
    if (want_dlogits) out.dlogits = fetch(dlogits);
    if (want_stats) out.stats = fetch(stats)[0];
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    CUDA_CHECK(cudaGetLastError());
    return out;
  }
};

void expect_same_bits(const char* name, const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_TRUE(all_close(name, a, b, 0.0, 0.0));
}

void expect_same_stats(const BceStats<float>& a, const BceStats<float>& b) {
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.mean_prob, b.mean_prob);
  EXPECT_EQ(a.accuracy, b.accuracy);
}

}  // namespace

TEST_F(SoftmaxXentTest, MatchesCpu) {
  SCOPED_TRACE(rng_.trace());
  for (bool use_indices : {false, true})
    for (int B : kRows)
      for (int C : kClasses) {
        const float grad_scale = float(rng_.uniform(0.25, 2.0));
        SCOPED_TRACE("B=" + std::to_string(B) + " C=" + std::to_string(C) + " grad_scale=" +
                     std::to_string(grad_scale) + (use_indices ? " with indices" : ""));
        const Case c = make_case(rng_, B, C, use_indices);
        const Outputs got = run(c, grad_scale, true, true, true);

        const auto z64 = to_double(c.logits);
        const size_t n = size_t(B) * C;
        std::vector<double> want_p(n), want_d(n);
        BceStats<double> want{};
        cpu::softmax_xent<double>(z64.data(), c.labels.data(),
                                  c.indices.empty() ? nullptr : c.indices.data(), B, C, grad_scale,
                                  want_p.data(), want_d.data(), &want);

        EXPECT_TRUE(all_close("probs", got.probs, want_p, kProbsAtol, kProbsRtol));
        EXPECT_TRUE(
            all_close("dlogits", got.dlogits, want_d, dlogits_atol(grad_scale, B), kDlogitsRtol));
        EXPECT_TRUE(all_close("loss", std::vector<float>{got.stats.loss},
                              std::vector<double>{want.loss}, kStatTol, kStatTol));
        EXPECT_TRUE(all_close("mean_prob", std::vector<float>{got.stats.mean_prob},
                              std::vector<double>{want.mean_prob}, kStatTol, kStatTol));
        EXPECT_TRUE(all_close("accuracy", std::vector<float>{got.stats.accuracy},
                              std::vector<double>{want.accuracy}, kAccuracyAtol, 0.0));
      }
}

// Many classes per lane (C = 4096, the upper end of the contract; C = 33, one lane with two).
TEST_F(SoftmaxXentTest, WideRowsMatchCpu) {
  SCOPED_TRACE(rng_.trace());
  for (int C : {33, 4096}) {
    SCOPED_TRACE("C=" + std::to_string(C));
    const int B = 7;
    const Case c = make_case(rng_, B, C, false);
    const Outputs got = run(c, 1.0f, true, true, true);
    const auto z64 = to_double(c.logits);
    std::vector<double> want_p(size_t(B) * C), want_d(size_t(B) * C);
    BceStats<double> want{};
    cpu::softmax_xent<double>(z64.data(), c.labels.data(), nullptr, B, C, 1.0, want_p.data(),
                              want_d.data(), &want);
    // s sums up to 4096 terms: the relative allowance grows with C (float sum, ~C/32 per lane).
    const double rtol = kProbsRtol * (C > 1000 ? 10.0 : 1.0);
    EXPECT_TRUE(all_close("probs", got.probs, want_p, kProbsAtol, rtol));
    EXPECT_TRUE(all_close("dlogits", got.dlogits, want_d, dlogits_atol(1.0f, B), rtol));
    EXPECT_NEAR(got.stats.loss, want.loss, kStatTol * std::max(1.0, std::fabs(want.loss)));
    EXPECT_NEAR(got.stats.mean_prob, want.mean_prob, kStatTol);
    EXPECT_NEAR(got.stats.accuracy, want.accuracy, kAccuracyAtol);
  }
}

// Each output optional, softmax alone without labels; without stats the rows spread over many
// blocks, with stats they run in one: probs and dlogits are the same bits either way.
TEST_F(SoftmaxXentTest, OutputsAreOptional) {
  SCOPED_TRACE(rng_.trace());
  for (bool use_indices : {false, true}) {
    SCOPED_TRACE(use_indices ? "with indices" : "without indices");
    const Case c = make_case(rng_, 1000, 10, use_indices);
    const Outputs full = run(c, 0.5f, true, true, true);
    expect_same_bits("probs alone", run(c, 0.5f, true, false, false, false).probs, full.probs);
    expect_same_bits("dlogits alone", run(c, 0.5f, false, true, false).dlogits, full.dlogits);
    const Outputs both = run(c, 0.5f, true, true, false);
    expect_same_bits("probs without stats", both.probs, full.probs);
    expect_same_bits("dlogits without stats", both.dlogits, full.dlogits);
    expect_same_stats(run(c, 0.5f, false, false, true).stats, full.stats);
  }
}

// probs or dlogits written over the logits: the same bits as into separate buffers.
TEST_F(SoftmaxXentTest, InPlace) {
  SCOPED_TRACE(rng_.trace());
  const Case c = make_case(rng_, 100, 37, false);
  const Outputs want = run(c, 1.0f, true, true, true);
  const size_t n = size_t(c.B) * c.C;
  for (bool dlogits_in_place : {true, false}) {
    SCOPED_TRACE(dlogits_in_place ? "dlogits in place" : "probs in place");
    DeviceBuffer<float> buf(c.logits), other(n);
    DeviceBuffer<uint8_t> labels(c.labels);
    DeviceBuffer<BceStats<float>> stats(1);
    other.poison();
    stats.poison();
    float* probs = dlogits_in_place ? other.data() : buf.data();
    float* dlogits = dlogits_in_place ? buf.data() : other.data();
    cuda::softmax_xent(buf.data(), labels.data(), nullptr, c.B, c.C, 1.0f, probs, dlogits,
                       stats.data(), stream_);
    const auto in_place = fetch(buf), beside = fetch(other);
    expect_same_bits("in place", in_place, dlogits_in_place ? want.dlogits : want.probs);
    expect_same_bits("beside", beside, dlogits_in_place ? want.probs : want.dlogits);
    expect_same_stats(fetch(stats)[0], want.stats);
  }
}

// Ties for the maximum split across lanes (C = 37: index 36 lives on lane 4, index 5 on lane 5;
// indices 0 and 32 both on lane 0): the prediction is the first index, whichever lane holds it.
// Other rules score differently: the lowest lane's candidate 2/4, the last maximum 1/4.
TEST_F(SoftmaxXentTest, AccuracyTakesTheFirstMaximum) {
  const int B = 4, C = 37;
  Case c{B, C, std::vector<float>(size_t(B) * C, 0.0f), {5, 36, 5, 0}, {}};
  auto at = [&](int b, int k) -> float& { return c.logits[size_t(b) * C + k]; };
  at(0, 36) = at(0, 5) = 3.0f;  // label 5: right
  at(1, 36) = at(1, 5) = 3.0f;  // label 36: tied but not first, wrong
  at(2, 36) = at(2, 5) = 3.0f;  // label 5: right
  // row 3 all zeros, label 0: right
  const Outputs got = run(c, 1.0f, false, false, true);
  EXPECT_FLOAT_EQ(got.stats.accuracy, 3.0f / 4);
}

// Logits of +-1000: every output finite, the loss the exact limit.
TEST_F(SoftmaxXentTest, ExtremeLogitsStayFinite) {
  const int B = 4, C = 3;
  const Case c{B,
               C,
               {1000, -1000, 0, -1000, -1000, -1000, 1000, 1000, -1000, -1000, 1000, 1000},
               {1, 2, 0, 2},
               {}};
  const Outputs got = run(c, 1.0f, true, true, true);
  for (size_t i = 0; i < got.probs.size(); ++i) {
    EXPECT_TRUE(std::isfinite(got.probs[i])) << "probs[" << i << "]";
    EXPECT_TRUE(std::isfinite(got.dlogits[i])) << "dlogits[" << i << "]";
  }
  EXPECT_NEAR(got.stats.loss, (2000 + std::log(3.0) + 2 * std::log(2.0)) / 4, 1e-3);
  EXPECT_NEAR(got.stats.mean_prob, (1.0 / 3 + 1.0) / 4, 1e-6);
  EXPECT_NEAR(got.stats.accuracy, 0.25, 1e-7);  // only row 2 (a tie, first index) is right
  EXPECT_NEAR(got.dlogits[1], -0.25, 1e-7);
}

// One block, a fixed reduction order: the same bits on a second call.
TEST_F(SoftmaxXentTest, IsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const Case c = make_case(rng_, 4097, 10, true);
  const Outputs a = run(c, 1.0f, false, false, true), b = run(c, 1.0f, false, false, true);
  expect_same_stats(a.stats, b.stats);
}
