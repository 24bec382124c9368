// Class labels for the conditioning tests (CPU reference and GPU parity alike).
#pragma once
#include <cstdint>
#include <vector>

#include "test_util.h"

namespace gan::test {

// Labels in [0, K), with a few out of range (K itself, far past it, the largest uint32) at random
// rows when B > 2: append_onehot must give those all-zero blocks.
inline std::vector<uint32_t> labels_with_strays(Rng& rng, int B, int K) {
  std::vector<uint32_t> labels(B);
  for (auto& l : labels) l = uint32_t(rng.uniform_int(0, K - 1));
  if (B > 2) {
    const uint32_t strays[] = {uint32_t(K), uint32_t(K) + 1000u, 0xFFFFFFFFu};
    for (uint32_t s : strays) labels[rng.uniform_int(0, B - 1)] = s;
  }
  return labels;
}

}  // namespace gan::test
