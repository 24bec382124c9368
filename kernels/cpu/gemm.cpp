// Reference GEMM: plain loops in the caller's precision, accumulation order fixed (k ascending).
#include "kernels/gemm.h"

#include <algorithm>
#include <vector>

#include "kernels/scalar.h"

namespace gan {

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::Cublas: return "cublas";
    case GemmBackend::Tiled: return "tiled";
  }
  return "?";
}

const char* activation_name(ActKind kind) {
  switch (kind) {
    case ActKind::Identity: return "identity";
    case ActKind::ReLU: return "relu";
    case ActKind::LeakyReLU: return "leaky_relu";
    case ActKind::Tanh: return "tanh";
    case ActKind::Sigmoid: return "sigmoid";
    case ActKind::ELU: return "elu";
  }
  return "?";
}

namespace cpu {

// Row m of C accumulates in a local row buffer: for each k, acc[:] += op(A)[m,k] * op(B)[k,:].
// With B untransposed the inner loop walks B's row contiguously; the reference favours clarity,
// with that much attention to cache order so the CPU trainer stays usable.
template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, const T* B, T beta, T* C,
          const T* bias, Activation act) {
  std::vector<T> acc(static_cast<size_t>(N));
  for (int m = 0; m < M; ++m) {
    std::fill(acc.begin(), acc.end(), T(0));
    for (int k = 0; k < K; ++k) {
      const T a = ta == Trans::No ? A[size_t(m) * K + k] : A[size_t(k) * M + m];
      if (tb == Trans::No) {
        const T* brow = B + size_t(k) * N;
        for (int n = 0; n < N; ++n) acc[n] += a * brow[n];
      } else {
        for (int n = 0; n < N; ++n) acc[n] += a * B[size_t(n) * K + k];
      }
    }
    T* crow = C + size_t(m) * N;
    for (int n = 0; n < N; ++n) {
      T c = alpha * acc[n];
      if (beta != T(0)) c += beta * crow[n];
      if (bias) c += bias[n];
      crow[n] = act_forward(act, c);
    }
  }
}

template void gemm<float>(Trans, Trans, int, int, int, float, const float*, const float*, float,
                          float*, const float*, Activation);
template void gemm<double>(Trans, Trans, int, int, int, double, const double*, const double*,
                           double, double*, const double*, Activation);

}  // namespace cpu
}  // namespace gan
