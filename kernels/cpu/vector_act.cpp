#include "kernels/cpu/vector_act.h"

#include <algorithm>
#include <climits>
#include <cstring>

#include "kernels/cpu/lanes16.h"

namespace gan::cpu {

namespace {

using namespace lanes16;
#pragma GCC diagnostic ignored "-Wpsabi"

// |x| < 0.625: tanh x = x + x^3 Q(x^2), Q fitted (iteratively reweighted least squares) to
// (tanh x - x) / x^3 on [0, 0.625], 0.77 ulp at most in float. Otherwise 1 - 2 / (e^2|x| + 1):
// e^y as 2^n e^r, n = round(y / ln 2), r = y - n ln 2 in two parts (Cody and Waite: n ln2_hi is
// exact), e^r by its Taylor series to r^7 (|r| <= 0.35: 6e-9 relative). |x| is capped at 10
// (tanh 10 is 1 in float), so 2^n never overflows. Built with -ffp-contract=off: no fused
// multiply-adds, so every level rounds alike.
__attribute__((always_inline)) inline v16sf tanh16(v16sf x) {
  const v16si xb = (v16si)x;
  const v16sf a = (v16sf)(xb & INT_MAX);
  const v16sf s = a * a;
  v16sf q = splat(-0.005717500578612089f);
  q = q * s + 0.02065098285675049f;
  q = q * s - 0.05374361574649811f;
  q = q * s + 0.13331492245197296f;
  q = q * s - 0.3333328366279602f;
  const v16sf small = a + (a * s) * q;

  const v16sf y = (a < 10.0f ? a : splat(10.0f)) * 2.0f;  // NaN -> 10, replaced below
  const v16si n = __builtin_convertvector(y * 1.4426950408889634f + 0.5f, v16si);  // y >= 0
  const v16sf nf = __builtin_convertvector(n, v16sf);
  const v16sf r = (y - nf * 0.693145751953125f) - nf * 1.428606765330187e-06f;
  v16sf p = splat(1.0f / 5040);
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const v16sf e = p * (v16sf)((n + 127) << 23);
  const v16sf big = 1.0f - 2.0f / (e + 1.0f);

  const v16sf t = a < 0.625f ? small : big;
  const v16sf out = (v16sf)((v16si)t | (xb & INT_MIN));  // the sign of x, -0 included
  return x != x ? x : out;
}

__attribute__((always_inline)) inline void tanh_loop(const float* x, float* y, size_t n) {
  map16(
      x, y, n, [](v16sf v) __attribute__((always_inline)) { return tanh16(v); });
}

// act_forward's: ReLU x > 0 ? x : 0; LeakyReLU x > 0 ? x : slope x.
__attribute__((always_inline)) inline void rectifier_loop(Activation act, const float* x, float* y,
                                                          size_t n) {
  const float slope = act.param;
  if (act.kind == ActKind::ReLU)
    map16(
        x, y, n, [](v16sf v) __attribute__((always_inline)) { return v > 0.0f ? v : splat(0.0f); });
  else
    map16(
        x, y,
        n, [slope](v16sf v) __attribute__((always_inline)) { return v > 0.0f ? v : v * slope; });
}

// act_grad_from_output's: dy (y > 0 ? 1 : 0) for ReLU, dy (y > 0 ? 1 : slope) for LeakyReLU.
__attribute__((always_inline)) inline void rectifier_grad_loop(Activation act, const float* y,
                                                               const float* dy, float* dx,
                                                               size_t n) {
  const float slope = act.kind == ActKind::ReLU ? 0.0f : act.param;
  map16(
      y, dy, dx, n, [slope](v16sf yv, v16sf g) __attribute__((always_inline)) {
        return g * (yv > 0.0f ? splat(1.0f) : splat(slope));
      });
}

GAN_AT_EVERY_LEVEL(tanh_at, tanh_loop, (const float* x, float* y, size_t n), (x, y, n))
GAN_AT_EVERY_LEVEL(rectifier_at, rectifier_loop,
                   (Activation act, const float* x, float* y, size_t n), (act, x, y, n))
GAN_AT_EVERY_LEVEL(rectifier_grad_at, rectifier_grad_loop,
                   (Activation act, const float* y, const float* dy, float* dx, size_t n),
                   (act, y, dy, dx, n))

}  // namespace

void tanh_floats(const float* x, float* y, size_t n) { GAN_AT_LEVEL(tanh_at, x, y, n) }

void rectifier_forward_floats(Activation act, const float* x, float* y, size_t n) {
  GAN_AT_LEVEL(rectifier_at, act, x, y, n)
}

void rectifier_backward_floats(Activation act, const float* y, const float* dy, float* dx,
                               size_t n) {
  GAN_AT_LEVEL(rectifier_grad_at, act, y, dy, dx, n)
}

}  // namespace gan::cpu
