// CPU-internal: the float path behind kernels/conv.h's cpu::conv2d_forward<float> and friends
// (conv.cpp holds the float64 reference and the dispatch), and the helpers both share.
#pragma once
#include <cstddef>

#include "kernels/conv.h"

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
