// cpu::gemm against the definition written out independently, every transpose and epilogue.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/isa.h"
#include "kernels/gemm.h"
#include "kernels/scalar.h"
#include "test_util.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

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
  // Every instruction-set level this CPU has (GAN_CPU_ISA's cap): the portable loops too.
  for (int level = 0; level <= int(cpu::isa_detected()); ++level)
    for (Shape s : shapes)
      for (Trans ta : {Trans::No, Trans::Yes})
        for (Trans tb : {Trans::No, Trans::Yes}) {
          cpu::set_isa_cap(cpu::Isa(level));
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
              << " tb=" << int(tb) << " at " << cpu::isa_name(cpu::Isa(level));
        }
  cpu::set_isa_cap(cpu::Isa::Avx512);
}

TEST(CpuGemm, FloatBlockedPathAgreesWithDoubleAndIsDeterministic) {
  // Shapes for the cache-blocked AVX2 path's edges: several k slices (K > 256), row blocks
  // (M > 192) and column blocks (N > 480), N = 24 q + 8 (two 16-column strips), tiny M (tasks
  // split over columns), ragged rows; plain products (tiles stored straight to C) and epilogues.
  // Same bound as above. The result must not depend on the thread count, and a product with a
  // pre-packed B (gemm_packed) must give the same bits as the blocked path.
  test::Rng rng;
  SCOPED_TRACE(rng.trace());
  const Shape shapes[] = {{400, 130, 600}, {8, 1000, 40}, {4, 488, 300}, {197, 128, 257},
                          {1, 56, 7},      {3, 32, 10},   {6, 8, 9}};
  for (Shape s : shapes)
    for (Trans ta : {Trans::No, Trans::Yes})
      for (Trans tb : {Trans::No, Trans::Yes})
        for (bool plain : {true, false}) {
          SCOPED_TRACE("M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                       " K=" + std::to_string(s.K) + " ta=" + std::to_string(int(ta)) +
                       " tb=" + std::to_string(int(tb)) + " plain=" + std::to_string(plain));
          auto A = rng.vec<double>(size_t(s.M) * s.K), B = rng.vec<double>(size_t(s.K) * s.N);
          auto bias = rng.vec<double>(s.N), C0 = rng.vec<double>(size_t(s.M) * s.N);
          const double beta = plain ? 0.0 : 0.5;
          const Activation act = plain ? Activation::identity() : Activation::leaky_relu(0.2f);
          std::vector<double> Cd(C0);
          cpu::gemm<double>(ta, tb, s.M, s.N, s.K, 1.0, A.data(), B.data(), beta, Cd.data(),
                            plain ? nullptr : bias.data(), act);
          std::vector<float> Af(A.begin(), A.end()), Bf(B.begin(), B.end()),
              biasf(bias.begin(), bias.end()), C0f(C0.begin(), C0.end());
          auto run = [&] {
            std::vector<float> C = plain ? std::vector<float>(C0f.size(), NAN) : C0f;
            cpu::gemm<float>(ta, tb, s.M, s.N, s.K, 1.0f, Af.data(), Bf.data(), float(beta),
                             C.data(), plain ? nullptr : biasf.data(), act);
            return C;
          };
          const auto Cf = run();
          // beta C0 adds at most 2 u |C0| <= 2 u more.
          const double tol = (s.K + 5) * std::ldexp(1.0, -24) * (s.K + 1);
          EXPECT_TRUE(all_close("C", Cf, Cd, tol, 0.0));
#if defined(_OPENMP)
          const int threads = omp_get_max_threads();
          for (int t : {1, 3}) {
            omp_set_num_threads(t);
            const auto Ct = run();
            omp_set_num_threads(threads);
            EXPECT_TRUE(all_close("C, threads=" + std::to_string(t), Ct, Cf, 0, 0));
          }
#endif
          cpu::PackedB packed;
          cpu::pack_gemm_b(tb, s.K, s.N, Bf.data(), packed);
          std::vector<float> Cp = plain ? std::vector<float>(C0f.size(), NAN) : C0f;
          cpu::gemm_packed(ta, s.M, 1.0f, Af.data(), packed, float(beta), Cp.data(),
                           plain ? nullptr : biasf.data(), act);
          // x W^T with M % 4 == 0 takes gemm<float>'s dot-product kernel, a different order.
          const bool dot_products = ta == Trans::No && tb == Trans::Yes && s.M % 4 == 0;
          if (dot_products)
            EXPECT_TRUE(all_close("C (packed B)", Cp, Cd, tol, 0.0));
          else
            EXPECT_TRUE(all_close("C (packed B)", Cp, Cf, 0, 0));
          // C0 += op(A) op(B), each element's chain starting from C0: within the bound of the
          // double result, independent of the thread count.
          std::vector<double> Co(C0);
          cpu::gemm<double>(ta, tb, s.M, s.N, s.K, 1.0, A.data(), B.data(), 1.0, Co.data());
          auto onto = [&] {
            std::vector<float> C(C0f);
            cpu::gemm_packed_onto(ta, s.M, Af.data(), packed, C.data());
            return C;
          };
          const auto Cof = onto();
          EXPECT_TRUE(all_close("C0 + AB (onto)", Cof, Co, tol, 0.0));
#if defined(_OPENMP)
          omp_set_num_threads(1);
          const auto Co1 = onto();
          omp_set_num_threads(threads);
          EXPECT_TRUE(all_close("C0 + AB (onto), 1 thread", Co1, Cof, 0, 0));
#endif
        }
}
