// Launch shapes shared by the element-wise (grid-stride) kernels.
#pragma once
#include <algorithm>
#include <cstddef>

namespace gan::cuda {

constexpr int kGridStrideThreads = 256;

// Blocks for a grid-stride loop over `work` items: one item per thread up to 4096 blocks (enough
// to fill any current GPU several times over); beyond that the loops stride.
inline unsigned grid_stride_blocks(size_t work) {
  return unsigned(std::min<size_t>((work + kGridStrideThreads - 1) / kGridStrideThreads, 4096));
}

}  // namespace gan::cuda
