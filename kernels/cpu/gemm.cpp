// Reference GEMM: plain loops in the caller's precision, accumulation order fixed (k ascending).
#include "kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "kernels/scalar.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

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

// C rows [m0, m0 + rows) = act(alpha acc + beta C + bias), acc: (rows, N).
template <class T>
void row_block_epilogue(int m0, int rows, int N, T alpha, T beta, T* C, const T* bias,
                        Activation act, const T* acc) {
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

#if defined(__x86_64__)
// float rows [m0, m0 + 4) of acc = op(A) Bp on CPUs with AVX2 and FMA (chosen at run time, so the
// build stays portable). A 4 x 24 tile keeps 12 accumulators in registers across the K loop (per
// k: three loads of Bp's row, four broadcasts of A, twelve FMAs); narrower remainders go 8 columns
// at a time, then one. Each element sums its products in ascending k, one FMA at a time.
__attribute__((target("avx2,fma"))) void gemm_rows4_avx2(Trans ta, int m0, int M, int N, int K,
                                                         const float* A, const float* Bp,
                                                         float* acc) {
  const float* a_rows[4];
  size_t a_step = 1;
  if (ta == Trans::No) {
    for (int r = 0; r < 4; ++r) a_rows[r] = A + size_t(m0 + r) * K;
  } else {
    for (int r = 0; r < 4; ++r) a_rows[r] = A + m0 + r;
    a_step = size_t(M);
  }
  int n = 0;
  for (; n + 24 <= N; n += 24) {
    __m256 c[4][3];
    for (auto& row : c)
      for (auto& v : row) v = _mm256_setzero_ps();
    const float* b = Bp + n;
    for (int k = 0; k < K; ++k, b += N) {
      const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8),
                   b2 = _mm256_loadu_ps(b + 16);
      for (int r = 0; r < 4; ++r) {
        const __m256 a = _mm256_set1_ps(a_rows[r][size_t(k) * a_step]);
        c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
        c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
        c[r][2] = _mm256_fmadd_ps(a, b2, c[r][2]);
      }
    }
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < 3; ++j) _mm256_storeu_ps(acc + size_t(r) * N + n + 8 * j, c[r][j]);
  }
  for (; n + 8 <= N; n += 8) {
    __m256 c[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    for (int k = 0; k < K; ++k) {
      const __m256 b = _mm256_loadu_ps(Bp + size_t(k) * N + n);
      for (int r = 0; r < 4; ++r)
        c[r] = _mm256_fmadd_ps(_mm256_set1_ps(a_rows[r][size_t(k) * a_step]), b, c[r]);
    }
    for (int r = 0; r < 4; ++r) _mm256_storeu_ps(acc + size_t(r) * N + n, c[r]);
  }
  for (; n < N; ++n)
    for (int r = 0; r < 4; ++r) {
      float sum = 0.0f;
      for (int k = 0; k < K; ++k)
        sum = std::fma(a_rows[r][size_t(k) * a_step], Bp[size_t(k) * N + n], sum);
      acc[size_t(r) * N + n] = sum;
    }
}

// float rows [m0, m0 + 4) of acc = A B^T (ta == No, tb == Yes: the dense forward x W^T) without
// packing B: both operands are contiguous in k, so each output is a dot product. A 4 x 2 tile of
// 8-lane partial sums (8 accumulators; per 8 k: six loads, eight FMAs), reduced across lanes at the
// end; the k % 8 tail is added last. A fixed order, so deterministic.
__attribute__((target("avx2,fma"))) float hsum_avx(__m256 v) {
  const __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
  __m128 s4 = _mm_add_ps(lo, hi);
  s4 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  s4 = _mm_add_ss(s4, _mm_movehdup_ps(s4));
  return _mm_cvtss_f32(s4);
}

__attribute__((target("avx2,fma"))) void gemm_rows4_nt_avx2(int m0, int N, int K, const float* A,
                                                            const float* B, float* acc) {
  const float* a[4] = {A + size_t(m0) * K, A + size_t(m0 + 1) * K, A + size_t(m0 + 2) * K,
                       A + size_t(m0 + 3) * K};
  const int K8 = K - K % 8;
  auto tail = [&](int r, const float* b) {
    float t = 0.0f;
    for (int k = K8; k < K; ++k) t = std::fma(a[r][k], b[k], t);
    return t;
  };
  int n = 0;
  for (; n + 2 <= N; n += 2) {
    const float* b0 = B + size_t(n) * K;
    const float* b1 = b0 + K;
    __m256 c[4][2];
    for (auto& row : c) row[0] = row[1] = _mm256_setzero_ps();
    for (int k = 0; k < K8; k += 8) {
      const __m256 v0 = _mm256_loadu_ps(b0 + k), v1 = _mm256_loadu_ps(b1 + k);
      for (int r = 0; r < 4; ++r) {
        const __m256 x = _mm256_loadu_ps(a[r] + k);
        c[r][0] = _mm256_fmadd_ps(x, v0, c[r][0]);
        c[r][1] = _mm256_fmadd_ps(x, v1, c[r][1]);
      }
    }
    for (int r = 0; r < 4; ++r) {
      acc[size_t(r) * N + n] = hsum_avx(c[r][0]) + tail(r, b0);
      acc[size_t(r) * N + n + 1] = hsum_avx(c[r][1]) + tail(r, b1);
    }
  }
  for (; n < N; ++n) {
    const float* b0 = B + size_t(n) * K;
    for (int r = 0; r < 4; ++r) {
      __m256 c0 = _mm256_setzero_ps();
      for (int k = 0; k < K8; k += 8)
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a[r] + k), _mm256_loadu_ps(b0 + k), c0);
      acc[size_t(r) * N + n] = hsum_avx(c0) + tail(r, b0);
    }
  }
}

bool cpu_has_avx2_fma() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

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
  row_block_epilogue(m0, rows, N, alpha, beta, C, bias, act, acc);
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
#if defined(__x86_64__)
  // x W^T on AVX2: row blocks of 4 read B as it is; only a ragged last block needs it packed.
  const bool nt_direct = std::is_same_v<T, float> && ta == Trans::No && tb == Trans::Yes &&
                         M % kRowBlock == 0 && cpu_has_avx2_fma();
#else
  const bool nt_direct = false;
#endif
  if (tb == Trans::Yes && !nt_direct) {
    // Transpose (N, K) -> (K, N) in 32 x 32 tiles, so reads and writes both stay in cache lines.
    packed.resize(size_t(K) * N);
    T* P = packed.data();
    constexpr int kTile = 32;
    const int n_tiles = (N + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) if (double(N) * K > 1e5)
    for (int nt = 0; nt < n_tiles; ++nt) {
      const int n0 = nt * kTile, n1 = std::min(N, n0 + kTile);
      for (int k0 = 0; k0 < K; k0 += kTile) {
        const int k1 = std::min(K, k0 + kTile);
        for (int n = n0; n < n1; ++n)
          for (int k = k0; k < k1; ++k) P[size_t(k) * N + n] = B[size_t(n) * K + k];
      }
    }
    Bp = P;
  }
  const int blocks = (M + kRowBlock - 1) / kRowBlock;
  const double work = double(M) * N * K;
#pragma omp parallel for schedule(static) if (work > 2e5)
  for (int blk = 0; blk < blocks; ++blk) {
    thread_local std::vector<T> acc;
    acc.resize(size_t(kRowBlock) * N);
    const int m0 = blk * kRowBlock;
    const int rows = std::min(kRowBlock, M - m0);
#if defined(__x86_64__)
    if constexpr (std::is_same_v<T, float>) {
      if (nt_direct) {
        gemm_rows4_nt_avx2(m0, N, K, A, B, acc.data());
        row_block_epilogue<T>(m0, rows, N, alpha, beta, C, bias, act, acc.data());
        continue;
      }
      if (rows == kRowBlock && cpu_has_avx2_fma()) {
        gemm_rows4_avx2(ta, m0, M, N, K, A, Bp, acc.data());
        row_block_epilogue<T>(m0, rows, N, alpha, beta, C, bias, act, acc.data());
        continue;
      }
    }
#endif
    gemm_row_block<T>(ta, m0, rows, M, N, K, alpha, A, Bp, beta, C, bias, act, acc.data());
  }
}

template void gemm<float>(Trans, Trans, int, int, int, float, const float*, const float*, float,
                          float*, const float*, Activation);
template void gemm<double>(Trans, Trans, int, int, int, double, const double*, const double*,
                           double, double*, const double*, Activation);

}  // namespace cpu
}  // namespace gan
