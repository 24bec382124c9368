// 2-D convolution and transposed convolution on the CPU: the definition as nested loops (the
// float64 reference) and the dispatch of each op: float to the GEMM path of conv_gemm.cpp, double
// to the loops here.
#include "kernels/conv.h"

#include <algorithm>
#include <type_traits>

#include "kernels/cpu/conv_gemm.h"

namespace gan::cpu {

namespace {

// x: (B, IN, H, W), dy: (B, OUT, OH, OW) -> dW: (OUT, IN, KH, KW), the conv2d weight gradient.
template <class T>
void weight_grad_direct(const ConvShape& s, const T* x, const T* dy, T* dW, GradMode mode) {
  for (int o = 0; o < s.OUT; ++o)
    for (int i = 0; i < s.IN; ++i)
      for (int kh = 0; kh < s.KH; ++kh)
        for (int kw = 0; kw < s.KW; ++kw) {
          T acc = T(0);
          for (int n = 0; n < s.B; ++n)
            for (int oh = 0; oh < s.OH; ++oh) {
              const int ih = oh * s.SH - s.PH + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (int ow = 0; ow < s.OW; ++ow) {
                const int iw = ow * s.SW - s.PW + kw;
                if (iw < 0 || iw >= s.W) continue;
                acc += dy[((size_t(n) * s.OUT + o) * s.OH + oh) * s.OW + ow] *
                       x[((size_t(n) * s.IN + i) * s.H + ih) * s.W + iw];
              }
            }
          write_grad(dW + ((size_t(o) * s.IN + i) * s.KH + kh) * s.KW + kw, acc, mode);
        }
}

}  // namespace

// x: (B, IN, H, W), W: (OUT, IN, KH, KW), b: (OUT) or null, y: (B, OUT, OH, OW)
template <class T>
void conv2d_forward_direct(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  for (int n = 0; n < s.B; ++n)
    for (int o = 0; o < s.OUT; ++o)
      for (int oh = 0; oh < s.OH; ++oh)
        for (int ow = 0; ow < s.OW; ++ow) {
          T acc = b ? b[o] : T(0);
          for (int i = 0; i < s.IN; ++i)
            for (int kh = 0; kh < s.KH; ++kh) {
              const int ih = oh * s.SH - s.PH + kh;
              if (ih < 0 || ih >= s.H) continue;
              for (int kw = 0; kw < s.KW; ++kw) {
                const int iw = ow * s.SW - s.PW + kw;
                if (iw < 0 || iw >= s.W) continue;
                acc += W[((size_t(o) * s.IN + i) * s.KH + kh) * s.KW + kw] *
                       x[((size_t(n) * s.IN + i) * s.H + ih) * s.W + iw];
              }
            }
          y[((size_t(n) * s.OUT + o) * s.OH + oh) * s.OW + ow] = acc;
        }
}

// x: (B, IN, H, W), W: (IN, OUT, KH, KW), b: (OUT) or null, y: (B, OUT, OH, OW). The definition
// as the header writes it: each input pixel scattered through the kernel, then the bias.
template <class T>
void conv_transpose2d_forward_direct(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  std::fill(y, y + s.y_size(), T(0));
  for (int n = 0; n < s.B; ++n)
    for (int i = 0; i < s.IN; ++i)
      for (int ih = 0; ih < s.H; ++ih)
        for (int iw = 0; iw < s.W; ++iw) {
          const T xv = x[((size_t(n) * s.IN + i) * s.H + ih) * s.W + iw];
          for (int o = 0; o < s.OUT; ++o)
            for (int kh = 0; kh < s.KH; ++kh) {
              const int oh = ih * s.SH - s.PH + kh;
              if (oh < 0 || oh >= s.OH) continue;
              for (int kw = 0; kw < s.KW; ++kw) {
                const int ow = iw * s.SW - s.PW + kw;
                if (ow < 0 || ow >= s.OW) continue;
                y[((size_t(n) * s.OUT + o) * s.OH + oh) * s.OW + ow] +=
                    W[((size_t(i) * s.OUT + o) * s.KH + kh) * s.KW + kw] * xv;
              }
            }
        }
  if (b)
    for (int n = 0; n < s.B; ++n)
      for (int o = 0; o < s.OUT; ++o)
        for (int p = 0; p < s.OH * s.OW; ++p) y[(size_t(n) * s.OUT + o) * s.OH * s.OW + p] += b[o];
}

// y = conv2d(x; W) + b is linear in each argument: dW and db are the header's sums, and
// dx = conv2d^T dy = conv_transpose2d(dy; W) on the adjoint geometry.
template <class T>
void conv2d_backward_direct(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW,
                            T* db, GradMode mode) {
  if (mode != GradMode::Ignore) {
    weight_grad_direct(s, x, dy, dW, mode);
    if (db) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  }
  if (dx) conv_transpose2d_forward_direct<T>(conv_adjoint(s), dy, W, nullptr, dx);
}

// y = conv_transpose2d(x; W) + b = A x + b with A = conv2d(.; W)^T on c = conv_adjoint(s):
// dx = A^T dy = conv2d(dy; W) on c; dW pairs x and dy exactly as conv2d's weight gradient on c
// does with its input dy and output gradient x; db sums dy.
template <class T>
void conv_transpose2d_backward_direct(const ConvShape& s, const T* x, const T* W, const T* dy,
                                      T* dx, T* dW, T* db, GradMode mode) {
  const ConvShape c = conv_adjoint(s);
  if (mode != GradMode::Ignore) {
    weight_grad_direct(c, dy, x, dW, mode);
    if (db) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  }
  if (dx) conv2d_forward_direct<T>(c, dy, W, nullptr, dx);
}

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    conv2d_forward_fast(s, x, W, b, y);
  else
    conv2d_forward_direct(s, x, W, b, y);
}

template <class T>
void conv2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW, T* db,
                     GradMode mode) {
  if constexpr (std::is_same_v<T, float>)
    conv2d_backward_fast(s, x, W, dy, dx, dW, db, mode);
  else
    conv2d_backward_direct(s, x, W, dy, dx, dW, db, mode);
}

template <class T>
void conv_transpose2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    conv_transpose2d_forward_fast(s, x, W, b, y);
  else
    conv_transpose2d_forward_direct(s, x, W, b, y);
}

template <class T>
void conv_transpose2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx,
                               T* dW, T* db, GradMode mode) {
  if constexpr (std::is_same_v<T, float>)
    conv_transpose2d_backward_fast(s, x, W, dy, dx, dW, db, mode);
  else
    conv_transpose2d_backward_direct(s, x, W, dy, dx, dW, db, mode);
}

#define GAN_CONV_INSTANTIATE(T)                                                                    \
  template void conv2d_forward_direct<T>(const ConvShape&, const T*, const T*, const T*, T*);      \
  template void conv2d_backward_direct<T>(const ConvShape&, const T*, const T*, const T*, T*, T*,  \
                                          T*, GradMode);                                           \
  template void conv_transpose2d_forward_direct<T>(const ConvShape&, const T*, const T*, const T*, \
                                                   T*);                                            \
  template void conv_transpose2d_backward_direct<T>(const ConvShape&, const T*, const T*,          \
                                                    const T*, T*, T*, T*, GradMode);               \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);             \
  template void conv2d_backward<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, T*,     \
                                   GradMode);                                                      \
  template void conv_transpose2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);   \
  template void conv_transpose2d_backward<T>(const ConvShape&, const T*, const T*, const T*, T*,   \
                                             T*, T*, GradMode);
GAN_CONV_INSTANTIATE(float)
GAN_CONV_INSTANTIATE(double)
#undef GAN_CONV_INSTANTIATE

}  // namespace gan::cpu
