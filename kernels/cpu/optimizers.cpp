#include "kernels/optimizers.h"

#include <cstddef>

#include "kernels/scalar.h"

namespace gan::cpu {

namespace {
// Sets the divergence flags (common.h) from what one op's pass found.
void set_flags(float* nonfinite, bool bad_p, bool bad_state) {
  if (nonfinite && bad_p) nonfinite[kNonfiniteParams] = 1.0f;
  if (nonfinite && bad_state) nonfinite[kNonfiniteState] = 1.0f;
}
}  // namespace

template <class T>
void sgd_step(const SgdConfig& cfg, T* p, const T* g, T* buf, size_t N, const uint64_t* t,
              float* nonfinite) {
  const T lr = staircase_lr<T>(T(cfg.lr), T(cfg.decay), cfg.decay_every, *t);
  const bool momentum = T(cfg.momentum) != T(0);  // buf is written only with momentum
  bool bad_p = false, bad_state = false;
  for (size_t i = 0; i < N; ++i) {
    sgd_update<T>(p[i], g[i], buf[i], lr, T(cfg.momentum));
    bad_p |= !finite_value(p[i]);
    bad_state |= momentum && !finite_value(buf[i]);
  }
  set_flags(nonfinite, bad_p, bad_state);
}

template <class T>
void rmsprop_step(const RmspropConfig& cfg, T* p, const T* g, T* v, size_t N, float* nonfinite) {
  bool bad_p = false, bad_state = false;
  for (size_t i = 0; i < N; ++i) {
    rmsprop_update<T>(p[i], g[i], v[i], T(cfg.lr), T(cfg.alpha), T(cfg.eps));
    bad_p |= !finite_value(p[i]);
    bad_state |= !finite_value(v[i]);
  }
  set_flags(nonfinite, bad_p, bad_state);
}

template <class T>
void clip_values(T* p, size_t N, T c, float* nonfinite) {
  bool bad = false;
  for (size_t i = 0; i < N; ++i) {
    p[i] = clip_value(p[i], c);
    bad |= !finite_value(p[i]);
  }
  set_flags(nonfinite, bad, false);
}

template void sgd_step<float>(const SgdConfig&, float*, const float*, float*, size_t,
                              const uint64_t*, float*);
template void sgd_step<double>(const SgdConfig&, double*, const double*, double*, size_t,
                               const uint64_t*, float*);
template void rmsprop_step<float>(const RmspropConfig&, float*, const float*, float*, size_t,
                                  float*);
template void rmsprop_step<double>(const RmspropConfig&, double*, const double*, double*, size_t,
                                   float*);
template void clip_values<float>(float*, size_t, float, float*);
template void clip_values<double>(double*, size_t, double, float*);

}  // namespace gan::cpu
