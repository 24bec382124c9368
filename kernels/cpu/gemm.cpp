// CPU GEMM: plain loops in the caller's precision (double, and float without AVX2), AVX2 tiles for
// float; accumulation order fixed (k ascending, one FMA or multiply-add at a time).
#include "kernels/gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/cpu/act_loops.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/scratch.h"
#include "kernels/scalar.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
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

// C row columns [n0, n1) = act(alpha acc + beta C + bias), acc and bias indexed like C's row: one
// operation per pass so that each vectorises.
template <class T>
void epilogue_row(int n0, int n1, T alpha, const T* arow, T beta, T* crow, const T* bias,
                  Activation act) {
  if (beta != T(0))
    for (int n = n0; n < n1; ++n) crow[n] = alpha * arow[n] + beta * crow[n];
  else
    for (int n = n0; n < n1; ++n) crow[n] = alpha * arow[n];
  if (bias)
    for (int n = n0; n < n1; ++n) crow[n] += bias[n];
  if (act.kind != ActKind::Identity) act_forward_loop(act, crow + n0, crow + n0, size_t(n1 - n0));
}

// C rows [m0, m0 + rows) = act(alpha acc + beta C + bias), acc: (rows, N).
template <class T>
void row_block_epilogue(int m0, int rows, int N, T alpha, T beta, T* C, const T* bias,
                        Activation act, const T* acc) {
  for (int r = 0; r < rows; ++r)
    epilogue_row(0, N, alpha, acc + size_t(r) * N, beta, C + size_t(m0 + r) * N, bias, act);
}

#if defined(__x86_64__)
// The float AVX2 path, cache-blocked as BLIS does. C is split into one task per thread (row
// ranges, or column ranges too when M is small). A task packs its columns of op(B) once into
// strips of 24 columns, k-major (or takes them pre-packed: gemm_packed.h), then for each block of
// kMc rows packs op(A) into 4-row panels, and for each block of up to kNc columns walks K in kKc
// slices, running the 4 x 24 register tile strip by strip (a strip slice, 24 KiB, stays in L1
// while every row panel of the block, from L2, passes over it). Partial sums wait between slices
// in a (kMc x kNc) float buffer (L2); exact tiles of the last slice of a plain product go straight
// to C. Each element is one chain of FMAs in ascending k, paused and resumed through memory
// exactly, so the result depends on neither the blocking, nor the split, nor the thread count:
// the same bits as the unblocked row-block kernel this replaced (which took rows of a ragged last
// block through the scalar loop; those now get the FMA tile too).
constexpr int kKc = 256, kMc = 192, kNc = 480;

// out (4 rows, 8 NV columns, row stride ldo) = in (row stride ldi; zeros when null) + a b over kc:
// a is a packed 4-row panel, b a packed strip of 8 NV columns. 4 NV accumulators stay in registers
// (per k: NV loads of b, four broadcasts of a, 4 NV FMAs).
template <int NV>
__attribute__((target("avx2,fma"))) void tile4_avx2(int kc, const float* a, const float* b,
                                                    const float* in, size_t ldi, float* out,
                                                    size_t ldo) {
  // The unroll pragmas let GCC keep c in registers (without them it spills c every k).
  __m256 c[4][NV];
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j)
      c[r][j] = in ? _mm256_loadu_ps(in + r * ldi + 8 * j) : _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k, a += 4, b += 8 * NV) {
    __m256 bv[NV];
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) bv[j] = _mm256_loadu_ps(b + 8 * j);
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
#pragma GCC unroll 4
      for (int j = 0; j < NV; ++j) c[r][j] = _mm256_fmadd_ps(av, bv[j], c[r][j]);
    }
  }
#pragma GCC unroll 4
  for (int r = 0; r < 4; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + r * ldo + 8 * j, c[r][j]);
}

// op(A) rows [m0, m1) x k [0, K) -> 4-row panels, panel p at out + 4 K p, (k, r) at panel + 4 k + r
// (so a slice of k is contiguous too); rows past m1 are zeros (their results are never stored).
void pack_a(Trans ta, int M, int K, const float* A, int m0, int m1, float* out) {
  for (int p = 0; m0 + 4 * p < m1; ++p) {
    float* dst = out + size_t(p) * 4 * K;
    const int mp = m0 + 4 * p, rows = std::min(4, m1 - mp);
    if (ta == Trans::Yes) {
      for (int k = 0; k < K; ++k) {
        const float* src = A + size_t(k) * M + mp;
        for (int r = 0; r < 4; ++r) dst[4 * k + r] = r < rows ? src[r] : 0.0f;
      }
    } else if (rows == 4) {
      // Four rows at a time through a 4 x 4 SSE transpose.
      const float* src[4] = {A + size_t(mp) * K, A + size_t(mp + 1) * K, A + size_t(mp + 2) * K,
                             A + size_t(mp + 3) * K};
      int k = 0;
      for (; k + 4 <= K; k += 4) {
        __m128 r0 = _mm_loadu_ps(src[0] + k), r1 = _mm_loadu_ps(src[1] + k),
               r2 = _mm_loadu_ps(src[2] + k), r3 = _mm_loadu_ps(src[3] + k);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst + 4 * k, r0);
        _mm_storeu_ps(dst + 4 * k + 4, r1);
        _mm_storeu_ps(dst + 4 * k + 8, r2);
        _mm_storeu_ps(dst + 4 * k + 12, r3);
      }
      for (; k < K; ++k)
        for (int r = 0; r < 4; ++r) dst[4 * k + r] = src[r][k];
    } else {
      for (int k = 0; k < K; ++k)
        for (int r = 0; r < 4; ++r) dst[4 * k + r] = r < rows ? A[size_t(mp + r) * K + k] : 0.0f;
    }
  }
}

// Column strips of op(B) and C: 24 wide, except that N = 24 q + 8 (q >= 1) ends in two strips of
// 16 (8 accumulators each) rather than 24 and 8 (only 4, too few to hide the FMA latency).
bool two_16_tail(int N) { return N % 24 == 8 && N >= 32; }
int strip_count(int N) { return two_16_tail(N) ? (N - 32) / 24 + 2 : (N + 23) / 24; }
// First column of strip s (N for s == strip_count(N)).
int strip_start(int s, int N) {
  const int q = two_16_tail(N) ? (N - 32) / 24 : N;
  return s <= q ? std::min(N, 24 * s) : N - 32 + 16 * (s - q);
}

// Strips [s0, s1) of op(B), k [0, K): strip s at out + K (start(s) - start(s0)), (k, j) at strip +
// wp k + j, wp = the strip's width rounded up to 8 (padding columns are zeros).
void pack_b(Trans tb, int N, int K, const float* B, int s0, int s1, float* out) {
  const int n0 = strip_start(s0, N);
  for (int s = s0; s < s1; ++s) {
    const int c0 = strip_start(s, N), w = strip_start(s + 1, N) - c0, wp = (w + 7) / 8 * 8;
    float* dst = out + size_t(c0 - n0) * K;
    if (tb == Trans::No && w == wp) {
      // Whole strips: copies of a size the compiler knows, so they inline as vector moves (a
      // memmove call per row of 24 floats cost more than the copy).
      auto copy_rows = [&](auto width) {
        constexpr size_t bytes = decltype(width)::value * sizeof(float);
        for (int k = 0; k < K; ++k)
          std::memcpy(dst + size_t(k) * bytes / 4, B + size_t(k) * N + c0, bytes);
      };
      if (w == 24)
        copy_rows(std::integral_constant<int, 24>{});
      else if (w == 16)
        copy_rows(std::integral_constant<int, 16>{});
      else
        copy_rows(std::integral_constant<int, 8>{});
    } else if (tb == Trans::No) {
      for (int k = 0; k < K; ++k) {
        const float* src = B + size_t(k) * N + c0;
        float* d = dst + size_t(k) * wp;
        for (int j = 0; j < wp; ++j) d[j] = j < w ? src[j] : 0.0f;
      }
    } else {
      for (int j = 0; j < w; ++j) {
        const float* src = B + size_t(c0 + j) * K;
        for (int k = 0; k < K; ++k) dst[size_t(k) * wp + j] = src[k];
      }
      for (int k = 0; k < K; ++k)
        std::fill(dst + size_t(k) * wp + w, dst + size_t(k + 1) * wp, 0.0f);
    }
  }
}

// One task: C rows [m0, m1) x the columns of strips [s0, s1). packed: all of op(B) as pack_b lays
// it out, or null (the task packs its own strips). onto_c: C += op(A) op(B) with every element's
// FMA chain starting from its value in C (alpha, beta, bias and act are then ignored).
void gemm_task_avx2(Trans ta, Trans tb, int M, int N, int K, int m0, int m1, int s0, int s1,
                    float alpha, const float* A, const float* B, const float* packed, float beta,
                    float* C, const float* bias, Activation act, bool onto_c) {
  thread_local std::vector<float> apack, bpack, acc;
  const int n0 = strip_start(s0, N);
  scratch_at_least(apack, size_t(kMc) * K);
  scratch_at_least(acc, size_t(kMc) * kNc);
  const float* bp = packed ? packed + size_t(n0) * K : nullptr;
  if (!bp) {
    scratch_at_least(bpack, size_t(strip_start(s1, N) - n0 + 7) / 8 * 8 * K);
    pack_b(tb, N, K, B, s0, s1, bpack.data());
    bp = bpack.data();
  }
  // A plain product (C = op(A) op(B)) lets exact tiles (no padding rows or columns) of the last k
  // slice go straight to C; onto C, they also start from C.
  if (onto_c) alpha = 1.0f, beta = 0.0f, bias = nullptr, act = Activation::identity();
  const bool plain = alpha == 1.0f && beta == 0.0f && !bias && act.kind == ActKind::Identity;
  for (int ic = m0; ic < m1; ic += kMc) {
    const int mc = std::min(kMc, m1 - ic), panels = (mc + 3) / 4;
    pack_a(ta, M, K, A, ic, ic + mc, apack.data());
    // Blocks of whole strips, at most kNc columns each.
    for (int jb = s0; jb < s1;) {
      const int jc = strip_start(jb, N);
      int je = jb + 1;
      while (je < s1 && strip_start(je + 1, N) - jc <= kNc) ++je;
      const int cols = strip_start(je, N) - jc, ldc = (cols + 7) / 8 * 8;
      // Direct stores cover the rows of full panels and every column up to a padded last strip.
      const int direct_rows = plain ? mc / 4 * 4 : 0;
      const int direct_cols = !plain ? 0 : cols % 8 == 0 ? cols : strip_start(je - 1, N) - jc;
      if (onto_c)  // the other tiles start from a copy of C
        for (int m = ic; m < ic + mc; ++m) {
          const int skip = m - ic < direct_rows ? direct_cols : 0;
          std::copy(C + size_t(m) * N + jc + skip, C + size_t(m) * N + jc + cols,
                    acc.data() + size_t(m - ic) * ldc + skip);
        }
      for (int pc = 0; pc < K; pc += kKc) {
        const int kc = std::min(kKc, K - pc);
        const bool last = pc + kc == K;
        for (int s = jb; s < je; ++s) {
          const int c0 = strip_start(s, N) - jc;
          const int wp = (strip_start(s + 1, N) - jc - c0 + 7) / 8 * 8;
          const float* b = bp + size_t(jc + c0 - n0) * K + size_t(pc) * wp;
          for (int p = 0; p < panels; ++p) {
            const float* a = apack.data() + size_t(p) * 4 * K + size_t(pc) * 4;
            float* c = acc.data() + size_t(p) * 4 * ldc + c0;
            const bool direct = 4 * p < direct_rows && c0 < direct_cols;
            float* cd = C + size_t(ic + 4 * p) * N + jc + c0;
            const float* in = pc > 0 || onto_c ? c : nullptr;
            size_t ldi = ldc;
            if (pc == 0 && onto_c && direct) in = cd, ldi = N;
            float* out = c;
            size_t ldo = ldc;
            if (last && direct) out = cd, ldo = N;
            if (wp == 24)
              tile4_avx2<3>(kc, a, b, in, ldi, out, ldo);
            else if (wp == 16)
              tile4_avx2<2>(kc, a, b, in, ldi, out, ldo);
            else
              tile4_avx2<1>(kc, a, b, in, ldi, out, ldo);
          }
        }
      }
      for (int m = ic; m < ic + mc; ++m) {
        const int skip = m - ic < direct_rows ? direct_cols : 0;
        epilogue_row<float>(skip, cols, alpha, acc.data() + size_t(m - ic) * ldc, beta,
                            C + size_t(m) * N + jc, bias ? bias + jc : nullptr, act);
      }
      jb = je;
    }
  }
}

// One task per thread: row ranges of whole 4-row panels, or, with fewer panels than threads,
// column ranges of whole 24-column strips too.
void gemm_blocked_avx2(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A,
                       const float* B, const float* packed, float beta, float* C, const float* bias,
                       Activation act, bool onto_c = false) {
  const int panels = (M + 3) / 4, strips = strip_count(N);
#if defined(_OPENMP)
  const double work = double(M) * N * K;
  const int threads = work > 2e5 && !omp_in_parallel() ? omp_get_max_threads() : 1;
#else
  const int threads = 1;
#endif
  const int mt = std::min(threads, panels);
  const int nt = std::min(strips, (threads + mt - 1) / mt);
#pragma omp parallel for schedule(static) if (mt * nt > 1)
  for (int t = 0; t < mt * nt; ++t) {
    const int i = t / nt, j = t % nt;
    const int m0 = 4 * int(int64_t(panels) * i / mt);
    const int m1 = std::min(M, 4 * int(int64_t(panels) * (i + 1) / mt));
    const int s0 = int(int64_t(strips) * j / nt), s1 = int(int64_t(strips) * (j + 1) / nt);
    if (m0 < m1 && s0 < s1)
      gemm_task_avx2(ta, tb, M, N, K, m0, m1, s0, s1, alpha, A, B, packed, beta, C, bias, act,
                     onto_c);
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

// Columns [n0, n1) of the four rows; acc (4, ld) holds column n at n - n0. Tiles of 4 rows x 3
// columns: 12 accumulators (the FMA latency times the two FMA pipes needs 8 in flight; with 8 a
// stall anywhere idled the pipes), per 8 k seven loads and twelve FMAs; every output is the same
// 8-lane dot product and reduction whatever tile computes it.
__attribute__((target("avx2,fma"))) void gemm_rows4_nt_avx2(int m0, int n0, int n1, int K,
                                                            const float* A, const float* B,
                                                            float* acc, size_t ld) {
  const float* a[4] = {A + size_t(m0) * K, A + size_t(m0 + 1) * K, A + size_t(m0 + 2) * K,
                       A + size_t(m0 + 3) * K};
  const int K8 = K - K % 8;
  auto tail = [&](int r, const float* b) {
    float t = 0.0f;
    for (int k = K8; k < K; ++k) t = std::fma(a[r][k], b[k], t);
    return t;
  };
  int n = n0;
  for (; n + 3 <= n1; n += 3) {
    const float* b[3] = {B + size_t(n) * K, B + size_t(n + 1) * K, B + size_t(n + 2) * K};
    __m256 c[4][3];
#pragma GCC unroll 4
    for (int r = 0; r < 4; ++r)
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) c[r][j] = _mm256_setzero_ps();
    for (int k = 0; k < K8; k += 8) {
      __m256 v[3];
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) v[j] = _mm256_loadu_ps(b[j] + k);
#pragma GCC unroll 4
      for (int r = 0; r < 4; ++r) {
        const __m256 x = _mm256_loadu_ps(a[r] + k);
#pragma GCC unroll 3
        for (int j = 0; j < 3; ++j) c[r][j] = _mm256_fmadd_ps(x, v[j], c[r][j]);
      }
    }
    for (int r = 0; r < 4; ++r)
      for (int j = 0; j < 3; ++j)
        acc[size_t(r) * ld + n + j - n0] = hsum_avx(c[r][j]) + tail(r, b[j]);
  }
  for (; n < n1; ++n) {
    const float* b0 = B + size_t(n) * K;
    for (int r = 0; r < 4; ++r) {
      __m256 c0 = _mm256_setzero_ps();
      for (int k = 0; k < K8; k += 8)
        c0 = _mm256_fmadd_ps(_mm256_loadu_ps(a[r] + k), _mm256_loadu_ps(b0 + k), c0);
      acc[size_t(r) * ld + n - n0] = hsum_avx(c0) + tail(r, b0);
    }
  }
}

// x W^T (ta == No, tb == Yes, M % 4 == 0): one task per thread, an equal share of the columns
// (whole 3-column tiles) for all M rows, so each thread reads its part of B once (W is the larger
// operand: a forward pass has few rows); within it blocks of kNtCols columns, whose partial sums
// wait in an L1-sized buffer for the block's vectorised epilogue.
constexpr int kNtCols = 48;

void gemm_nt_direct_avx2(int M, int N, int K, float alpha, const float* A, const float* B,
                         float beta, float* C, const float* bias, Activation act) {
  const int tiles = (N + 2) / 3;
  int tasks = 1;
#if defined(_OPENMP)
  if (double(M) * N * K > 2e5 && !omp_in_parallel()) tasks = std::min(omp_get_max_threads(), tiles);
#endif
#pragma omp parallel for schedule(static) if (tasks > 1)
  for (int t = 0; t < tasks; ++t) {
    thread_local std::vector<float> acc;
    scratch_at_least(acc, size_t(M) * kNtCols);
    const int c0 = std::min(N, 3 * int(int64_t(tiles) * t / tasks));
    const int c1 = std::min(N, 3 * int(int64_t(tiles) * (t + 1) / tasks));
    for (int n0 = c0; n0 < c1; n0 += kNtCols) {
      const int n1 = std::min(c1, n0 + kNtCols);
      for (int m0 = 0; m0 < M; m0 += kRowBlock)
        gemm_rows4_nt_avx2(m0, n0, n1, K, A, B, acc.data() + size_t(m0) * kNtCols, kNtCols);
      for (int m = 0; m < M; ++m)
        epilogue_row<float>(0, n1 - n0, alpha, acc.data() + size_t(m) * kNtCols, beta,
                            C + size_t(m) * N + n0, bias ? bias + n0 : nullptr, act);
    }
  }
}

// The AVX2 kernels run where isa() allows them (AVX-512 CPUs included: the same FMA tiles).
bool avx2_kernels() { return isa() >= Isa::Avx2; }
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
#if defined(__x86_64__)
  // Floats on AVX2: x W^T as dot products reading B as it is (no packing), every other product
  // through the cache-blocked path. The loops below: double, and float without AVX2.
  if constexpr (std::is_same_v<T, float>) {
    if (avx2_kernels()) {
      if (ta == Trans::No && tb == Trans::Yes && M % kRowBlock == 0)
        gemm_nt_direct_avx2(M, N, K, alpha, A, B, beta, C, bias, act);
      else
        gemm_blocked_avx2(ta, tb, M, N, K, alpha, A, B, nullptr, beta, C, bias, act);
      return;
    }
  }
#endif
  // Scratch reused across calls: no allocation once the largest shape has been seen.
  thread_local std::vector<T> packed;
  const T* Bp = B;
  if (tb == Trans::Yes) {
    // Transpose (N, K) -> (K, N) in 32 x 32 tiles, so reads and writes both stay in cache lines.
    scratch_at_least(packed, size_t(K) * N);
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
    scratch_at_least(acc, size_t(kRowBlock) * N);
    const int m0 = blk * kRowBlock;
    const int rows = std::min(kRowBlock, M - m0);
    gemm_row_block<T>(ta, m0, rows, M, N, K, alpha, A, Bp, beta, C, bias, act, acc.data());
  }
}

void pack_gemm_b(Trans tb, int K, int N, const float* B, PackedB& out) {
  out.K = K, out.N = N;
#if defined(__x86_64__)
  out.strips = avx2_kernels();
  if (out.strips) {
    const int strips = strip_count(N);
    if (out.data.size() < size_t(N + 7) / 8 * 8 * K) out.data.resize(size_t(N + 7) / 8 * 8 * K);
    float* dst = out.data.data();
#pragma omp parallel for schedule(static) if (double(K) * N > 1e5)
    for (int s = 0; s < strips; ++s)
      pack_b(tb, N, K, B, s, s + 1, dst + size_t(strip_start(s, N)) * K);
    return;
  }
#endif
  if (out.data.size() < size_t(K) * N) out.data.resize(size_t(K) * N);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n)
      out.data[size_t(k) * N + n] = tb == Trans::No ? B[size_t(k) * N + n] : B[size_t(n) * K + k];
}

void gemm_packed(Trans ta, int M, float alpha, const float* A, const PackedB& B, float beta,
                 float* C, const float* bias, Activation act) {
#if defined(__x86_64__)
  if (B.strips) {
    gemm_blocked_avx2(ta, Trans::No, M, B.N, B.K, alpha, A, nullptr, B.data.data(), beta, C, bias,
                      act);
    return;
  }
#endif
  gemm<float>(ta, Trans::No, M, B.N, B.K, alpha, A, B.data.data(), beta, C, bias, act);
}

void gemm_packed_onto(Trans ta, int M, const float* A, const PackedB& B, float* C) {
#if defined(__x86_64__)
  if (B.strips) {
    gemm_blocked_avx2(ta, Trans::No, M, B.N, B.K, 1.0f, A, nullptr, B.data.data(), 1.0f, C, nullptr,
                      Activation::identity(), true);
    return;
  }
#endif
  gemm<float>(ta, Trans::No, M, B.N, B.K, 1.0f, A, B.data.data(), 1.0f, C);
}

template void gemm<float>(Trans, Trans, int, int, int, float, const float*, const float*, float,
                          float*, const float*, Activation);
template void gemm<double>(Trans, Trans, int, int, int, double, const double*, const double*,
                           double, double*, const double*, Activation);

}  // namespace cpu
}  // namespace gan
