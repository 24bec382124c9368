// Softmax cross-entropy on the GPU: softmax, the loss gradient and the batch statistics in one
// pass, one warp per row, the statistics reduced in a fixed order so they are bitwise reproducible.
#include <algorithm>
#include <climits>
#include <cmath>

#include "kernels/cuda/check.h"
#include "kernels/softmax_xent.h"

namespace gan::cuda {
namespace {

constexpr int kWarp = 32;
constexpr unsigned kFullMask = 0xffffffffu;
// With statistics: one block of 32 warps. B is a classifier's batch size (a few thousand rows at
// most), and a single block sums the per-warp partials in a fixed order with no scratch memory
// and no atomics. Without: 8 warps per block, as many blocks as the rows fill (capped; the warps
// then stride over rows).
constexpr int kStatsThreads = 1024;
constexpr int kRowThreads = 256;
constexpr int kMaxBlocks = 4096;

// Per row, with m = max_c z_c, s = sum_c e^(z_c - m), p_c = e^(z_c - m) / s and label y:
//   l = -log p_y = log s - (z_y - m)  =>  dl/dz_c = p_c - [c == y]   (d log s / dz_c = p_c).
// L = (1/B) sum_b l_b, so d(grad_scale L)/dz_bc = grad_scale (p_bc - [c == y_b]) / B.
//
// Thread mapping: one warp per row; warp w of the grid takes rows w, w + (warps in the grid), ...
// Lane j of the warp takes columns j, j + 32, ... (coalesced). The row maximum and its first
// index, then the exponential sum, are butterfly reductions (__shfl_xor_sync) whose shape depends
// only on the warp size, so every lane ends with the same bits; lane 0 keeps the warp's running
// loss, true-class probability and correct count over its rows in row order. With stats (one
// block), thread 0 then adds the 32 warp partials in warp order.
// In place: the only element a lane reads outside its own columns is z_y, read before the
// __syncwarp that precedes the first write to the row; each lane reads its own z_c before writing
// probs/dlogits at c. So probs or dlogits may be the logits themselves.
__global__ void __launch_bounds__(kStatsThreads)
    softmax_xent_kernel(const float* logits, const uint8_t* labels, const uint32_t* indices, int B,
                        int C, float grad_scale, float* probs, float* dlogits,
                        BceStats<float>* stats) {
  __shared__ float loss_part[kStatsThreads / kWarp];
  __shared__ float prob_part[kStatsThreads / kWarp];
  __shared__ unsigned correct_part[kStatsThreads / kWarp];
  const int lane = threadIdx.x % kWarp;
  const int warp = threadIdx.x / kWarp;
  const int warps_per_block = blockDim.x / kWarp;
  const bool need_label = dlogits != nullptr || stats != nullptr;
  const float n = float(B);

  float loss = 0.0f, prob = 0.0f;
  unsigned correct = 0;
  for (int b = blockIdx.x * warps_per_block + warp; b < B; b += gridDim.x * warps_per_block) {
    const float* z = logits + size_t(b) * size_t(C);
    const int y = need_label ? int(labels[indices ? indices[b] : uint32_t(b)]) : -1;
    const float zy = y >= 0 ? z[y] : 0.0f;

    // Row maximum and its first index: each lane scans its columns in increasing order (only a
    // strictly larger value moves it); the merge keeps the larger value, or the smaller index on
    // a tie, which is order-free, so every lane agrees. A lane with no column offers -inf at
    // INT_MAX, which loses to any real column.
    float m = -INFINITY;
    int arg = INT_MAX;
    for (int c = lane; c < C; c += kWarp) {
      const float v = z[c];
      if (arg == INT_MAX || v > m) {
        m = v;
        arg = c;
      }
    }
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float other_m = __shfl_xor_sync(kFullMask, m, offset);
      const int other_arg = __shfl_xor_sync(kFullMask, arg, offset);
      if (other_m > m || (other_m == m && other_arg < arg)) {
        m = other_m;
        arg = other_arg;
      }
    }

    float s = 0.0f;
    for (int c = lane; c < C; c += kWarp) s += expf(z[c] - m);
    for (int offset = kWarp / 2; offset > 0; offset /= 2)
      s += __shfl_xor_sync(kFullMask, s, offset);  // a + b == b + a: both partners get one value

    __syncwarp();  // every lane has read z_y and its columns before any lane writes the row
    if (probs != nullptr || dlogits != nullptr) {
      for (int c = lane; c < C; c += kWarp) {
        const float p = expf(z[c] - m) / s;
        const size_t at = size_t(b) * size_t(C) + size_t(c);
        if (probs != nullptr) probs[at] = p;
        if (dlogits != nullptr) dlogits[at] = grad_scale * (p - (c == y ? 1.0f : 0.0f)) / n;
      }
    }
    if (stats != nullptr && lane == 0) {
      const float zy_shift = zy - m;
      loss += logf(s) - zy_shift;
      prob += expf(zy_shift) / s;
      correct += unsigned(arg == y);
    }
  }
  if (stats == nullptr) return;  // uniform across the block: no thread is left at a barrier

  if (lane == 0) {
    loss_part[warp] = loss;
    prob_part[warp] = prob;
    correct_part[warp] = correct;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float loss_sum = 0.0f, prob_sum = 0.0f;
    unsigned correct_sum = 0;
    for (int w = 0; w < warps_per_block; ++w) {
      loss_sum += loss_part[w];
      prob_sum += prob_part[w];
      correct_sum += correct_part[w];
    }
    stats->loss = loss_sum / n;
    stats->mean_prob = prob_sum / n;
    stats->accuracy = float(correct_sum) / n;
  }
}

}  // namespace

// logits, probs, dlogits: (B, C); labels indexed by indices (B) or by row; stats: one BceStats in
// device memory.
void softmax_xent(const float* logits, const uint8_t* labels, const uint32_t* indices, int B, int C,
                  float grad_scale, float* probs, float* dlogits, BceStats<float>* stats,
                  cudaStream_t stream) {
  if (B <= 0 || (probs == nullptr && dlogits == nullptr && stats == nullptr)) return;
  if (stats != nullptr) {
    softmax_xent_kernel<<<1, kStatsThreads, 0, stream>>>(logits, labels, indices, B, C, grad_scale,
                                                         probs, dlogits, stats);
  } else {
    constexpr int rows_per_block = kRowThreads / kWarp;
    const int blocks = std::min((B + rows_per_block - 1) / rows_per_block, kMaxBlocks);
    softmax_xent_kernel<<<blocks, kRowThreads, 0, stream>>>(logits, labels, indices, B, C,
                                                            grad_scale, probs, dlogits, stats);
  }
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
