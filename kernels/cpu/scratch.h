// CPU-internal: per-thread scratch that only ever grows. std::vector::resize zero-fills every
// element it adds, so resizing a reused buffer down and up again between calls of different
// shapes zero-filled it on each call (a memset per GEMM in a training step).
#pragma once
#include <cstddef>
#include <vector>

namespace gan::cpu {

// At least n elements (contents unspecified); no allocation or fill once n has been seen.
template <class T>
T* scratch_at_least(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace gan::cpu
