// Error bounds for GPU parity of GEMM-backed ops (gemm, dense): a K-term float dot product summed
// in any order, with or without FMA, errs by at most about K u S, where S = sum_k |a_k||b_k| and
// u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, section 3.1).
#pragma once
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "kernels/gemm.h"

namespace gan::test {

constexpr double kUnitFp32 = 0x1p-24;

// S (R, C) = sum_k |op(P)(r, k)| |op(Q)(k, c)|, in double: the scale of each dot product's error.
// P is stored (R, K), or (K, R) when tp == Yes; Q is stored (K, C), or (C, K) when tq == Yes.
inline std::vector<double> abs_product(Trans tp, Trans tq, int R, int C, int K,
                                       const std::vector<float>& P, const std::vector<float>& Q) {
  std::vector<double> s(size_t(R) * C, 0.0);
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < K; ++k) {
      const double p = std::fabs(tp == Trans::Yes ? P[size_t(k) * R + r] : P[size_t(r) * K + k]);
      for (int c = 0; c < C; ++c)
        s[size_t(r) * C + c] +=
            p * std::fabs(tq == Trans::Yes ? Q[size_t(c) * K + k] : Q[size_t(k) * C + c]);
    }
  return s;
}

// Every element within its own bound; NaN (an unwritten, poisoned element) always fails.
inline ::testing::AssertionResult within_bound(const std::string& name,
                                               const std::vector<float>& got,
                                               const std::vector<double>& want,
                                               const std::vector<double>& bound) {
  size_t bad = 0;
  std::string msg;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    if (err <= bound[i]) continue;
    if (++bad <= 8)
      msg += fmt::format("\n  {}[{}]: got {:.9g}, want {:.9g}, |diff| {:.3g} > bound {:.3g}", name,
                         i, got[i], want[i], err, bound[i]);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << name << ": " << bad << " of " << got.size() << " elements outside the bound" << msg;
}

}  // namespace gan::test
