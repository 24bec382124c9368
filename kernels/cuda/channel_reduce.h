// Per-channel reductions over a (B, C, S) tensor (NCHW with S = H W), one block per channel, in a
// fixed order: BatchNorm2d's statistics and a convolution's bias gradient. Device code: include
// from .cu files only.
#pragma once
#include <cstddef>

namespace gan::cuda {

// Threads per channel block: a multiple of 32 (the block sum works warp by warp), at most 1024.
constexpr int kChannelThreads = 512;

// Calls f(offset) for the elements of channel c of a (B, C, S) tensor that this thread owns: the
// flat positions j = threadIdx.x, + blockDim.x, ... of the channel's B S values taken in (n, s)
// order, at offset (n C + c) S + s. The channel is B runs of S contiguous floats, so a warp reads
// consecutive addresses within a run. (n, s) advance by (blockDim.x / S, blockDim.x % S) plus at
// most one carry: no division inside the loop. Each thread visits its elements in increasing j, so
// a sum over them has the same order on every run.
template <class F>
__device__ __forceinline__ void for_channel_elements(int B, int C, int S, int c, F&& f) {
  const int step_n = int(blockDim.x) / S, step_s = int(blockDim.x) % S;
  int n = int(threadIdx.x) / S, s = int(threadIdx.x) % S;
  while (n < B) {
    f((size_t(n) * C + c) * S + s);
    n += step_n;
    s += step_s;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
}

// Sums each v[k] over the block; every thread gets the totals. The order is fixed: a shuffle tree
// within each warp (lane l adds lane l + 16, + 8, ...), then warp 0 combines the per-warp sums by
// the same tree. Call from every thread of the block (it holds barriers); blockDim.x must be a
// multiple of 32. Ends with a barrier, so it may be called again straight away.
template <int K>
__device__ __forceinline__ void block_sum(float (&v)[K]) {
  __shared__ float partial[K][32];
  const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
  const int warps = int(blockDim.x) / 32;
#pragma unroll
  for (int k = 0; k < K; ++k) {
    for (int offset = 16; offset > 0; offset /= 2)
      v[k] += __shfl_down_sync(0xffffffffu, v[k], offset);
    if (lane == 0) partial[k][warp] = v[k];
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      float t = lane < warps ? partial[k][lane] : 0.0f;
      for (int offset = 16; offset > 0; offset /= 2) t += __shfl_down_sync(0xffffffffu, t, offset);
      if (lane == 0) partial[k][0] = t;
    }
  }
  __syncthreads();
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = partial[k][0];
  __syncthreads();  // everyone has read the totals before a next call overwrites them
}

}  // namespace gan::cuda
