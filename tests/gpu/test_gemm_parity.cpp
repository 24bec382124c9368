// GPU parity for gemm: both backends, all four transposes, odd shapes and every fused epilogue,
// element by element against the CPU reference in double on fresh random float inputs.
//
// Tolerance, per element (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1):
// a K-term float dot product summed in any order, with or without FMA, errs by at most
// gamma_K * S ~ K u S, where S = sum_k |a_k||b_k| and u = 2^-24. alpha, beta * C and the bias add
// up to three more roundings, so the pre-activation error is at most
//   c (K + 2) u (|alpha| S + |beta C| + |bias|),  c = 2 for the second-order terms.
// Every activation tested is 1-Lipschitz (ELU with alpha = 1 included), so that error passes
// through, and its own float evaluation adds a few ulp: 4 u (|y| + 1), absolute rather than
// relative because ELU's exp(x) - 1 cancels near 0.
#include <cublas_v2.h>
#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

#include "gpu/gemm_bounds.h"
#include "gpu_test.h"
#include "kernels/cuda/check.h"
#include "kernels/gemm.h"

namespace gan::test {
namespace {

// TF32 keeps 10 mantissa bits: unit roundoff 2^-11 when rounding, 2^-10 when truncating. Inputs
// are converted once, so each product is off by at most 2 * 2^-10 relative, once rather than K
// times: K * 2^-11 * S would exceed the result itself for K = 1024, a test that could not fail.
constexpr double kTf32ProductError = 2.0 * 0x1p-10;

struct Shape {
  int M, N, K;
};
constexpr Shape kShapes[] = {{1, 1, 1},      {7, 13, 5},       {32, 784, 100}, {33, 1, 257},
                             {64, 256, 100}, {128, 784, 1024}, {5, 3, 1}};
constexpr Trans kTrans[2] = {Trans::No, Trans::Yes};
constexpr GemmBackend kBackends[2] = {GemmBackend::Cublas, GemmBackend::Tiled};

struct Case {
  Trans ta = Trans::No, tb = Trans::No;
  int M = 1, N = 1, K = 1;
  float alpha = 1.0f, beta = 0.0f;
  bool bias = false;
  Activation act = {};
};

std::string describe(const Case& c) {
  return fmt::format("gemm ta={} tb={} M={} N={} K={} alpha={} beta={} bias={} act={}",
                     c.ta == Trans::Yes ? "T" : "N", c.tb == Trans::Yes ? "T" : "N", c.M, c.N, c.K,
                     c.alpha, c.beta, c.bias ? "yes" : "no", activation_name(c.act.kind));
}

class GemmParity : public CublasGpuTest {
 protected:
  // Runs `c` on each backend given (TF32 for cuBLAS when tf32) against one double reference.
  void check(const Case& c, bool tf32 = false,
             std::vector<GemmBackend> backends = {GemmBackend::Cublas, GemmBackend::Tiled}) {
    SCOPED_TRACE(describe(c) + (tf32 ? " tf32 " : " ") + rng_.trace());
    const size_t size_c = size_t(c.M) * c.N;
    const std::vector<float> A = rng_.vec<float>(size_t(c.M) * c.K);
    const std::vector<float> B = rng_.vec<float>(size_t(c.K) * c.N);
    const std::vector<float> C0 = rng_.vec<float>(size_c);
    const std::vector<float> bias = rng_.vec<float>(size_t(c.N));

    const std::vector<double> Ad = to_double(A), Bd = to_double(B), biasd = to_double(bias);
    std::vector<double> want = to_double(C0);
    cpu::gemm<double>(c.ta, c.tb, c.M, c.N, c.K, double(c.alpha), Ad.data(), Bd.data(),
                      double(c.beta), want.data(), c.bias ? biasd.data() : nullptr, c.act);

    const std::vector<double> S = abs_product(c.ta, c.tb, c.M, c.N, c.K, A, B);
    const double per_term =
        tf32 ? kTf32ProductError + (c.K + 2) * kUnitFp32 : (c.K + 2) * kUnitFp32;
    std::vector<double> bound(size_c);
    for (size_t i = 0; i < size_c; ++i) {
      double scale = std::fabs(double(c.alpha)) * S[i];
      if (c.beta != 0.0f) scale += std::fabs(double(c.beta) * C0[i]);
      if (c.bias) scale += std::fabs(double(bias[i % c.N]));
      bound[i] = 2.0 * per_term * scale;
      if (c.act.kind != ActKind::Identity) bound[i] += 4.0 * kUnitFp32 * (std::fabs(want[i]) + 1.0);
    }

    DeviceBuffer<float> A_dev(A), B_dev(B), bias_dev(bias), C_dev(size_c);
    for (GemmBackend backend : backends) {
      // beta == 0: C must not be read, so it starts as NaN; any element left unwritten fails too.
      if (c.beta == 0.0f) {
        C_dev.poison();
      } else {
        C_dev.upload(C0);
      }
      const cuda::GemmContext ctx = context(backend, tf32);
      cuda::gemm(ctx, c.ta, c.tb, c.M, c.N, c.K, c.alpha, A_dev.data(), B_dev.data(), c.beta,
                 C_dev.data(), c.bias ? bias_dev.data() : nullptr, c.act);
      EXPECT_TRUE(within_bound(fmt::format("C[{}]", gemm_backend_name(backend)), fetch(C_dev), want,
                               bound));
    }
  }
};

// alpha = 1, beta = 0 (C poisoned), with no epilogue and with the hidden layers' bias + leaky ReLU.
TEST_F(GemmParity, AllShapesAllTransposes) {
  for (const Shape& s : kShapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans) {
        check({ta, tb, s.M, s.N, s.K});
        check({ta, tb, s.M, s.N, s.K, 1.0f, 0.0f, true, Activation::leaky_relu(0.2f)});
      }
}

TEST_F(GemmParity, FusedEpilogues) {
  struct Epilogue {
    bool bias;
    Activation act;
  };
  const Epilogue epilogues[] = {
      {false, Activation::identity()},      {true, Activation::identity()},
      {true, Activation::leaky_relu(0.2f)}, {false, Activation::tanh()},
      {true, Activation::tanh()},           {false, Activation::sigmoid()},
      {true, Activation::sigmoid()},        {true, Activation::elu()}};
  const Shape shapes[] = {{1, 1, 1}, {7, 13, 5}, {33, 1, 257}, {64, 256, 100}, {5, 3, 1}};
  for (const Shape& s : shapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        for (const Epilogue& e : epilogues)
          check({ta, tb, s.M, s.N, s.K, 1.0f, 0.0f, e.bias, e.act});
}

// beta = 1 reads the previous C; alpha != 1 scales only the product.
TEST_F(GemmParity, BetaOneWithScaledProduct) {
  for (const Shape& s : kShapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans) {
        check({ta, tb, s.M, s.N, s.K, -0.75f, 1.0f});
        check({ta, tb, s.M, s.N, s.K, 1.5f, 1.0f, true, Activation::tanh()});
      }
}

// The tiled backend switches to 128 x 128 block tiles for outputs of 2^22 elements or more; odd
// sizes leave partial tiles on every edge.
TEST_F(GemmParity, LargeOutputTiles) {
  for (Trans ta : kTrans)
    for (Trans tb : kTrans)
      check({ta, tb, 2049, 2050, 19, 1.0f, 0.0f, true, Activation::leaky_relu(0.2f)});
  check({Trans::Yes, Trans::No, 2049, 2050, 19, 0.5f, 1.0f, true, Activation::sigmoid()});
}

TEST_F(GemmParity, CublasTf32) {
  const Shape shapes[] = {{7, 13, 5}, {33, 1, 257}, {32, 784, 100}, {128, 784, 1024}};
  for (const Shape& s : shapes)
    for (Trans ta : kTrans)
      for (Trans tb : kTrans)
        check({ta, tb, s.M, s.N, s.K, 1.0f, 0.0f, true, Activation::leaky_relu(0.2f)}, true,
              {GemmBackend::Cublas});
}

// M, N or K <= 0 is a no-op on both backends: nothing launched, C untouched.
TEST_F(GemmParity, EmptySizesDoNothing) {
  SCOPED_TRACE(rng_.trace());
  const std::vector<float> C0 = rng_.vec<float>(4);
  DeviceBuffer<float> A_dev(std::vector<float>(4, 1.0f)), B_dev(std::vector<float>(4, 1.0f)),
      C_dev(C0);
  const Shape empty[] = {{0, 2, 2}, {2, 0, 2}, {2, 2, 0}, {-1, 2, 2}};
  for (GemmBackend backend : kBackends) {
    const cuda::GemmContext ctx = context(backend);
    for (const Shape& s : empty)
      cuda::gemm(ctx, Trans::No, Trans::No, s.M, s.N, s.K, 1.0f, A_dev.data(), B_dev.data(), 0.0f,
                 C_dev.data());
    EXPECT_EQ(fetch(C_dev), C0) << gemm_backend_name(backend);
  }
}

}  // namespace
}  // namespace gan::test
