// CPU-internal: the float path behind kernels/conv.h's cpu::conv2d_forward<float> and friends
// (conv.cpp holds the float64 reference and the dispatch), and the helpers both share.
#pragma once
#include <algorithm>
#include <cstddef>

#include "kernels/conv.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gan::cpu {

// The conv2d whose input-gradient map is the transposed convolution t, and vice versa (an
// involution): input and output swap, W's memory (t.IN, t.OUT, KH, KW) reads as (c.OUT, c.IN, ..).
inline ConvShape conv_adjoint(const ConvShape& t) {
  ConvShape c = t;
  c.IN = t.OUT, c.H = t.OH, c.W = t.OW;
  c.OUT = t.IN, c.OH = t.H, c.OW = t.W;
  return c;
}

template <class T>
void write_grad(T* dst, T value, GradMode mode) {
  *dst = mode == GradMode::Accumulate ? *dst + value : value;
}

// dy: (B, C, P) -> db: (C), db[c] = sum_{n, p} dy[n, c, p], n then p ascending.
template <class T>
void conv_bias_grad(int B, int C, int P, const T* dy, T* db, GradMode mode) {
#pragma omp parallel for schedule(static) if (size_t(B) * C * P > 65536)
  for (int c = 0; c < C; ++c) {
    T acc = T(0);
    for (int n = 0; n < B; ++n)
      for (int p = 0; p < P; ++p) acc += dy[(size_t(n) * C + c) * P + p];
    write_grad(db + c, acc, mode);
  }
}

// Threads an op may spread over: 1 inside a parallel region (nested regions stay on their thread).
inline int conv_max_threads() {
#if defined(_OPENMP)
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// body(n0, m) for chunks [n0, n0 + m) of nb images: in parallel when there are several (each on
// one thread, which runs its chunk's whole pipeline: its scratch stays near its core, and a pass
// has one parallel region, since a barrier per step costs far more when other work shares the
// cores), else in turn, each step then spreading over the threads.
template <class Body>
void conv_for_chunks(int B, int nb, const Body& body) {
  const int chunks = (B + nb - 1) / nb;
#pragma omp parallel for schedule(static) if (chunks > 1 && conv_max_threads() > 1)
  for (int ch = 0; ch < chunks; ++ch) body(ch * nb, std::min(nb, B - ch * nb));
}

// The per-tap path (conv_taps.cpp) for conv2d geometry c: whether it takes c, c's forward (x: its
// input -> y: its output) or with `adjoint_op` its input-gradient map (x: output side -> y: input
// side), + bias; and c's backward from x (its input) and g (its output gradient): dW as `mode`
// says, and when dx is set, dx = conv2d^T(g), or with `forward_dx` conv2d(x) (the input gradient
// of the transposed convolution that c is the adjoint of).
bool conv_use_taps(const ConvShape& c);
void conv_taps_apply(const ConvShape& c, const float* x, const float* W, const float* bias,
                     float* y, bool adjoint_op);
void conv_taps_backward(const ConvShape& c, const float* x, const float* W, const float* g,
                        float* dx, float* dW, GradMode mode, bool forward_dx);

// The float path, same arguments as the header's ops.
void conv2d_forward_fast(const ConvShape& s, const float* x, const float* W, const float* b,
                         float* y);
void conv2d_backward_fast(const ConvShape& s, const float* x, const float* W, const float* dy,
                          float* dx, float* dW, float* db, GradMode mode);
void conv_transpose2d_forward_fast(const ConvShape& s, const float* x, const float* W,
                                   const float* b, float* y);
void conv_transpose2d_backward_fast(const ConvShape& s, const float* x, const float* W,
                                    const float* dy, float* dx, float* dW, float* db,
                                    GradMode mode);

}  // namespace gan::cpu
