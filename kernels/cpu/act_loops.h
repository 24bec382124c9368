// CPU-internal: the element loops of the activations. Float tanh, ReLU and LeakyReLU go through
// vector_act.h's 16-lane code (its tanh replaces libm's; the double path, the float64 reference,
// stays plain); every other kind is the scalar formula of kernels/scalar.h per element.
#pragma once
#include <cstddef>
#include <type_traits>

#include "kernels/cpu/vector_act.h"
#include "kernels/scalar.h"

namespace gan::cpu {

// y[i] = act(x[i]); y is x or disjoint from it.
template <class T>
void act_forward_loop(Activation act, const T* x, T* y, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (act.kind == ActKind::Tanh) return tanh_floats(x, y, n);
    if (act.kind == ActKind::ReLU || act.kind == ActKind::LeakyReLU)
      return rectifier_forward_floats(act, x, y, n);
  }
  for (size_t i = 0; i < n; ++i) y[i] = act_forward(act, x[i]);
}

// dx[i] = dy[i] f'(x[i]) from y = f(x); dx is dy or disjoint from it (and from y).
template <class T>
void act_backward_loop(Activation act, const T* y, const T* dy, T* dx, size_t n) {
  if constexpr (std::is_same_v<T, float>)
    if (act.kind == ActKind::ReLU || act.kind == ActKind::LeakyReLU)
      return rectifier_backward_floats(act, y, dy, dx, n);
  for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * act_grad_from_output(act, y[i]);
}

}  // namespace gan::cpu
