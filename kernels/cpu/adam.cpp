#include "kernels/adam.h"

#include <cstddef>

#include "kernels/scalar.h"

namespace gan::cpu {

template <class T>
void adam_step(const AdamConfig& cfg, T* p, const T* g, T* m, T* v, size_t N,
               const uint64_t* step, float* nonfinite) {
  const T bc1 = adam_bias_correction(T(cfg.beta1), *step);
  const T bc2 = adam_bias_correction(T(cfg.beta2), *step);
  // Element-wise, so splitting it over threads changes no result; the flags are ORs, which do not
  // depend on the split either.
  const T lr = staircase_lr(T(cfg.lr), T(cfg.decay), cfg.decay_every, *step), b1 = T(cfg.beta1), b2 = T(cfg.beta2), eps = T(cfg.eps),
          wd = T(cfg.weight_decay);
  const bool decoupled = cfg.decoupled;
  const ptrdiff_t n = ptrdiff_t(N);
  int bad_p = 0, bad_state = 0;
#pragma omp parallel for schedule(static) if (n > 65536) reduction(| : bad_p, bad_state)
  for (ptrdiff_t i = 0; i < n; ++i) {
    adam_update<T>(p[i], g[i], m[i], v[i], lr, b1, b2, eps, wd, decoupled, bc1, bc2);
    bad_p |= !finite_value(p[i]);
    bad_state |= !(finite_value(m[i]) && finite_value(v[i]));
  }
  if (nonfinite && bad_p) nonfinite[kNonfiniteParams] = 1.0f;
  if (nonfinite && bad_state) nonfinite[kNonfiniteState] = 1.0f;
}

template void adam_step<float>(const AdamConfig&, float*, const float*, float*, float*, size_t,
                               const uint64_t*, float*);
template void adam_step<double>(const AdamConfig&, double*, const double*, double*, double*, size_t,
                                const uint64_t*, float*);

}  // namespace gan::cpu
