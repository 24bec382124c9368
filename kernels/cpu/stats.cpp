#include "kernels/stats.h"

namespace gan::cpu {

void stats_to_slot(const float* src, int n, float* slots, uint32_t n_slots, const uint64_t* step) {
  float* dst = slots + size_t((*step - 1) % n_slots) * n;
  for (int i = 0; i < n; ++i) dst[i] = src[i];
}

void stats_zero(float* x, int n) {
  for (int i = 0; i < n; ++i) x[i] = 0.0f;
}

}  // namespace gan::cpu
