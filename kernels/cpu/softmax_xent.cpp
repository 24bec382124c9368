#include "kernels/softmax_xent.h"

#include <cmath>

namespace gan::cpu {

// Per row, with m = max_c z_c, s = sum_c e^(z_c - m), p_c = e^(z_c - m) / s and label y:
//   l = -log p_y = log s - (z_y - m)  =>  dl/dz_c = p_c - [c == y]   (d log s / dz_c = p_c).
// L = (1/B) sum_b l_b, so d(grad_scale L)/dz_bc = grad_scale (p_bc - [c == y_b]) / B.
template <class T>
void softmax_xent(const T* logits, const uint8_t* labels, const uint32_t* indices, int B, int C,
                  T grad_scale, T* probs, T* dlogits, BceStats<T>* stats) {
  const bool need_label = dlogits != nullptr || stats != nullptr;
  T loss = T(0), prob = T(0), correct = T(0);
  for (int b = 0; b < B; ++b) {
    const T* z = logits + size_t(b) * size_t(C);
    int argmax = 0;  // the first index of the maximum: only a strictly larger value moves it
    for (int c = 1; c < C; ++c)
      if (z[c] > z[argmax]) argmax = c;
    const T m = z[argmax];
    T s = T(0);
    for (int c = 0; c < C; ++c) s += std::exp(z[c] - m);
    const int y = need_label ? int(labels[indices ? indices[b] : uint32_t(b)]) : -1;
    // Read before the row is written: probs or dlogits may be the logits themselves.
    const T zy_shift = y >= 0 ? z[y] - m : T(0);
    for (int c = 0; c < C; ++c) {
      const T p = std::exp(z[c] - m) / s;
      if (probs) probs[size_t(b) * size_t(C) + size_t(c)] = p;
      if (dlogits)
        dlogits[size_t(b) * size_t(C) + size_t(c)] =
            grad_scale * (p - (c == y ? T(1) : T(0))) / T(B);
    }
    if (stats) {
      loss += std::log(s) - zy_shift;
      prob += std::exp(zy_shift) / s;
      correct += argmax == y ? T(1) : T(0);
    }
  }
  if (stats) *stats = BceStats<T>{loss / T(B), prob / T(B), correct / T(B)};
}

template void softmax_xent<float>(const float*, const uint8_t*, const uint32_t*, int, int, float,
                                  float*, float*, BceStats<float>*);
template void softmax_xent<double>(const double*, const uint8_t*, const uint32_t*, int, int, double,
                                   double*, double*, BceStats<double>*);

}  // namespace gan::cpu
