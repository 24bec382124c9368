// Scalar maths that the CPU reference and the CUDA kernels share, so both paths agree by
// construction: activations, stable BCE, the optimizer element updates (and the weight EMA's), the
// Philox generator and what is drawn from it.
#pragma once
#include <cmath>

#include "common.h"

namespace gan {

// Unqualified calls below pick the float overloads for T = float on the host, and CUDA's device
// versions when compiled by nvcc.
using std::cos;
using std::exp;
using std::fabs;
using std::log;
using std::log1p;
using std::pow;
using std::sin;
using std::sqrt;
using std::tanh;

// ---- activations ----------------------------------------------------------------------------

template <class T>
GAN_HD T sigmoid_of(T x) {
  // Both branches exponentiate a non-positive number, so neither overflows.
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

template <class T>
GAN_HD T act_forward(Activation a, T x) {
  switch (a.kind) {
    case ActKind::ReLU: return x > T(0) ? x : T(0);
    case ActKind::LeakyReLU: {
      // Both sides computed: a multiply in one branch only cannot be if-converted (GCC assumes
      // it may trap), which kept the CPU loop scalar.
      const T neg = T(a.param) * x;
      return x > T(0) ? x : neg;
    }
    case ActKind::Tanh: return tanh(x);
    case ActKind::Sigmoid: return sigmoid_of(x);
    case ActKind::ELU: return x > T(0) ? x : T(a.param) * (exp(x) - T(1));
    default: return x;
  }
}

// f'(x) written in terms of y = f(x), so backward needs only the stored output. Holds for every
// kind here given LeakyReLU slope >= 0 and ELU alpha > 0 (y > 0 exactly when x > 0).
template <class T>
GAN_HD T act_grad_from_output(Activation a, T y) {
  switch (a.kind) {
    case ActKind::ReLU: return y > T(0) ? T(1) : T(0);
    case ActKind::LeakyReLU: return y > T(0) ? T(1) : T(a.param);
    case ActKind::Tanh: return T(1) - y * y;
    case ActKind::Sigmoid: return y * (T(1) - y);
    case ActKind::ELU: return y > T(0) ? T(1) : y + T(a.param);  // alpha e^x = y + alpha
    default: return T(1);
  }
}

// ---- binary cross-entropy with logits -------------------------------------------------------

// -t log s(z) - (1 - t) log(1 - s(z)) = max(z, 0) - z t + log(1 + e^-|z|): no overflow for any z.
template <class T>
GAN_HD T bce_with_logits_value(T z, T t) {
  return (z > T(0) ? z : T(0)) - z * t + log1p(exp(-fabs(z)));
}

// ---- Adam -----------------------------------------------------------------------------------

// One element of Adam in PyTorch's formulation: p -= step_size m / (sqrt(v) / sqrt(bc2) + eps),
// step_size = lr / bc1, bc1 = 1 - beta1^t, bc2 = 1 - beta2^t; with v_scale = 1 / sqrt(bc2) formed
// once per step (adam_step_factors), so an element costs one square root and one division (the
// CPU's vector units are divider-bound on this loop). decoupled: AdamW decay p -= lr wd p; else
// L2: g += wd p.
template <class T>
GAN_HD void adam_update(T& p, T g, T& m, T& v, T lr, T step_size, T v_scale, T beta1, T beta2,
                        T eps, T weight_decay, bool decoupled) {
  if (decoupled) {
    p -= lr * weight_decay * p;
  } else {
    g += weight_decay * p;
  }
  m = beta1 * m + (T(1) - beta1) * g;
  v = beta2 * v + (T(1) - beta2) * g * g;
  p -= step_size * (m / (sqrt(v) * v_scale + eps));
}

// SGD with momentum (PyTorch: buf = momentum buf + g, p -= lr buf; momentum 0 is plain SGD).
template <class T>
GAN_HD void sgd_update(T& p, T g, T& buf, T lr, T momentum) {
  if (momentum != T(0)) {
    buf = momentum * buf + g;
    g = buf;
  }
  p -= lr * g;
}

// TensorFlow's staircase exponential decay: lr * decay^floor((t - 1) / every) for the 1-based
// step t (every 0, or t 0 read before any step: lr). The power is taken by repeated squaring,
// multiplications only, so host and device give the same float (libm's pow and CUDA's powf may
// differ by an ulp).
template <class T>
GAN_HD T staircase_lr(T lr, T decay, uint64_t every, uint64_t t) {
  if (every == 0 || t == 0) return lr;
  uint64_t k = (t - 1) / every;
  T factor = T(1), base = decay;
  while (k != 0) {
    if (k & 1u) factor *= base;
    base *= base;
    k >>= 1;
  }
  return lr * factor;
}

// RMSprop (PyTorch, not centred): v = alpha v + (1 - alpha) g^2, p -= lr g / (sqrt(v) + eps).
template <class T>
GAN_HD void rmsprop_update(T& p, T g, T& v, T lr, T alpha, T eps) {
  v = alpha * v + (T(1) - alpha) * g * g;
  p -= lr * g / (sqrt(v) + eps);
}

// a * b rounded on its own, never fused into an FMA with a following add: nvcc fuses by default
// (--fmad=true) and the host does not, so a shared formula would round differently on the device.
GAN_HD float mul_unfused(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
GAN_HD double mul_unfused(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

// One element of G's weight EMA (ema.h): p + decay (e - p), torch.lerp(p, e, decay). The product
// is rounded on its own (mul_unfused), so the CPU and CUDA paths agree bit for bit.
template <class T>
GAN_HD T ema_element(T e, T p, T decay) {
  return p + mul_unfused(decay, e - p);
}

// True for a finite x (not NaN, not +-inf): x - x is exactly 0 for every finite x and NaN
// otherwise. The same expression on the host and the device, with no libm or CUDA intrinsic to
// differ between them (nothing here is built with fast-math, which would fold it).
template <class T>
GAN_HD bool finite_value(T x) {
  return x - x == T(0);
}

// Clamp to [-c, c]; NaN stays NaN (a diverged weight must not be hidden by clipping).
template <class T>
GAN_HD T clip_value(T x, T c) {
  return x < -c ? -c : (x > c ? c : x);
}

// 1 - beta^t, the bias correction for step t (1-based), computed the same way on both paths.
template <class T>
GAN_HD T adam_bias_correction(T beta, uint64_t t) {
  return T(1) - pow(beta, T(t));
}

// adam_update's per-step factors for the 1-based step t and the step's rate lr: step_size =
// lr / (1 - beta1^t), v_scale = 1 / sqrt(1 - beta2^t).
template <class T>
GAN_HD void adam_step_factors(T lr, T beta1, T beta2, uint64_t t, T& step_size, T& v_scale) {
  step_size = lr / adam_bias_correction(beta1, t);
  v_scale = T(1) / sqrt(adam_bias_correction(beta2, t));
}

// ---- Philox4x32-10 (Salmon et al., SC'11) ----------------------------------------------------

struct Philox4 {
  uint32_t v[4];
};

GAN_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

GAN_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(0xD2511F53u, ctr.v[0], hi0, lo0);
    philox_mulhilo(0xCD9E8D57u, ctr.v[2], hi1, lo1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
    key0 += 0x9E3779B9u;
    key1 += 0xBB67AE85u;
  }
  return ctr;
}

// The four 32-bit words for element group `group` (elements 4*group .. 4*group+3) of draw
// `stream` at counter value `counter`, under key `seed`. Every random op draws through this.
GAN_HD Philox4 philox_block(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t group) {
  return philox4x32_10(Philox4{{group, stream, uint32_t(counter), uint32_t(counter >> 32)}},
                       uint32_t(seed), uint32_t(seed >> 32));
}

// [0, 1) with 24 random bits: exact in float, the same value in float and double. Converted
// through int32 (the value is below 2^24): x86 vectorises signed conversions only.
template <class T>
GAN_HD T uniform01_from_bits(uint32_t bits) {
  return T(int32_t(bits >> 8)) * T(1.0 / 16777216.0);
}

// (0, 1], safe for log.
template <class T>
GAN_HD T uniform01_open_from_bits(uint32_t bits) {
  return T((bits >> 8) + 1u) * T(1.0 / 16777216.0);
}

// Box-Muller: two uniforms give two standard normals.
template <class T>
GAN_HD void box_muller(uint32_t a, uint32_t b, T& n0, T& n1) {
  T r = sqrt(T(-2) * log(uniform01_open_from_bits<T>(a)));
  T theta = T(6.283185307179586) * uniform01_from_bits<T>(b);
  n0 = r * cos(theta);
  n1 = r * sin(theta);
}

// An index uniform in [0, n) from 32 random bits (multiply-shift; bias < n / 2^32).
GAN_HD uint32_t index_from_bits(uint32_t bits, uint32_t n) {
  return uint32_t((uint64_t(bits) * uint64_t(n)) >> 32);
}

// Row b's index for a batch drawn from n rows: word b % 4 of Philox block (b / 4, stream,
// counter). sample_batch and sample_rows, CPU and CUDA, all draw through this.
GAN_HD uint32_t batch_row_index(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t b,
                                uint32_t n) {
  return index_from_bits(philox_block(seed, stream, counter, b / 4).v[b % 4], n);
}

// sort_values' order on keys: numbers ascending, NaN after every number (+inf included), NaNs
// equivalent to each other. A strict weak order; equivalent keys (NaNs, -0 and +0, equal numbers)
// are ranked by index, which makes the sort stable.
template <class T>
GAN_HD bool sort_key_less(T a, T b) {
  const bool a_nan = a != a, b_nan = b != b;
  return !a_nan && (b_nan || a < b);
}

// Element i of a stratified [0, 1) fill of N: (i + u) / N, u = uniform01_from_bits(bits). i + u
// is exact in double (for i < 2^29) and the division is rounded once, so the result lies in the
// rounded stratum [T(i / N), T((i + 1) / N)] and a fill is ascending (every step is monotone).
// Rounding to T can reach 1 (N >= 2 in float), so the top is clamped to the largest T below 1.
template <class T>
GAN_HD T stratified01_from_bits(uint32_t bits, uint64_t i, uint64_t N) {
  const T v = T((double(i) + uniform01_from_bits<double>(bits)) / double(N));
  const T below_one = sizeof(T) == sizeof(float) ? T(0x1.fffffep-1) : T(0x1.fffffffffffffp-1);
  return v < below_one ? v : below_one;
}

// Instance noise's standard deviation at the 1-based step t: sigma0 (1 - (t - 1) / anneal),
// linear to 0 at t = anneal + 1 and 0 after (decided on the integers, so exactly 0); anneal 0:
// sigma0 always.
template <class T>
GAN_HD T instance_noise_sigma(T sigma0, uint64_t anneal, uint64_t t) {
  if (anneal == 0 || t <= 1) return sigma0;
  if (t - 1 >= anneal) return T(0);
  return sigma0 * (T(1) - T(t - 1) / T(anneal));
}

// Dropout keeps element i when its uniform draw is >= p.
template <class T>
GAN_HD bool dropout_keep(uint32_t bits, T p) {
  return uniform01_from_bits<T>(bits) >= p;
}

// uint8 pixel -> [-1, 1], as the seed tutorials scale (x - 127.5) / 127.5.
template <class T>
GAN_HD T pixel_to_unit(uint8_t px) {
  return (T(px) - T(127.5)) / T(127.5);
}

}  // namespace gan
