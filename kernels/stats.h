// Filing one step's statistics into a ring of per-step slots, indexed by the step counter in
// memory, so every step is the same launch with the same arguments (a CUDA graph replays it).
#pragma once
#include "common.h"

namespace gan {

// src: (n) floats; slots: (n_slots, n). Copies src into slot (*step - 1) % n_slots; step >= 1.
// stats_zero: x: (n) floats set to 0, in the stream's order (a step clears the flags its ops only
// ever set, e.g. the optimizers' divergence flags, before they run).
namespace cpu {
void stats_to_slot(const float* src, int n, float* slots, uint32_t n_slots, const uint64_t* step);
void stats_zero(float* x, int n);
}  // namespace cpu

namespace cuda {
void stats_to_slot(const float* src, int n, float* slots, uint32_t n_slots, const uint64_t* step,
                   cudaStream_t stream);
void stats_zero(float* x, int n, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
