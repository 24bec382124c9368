// An exponential moving average of a flat parameter block (StudioGAN's G EMA): one pass per step.
#pragma once
#include "common.h"

namespace gan {

// ema, p: (N). With t = *step (read from memory when the op runs, like Adam's counter):
//   t >= start: ema_i = p_i + decay (ema_i - p_i)   (torch.lerp(p, ema, decay), StudioGAN's form)
//   t <  start: ema_i = p_i                         (a copy: the average starts at `start`)
// ema_element (scalar.h) is the one formula both paths use, so they agree bitwise.
namespace cpu {
template <class T>
void ema_update(T* ema, const T* p, size_t N, float decay, uint64_t start, const uint64_t* step);
}  // namespace cpu

namespace cuda {
// step: device memory.
void ema_update(float* ema, const float* p, size_t N, float decay, uint64_t start,
                const uint64_t* step, cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
