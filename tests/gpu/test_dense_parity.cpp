// GPU parity for the dense layer: forward with and without bias and with a fused activation,
// backward in every GradMode, on both GEMM backends, element by element against the CPU reference
// in double on fresh random float inputs.
//
// Tolerance, per element: each output is a float dot product of length n (IN for y, B for dW and
// db, OUT for dx), which in any summation order errs by at most about n u S with u = 2^-24 and
// S = sum |a||b| (Higham, section 3.1). The bias, or the accumulated previous gradient, adds one or
// two roundings: bound c (n + 2) u (S + |added term|), c = 2 for second-order terms. A fused
// activation is 1-Lipschitz and adds a few ulp of its own: 4 u (|y| + 1).
// dense_act_backward: the pre-activation gradient dz = dy f'(y) is a product with f'(y) computed in
// float (tanh 1 - y^2, sigmoid y (1 - y): a few roundings), so |dz - exact| <= 4 u |dy| (1 + |f'|);
// the GEMMs then read that perturbed dz: their bound above plus sum_k 4 u |dy| (1 + |f'|) |other|
// <= 8 u S(|dy|, |other|).
#include <cublas_v2.h>
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu/gemm_bounds.h"
#include "gpu_test.h"
#include "kernels/activation.h"
#include "kernels/cuda/check.h"
#include "kernels/dense.h"
#include "kernels/scalar.h"

namespace gan::test {
namespace {

struct Shape {
  int B, IN, OUT;
};
constexpr Shape kShapes[] = {{1, 1, 1}, {32, 100, 256}, {7, 784, 1}, {64, 1024, 784}, {3, 5, 7}};
constexpr GemmBackend kBackends[2] = {GemmBackend::Cublas, GemmBackend::Tiled};

const char* mode_name(GradMode mode) {
  switch (mode) {
    case GradMode::Overwrite: return "Overwrite";
    case GradMode::Accumulate: return "Accumulate";
    default: return "Ignore";
  }
}

// bound[i] = 2 (n + 2) u (S[i] + |extra[i]|), the dot-product bound from the file comment.
std::vector<double> dot_bound(int n, const std::vector<double>& S,
                              const std::vector<float>* extra) {
  std::vector<double> bound(S.size());
  for (size_t i = 0; i < S.size(); ++i)
    bound[i] = 2.0 * (n + 2) * kUnitFp32 * (S[i] + (extra ? std::fabs(double((*extra)[i])) : 0.0));
  return bound;
}

class DenseParity : public CublasGpuTest {
 protected:
  void check_forward(const Shape& s, bool with_bias, Activation act) {
    SCOPED_TRACE(fmt::format("dense_forward B={} IN={} OUT={} bias={} act={} {}", s.B, s.IN, s.OUT,
                             with_bias, activation_name(act.kind), rng_.trace()));
    const std::vector<float> x = rng_.vec<float>(size_t(s.B) * s.IN);
    const std::vector<float> W = rng_.vec<float>(size_t(s.OUT) * s.IN);
    const std::vector<float> b = rng_.vec<float>(size_t(s.OUT));

    const std::vector<double> xd = to_double(x), Wd = to_double(W), bd = to_double(b);
    std::vector<double> want(size_t(s.B) * s.OUT);
    cpu::dense_forward<double>(xd.data(), Wd.data(), with_bias ? bd.data() : nullptr, want.data(),
                               s.B, s.IN, s.OUT, act);

    std::vector<double> S = abs_product(Trans::No, Trans::Yes, s.B, s.OUT, s.IN, x, W);
    for (size_t i = 0; i < S.size() && with_bias; ++i) S[i] += std::fabs(double(b[i % s.OUT]));
    std::vector<double> bound = dot_bound(s.IN, S, nullptr);
    if (act.kind != ActKind::Identity)
      for (size_t i = 0; i < bound.size(); ++i)
        bound[i] += 4.0 * kUnitFp32 * (std::fabs(want[i]) + 1.0);

    DeviceBuffer<float> x_dev(x), W_dev(W), b_dev(b), y_dev(want.size());
    for (GemmBackend backend : kBackends) {
      y_dev.poison();
      cuda::dense_forward(context(backend), x_dev.data(), W_dev.data(),
                          with_bias ? b_dev.data() : nullptr, y_dev.data(), s.B, s.IN, s.OUT, act);
      EXPECT_TRUE(within_bound(fmt::format("y[{}]", gemm_backend_name(backend)), fetch(y_dev), want,
                               bound));
    }
  }

  // Overwrite: dW, db and dx start poisoned. Accumulate: dW and db start from random values.
  // Ignore: dW and db start from random values that must survive bit for bit; dx is still written.
  void check_backward(const Shape& s, GradMode mode, bool with_bias, bool with_dx) {
    SCOPED_TRACE(fmt::format("dense_backward B={} IN={} OUT={} mode={} bias={} dx={} {}", s.B, s.IN,
                             s.OUT, mode_name(mode), with_bias, with_dx, rng_.trace()));
    const std::vector<float> x = rng_.vec<float>(size_t(s.B) * s.IN);
    const std::vector<float> W = rng_.vec<float>(size_t(s.OUT) * s.IN);
    const std::vector<float> dy = rng_.vec<float>(size_t(s.B) * s.OUT);
    const std::vector<float> dW0 = rng_.vec<float>(W.size());
    const std::vector<float> db0 = rng_.vec<float>(size_t(s.OUT));

    const std::vector<double> xd = to_double(x), Wd = to_double(W), dyd = to_double(dy);
    std::vector<double> want_dW = to_double(dW0), want_db = to_double(db0), want_dx(x.size());
    cpu::dense_backward<double>(xd.data(), Wd.data(), dyd.data(), want_dx.data(), want_dW.data(),
                                with_bias ? want_db.data() : nullptr, s.B, s.IN, s.OUT, mode);

    const bool accumulate = mode == GradMode::Accumulate;
    // dW = dy^T x: dy read transposed (OUT, B), x as (B, IN). db: column sums of dy.
    const std::vector<double> bound_dW =
        dot_bound(s.B, abs_product(Trans::Yes, Trans::No, s.OUT, s.IN, s.B, dy, x),
                  accumulate ? &dW0 : nullptr);
    const std::vector<double> bound_db = dot_bound(
        s.B, abs_product(Trans::Yes, Trans::No, s.OUT, 1, s.B, dy, std::vector<float>(s.B, 1.0f)),
        accumulate ? &db0 : nullptr);
    // dx = dy W: dy (B, OUT), W (OUT, IN).
    const std::vector<double> bound_dx =
        dot_bound(s.OUT, abs_product(Trans::No, Trans::No, s.B, s.IN, s.OUT, dy, W), nullptr);

    DeviceBuffer<float> x_dev(x), W_dev(W), dy_dev(dy), dx_dev(x.size()), dW_dev(W.size()),
        db_dev(db0.size());
    for (GemmBackend backend : kBackends) {
      SCOPED_TRACE(gemm_backend_name(backend));
      reset_grads(mode, dx_dev, dW_dev, db_dev, dW0, db0);
      cuda::dense_backward(context(backend), x_dev.data(), W_dev.data(), dy_dev.data(),
                           with_dx ? dx_dev.data() : nullptr, dW_dev.data(),
                           with_bias ? db_dev.data() : nullptr, s.B, s.IN, s.OUT, mode);
      const std::vector<float> got_dW = fetch(dW_dev), got_db = db_dev.download();
      if (mode == GradMode::Ignore) {
        EXPECT_EQ(got_dW, dW0) << "Ignore must leave dW untouched";
        EXPECT_EQ(got_db, db0) << "Ignore must leave db untouched";
      } else {
        EXPECT_TRUE(within_bound("dW", got_dW, want_dW, bound_dW));
        if (with_bias) {
          EXPECT_TRUE(within_bound("db", got_db, want_db, bound_db));
        }
      }
      if (with_dx) {
        EXPECT_TRUE(within_bound("dx", dx_dev.download(), want_dx, bound_dx));
      }
    }
  }
};

TEST_F(DenseParity, Forward) {
  for (const Shape& s : kShapes) {
    check_forward(s, false, Activation::identity());
    check_forward(s, true, Activation::identity());
    check_forward(s, true, Activation::leaky_relu(0.2f));
    check_forward(s, false, Activation::tanh());
  }
}

TEST_F(DenseParity, BackwardOverwrite) {
  for (const Shape& s : kShapes) check_backward(s, GradMode::Overwrite, true, true);
}

TEST_F(DenseParity, BackwardAccumulate) {
  for (const Shape& s : kShapes) check_backward(s, GradMode::Accumulate, true, true);
}

TEST_F(DenseParity, BackwardIgnoreWritesOnlyDx) {
  for (const Shape& s : kShapes) check_backward(s, GradMode::Ignore, true, true);
}

// A layer without bias (db null) and a first layer (dx null), in every mode.
TEST_F(DenseParity, BackwardWithoutBiasOrDx) {
  for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore})
    for (const Shape& s : {Shape{3, 5, 7}, Shape{32, 100, 256}}) {
      check_backward(s, mode, false, true);
      check_backward(s, mode, true, false);
      check_backward(s, mode, false, false);
    }
}

// The activations dense_act_backward meets, each with outputs drawn from its range.
struct ActCase {
  Activation act;
  double lo, hi;  // the range of y
};
const ActCase kActCases[] = {
    {Activation::leaky_relu(0.2f), -1.0, 1.0}, {Activation::relu(), 0.0, 1.0},
    {Activation::tanh(), -1.0, 1.0},           {Activation::sigmoid(), 0.0, 1.0},
    {Activation::elu(1.0f), -1.0, 1.0},        {Activation::identity(), -1.0, 1.0}};

// dense_act_backward against the CPU in double (every output element, the overwritten dy too), and
// bitwise against activation_backward then dense_backward on the GPU (the two-kernel way it
// replaces: the same roundings in the same order). ReLU's outputs include exact zeros (f' = 0).
// Batches 1024 and 1025 sit on both sides of where the fused kernel hands over to the two.
void check_act_backward(Rng& rng, const cuda::GemmContext& ctx, const Shape& s, const ActCase& c,
                        GradMode mode, bool with_bias, bool with_dx) {
  SCOPED_TRACE(fmt::format("dense_act_backward B={} IN={} OUT={} act={} mode={} bias={} dx={}", s.B,
                           s.IN, s.OUT, activation_name(c.act.kind), mode_name(mode), with_bias,
                           with_dx));
  const size_t ny = size_t(s.B) * s.OUT;
  const std::vector<float> x = rng.vec<float>(size_t(s.B) * s.IN);
  const std::vector<float> W = rng.vec<float>(size_t(s.OUT) * s.IN);
  std::vector<float> y = rng.vec<float>(ny, c.lo, c.hi);
  if (c.act.kind == ActKind::ReLU)
    for (size_t i = 0; i < ny; i += 3) y[i] = 0.0f;
  const std::vector<float> dy = rng.vec<float>(ny);
  const std::vector<float> dW0 = rng.vec<float>(W.size()), db0 = rng.vec<float>(size_t(s.OUT));

  const std::vector<double> xd = to_double(x), Wd = to_double(W), yd = to_double(y);
  std::vector<double> want_dz = to_double(dy), want_dW = to_double(dW0), want_db = to_double(db0),
                      want_dx(x.size());
  cpu::dense_act_backward<double>(c.act, yd.data(), want_dz.data(), xd.data(), Wd.data(),
                                  want_dx.data(), want_dW.data(),
                                  with_bias ? want_db.data() : nullptr, s.B, s.IN, s.OUT, mode);

  // |dz| and 4 u |dy| (1 + |f'|), the perturbation of the float dz (file comment).
  std::vector<float> dz_abs(ny);
  std::vector<double> bound_dz(ny);
  for (size_t i = 0; i < ny; ++i) {
    const double grad = std::fabs(act_grad_from_output<double>(c.act, yd[i]));
    dz_abs[i] = float(std::fabs(want_dz[i]));
    bound_dz[i] = 4.0 * kUnitFp32 * std::fabs(double(dy[i])) * (1.0 + grad);
  }
  const bool accumulate = mode == GradMode::Accumulate;
  auto gemm_bound = [&](Trans tp, Trans tq, int R, int C, int K, const std::vector<float>& Q,
                        const std::vector<float>* extra) {
    std::vector<double> b = dot_bound(K, abs_product(tp, tq, R, C, K, dz_abs, Q), extra);
    const std::vector<double> S_dy = abs_product(tp, tq, R, C, K, dy, Q);
    for (size_t i = 0; i < b.size(); ++i) b[i] += 8.0 * kUnitFp32 * S_dy[i];
    return b;
  };
  const std::vector<double> bound_dW =
      gemm_bound(Trans::Yes, Trans::No, s.OUT, s.IN, s.B, x, accumulate ? &dW0 : nullptr);
  const std::vector<double> bound_db =
      gemm_bound(Trans::Yes, Trans::No, s.OUT, 1, s.B, std::vector<float>(s.B, 1.0f),
                 accumulate ? &db0 : nullptr);
  const std::vector<double> bound_dx =
      gemm_bound(Trans::No, Trans::No, s.B, s.IN, s.OUT, W, nullptr);

  DeviceBuffer<float> x_dev(x), W_dev(W), y_dev(y), dy_dev(ny), dx_dev(x.size()), dW_dev(W.size()),
      db_dev(db0.size());
  std::vector<float> got[2][4];  // [fused, two kernels][dz, dW, db, dx]
  for (int fused = 1; fused >= 0; --fused) {
    dy_dev.upload(dy);
    reset_grads(mode, dx_dev, dW_dev, db_dev, dW0, db0);
    float* dx = with_dx ? dx_dev.data() : nullptr;
    float* db = with_bias ? db_dev.data() : nullptr;
    if (fused) {
      cuda::dense_act_backward(ctx, c.act, y_dev.data(), dy_dev.data(), x_dev.data(), W_dev.data(),
                               dx, dW_dev.data(), db, s.B, s.IN, s.OUT, mode);
    } else {
      cuda::activation_backward(c.act, y_dev.data(), dy_dev.data(), dy_dev.data(), ny, ctx.stream);
      cuda::dense_backward(ctx, x_dev.data(), W_dev.data(), dy_dev.data(), dx, dW_dev.data(), db,
                           s.B, s.IN, s.OUT, mode);
    }
    CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    std::vector<float>* out = got[fused ? 0 : 1];
    out[0] = dy_dev.download();
    out[1] = dW_dev.download();
    out[2] = db_dev.download();
    out[3] = dx_dev.download();
  }
  const std::vector<float>* f = got[0];
  EXPECT_TRUE(within_bound("dz (dy overwritten)", f[0], want_dz, bound_dz));
  if (mode == GradMode::Ignore) {
    EXPECT_EQ(f[1], dW0) << "Ignore must leave dW untouched";
    EXPECT_EQ(f[2], db0) << "Ignore must leave db untouched";
  } else {
    EXPECT_TRUE(within_bound("dW", f[1], want_dW, bound_dW));
    if (with_bias) EXPECT_TRUE(within_bound("db", f[2], want_db, bound_db));
  }
  if (with_dx) EXPECT_TRUE(within_bound("dx", f[3], want_dx, bound_dx));
  const char* names[4] = {"dz", "dW", "db", "dx"};
  for (int k = 0; k < 4; ++k)
    EXPECT_TRUE(same_bits(fmt::format("{} fused vs two kernels", names[k]), f[k], got[1][k]));
}

TEST_F(DenseParity, ActBackwardMatchesCpuAndTheTwoKernelWay) {
  SCOPED_TRACE(rng_.trace());
  for (GemmBackend backend : kBackends)
    for (const ActCase& c : kActCases)
      for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate, GradMode::Ignore})
        for (const Shape& s : {Shape{1, 1, 1}, Shape{3, 5, 7}, Shape{64, 100, 256},
                               Shape{37, 33, 70}, Shape{1024, 9, 40}, Shape{1025, 9, 40}}) {
          SCOPED_TRACE(gemm_backend_name(backend));
          check_act_backward(rng_, context(backend), s, c, mode, true, true);
        }
  // Without bias (the two-kernel path inside) and without dx, at one shape.
  for (const ActCase& c : kActCases)
    for (GradMode mode : {GradMode::Overwrite, GradMode::Accumulate}) {
      check_act_backward(rng_, context(GemmBackend::Cublas), Shape{9, 17, 40}, c, mode, false,
                         true);
      check_act_backward(rng_, context(GemmBackend::Cublas), Shape{9, 17, 40}, c, mode, true,
                         false);
    }
}

// Same inputs, same backend, same stream: bitwise the same gradients (fixed reduction order).
TEST_F(DenseParity, BackwardIsDeterministic) {
  SCOPED_TRACE(rng_.trace());
  const Shape s{4099, 33, 70};
  DeviceBuffer<float> x(rng_.vec<float>(size_t(s.B) * s.IN)),
      W(rng_.vec<float>(size_t(s.OUT) * s.IN));
  DeviceBuffer<float> dy(rng_.vec<float>(size_t(s.B) * s.OUT)), dx(x.size()), dW(W.size()),
      db(s.OUT);
  for (GemmBackend backend : kBackends) {
    std::vector<float> first[3];
    for (int run = 0; run < 2; ++run) {
      cuda::dense_backward(context(backend), x.data(), W.data(), dy.data(), dx.data(), dW.data(),
                           db.data(), s.B, s.IN, s.OUT, GradMode::Overwrite);
      const std::vector<float> now[3] = {fetch(dx), dW.download(), db.download()};
      if (run == 0) {
        for (int i = 0; i < 3; ++i) first[i] = now[i];
      } else {
        for (int i = 0; i < 3; ++i)
          EXPECT_EQ(now[i], first[i]) << gemm_backend_name(backend) << " output " << i;
      }
    }
  }
}

}  // namespace
}  // namespace gan::test
