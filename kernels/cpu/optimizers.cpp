#include "kernels/optimizers.h"

#include <cstddef>

#include "kernels/scalar.h"

namespace gan::cpu {

template <class T>
void sgd_step(const SgdConfig& cfg, T* p, const T* g, T* buf, size_t N, const uint64_t* t) {
  const T lr = staircase_lr<T>(T(cfg.lr), T(cfg.decay), cfg.decay_every, *t);
  for (size_t i = 0; i < N; ++i) sgd_update<T>(p[i], g[i], buf[i], lr, T(cfg.momentum));
}

template <class T>
void rmsprop_step(const RmspropConfig& cfg, T* p, const T* g, T* v, size_t N) {
  for (size_t i = 0; i < N; ++i)
    rmsprop_update<T>(p[i], g[i], v[i], T(cfg.lr), T(cfg.alpha), T(cfg.eps));
}

template <class T>
void clip_values(T* p, size_t N, T c) {
  for (size_t i = 0; i < N; ++i) p[i] = clip_value(p[i], c);
}

template void sgd_step<float>(const SgdConfig&, float*, const float*, float*, size_t,
                              const uint64_t*);
template void sgd_step<double>(const SgdConfig&, double*, const double*, double*, size_t,
                               const uint64_t*);
template void rmsprop_step<float>(const RmspropConfig&, float*, const float*, float*, size_t);
template void rmsprop_step<double>(const RmspropConfig&, double*, const double*, double*, size_t);
template void clip_values<float>(float*, size_t, float);
template void clip_values<double>(double*, size_t, double);

}  // namespace gan::cpu
