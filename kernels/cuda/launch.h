// Launch shapes shared by the element-wise (grid-stride) kernels, and the divergence vote the
// optimizer kernels end with.
#pragma once
#include <algorithm>
#include <cstddef>

#include "kernels/common.h"

namespace gan::cuda {

constexpr int kGridStrideThreads = 256;

// Blocks for a grid-stride loop over `work` items: one item per thread up to 4096 blocks (enough
// to fill any current GPU several times over); beyond that the loops stride.
inline unsigned grid_stride_blocks(size_t work) {
  return unsigned(std::min<size_t>((work + kGridStrideThreads - 1) / kGridStrideThreads, 4096));
}

// Ends an optimizer kernel's divergence check (common.h): each thread has ORed "a value I wrote
// is not finite" over its grid-stride loop into bad_p / bad_state; one vote per flag across the
// block, then thread 0 stores 1 where any thread saw one. Every storing block writes the same
// value and none reads the flag, so the result does not depend on block order (a set, never a
// count); the store is an atomic exchange only so that blocks storing at once do not race in the
// memory model's sense. Call it after the loop, from every thread of the block (the votes are
// barriers); the null test is uniform across the block, so skipping the votes is safe.
__device__ __forceinline__ void flag_nonfinite(float* nonfinite, bool bad_p, bool bad_state) {
  if (!nonfinite) return;
  const int any_p = __syncthreads_or(bad_p);
  const int any_state = __syncthreads_or(bad_state);
  if (threadIdx.x == 0) {
    if (any_p) atomicExch(nonfinite + gan::kNonfiniteParams, 1.0f);
    if (any_state) atomicExch(nonfinite + gan::kNonfiniteState, 1.0f);
  }
}

}  // namespace gan::cuda
