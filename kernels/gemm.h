// GEMM for dense layers, row-major, with a fused per-column bias and activation epilogue.
#pragma once
#include "common.h"

namespace gan {

enum class Trans : uint8_t { No, Yes };

// Which CUDA implementation computes a GEMM. Benchmarks choose between them; results agree
// within float rounding.
enum class GemmBackend : uint8_t { Cublas, Tiled };

const char* gemm_backend_name(GemmBackend backend);

// C (M, N) = act(alpha * op(A) op(B) + beta * C + bias), all matrices packed row-major.
// A is stored (M, K) when ta == No and (K, M) when Yes; B is (K, N) when tb == No, (N, K) when Yes.
// bias: (N) or null, added to every row. When beta == 0, C is only written, never read (it may hold
// NaN). M, N, K >= 1.
namespace cpu {
template <class T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, const T* B, T beta, T* C,
          const T* bias = nullptr, Activation act = {});
}  // namespace cpu

namespace cuda {

// Everything a CUDA GEMM needs besides its operands. tf32: let cuBLAS use TF32 tensor cores
// (opt-in; the tiled kernel is float32 only and ignores it).
struct GemmContext {
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  GemmBackend backend = GemmBackend::Cublas;
  bool tf32 = false;
};

void gemm(const GemmContext& ctx, Trans ta, Trans tb, int M, int N, int K, float alpha,
          const float* A, const float* B, float beta, float* C, const float* bias = nullptr,
          Activation act = {});

}  // namespace cuda
}  // namespace gan
