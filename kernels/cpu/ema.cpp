#include "kernels/ema.h"

#include <algorithm>

#include "kernels/scalar.h"

namespace gan::cpu {

// ema, p: (N); step: the current step, read once.
template <class T>
void ema_update(T* ema, const T* p, size_t N, float decay, uint64_t start, const uint64_t* step) {
  if (N == 0) return;
  if (*step < start) {
    std::copy(p, p + N, ema);
    return;
  }
  for (size_t i = 0; i < N; ++i) ema[i] = ema_element<T>(ema[i], p[i], T(decay));
}

template void ema_update<float>(float*, const float*, size_t, float, uint64_t, const uint64_t*);
template void ema_update<double>(double*, const double*, size_t, float, uint64_t, const uint64_t*);

}  // namespace gan::cpu
