// CPU-internal: a float GEMM whose B operand is packed once and reused by several products (the
// convolutions' weights, shared by every chunk of images). Not part of the op contracts.
#pragma once
#include <vector>

#include "kernels/gemm.h"

namespace gan::cpu {

// op(B) (K, N) in the layout cpu::gemm<float>'s cache-blocked AVX2 path packs it into (24-column
// strips, k-major), or as op(B) row-major on CPUs without AVX2 and FMA.
struct PackedB {
  int K = 0, N = 0;
  bool strips = false;
  std::vector<float> data;  // reused: no allocation once the largest B has been packed
};

// B is (K, N) when tb == No, (N, K) when Yes.
void pack_gemm_b(Trans tb, int K, int N, const float* B, PackedB& out);

// C (M, N) = act(alpha op(A) op(B) + beta C + bias): on AVX2 each element one chain of FMAs in
// ascending k, the same bits as cpu::gemm<float> except for the x W^T case that takes its
// dot-product kernel (ta == No, tb == Yes, M % 4 == 0); independent of the thread count.
void gemm_packed(Trans ta, int M, float alpha, const float* A, const PackedB& B, float beta,
                 float* C, const float* bias = nullptr, Activation act = {});

// C (M, N) += op(A) op(B), each element's products FMA'd onto its value in C in ascending k: one
// chain per element across calls, no separate partial sum (the convolutions add kernel taps one
// product at a time this way). Without AVX2: gemm<float> with beta = 1.
void gemm_packed_onto(Trans ta, int M, const float* A, const PackedB& B, float* C);

}  // namespace gan::cpu
