// CPU-internal: element loops over an activation whose kind is a compile-time constant inside the
// loop, so the per-element switch of act_forward / act_grad_from_output folds away and the loop
// vectorises (same arithmetic, same bits: only where the branch on the kind sits changes); float
// tanh, ReLU and LeakyReLU through vector_act.h.
#pragma once
#include <cstddef>
#include <type_traits>

#include "kernels/cpu/lanes16.h"
#include "kernels/cpu/vector_act.h"
#include "kernels/scalar.h"

namespace gan::cpu {

// Calls f(a) with a copy of act whose kind the compiler sees as a constant.
template <class F>
void with_constant_kind(Activation act, F&& f) {
  auto run = [&](auto kind) { f(Activation{decltype(kind)::value, act.param}); };
  switch (act.kind) {
    case ActKind::Identity: return run(std::integral_constant<ActKind, ActKind::Identity>{});
    case ActKind::ReLU: return run(std::integral_constant<ActKind, ActKind::ReLU>{});
    case ActKind::LeakyReLU: return run(std::integral_constant<ActKind, ActKind::LeakyReLU>{});
    case ActKind::Tanh: return run(std::integral_constant<ActKind, ActKind::Tanh>{});
    case ActKind::Sigmoid: return run(std::integral_constant<ActKind, ActKind::Sigmoid>{});
    case ActKind::ELU: return run(std::integral_constant<ActKind, ActKind::ELU>{});
  }
  f(act);
}

// y[i] = act(x[i]); y is x or disjoint from it. Float tanh is vector_act.h's (libm's for double:
// the float64 reference stays plain).
template <class T>
void act_forward_loop(Activation act, const T* x, T* y, size_t n) {
  if constexpr (std::is_same_v<T, float>) {
    if (act.kind == ActKind::Tanh) return tanh_floats(x, y, n);
    if (act.kind == ActKind::ReLU || act.kind == ActKind::LeakyReLU)
      return rectifier_forward_floats(act, x, y, n);
  }
  with_constant_kind(act, [&](Activation a) {
  // ivdep: y is x or disjoint from it (never partly overlapping), so reading a vector before
  // writing it is safe; without it GCC's overlap check sends the in-place call (every fused
  // epilogue) to its scalar loop.
  GAN_IVDEP
  for (size_t i = 0; i < n; ++i) y[i] = act_forward(a, x[i]);
  });
}

// dx[i] = dy[i] f'(x[i]) from y = f(x); dx is dy or disjoint from it (and from y).
template <class T>
void act_backward_loop(Activation act, const T* y, const T* dy, T* dx, size_t n) {
  if constexpr (std::is_same_v<T, float>)
    if (act.kind == ActKind::ReLU || act.kind == ActKind::LeakyReLU)
      return rectifier_backward_floats(act, y, dy, dx, n);
  with_constant_kind(act, [&](Activation a) {
    GAN_IVDEP
    for (size_t i = 0; i < n; ++i) dx[i] = dy[i] * act_grad_from_output(a, y[i]);
  });
}

}  // namespace gan::cpu
