#include "kernels/bce.h"

#include "kernels/scalar.h"

namespace gan::cpu {

// L = (1/N) sum_i l(z_i, t_i) with l = max(z, 0) - z t + log(1 + e^-|z|)
//  => dL/dz_i = (sigmoid(z_i) - t_i) / N.
template <class T>
void bce_with_logits(const T* logits, const T* targets, size_t N, T grad_scale, T* dlogits,
                     BceStats<T>* stats) {
  T loss = T(0), prob = T(0), correct = T(0);
  for (size_t i = 0; i < N; ++i) {
    const T z = logits[i], t = targets[i];
    const T s = sigmoid_of(z);
    loss += bce_with_logits_value(z, t);
    prob += s;
    correct += ((z > T(0)) == (t > T(0.5))) ? T(1) : T(0);
    if (dlogits) dlogits[i] = grad_scale * (s - t) / T(N);
  }
  if (stats) *stats = BceStats<T>{loss / T(N), prob / T(N), correct / T(N)};
}

template void bce_with_logits<float>(const float*, const float*, size_t, float, float*,
                                     BceStats<float>*);
template void bce_with_logits<double>(const double*, const double*, size_t, double, double*,
                                      BceStats<double>*);

}  // namespace gan::cpu
