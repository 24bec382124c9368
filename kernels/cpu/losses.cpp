#include "kernels/losses.h"

#include "kernels/scalar.h"

namespace gan::cpu {

// L = sign (1/N) sum_i score_i  =>  dL/dscore_i = sign / N.
template <class T>
void wasserstein_loss(const T* scores, size_t N, T sign, T* dscores, BceStats<T>* stats) {
  T sum = T(0);
  for (size_t i = 0; i < N; ++i) {
    sum += scores[i];
    if (dscores) dscores[i] = sign / T(N);
  }
  const T mean = sum / T(N);
  if (stats) *stats = BceStats<T>{sign * mean, mean, T(0)};
}

// L = (1/N) sum_i (s_i - t_i)^2 with s = sigmoid(z), ds/dz = s (1 - s)
//  => dL/dz_i = 2 (s_i - t_i) s_i (1 - s_i) / N.
template <class T>
void sigmoid_mse(const T* logits, const T* targets, size_t N, T* dlogits, T* loss) {
  T sum = T(0);
  for (size_t i = 0; i < N; ++i) {
    const T s = sigmoid_of(logits[i]);
    const T e = s - targets[i];
    sum += e * e;
    if (dlogits) dlogits[i] = T(2) * e * s * (T(1) - s) / T(N);
  }
  if (loss) *loss = sum / T(N);
}

template void wasserstein_loss<float>(const float*, size_t, float, float*, BceStats<float>*);
template void wasserstein_loss<double>(const double*, size_t, double, double*, BceStats<double>*);
template void sigmoid_mse<float>(const float*, const float*, size_t, float*, float*);
template void sigmoid_mse<double>(const double*, const double*, size_t, double*, double*);

}  // namespace gan::cpu
