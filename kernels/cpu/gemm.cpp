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

namespace {

constexpr int kRowBlock = 4;

// C rows [m0, m0 + rows) of the product, rows <= kRowBlock: acc[r][:] += op(A)[m0 + r, k] *
// Bp[k, :] for k ascending, then the epilogue. Bp is op(B) packed (K, N) row-major, so the inner
// loop walks contiguous memory and vectorises; the row block reuses each Bp row kRowBlock times.
template <class T>
void gemm_row_block(Trans ta, int m0, int rows, int M, int N, int K, T alpha, const T* A,
                    const T* Bp, T beta, T* C, const T* bias, Activation act, T* acc) {
  std::fill(acc, acc + size_t(kRowBlock) * N, T(0));
  for (int k = 0; k < K; ++k) {
    T a[kRowBlock] = {};
    for (int r = 0; r < rows; ++r)
      a[r] = ta == Trans::No ? A[size_t(m0 + r) * K + k] : A[size_t(k) * M + m0 + r];
    const T* b = Bp + size_t(k) * N;
    if (rows == kRowBlock) {
      T* c0 = acc;
      T* c1 = acc + N;
      T* c2 = acc + 2 * size_t(N);
      T* c3 = acc + 3 * size_t(N);
      for (int n = 0; n < N; ++n) {
        c0[n] += a[0] * b[n];
        c1[n] += a[1] * b[n];
        c2[n] += a[2] * b[n];
        c3[n] += a[3] * b[n];
      }
    } else {
      for (int r = 0; r < rows; ++r)
        for (int n = 0; n < N; ++n) acc[size_t(r) * N + n] += a[r] * b[n];
    }
  }
  for (int r = 0; r < rows; ++r) {
    T* crow = C + size_t(m0 + r) * N;
    const T* arow = acc + size_t(r) * N;
    for (int n = 0; n < N; ++n) {
      T c = alpha * arow[n];
      if (beta != T(0)) c += beta * crow[n];
      if (bias) c += bias[n];
      crow[n] = act_forward(act, c);
    }
  }
}

}  // namespace

// Every element sums its K products in ascending k order, whatever the thread count: results are
// deterministic and the float64 instantiation is an exact-order reference.
template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, const T* B, T beta, T* C,
          const T* bias, Activation act) {
  // Scratch reused across calls: no allocation once the largest shape has been seen.
  thread_local std::vector<T> packed;
  const T* Bp = B;
  if (tb == Trans::Yes) {
    packed.resize(size_t(K) * N);
    for (int n = 0; n < N; ++n)
      for (int k = 0; k < K; ++k) packed[size_t(k) * N + n] = B[size_t(n) * K + k];
    Bp = packed.data();
  }
  const int blocks = (M + kRowBlock - 1) / kRowBlock;
  const double work = double(M) * N * K;
#pragma omp parallel for schedule(static) if (work > 2e5)
  for (int blk = 0; blk < blocks; ++blk) {
    thread_local std::vector<T> acc;
    acc.resize(size_t(kRowBlock) * N);
    const int m0 = blk * kRowBlock;
    gemm_row_block<T>(ta, m0, std::min(kRowBlock, M - m0), M, N, K, alpha, A, Bp, beta, C, bias,
                      act, acc.data());
  }
}

template void gemm<float>(Trans, Trans, int, int, int, float, const float*, const float*, float,
                          float*, const float*, Activation);
template void gemm<double>(Trans, Trans, int, int, int, double, const double*, const double*,
                           double, double*, const double*, Activation);

}  // namespace cpu
}  // namespace gan
