#include "kernels/adam.h"

#include "kernels/scalar.h"

namespace gan::cpu {

template <class T>
void adam_step(const AdamConfig& cfg, T* p, const T* g, T* m, T* v, size_t N,
               const uint64_t* step) {
  const T bc1 = adam_bias_correction(T(cfg.beta1), *step);
  const T bc2 = adam_bias_correction(T(cfg.beta2), *step);
  for (size_t i = 0; i < N; ++i)
    adam_update<T>(p[i], g[i], m[i], v[i], T(cfg.lr), T(cfg.beta1), T(cfg.beta2), T(cfg.eps),
                   T(cfg.weight_decay), cfg.decoupled, bc1, bc2);
}

template void adam_step<float>(const AdamConfig&, float*, const float*, float*, float*, size_t,
                               const uint64_t*);
template void adam_step<double>(const AdamConfig&, double*, const double*, double*, double*, size_t,
                                const uint64_t*);

}  // namespace gan::cpu
