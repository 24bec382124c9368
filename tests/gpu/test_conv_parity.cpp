// GPU parity for conv2d and conv_transpose2d: forward with and without bias, backward in every
// GradMode with and without db and dx, on both GEMM backends, element by element against the CPU
// direct reference in float64 on fresh random float inputs; plus the adjoint identity between the
// two CUDA ops, bitwise repeatability, and the workspace bound (a poisoned guard past
// conv_workspace_floats must survive every call).
//
// Tolerance, per element: every output is a float sum of at most n products (n = IN KH KW for y,
// OUT KH KW for dx, B x positions for dW and db), which in any order and with or without FMA errs
// by at most about n u S, u = 2^-24, S = the same sum taken over absolute values (Higham, section
// 3.1). The GEMM's dot products, col2im's gather of them, the chunk-by-chunk accumulation of dW and
// the added bias or previous gradient are all such sums, so the bound is 2 (n + 2) u (S + |added|)
// with S computed by running the reference on |x|, |W|, |b|, |dy|. It is a worst case: a dropped or
// doubled tap moves an element by about one term, which small cases (n of tens) resolve easily.
#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "conv_cases.h"
#include "gpu/gemm_bounds.h"
#include "gpu_test.h"
#include "kernels/conv.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/conv_plan.h"

namespace gan::test {
namespace {

enum class Op { Conv, ConvT };
constexpr GemmBackend kBackends[2] = {GemmBackend::Cublas, GemmBackend::Tiled};
constexpr size_t kGuard = 4096;  // floats past the workspace bound that must stay poisoned

const char* op_name(Op op) { return op == Op::Conv ? "conv2d" : "conv_transpose2d"; }

const char* mode_name(GradMode mode) {
  switch (mode) {
    case GradMode::Overwrite: return "Overwrite";
    case GradMode::Accumulate: return "Accumulate";
    default: return "Ignore";
  }
}

std::vector<double> abs_of(const std::vector<float>& v) {
  std::vector<double> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(double(v[i]));
  return a;
}

// bound[i] = 2 (n + 2) u (S[i] + |extra[i]|), from the file comment.
std::vector<double> sum_bound(double n, const std::vector<double>& S,
                              const std::vector<float>* extra = nullptr) {
  std::vector<double> bound(S.size());
  for (size_t i = 0; i < S.size(); ++i)
    bound[i] =
        2.0 * (n + 2.0) * kUnitFp32 * (S[i] + (extra ? std::fabs(double((*extra)[i])) : 0.0));
  return bound;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void reference_forward(Op op, const ConvShape& s, const double* x, const double* W, const double* b,
                       double* y) {
  if (op == Op::Conv)
    cpu::conv2d_forward_direct<double>(s, x, W, b, y);
  else
    cpu::conv_transpose2d_forward_direct<double>(s, x, W, b, y);
}

void reference_backward(Op op, const ConvShape& s, const double* x, const double* W,
                        const double* dy, double* dx, double* dW, double* db) {
  if (op == Op::Conv)
    cpu::conv2d_backward_direct<double>(s, x, W, dy, dx, dW, db, GradMode::Overwrite);
  else
    cpu::conv_transpose2d_backward_direct<double>(s, x, W, dy, dx, dW, db, GradMode::Overwrite);
}

// The float64 results and their error bounds (before any accumulated previous gradient).
struct Expected {
  std::vector<double> y, dx, dW, db;      // with bias for y
  std::vector<double> Sy, Sdx, SdW, Sdb;  // the same sums over absolute values
};

class ConvParity : public CublasGpuTest {
 protected:
  // Scratch of conv_workspace_floats(s) plus a guard, all poisoned (NaN) before each call.
  struct Workspace {
    DeviceBuffer<float> buf;
    size_t size;
    explicit Workspace(const ConvShape& s)
        : buf(cuda::conv_workspace_floats(s) + kGuard), size(cuda::conv_workspace_floats(s)) {}
    float* data() { return buf.data(); }
  };

  void forward(Op op, const cuda::GemmContext& ctx, const ConvShape& s, const float* x,
               const float* W, const float* b, float* y, Workspace& work) {
    work.buf.poison();
    if (op == Op::Conv)
      cuda::conv2d_forward(ctx, s, x, W, b, y, work.data());
    else
      cuda::conv_transpose2d_forward(ctx, s, x, W, b, y, work.data());
    expect_guard_intact(work);
  }

  void backward(Op op, const cuda::GemmContext& ctx, const ConvShape& s, const float* x,
                const float* W, const float* dy, float* dx, float* dW, float* db, GradMode mode,
                Workspace& work) {
    work.buf.poison();
    if (op == Op::Conv)
      cuda::conv2d_backward(ctx, s, x, W, dy, dx, dW, db, mode, work.data());
    else
      cuda::conv_transpose2d_backward(ctx, s, x, W, dy, dx, dW, db, mode, work.data());
    expect_guard_intact(work);
  }

  // The guard past the bound still holds the poison bytes (0xFF): nothing wrote beyond it.
  void expect_guard_intact(Workspace& work) {
    std::vector<unsigned char> guard(kGuard * sizeof(float));
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    CUDA_CHECK(
        cudaMemcpy(guard.data(), work.data() + work.size, guard.size(), cudaMemcpyDeviceToHost));
    size_t written = 0;
    for (unsigned char byte : guard) written += byte != 0xFF;
    EXPECT_EQ(written, 0u) << "bytes written past conv_workspace_floats = " << work.size;
  }

  Expected expected(Op op, const ConvShape& s, const std::vector<float>& x,
                    const std::vector<float>& W, const std::vector<float>& b,
                    const std::vector<float>& dy) {
    Expected e{std::vector<double>(s.y_size()), std::vector<double>(s.x_size()),
               std::vector<double>(s.w_size()), std::vector<double>(s.OUT),
               std::vector<double>(s.y_size()), std::vector<double>(s.x_size()),
               std::vector<double>(s.w_size()), std::vector<double>(s.OUT)};
    const auto x64 = to_double(x), W64 = to_double(W), b64 = to_double(b), dy64 = to_double(dy);
    reference_forward(op, s, x64.data(), W64.data(), b64.data(), e.y.data());
    reference_backward(op, s, x64.data(), W64.data(), dy64.data(), e.dx.data(), e.dW.data(),
                       e.db.data());
    const auto ax = abs_of(x), aW = abs_of(W), ab = abs_of(b), ady = abs_of(dy);
    reference_forward(op, s, ax.data(), aW.data(), ab.data(), e.Sy.data());
    reference_backward(op, s, ax.data(), aW.data(), ady.data(), e.Sdx.data(), e.SdW.data(),
                       e.Sdb.data());
    return e;
  }

  // Every check for one geometry; the reference runs once.
  void check_case(Op op, const ConvCase& c, bool all_null_variants) {
    const ConvShape& s = c.s;
    SCOPED_TRACE(fmt::format("{} {} {}", op_name(op), conv_label(c), rng_.trace()));
    const std::vector<float> x = rng_.vec<float>(s.x_size()), W = rng_.vec<float>(s.w_size());
    const std::vector<float> b = rng_.vec<float>(s.OUT), dy = rng_.vec<float>(s.y_size());
    const std::vector<float> dW0 = rng_.vec<float>(s.w_size()), db0 = rng_.vec<float>(s.OUT);
    const Expected e = expected(op, s, x, W, b, dy);

    const int positions = op == Op::Conv ? s.OH * s.OW : s.H * s.W;  // dW's sum, per image
    const double n_y = double(s.IN) * s.KH * s.KW + 1;
    const double n_dx = double(s.OUT) * s.KH * s.KW;
    const double n_dW = double(s.B) * positions + s.B;
    const double n_db = double(s.B) * s.OH * s.OW;
    const auto bound_y = sum_bound(n_y, e.Sy), bound_dx = sum_bound(n_dx, e.Sdx);

    // y without bias: the reference minus b, bounded as with it (S includes |b|, a little slack).
    std::vector<double> y_nobias = e.y;
    const size_t plane = size_t(s.OH) * s.OW;
    for (size_t k = 0; k < y_nobias.size(); ++k) y_nobias[k] -= b[(k / plane) % s.OUT];

    DeviceBuffer<float> x_dev(x), W_dev(W), b_dev(b), dy_dev(dy), y_dev(s.y_size()),
        dx_dev(s.x_size()), dW_dev(s.w_size()), db_dev(size_t(s.OUT));
    Workspace work(s);
    for (GemmBackend backend : kBackends) {
      SCOPED_TRACE(gemm_backend_name(backend));
      const cuda::GemmContext ctx = context(backend);
      for (bool with_bias : {true, false}) {
        y_dev.poison();
        forward(op, ctx, s, x_dev.data(), W_dev.data(), with_bias ? b_dev.data() : nullptr,
                y_dev.data(), work);
        EXPECT_TRUE(within_bound(with_bias ? "y" : "y (no bias)", fetch(y_dev),
                                 with_bias ? e.y : y_nobias, bound_y));
      }

      for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore}) {
        const bool acc = mode == GradMode::Accumulate;
        const auto bound_dW = sum_bound(n_dW, e.SdW, acc ? &dW0 : nullptr);
        const auto bound_db = sum_bound(n_db, e.Sdb, acc ? &db0 : nullptr);
        std::vector<double> want_dW = e.dW, want_db = e.db;
        if (acc) {
          for (size_t k = 0; k < want_dW.size(); ++k) want_dW[k] += dW0[k];
          for (size_t k = 0; k < want_db.size(); ++k) want_db[k] += db0[k];
        }
        // (db, dx) present: both; the three null variants on the cases that ask for them.
        const std::pair<bool, bool> variants[] = {
            {true, true}, {false, true}, {true, false}, {false, false}};
        for (auto [with_db, with_dx] : variants) {
          if (!all_null_variants && !(with_db && with_dx)) continue;
          SCOPED_TRACE(fmt::format("{} db={} dx={}", mode_name(mode), with_db, with_dx));
          reset_grads(mode, dx_dev, dW_dev, db_dev, dW0, db0);
          const std::vector<float> db_before = db_dev.download();
          backward(op, ctx, s, x_dev.data(), W_dev.data(), dy_dev.data(),
                   with_dx ? dx_dev.data() : nullptr, dW_dev.data(),
                   with_db ? db_dev.data() : nullptr, mode, work);
          const std::vector<float> got_dW = fetch(dW_dev), got_db = db_dev.download();
          if (with_dx) {
            EXPECT_TRUE(within_bound("dx", dx_dev.download(), e.dx, bound_dx));
          }
          if (mode == GradMode::Ignore) {
            EXPECT_TRUE(same_bits(got_dW, dW0)) << "Ignore must leave dW untouched";
          } else {
            EXPECT_TRUE(within_bound("dW", got_dW, want_dW, bound_dW));
          }
          if (with_db && mode != GradMode::Ignore) {
            EXPECT_TRUE(within_bound("db", got_db, want_db, bound_db));
          } else {
            EXPECT_TRUE(same_bits(got_db, db_before)) << "db must be untouched";
          }
        }
      }
    }
    CUDA_CHECK(cudaStreamSynchronize(stream_));  // asynchronous faults surface in this test
  }
};

TEST_F(ConvParity, Conv2dSmallShapes) {
  for (const ConvCase& c : conv2d_small_cases()) check_case(Op::Conv, c, true);
}

TEST_F(ConvParity, ConvTranspose2dSmallShapes) {
  for (const ConvCase& c : conv_transpose2d_small_cases()) check_case(Op::ConvT, c, true);
}

TEST_F(ConvParity, Conv2dDcganShapes) {
  for (int B : {3, 64})
    for (const ConvCase& c : conv2d_dcgan_cases(B)) check_case(Op::Conv, c, B == 3);
}

TEST_F(ConvParity, ConvTranspose2dDcganShapes) {
  for (int B : {3, 64})
    for (const ConvCase& c : conv_transpose2d_dcgan_cases(B)) check_case(Op::ConvT, c, B == 3);
}

// A batch over several chunks (2 + 2 + 1 images): chunk offsets and dW's accumulation across them.
TEST_F(ConvParity, ChunkedBatch) {
  const ConvCase conv = conv2d_chunked_case(), convt = conv_transpose2d_chunked_case();
  ASSERT_EQ(cuda::conv2d_chunk_images(conv.s), 2);
  ASSERT_EQ(cuda::conv_transpose2d_chunk_images(convt.s), 2);
  check_case(Op::Conv, conv, true);
  check_case(Op::ConvT, convt, true);
}

// conv_transpose2d is conv2d's adjoint: with t the geometry {B, OUT, OH, OW, IN, H, W, ...} and the
// same weights, <conv2d_s(x), v> = <x, conv_transpose2d_t(v)>. Checks the two CUDA ops against each
// other, with no CPU reference. Each inner product is taken in double over float outputs whose
// elements err by at most 2 (n + 2) u S (file comment), S measured by running the ops on absolute
// values, so the two sides may differ by the sum of those bounds weighted by |v| and |x|.
TEST_F(ConvParity, TransposeIsTheAdjoint) {
  std::vector<ConvCase> cases = conv2d_small_cases();
  for (const ConvCase& c : conv2d_dcgan_cases(3)) cases.push_back(c);
  cases.push_back(conv2d_chunked_case());
  for (const ConvCase& c : cases) {
    const ConvShape& s = c.s;
    SCOPED_TRACE(conv_label(c) + " " + rng_.trace());
    const ConvShape t{s.B, s.OUT, s.OH, s.OW, s.IN, s.H, s.W, s.KH, s.KW, s.SH, s.SW, s.PH, s.PW};
    const std::vector<float> x = rng_.vec<float>(s.x_size()), W = rng_.vec<float>(s.w_size());
    const std::vector<float> v = rng_.vec<float>(s.y_size());
    std::vector<float> ax(x.size()), aW(W.size()), av(v.size());
    for (size_t i = 0; i < x.size(); ++i) ax[i] = std::fabs(x[i]);
    for (size_t i = 0; i < W.size(); ++i) aW[i] = std::fabs(W[i]);
    for (size_t i = 0; i < v.size(); ++i) av[i] = std::fabs(v[i]);
    DeviceBuffer<float> x_dev(x), W_dev(W), v_dev(v), ax_dev(ax), aW_dev(aW), av_dev(av);
    DeviceBuffer<float> y(s.y_size()), z(s.x_size()), Sy(s.y_size()), Sz(s.x_size());
    DeviceBuffer<float> work(
        std::max(cuda::conv_workspace_floats(s), cuda::conv_workspace_floats(t)));
    for (GemmBackend backend : kBackends) {
      SCOPED_TRACE(gemm_backend_name(backend));
      const cuda::GemmContext ctx = context(backend);
      cuda::conv2d_forward(ctx, s, x_dev.data(), W_dev.data(), nullptr, y.data(), work.data());
      cuda::conv_transpose2d_forward(ctx, t, v_dev.data(), W_dev.data(), nullptr, z.data(),
                                     work.data());
      cuda::conv2d_forward(ctx, s, ax_dev.data(), aW_dev.data(), nullptr, Sy.data(), work.data());
      cuda::conv_transpose2d_forward(ctx, t, av_dev.data(), aW_dev.data(), nullptr, Sz.data(),
                                     work.data());
      const std::vector<float> yh = fetch(y), zh = z.download(), Syh = Sy.download(),
                               Szh = Sz.download();
      double lhs = 0, rhs = 0, slack = 0;
      const double n = double(s.IN + s.OUT) * s.KH * s.KW;  // either side's terms, generously
      for (size_t i = 0; i < yh.size(); ++i) {
        lhs += double(yh[i]) * v[i];
        slack += 2.0 * (n + 2.0) * kUnitFp32 * 1.01 * Syh[i] * av[i];
      }
      for (size_t i = 0; i < zh.size(); ++i) {
        rhs += double(x[i]) * zh[i];
        slack += 2.0 * (n + 2.0) * kUnitFp32 * 1.01 * Szh[i] * ax[i];
      }
      EXPECT_LE(std::fabs(lhs - rhs), slack)
          << "<conv2d(x), v> = " << lhs << ", <x, conv_transpose2d(v)> = " << rhs;
    }
  }
}

// Same inputs, same backend, same stream: bitwise the same outputs and gradients (col2im is a
// gather, the bias gradient and dW's chunk accumulation run in a fixed order), for a chunked batch
// and a DCGAN layer of each op.
TEST_F(ConvParity, RepeatsBitwise) {
  SCOPED_TRACE(rng_.trace());
  const std::pair<Op, ConvCase> cases[] = {{Op::Conv, conv2d_chunked_case()},
                                           {Op::ConvT, conv_transpose2d_chunked_case()},
                                           {Op::Conv, conv2d_dcgan_cases(64)[1]},
                                           {Op::ConvT, conv_transpose2d_dcgan_cases(64)[1]}};
  for (const auto& [op, c] : cases) {
    const ConvShape& s = c.s;
    SCOPED_TRACE(fmt::format("{} {}", op_name(op), conv_label(c)));
    DeviceBuffer<float> x(rng_.vec<float>(s.x_size())), W(rng_.vec<float>(s.w_size())),
        b(rng_.vec<float>(s.OUT)), dy(rng_.vec<float>(s.y_size()));
    DeviceBuffer<float> y(s.y_size()), dx(s.x_size()), dW(s.w_size()), db(size_t(s.OUT));
    Workspace work(s);
    for (GemmBackend backend : kBackends) {
      std::vector<float> first[4];
      for (int run = 0; run < 2; ++run) {
        forward(op, context(backend), s, x.data(), W.data(), b.data(), y.data(), work);
        backward(op, context(backend), s, x.data(), W.data(), dy.data(), dx.data(), dW.data(),
                 db.data(), GradMode::Overwrite, work);
        std::vector<float> now[4] = {fetch(y), dx.download(), dW.download(), db.download()};
        for (int k = 0; k < 4; ++k) {
          if (run == 0)
            first[k] = now[k];
          else
            EXPECT_TRUE(same_bits(now[k], first[k]))
                << gemm_backend_name(backend) << " output " << k << " (y, dx, dW, db)";
        }
      }
    }
  }
}

}  // namespace
}  // namespace gan::test
