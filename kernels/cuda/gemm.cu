// Row-major SGEMM with a fused bias + activation epilogue: cuBLAS, or our own tiled kernel.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>

#include "kernels/cuda/check.h"
#include "kernels/gemm.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// ---- tiled SGEMM --------------------------------------------------------------------------------
//
// A block computes a BM x BN tile of C, marching over K in steps of BK. Each step stages
// op(A)[BM x BK] and op(B)[BK x BN] in shared memory, both stored k-major (As[k][m], Bs[k][n]) so
// the inner product loop reads a row of each. The next step's global loads are issued into
// registers before the current step's arithmetic, so their latency hides behind it.
//
// Thread mapping (256 threads, laid out kTy = BM/TM rows by kTx = BN/TN columns, both 16):
// thread (ty, tx) owns the TM x TN outputs at tile rows ty + kTy*i and columns tx + kTx*j. Strided
// rather than contiguous ownership: a warp (two values of ty, sixteen of tx) then reads two
// broadcast words of As and sixteen consecutive words of Bs per k (no bank conflicts), and its
// stores to C are 16-float runs on two rows.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileShape {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kTy = BM / TM, kTx = BN / TN, kThreads = kTy * kTx;
  static_assert(kTx == 16 && kTy == 16, "the mapping above assumes a 16 x 16 thread layout");
};
using SmallTile = TileShape<64, 64, 16, 4, 4>;    // most dense-layer shapes: more blocks
using LargeTile = TileShape<128, 128, 16, 8, 8>;  // big outputs: 4x the FMAs per shared load

// Row padding of the shared tiles. Tiles whose global storage is k-contiguous are written one
// column of BK values per half-warp; a row stride of 2 (mod 32) puts a warp's 32 stores in 32
// distinct banks.
constexpr int kPad = 2;

// Element (r, k) of an operand seen as (R x K): stored at X[r*K + k] when KContig, else at
// X[k*R + r]. op(A) is (M x K) with KContig = (ta == No); op(B)^T is (N x K) with KContig =
// (tb == Yes). A tile load covers rows [r0, r0 + ROWS) and depth [k0, k0 + BK); each thread
// fetches ROWS*BK/THREADS elements. Consecutive threads walk the contiguous dimension, so a warp's
// loads coalesce. Out-of-range elements read 0, which adds nothing to the dot products.
template <bool KContig, int ROWS, int BK, int THREADS>
struct TileLoader {
  static_assert(THREADS % BK == 0 && THREADS % ROWS == 0 && (ROWS * BK) % THREADS == 0);
  static constexpr int kPerThread = ROWS * BK / THREADS;

  __device__ __forceinline__ static void coords(int t, int i, int& r, int& k) {
    if constexpr (KContig) {
      k = t % BK;
      r = t / BK + i * (THREADS / BK);
    } else {
      r = t % ROWS;
      k = t / ROWS + i * (THREADS / ROWS);
    }
  }

  __device__ __forceinline__ static void load(const float* __restrict__ X, int R, int K, int r0,
                                              int k0, int t, float (&v)[kPerThread]) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      int r, k;
      coords(t, i, r, k);
      const int gr = r0 + r, gk = k0 + k;
      float x = 0.0f;
      if (gr < R && gk < K) x = KContig ? X[size_t(gr) * K + gk] : X[size_t(gk) * R + gr];
      v[i] = x;
    }
  }

  __device__ __forceinline__ static void store(float (*Xs)[ROWS + kPad], int t,
                                               const float (&v)[kPerThread]) {
#pragma unroll
    for (int i = 0; i < kPerThread; ++i) {
      int r, k;
      coords(t, i, r, k);
      Xs[k][r] = v[i];
    }
  }
};

// C (M, N) = act(alpha * op(A) op(B) + beta * C + bias). One block per BM x BN tile of C
// (blockIdx.x along N, blockIdx.y along M); thread mapping in the comment above TileShape.
template <Trans TA, Trans TB, class S>
__global__ void __launch_bounds__(S::kThreads)
    gemm_tiled_kernel(int M, int N, int K, float alpha, const float* __restrict__ A,
                      const float* __restrict__ B, float beta, float* __restrict__ C,
                      const float* __restrict__ bias, Activation act) {
  constexpr int BM = S::BM, BN = S::BN, BK = S::BK, TM = S::TM, TN = S::TN;
  constexpr int kTy = S::kTy, kTx = S::kTx, kThreads = S::kThreads;
  using LoaderA = TileLoader<TA == Trans::No, BM, BK, kThreads>;
  using LoaderB = TileLoader<TB == Trans::Yes, BN, BK, kThreads>;

  __shared__ float As[BK][BM + kPad];
  __shared__ float Bs[BK][BN + kPad];

  const int t = threadIdx.x;
  const int tx = t % kTx, ty = t / kTx;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;

  float a_next[LoaderA::kPerThread], b_next[LoaderB::kPerThread];
  LoaderA::load(A, M, K, m0, 0, t, a_next);
  LoaderB::load(B, N, K, n0, 0, t, b_next);

  float acc[TM][TN] = {};
  for (int k0 = 0; k0 < K; k0 += BK) {
    LoaderA::store(As, t, a_next);
    LoaderB::store(Bs, t, b_next);
    __syncthreads();
    if (k0 + BK < K) {
      LoaderA::load(A, M, K, m0, k0 + BK, t, a_next);
      LoaderB::load(B, N, K, n0, k0 + BK, t, b_next);
    }
#pragma unroll
    for (int k = 0; k < BK; ++k) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[k][ty + kTy * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[k][tx + kTx * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();  // every read of this step's tiles is done before the next step overwrites
  }

  // Epilogue: C is read only when beta != 0, so a NaN-poisoned C with beta == 0 stays harmless.
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int row = m0 + ty + kTy * i;
    if (row >= M) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int col = n0 + tx + kTx * j;
      if (col >= N) continue;
      float* c = C + size_t(row) * N + col;
      float v = alpha * acc[i][j];
      if (beta != 0.0f) v += beta * *c;
      if (bias) v += bias[col];
      *c = act_forward(act, v);
    }
  }
}

template <Trans TA, Trans TB, class S>
void launch_tiled(cudaStream_t stream, int M, int N, int K, float alpha, const float* A,
                  const float* B, float beta, float* C, const float* bias, Activation act) {
  const dim3 grid((N + S::BN - 1) / S::BN, (M + S::BM - 1) / S::BM);
  gemm_tiled_kernel<TA, TB, S>
      <<<grid, S::kThreads, 0, stream>>>(M, N, K, alpha, A, B, beta, C, bias, act);
  CUDA_CHECK_LAUNCH();
}

// Large tiles only when the output has enough of them to keep every SM busy (>= 256 tiles of
// 128 x 128). Both shapes sum over k in the same order, so the choice never changes a result.
template <Trans TA, Trans TB>
void gemm_tiled(cudaStream_t stream, int M, int N, int K, float alpha, const float* A,
                const float* B, float beta, float* C, const float* bias, Activation act) {
  if (size_t(M) * size_t(N) >= (size_t(1) << 22)) {
    launch_tiled<TA, TB, LargeTile>(stream, M, N, K, alpha, A, B, beta, C, bias, act);
  } else {
    launch_tiled<TA, TB, SmallTile>(stream, M, N, K, alpha, A, B, beta, C, bias, act);
  }
}

// ---- cuBLAS + epilogue --------------------------------------------------------------------------

// C (M, N) = act(C + bias), in place. Thread mapping: one element per thread, grid-stride over the
// flattened row-major C (consecutive threads take consecutive columns: coalesced).
__global__ void bias_act_kernel(float* __restrict__ C, const float* __restrict__ bias, size_t total,
                                int N, Activation act) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t idx = size_t(blockIdx.x) * blockDim.x + threadIdx.x; idx < total; idx += stride) {
    float v = C[idx];
    if (bias) v += bias[idx % N];
    C[idx] = act_forward(act, v);
  }
}

void gemm_cublas(const GemmContext& ctx, Trans ta, Trans tb, int M, int N, int K, float alpha,
                 const float* A, const float* B, float beta, float* C, const float* bias,
                 Activation act) {
  // cublasSetStream also resets the handle's workspace to cuBLAS' default pool, which would undo a
  // workspace set for CUDA-graph capture (engine/core/context.cpp): only switch when it differs.
  cudaStream_t current = nullptr;
  CUBLAS_CHECK(cublasGetStream(ctx.cublas, &current));
  if (current != ctx.stream) CUBLAS_CHECK(cublasSetStream(ctx.cublas, ctx.stream));
  CUBLAS_CHECK(cublasSetPointerMode(ctx.cublas, CUBLAS_POINTER_MODE_HOST));
  CUBLAS_CHECK(
      cublasSetMathMode(ctx.cublas, ctx.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  // cuBLAS is column-major, and a row-major (R, S) matrix read column-major is its transpose
  // (S, R). So compute C^T (N, M) = op(B)^T op(A)^T: B's storage read column-major already is
  // op(B)^T when tb == No (leading dimension N), and needs a transpose when tb == Yes (stored
  // (N, K), leading dimension K); likewise A with leading dimension K (No) or M (Yes). C^T's
  // leading dimension is N. With beta == 0 cuBLAS does not read C.
  const cublasOperation_t op_b = tb == Trans::No ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t op_a = ta == Trans::No ? CUBLAS_OP_N : CUBLAS_OP_T;
  const int ld_b = tb == Trans::No ? N : K;
  const int ld_a = ta == Trans::No ? K : M;
  CUBLAS_CHECK(cublasSgemm(ctx.cublas, op_b, op_a, N, M, K, &alpha, B, ld_b, A, ld_a, &beta, C, N));

  if (bias == nullptr && act.kind == ActKind::Identity) return;
  constexpr int kThreads = 256;
  const size_t total = size_t(M) * size_t(N);
  const size_t blocks = (total + kThreads - 1) / kThreads;
  const unsigned grid = unsigned(blocks < (size_t(1) << 20) ? blocks : (size_t(1) << 20));
  bias_act_kernel<<<grid, kThreads, 0, ctx.stream>>>(C, bias, total, N, act);
  CUDA_CHECK_LAUNCH();
}

}  // namespace

void gemm(const GemmContext& ctx, Trans ta, Trans tb, int M, int N, int K, float alpha,
          const float* A, const float* B, float beta, float* C, const float* bias, Activation act) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  if (ctx.backend == GemmBackend::Cublas) {
    gemm_cublas(ctx, ta, tb, M, N, K, alpha, A, B, beta, C, bias, act);
    return;
  }
  const cudaStream_t s = ctx.stream;
  if (ta == Trans::No && tb == Trans::No) {
    gemm_tiled<Trans::No, Trans::No>(s, M, N, K, alpha, A, B, beta, C, bias, act);
  } else if (ta == Trans::No) {
    gemm_tiled<Trans::No, Trans::Yes>(s, M, N, K, alpha, A, B, beta, C, bias, act);
  } else if (tb == Trans::No) {
    gemm_tiled<Trans::Yes, Trans::No>(s, M, N, K, alpha, A, B, beta, C, bias, act);
  } else {
    gemm_tiled<Trans::Yes, Trans::Yes>(s, M, N, K, alpha, A, B, beta, C, bias, act);
  }
}

}  // namespace gan::cuda
