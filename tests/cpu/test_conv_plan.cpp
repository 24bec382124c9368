// The CUDA convolutions' plans (kernels/cuda/conv_plan.h: chunking, scratch layout, im2col /
// col2im index maths, the GEMMs' shapes and transposes, gradient modes) run on the CPU in float64
// with an executor made of loops and cpu::gemm, against the contract's formulas (kernels/conv.h)
// written as plain loops here. So everything in the CUDA path except the kernels' thread mappings
// is checked on machines without a GPU. Scratch starts as NaN, outputs too (so a read before a
// write, or an element never written, shows), and the executor checks that every operand that
// lies in the scratch stays inside conv_plan_workspace_floats.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "conv_cases.h"
#include "kernels/cuda/conv_plan.h"
#include "kernels/gemm.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
using cuda::ColGeometry;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr size_t kGuard = 1024;  // scratch elements past the bound, where no operand may start

// Runs conv_plan.h's steps with loops over the same element functions the CUDA kernels call.
struct HostExec {
  const double* work;
  size_t work_size;
  size_t steps = 0;

  // An operand [p, p + n) that starts inside the scratch buffer (or its guard) must end inside it.
  void in_scratch(const double* p, int64_t n) const {
    if (p >= work && p < work + work_size + kGuard) {
      EXPECT_LE(size_t(p - work) + size_t(n), work_size) << "scratch overrun at step " << steps;
    }
  }

  void gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, const double* B,
            double beta, double* C) {
    ++steps;
    in_scratch(A, int64_t(M) * K);
    in_scratch(B, int64_t(K) * N);
    in_scratch(C, int64_t(M) * N);
    cpu::gemm<double>(ta, tb, M, N, K, alpha, A, B, beta, C);
  }
  void im2col(const ColGeometry& g, int nb, const double* img, double* col) {
    ++steps;
    const int64_t ncols = nb * g.grid();
    in_scratch(img, nb * g.image());
    in_scratch(col, g.rows() * ncols);
    for (int64_t r = 0; r < g.rows(); ++r)
      for (int64_t j = 0; j < ncols; ++j) col[r * ncols + j] = cuda::im2col_element(g, img, r, j);
  }
  void col2im(const ColGeometry& g, int nb, const double* col, const double* bias, double* img) {
    ++steps;
    in_scratch(col, g.rows() * nb * g.grid());
    in_scratch(img, nb * g.image());
    for (int64_t i = 0; i < nb * g.image(); ++i) img[i] = cuda::col2im_element(g, nb, col, bias, i);
  }
  void to_channel_major(const double* src, double* dst, int nb, int C, int64_t S) {
    ++steps;
    in_scratch(src, nb * C * S);
    in_scratch(dst, nb * C * S);
    for (int64_t i = 0; i < nb * C * S; ++i) dst[cuda::channel_major_index(i, nb, C, S)] = src[i];
  }
  void from_channel_major(const double* src, double* dst, int nb, int C, int64_t S,
                          const double* bias) {
    ++steps;
    in_scratch(src, nb * C * S);
    in_scratch(dst, nb * C * S);
    for (int64_t i = 0; i < nb * C * S; ++i)
      dst[i] = src[cuda::channel_major_index(i, nb, C, S)] + (bias ? bias[(i / S) % C] : 0.0);
  }
  void channel_sum(const double* src, double* dst, int B, int C, int64_t S, bool accumulate) {
    ++steps;
    for (int c = 0; c < C; ++c) {
      double sum = 0.0;
      for (int n = 0; n < B; ++n)
        for (int64_t k = 0; k < S; ++k) sum += src[(int64_t(n) * C + c) * S + k];
      dst[c] = accumulate ? dst[c] + sum : sum;
    }
  }
};

// Every (x element, y element, weight) triple the contract's sums run over, as flat indices.
// conv2d: y[n,o,oh,ow] <- W[o,i,kh,kw] x[n,i,oh SH-PH+kh, ow SW-PW+kw];
// conv_transpose2d: y[n,o,ih SH-PH+kh, iw SW-PW+kw] <- W[i,o,kh,kw] x[n,i,ih,iw].
template <class F>
void for_each_tap(const ConvShape& s, bool transposed, F f) {
  for (int n = 0; n < s.B; ++n)
    for (int o = 0; o < s.OUT; ++o)
      for (int i = 0; i < s.IN; ++i)
        for (int kh = 0; kh < s.KH; ++kh)
          for (int kw = 0; kw < s.KW; ++kw) {
            const size_t w = transposed ? ((size_t(i) * s.OUT + o) * s.KH + kh) * s.KW + kw
                                        : ((size_t(o) * s.IN + i) * s.KH + kh) * s.KW + kw;
            const int AH = transposed ? s.H : s.OH, AW = transposed ? s.W : s.OW;
            for (int a = 0; a < AH; ++a)
              for (int b = 0; b < AW; ++b) {
                const int c = a * s.SH - s.PH + kh, d = b * s.SW - s.PW + kw;
                const int ih = transposed ? a : c, iw = transposed ? b : d;
                const int oh = transposed ? c : a, ow = transposed ? d : b;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W) continue;
                if (oh < 0 || oh >= s.OH || ow < 0 || ow >= s.OW) continue;
                f(((size_t(n) * s.IN + i) * s.H + ih) * s.W + iw,
                  ((size_t(n) * s.OUT + o) * s.OH + oh) * s.OW + ow, w);
              }
          }
}

struct Reference {
  std::vector<double> y, dx, dW, db;
};

Reference reference(const ConvShape& s, bool transposed, const std::vector<double>& x,
                    const std::vector<double>& W, const std::vector<double>& b,
                    const std::vector<double>& dy) {
  Reference r{std::vector<double>(s.y_size()), std::vector<double>(s.x_size(), 0.0),
              std::vector<double>(s.w_size(), 0.0), std::vector<double>(s.OUT, 0.0)};
  const size_t plane = size_t(s.OH) * s.OW;
  for (size_t k = 0; k < r.y.size(); ++k) {
    r.y[k] = b[(k / plane) % s.OUT];
    r.db[(k / plane) % s.OUT] += dy[k];
  }
  for_each_tap(s, transposed, [&](size_t xi, size_t yi, size_t wi) {
    r.y[yi] += W[wi] * x[xi];
    r.dx[xi] += W[wi] * dy[yi];
    r.dW[wi] += x[xi] * dy[yi];
  });
  return r;
}

void expect_near(const std::string& name, const std::vector<double>& got,
                 const std::vector<double>& want) {
  // float64 sums of up to 4e4 terms of size ~1 in different orders: ~1e-12 apart. An index or
  // GEMM-shape error moves elements by ~0.1.
  EXPECT_TRUE(all_close(name, got, want, 1e-9, 1e-9));
}

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

const char* mode_name(GradMode mode) {
  return mode == GradMode::Overwrite    ? "Overwrite"
         : mode == GradMode::Accumulate ? "Accumulate"
                                        : "Ignore";
}

void check_plans(const ConvCase& c, bool transposed, Rng& rng) {
  const ConvShape& s = c.s;
  SCOPED_TRACE(std::string(transposed ? "conv_transpose2d " : "conv2d ") + conv_label(c));
  const auto x = rng.vec<double>(s.x_size()), W = rng.vec<double>(s.w_size());
  const auto b = rng.vec<double>(s.OUT), dy = rng.vec<double>(s.y_size());
  const Reference want = reference(s, transposed, x, W, b, dy);

  const size_t ws = cuda::conv_plan_workspace_floats(s);
  std::vector<double> work(ws + kGuard);
  HostExec ex{work.data(), ws};

  // Forward, with and without bias.
  for (bool with_bias : {true, false}) {
    std::fill(work.begin(), work.end(), kNaN);
    std::vector<double> y(s.y_size(), kNaN);
    const double* bias = with_bias ? b.data() : nullptr;
    if (transposed)
      cuda::conv_transpose2d_forward_plan(ex, s, x.data(), W.data(), bias, y.data(), work.data());
    else
      cuda::conv2d_forward_plan(ex, s, x.data(), W.data(), bias, y.data(), work.data());
    std::vector<double> expected = want.y;
    const size_t plane = size_t(s.OH) * s.OW;
    if (!with_bias)
      for (size_t k = 0; k < expected.size(); ++k) expected[k] -= b[(k / plane) % s.OUT];
    expect_near(with_bias ? "y" : "y (no bias)", y, expected);
  }

  // Backward in every mode, with and without db and dx.
  const auto dW0 = rng.vec<double>(s.w_size()), db0 = rng.vec<double>(s.OUT);
  for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore})
    for (bool with_db : {true, false})
      for (bool with_dx : {true, false}) {
        SCOPED_TRACE(std::string(mode_name(mode)) + (with_db ? " db" : " no db") +
                     (with_dx ? " dx" : " no dx"));
        std::fill(work.begin(), work.end(), kNaN);
        std::vector<double> dx(s.x_size(), kNaN), dW = dW0, db = db0;
        if (mode == GradMode::Overwrite) {
          std::fill(dW.begin(), dW.end(), kNaN);
          std::fill(db.begin(), db.end(), kNaN);
        }
        const std::vector<double> dW_before = dW, db_before = db;
        double* dxp = with_dx ? dx.data() : nullptr;
        double* dbp = with_db ? db.data() : nullptr;
        if (transposed)
          cuda::conv_transpose2d_backward_plan(ex, s, x.data(), W.data(), dy.data(), dxp, dW.data(),
                                               dbp, mode, work.data());
        else
          cuda::conv2d_backward_plan(ex, s, x.data(), W.data(), dy.data(), dxp, dW.data(), dbp,
                                     mode, work.data());
        if (with_dx) expect_near("dx", dx, want.dx);
        std::vector<double> wantW = want.dW, wantb = want.db;
        if (mode == GradMode::Accumulate) {
          for (size_t k = 0; k < wantW.size(); ++k) wantW[k] += dW0[k];
          for (size_t k = 0; k < wantb.size(); ++k) wantb[k] += db0[k];
        }
        if (mode == GradMode::Ignore) {
          EXPECT_TRUE(same_bits(dW, dW_before)) << "Ignore must leave dW untouched";
        } else {
          expect_near("dW", dW, wantW);
        }
        if (with_db && mode != GradMode::Ignore) {
          expect_near("db", db, wantb);
        } else {
          EXPECT_TRUE(same_bits(db, db_before)) << "db must be untouched";
        }
      }
}

}  // namespace

TEST(CudaConvPlan, Conv2dMatchesTheContract) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const ConvCase& c : conv2d_small_cases()) check_plans(c, false, rng);
  for (const ConvCase& c : conv2d_dcgan_cases(3)) check_plans(c, false, rng);
}

TEST(CudaConvPlan, ConvTranspose2dMatchesTheContract) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const ConvCase& c : conv_transpose2d_small_cases()) check_plans(c, true, rng);
  for (const ConvCase& c : conv_transpose2d_dcgan_cases(2)) check_plans(c, true, rng);
}

// Several chunks with a partial last one: the dW accumulation across chunks and the chunk offsets.
TEST(CudaConvPlan, ChunkedBatchMatchesTheContract) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ConvCase conv = conv2d_chunked_case(), convt = conv_transpose2d_chunked_case();
  ASSERT_EQ(cuda::conv2d_chunk_images(conv.s), 2);
  ASSERT_EQ(cuda::conv_transpose2d_chunk_images(convt.s), 2);
  check_plans(conv, false, rng);
  check_plans(convt, true, rng);
}

// The bound conv.h documents: at most max(2^23 floats, one image's need), at most the whole
// batch's, and enough for both ops.
TEST(CudaConvPlan, WorkspaceBound) {
  for (const ConvCase& c : conv2d_dcgan_cases(64)) {
    SCOPED_TRACE(conv_label(c));
    const size_t ws = cuda::conv_plan_workspace_floats(c.s);
    EXPECT_LE(ws, size_t(cuda::kConvChunkFloats));
    EXPECT_GE(ws, size_t(cuda::conv2d_chunk_images(c.s) * cuda::conv2d_image_floats(c.s)));
    EXPECT_GE(ws, size_t(cuda::conv_transpose2d_chunk_images(c.s) *
                         cuda::conv_transpose2d_image_floats(c.s)));
  }
  // One image over the budget: a chunk of one image.
  const ConvShape big = conv_shape(3, 256, 64, 64, 256, 64, 64, 5, 5, 1, 1, 2, 2);
  EXPECT_EQ(cuda::conv2d_chunk_images(big), 1);
  EXPECT_EQ(cuda::conv_plan_workspace_floats(big), size_t(cuda::conv2d_image_floats(big)));
  // A small layer: the whole batch in one chunk.
  const ConvShape small = conv_shape(64, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2, 1, 1);
  EXPECT_EQ(cuda::conv2d_chunk_images(small), 64);
}
