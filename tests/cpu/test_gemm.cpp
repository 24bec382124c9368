// cpu::gemm against the definition written out independently, every transpose and epilogue.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/gemm.h"
#include "kernels/scalar.h"
#include "test_util.h"

using namespace gan;
using gan::test::all_close;

namespace {

double op_at(const std::vector<double>& A, Trans t, int rows, int cols, int r, int c) {
  // Element (r, c) of op(A), op(A) being (rows, cols).
  return t == Trans::No ? A[size_t(r) * cols + c] : A[size_t(c) * rows + r];
}

struct Shape {
  int M, N, K;
};

}  // namespace

TEST(CpuGemm, MatchesDefinitionForEveryTransposeAndEpilogue) {
  test::Rng rng;
  SCOPED_TRACE(rng.trace());
  const Shape shapes[] = {{1, 1, 1}, {7, 13, 5}, {3, 1, 100}, {5, 784, 3}, {2, 3, 17}};
  const Activation acts[] = {Activation::identity(), Activation::leaky_relu(0.2f),
                             Activation::tanh(),     Activation::sigmoid(),
                             Activation::elu(0.7f),  Activation::relu()};
  for (Shape s : shapes)
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes})
        for (Activation act : acts)
          for (bool with_bias : {false, true})
            for (double beta : {0.0, 0.75}) {
              auto A = rng.vec<double>(size_t(s.M) * s.K);
              auto B = rng.vec<double>(size_t(s.K) * s.N);
              auto bias = rng.vec<double>(s.N);
              auto C0 = rng.vec<double>(size_t(s.M) * s.N);
              const double alpha = rng.uniform(0.5, 1.5);
              std::vector<double> want(C0.size());
              for (int m = 0; m < s.M; ++m)
                for (int n = 0; n < s.N; ++n) {
                  double acc = 0;
                  for (int k = 0; k < s.K; ++k)
                    acc += op_at(A, ta, s.M, s.K, m, k) * op_at(B, tb, s.K, s.N, k, n);
                  double c = alpha * acc + beta * C0[size_t(m) * s.N + n];
                  if (with_bias) c += bias[n];
                  want[size_t(m) * s.N + n] = act_forward(act, c);
                }
              // beta == 0 must not read C: poison it.
              std::vector<double> C =
                  beta == 0.0
                      ? std::vector<double>(C0.size(), std::numeric_limits<double>::quiet_NaN())
                      : C0;
              cpu::gemm<double>(ta, tb, s.M, s.N, s.K, alpha, A.data(), B.data(), beta, C.data(),
                                with_bias ? bias.data() : nullptr, act);
              ASSERT_TRUE(all_close("C", C, want, 1e-12, 1e-12))
                  << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << int(ta)
                  << " tb=" << int(tb) << " act=" << activation_name(act.kind)
                  << " bias=" << with_bias << " beta=" << beta;
            }
}

TEST(CpuGemm, FloatAgreesWithDouble) {
  // The float path has its own kernels (AVX2/FMA tiles where the CPU has them, row blocks of 4, the
  // direct x W^T dot products when M is a multiple of 4, ragged tails): every transpose, shapes that
  // reach each, against the double reference. Bound: inputs in [-1, 1] rounded to float (2 u each)
  // and K float additions in any order: |err| <= (K + 2) u sum_k |a||b| <= (K + 2) u K, u = 2^-24.
  test::Rng rng;
  SCOPED_TRACE(rng.trace());
  const Shape shapes[] = {{9, 31, 257}, {8, 31, 257}, {12, 50, 100}, {4, 1, 7}, {32, 49, 8}, {5, 2, 3}};
  for (Shape s : shapes)
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes}) {
        auto A = rng.vec<double>(size_t(s.M) * s.K), B = rng.vec<double>(size_t(s.K) * s.N);
        auto bias = rng.vec<double>(s.N);
        std::vector<double> Cd(size_t(s.M) * s.N);
        cpu::gemm<double>(ta, tb, s.M, s.N, s.K, 1.0, A.data(), B.data(), 0.0, Cd.data(),
                          bias.data(), Activation::leaky_relu(0.2f));
        std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()),
            biasf(bias.begin(), bias.end());
        std::vector<float> Cf(Cd.size(), std::numeric_limits<float>::quiet_NaN());
        cpu::gemm<float>(ta, tb, s.M, s.N, s.K, 1.0f, Af.data(), Bf.data(), 0.0f, Cf.data(),
                         biasf.data(), Activation::leaky_relu(0.2f));
        EXPECT_TRUE(all_close("C", Cf, Cd, (s.K + 3) * std::ldexp(1.0, -24) * (s.K + 1), 0.0))
            << "M=" << s.M << " N=" << s.N << " K=" << s.K << " ta=" << int(ta)
            << " tb=" << int(tb);
      }
}
