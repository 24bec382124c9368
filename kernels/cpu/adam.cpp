#include "kernels/adam.h"

#include <algorithm>
#include <cstddef>

#include "kernels/cpu/isa.h"
#include "kernels/scalar.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif
#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gan::cpu {

template <class T>
void adam_step(const AdamConfig& cfg, T* p, const T* g, T* m, T* v, size_t N, const uint64_t* step,
               float* nonfinite) {
  const T lr = staircase_lr(T(cfg.lr), T(cfg.decay), cfg.decay_every, *step);
  T step_size, v_scale;
  adam_step_factors(lr, T(cfg.beta1), T(cfg.beta2), *step, step_size, v_scale);
  bool bad_p = false, bad_state = false;
  for (size_t i = 0; i < N; ++i) {
    adam_update<T>(p[i], g[i], m[i], v[i], lr, step_size, v_scale, T(cfg.beta1), T(cfg.beta2),
                   T(cfg.eps), T(cfg.weight_decay), cfg.decoupled);
    bad_p |= !finite_value(p[i]);
    bad_state |= !(finite_value(m[i]) && finite_value(v[i]));
  }
  if (nonfinite && bad_p) nonfinite[kNonfiniteParams] = 1.0f;
  if (nonfinite && bad_state) nonfinite[kNonfiniteState] = 1.0f;
}

// The float path: adam_update's arithmetic, operation for operation, on 16 or 8 lanes at a time
// (IEEE division and square root are correctly rounded in every lane, and the library is built
// with -ffp-contract=off, so no multiply and add are fused): the same bits as the scalar loop
// above, at any vector width and thread count. Memory-bound once vectorised (28 bytes per element:
// p, g, m, v read, p, m, v written), so it is split over the cores.
namespace {

struct AdamScalars {
  float lr, b1, b2, c1, c2, eps, wd, lr_wd, step_size, v_scale;
  bool decoupled;
};

struct Flags {
  bool p = false, state = false;
};

void adam_range_portable(const AdamScalars& s, float* p, const float* g, float* m, float* v,
                         size_t i0, size_t i1, Flags& bad) {
  for (size_t i = i0; i < i1; ++i) {
    adam_update<float>(p[i], g[i], m[i], v[i], s.lr, s.step_size, s.v_scale, s.b1, s.b2, s.eps,
                       s.wd, s.decoupled);
    bad.p |= !finite_value(p[i]);
    bad.state |= !(finite_value(m[i]) && finite_value(v[i]));
  }
}

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) void adam_range_avx512(
    const AdamScalars& s, float* p, const float* g, float* m, float* v, size_t i0, size_t i1,
    Flags& bad) {
  const __m512 b1 = _mm512_set1_ps(s.b1), b2 = _mm512_set1_ps(s.b2), c1 = _mm512_set1_ps(s.c1),
               c2 = _mm512_set1_ps(s.c2), eps = _mm512_set1_ps(s.eps), wd = _mm512_set1_ps(s.wd),
               lr_wd = _mm512_set1_ps(s.lr_wd), step_size = _mm512_set1_ps(s.step_size),
               v_scale = _mm512_set1_ps(s.v_scale), zero = _mm512_setzero_ps();
  __mmask16 bad_p = 0, bad_state = 0;
  size_t i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m512 pv = _mm512_loadu_ps(p + i), gv = _mm512_loadu_ps(g + i);
    __m512 mv = _mm512_loadu_ps(m + i), vv = _mm512_loadu_ps(v + i);
    if (s.decoupled)
      pv = _mm512_sub_ps(pv, _mm512_mul_ps(lr_wd, pv));
    else
      gv = _mm512_add_ps(gv, _mm512_mul_ps(wd, pv));
    mv = _mm512_add_ps(_mm512_mul_ps(b1, mv), _mm512_mul_ps(c1, gv));
    vv = _mm512_add_ps(_mm512_mul_ps(b2, vv), _mm512_mul_ps(_mm512_mul_ps(c2, gv), gv));
    // maskz with every lane set: _mm512_sqrt_ps itself trips GCC 12's -Wmaybe-uninitialized.
    const __m512 den = _mm512_add_ps(_mm512_mul_ps(_mm512_maskz_sqrt_ps(0xffff, vv), v_scale), eps);
    pv = _mm512_sub_ps(pv, _mm512_mul_ps(step_size, _mm512_div_ps(mv, den)));
    _mm512_storeu_ps(p + i, pv);
    _mm512_storeu_ps(m + i, mv);
    _mm512_storeu_ps(v + i, vv);
    // finite_value(x) is x - x == 0: a NaN or infinity gives NaN, unordered.
    bad_p |= _mm512_cmp_ps_mask(_mm512_sub_ps(pv, pv), zero, _CMP_NEQ_UQ);
    bad_state |= _mm512_cmp_ps_mask(_mm512_sub_ps(mv, mv), zero, _CMP_NEQ_UQ) |
                 _mm512_cmp_ps_mask(_mm512_sub_ps(vv, vv), zero, _CMP_NEQ_UQ);
  }
  bad.p |= bad_p != 0;
  bad.state |= bad_state != 0;
  adam_range_portable(s, p, g, m, v, i, i1, bad);
}

__attribute__((target("avx2,fma"))) void adam_range_avx2(const AdamScalars& s, float* p,
                                                         const float* g, float* m, float* v,
                                                         size_t i0, size_t i1, Flags& bad) {
  const __m256 b1 = _mm256_set1_ps(s.b1), b2 = _mm256_set1_ps(s.b2), c1 = _mm256_set1_ps(s.c1),
               c2 = _mm256_set1_ps(s.c2), eps = _mm256_set1_ps(s.eps), wd = _mm256_set1_ps(s.wd),
               lr_wd = _mm256_set1_ps(s.lr_wd), step_size = _mm256_set1_ps(s.step_size),
               v_scale = _mm256_set1_ps(s.v_scale), zero = _mm256_setzero_ps();
  __m256 bad_p = zero, bad_state = zero;
  size_t i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 pv = _mm256_loadu_ps(p + i), gv = _mm256_loadu_ps(g + i);
    __m256 mv = _mm256_loadu_ps(m + i), vv = _mm256_loadu_ps(v + i);
    if (s.decoupled)
      pv = _mm256_sub_ps(pv, _mm256_mul_ps(lr_wd, pv));
    else
      gv = _mm256_add_ps(gv, _mm256_mul_ps(wd, pv));
    mv = _mm256_add_ps(_mm256_mul_ps(b1, mv), _mm256_mul_ps(c1, gv));
    vv = _mm256_add_ps(_mm256_mul_ps(b2, vv), _mm256_mul_ps(_mm256_mul_ps(c2, gv), gv));
    const __m256 den = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vv), v_scale), eps);
    pv = _mm256_sub_ps(pv, _mm256_mul_ps(step_size, _mm256_div_ps(mv, den)));
    _mm256_storeu_ps(p + i, pv);
    _mm256_storeu_ps(m + i, mv);
    _mm256_storeu_ps(v + i, vv);
    bad_p = _mm256_or_ps(bad_p, _mm256_cmp_ps(_mm256_sub_ps(pv, pv), zero, _CMP_NEQ_UQ));
    bad_state = _mm256_or_ps(bad_state, _mm256_cmp_ps(_mm256_sub_ps(mv, mv), zero, _CMP_NEQ_UQ));
    bad_state = _mm256_or_ps(bad_state, _mm256_cmp_ps(_mm256_sub_ps(vv, vv), zero, _CMP_NEQ_UQ));
  }
  bad.p |= _mm256_movemask_ps(bad_p) != 0;
  bad.state |= _mm256_movemask_ps(bad_state) != 0;
  adam_range_portable(s, p, g, m, v, i, i1, bad);
}
#endif

void adam_range(Isa level, const AdamScalars& s, float* p, const float* g, float* m, float* v,
                size_t i0, size_t i1, Flags& bad) {
#if defined(__x86_64__)
  if (level == Isa::Avx512) return adam_range_avx512(s, p, g, m, v, i0, i1, bad);
  if (level == Isa::Avx2) return adam_range_avx2(s, p, g, m, v, i0, i1, bad);
#endif
  (void)level;
  adam_range_portable(s, p, g, m, v, i0, i1, bad);
}

}  // namespace

template <>
void adam_step<float>(const AdamConfig& cfg, float* p, const float* g, float* m, float* v, size_t N,
                      const uint64_t* step, float* nonfinite) {
  AdamScalars s;
  s.lr = staircase_lr(cfg.lr, cfg.decay, cfg.decay_every, *step);
  s.b1 = cfg.beta1, s.b2 = cfg.beta2, s.c1 = 1.0f - cfg.beta1, s.c2 = 1.0f - cfg.beta2;
  s.eps = cfg.eps, s.wd = cfg.weight_decay, s.lr_wd = s.lr * cfg.weight_decay;
  adam_step_factors(s.lr, cfg.beta1, cfg.beta2, *step, s.step_size, s.v_scale);
  s.decoupled = cfg.decoupled;
  const Isa level = isa();
  // Element-wise, so the split changes no result; the flags are ORs, independent of it too.
  int threads = 1;
#if defined(_OPENMP)
  if (N > (1u << 16) && !omp_in_parallel()) threads = omp_get_max_threads();
#endif
  bool bad_p = false, bad_state = false;
#pragma omp parallel for schedule(static) if (threads > 1) reduction(|| : bad_p, bad_state)
  for (int t = 0; t < threads; ++t) {
    // Ranges of whole 64-byte lines, so no two threads write one line.
    const size_t lines = (N + 15) / 16;
    const size_t i0 = std::min(N, lines * t / threads * 16);
    const size_t i1 = std::min(N, lines * (t + 1) / threads * 16);
    Flags bad;
    adam_range(level, s, p, g, m, v, i0, i1, bad);
    bad_p = bad_p || bad.p;
    bad_state = bad_state || bad.state;
  }
  if (nonfinite && bad_p) nonfinite[kNonfiniteParams] = 1.0f;
  if (nonfinite && bad_state) nonfinite[kNonfiniteState] = 1.0f;
}

template void adam_step<double>(const AdamConfig&, double*, const double*, double*, double*, size_t,
                                const uint64_t*, float*);

}  // namespace gan::cpu
