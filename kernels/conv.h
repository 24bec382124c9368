// 2-D convolution and transposed convolution, NCHW, with PyTorch's weight layouts (so exported
// weights load into nn.Conv2d / nn.ConvTranspose2d unchanged).
#pragma once
#include <cstddef>

#include "common.h"
#include "gemm.h"

namespace gan {

// One layer's geometry. The op reads x: (B, IN, H, W) and writes y: (B, OUT, OH, OW).
// KH x KW kernel, stride SH x SW, PH / PW zeros before the first row / column (top, left). The
// padding after the last row / column is whatever the output size implies, so TensorFlow's
// asymmetric 'same' (the odd pixel at the bottom / right) and PyTorch's symmetric padding (with
// output_padding for the transposed op) are both expressible. All sizes >= 1, PH, PW >= 0.
//
// conv2d:            W: (OUT, IN, KH, KW), b: (OUT) or null,
//   y[n, o, oh, ow] = b[o] + sum_{i, kh, kw} W[o, i, kh, kw] x[n, i, oh SH - PH + kh, ow SW - PW + kw]
//   (x outside [0, H) x [0, W) is zero).
// conv_transpose2d:  W: (IN, OUT, KH, KW), b: (OUT) or null, the adjoint of conv2d:
//   y[n, o, ih SH - PH + kh, iw SW - PW + kw] += W[i, o, kh, kw] x[n, i, ih, iw]
//   for every (i, ih, iw, kh, kw) whose target lies inside [0, OH) x [0, OW); then + b[o].
//   So <conv2d(u; W), x> = <u, conv_transpose2d(x; W)> for u: (B, OUT, OH, OW) when conv2d runs
//   with the geometry {B, OUT, OH, OW, IN, H, W, KH, KW, SH, SW, PH, PW} (biases null).
struct ConvShape {
  int B = 1;
  int IN = 1, H = 1, W = 1;
  int OUT = 1, OH = 1, OW = 1;
  int KH = 1, KW = 1;
  int SH = 1, SW = 1;
  int PH = 0, PW = 0;

  size_t x_size() const { return size_t(B) * IN * H * W; }
  size_t y_size() const { return size_t(B) * OUT * OH * OW; }
  size_t w_size() const { return size_t(OUT) * IN * KH * KW; }
};

// Backward (both ops): dy: (B, OUT, OH, OW) -> dx: (B, IN, H, W) (skipped when dx is null), dW
// and db (db may be null for a layer without bias) written as `mode` says (untouched under
// Ignore). dx never aliases dy or x.
//   conv2d:           dW[o,i,kh,kw] = sum_{n,oh,ow} dy[n,o,oh,ow] x[n,i,oh SH-PH+kh,ow SW-PW+kw],
//                     db[o] = sum_{n,oh,ow} dy[n,o,oh,ow], dx = conv_transpose2d(dy; W) (no bias).
//   conv_transpose2d: dW[i,o,kh,kw] = sum_{n,ih,iw} x[n,i,ih,iw] dy[n,o,ih SH-PH+kh,iw SW-PW+kw],
//                     db[o] = sum dy[n,o,.,.], dx = conv2d(dy; W) (no bias).
namespace cpu {

// The definition: nested loops in T, a fixed summation order. The float64 reference.
template <class T>
void conv2d_forward_direct(const ConvShape& s, const T* x, const T* W, const T* b, T* y);
template <class T>
void conv2d_backward_direct(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW,
                            T* db, GradMode mode);
template <class T>
void conv_transpose2d_forward_direct(const ConvShape& s, const T* x, const T* W, const T* b, T* y);
template <class T>
void conv_transpose2d_backward_direct(const ConvShape& s, const T* x, const T* W, const T* dy,
                                      T* dx, T* dW, T* db, GradMode mode);

// The engine's CPU path: double through the direct loops above; float through the CPU GEMM (AVX2
// where the CPU has it): layers with 16 or more channels on both sides as one GEMM per kernel tap
// over pixel rows (products that would read padding are skipped; kernels/cpu/conv_taps.cpp), thin
// ones through im2row / row2im (kernels/cpu/conv_gemm.cpp). Deterministic: the same result
// whatever the thread count. Scratch is kept per thread and reused (no allocation once the
// largest shape has been seen).
template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y);
template <class T>
void conv2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW, T* db,
                     GradMode mode);
template <class T>
void conv_transpose2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y);
template <class T>
void conv_transpose2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx,
                               T* dW, T* db, GradMode mode);

}  // namespace cpu

namespace cuda {

// Floats of scratch (device memory) the CUDA ops below need for shape s; the engine allocates it
// once at start-up (no allocation inside a step) and passes it as `work`. The same bound covers
// forward and backward of both ops.
size_t conv_workspace_floats(const ConvShape& s);

void conv2d_forward(const GemmContext& ctx, const ConvShape& s, const float* x, const float* W,
                    const float* b, float* y, float* work);
void conv2d_backward(const GemmContext& ctx, const ConvShape& s, const float* x, const float* W,
                     const float* dy, float* dx, float* dW, float* db, GradMode mode, float* work);
void conv_transpose2d_forward(const GemmContext& ctx, const ConvShape& s, const float* x,
                              const float* W, const float* b, float* y, float* work);
void conv_transpose2d_backward(const GemmContext& ctx, const ConvShape& s, const float* x,
                               const float* W, const float* dy, float* dx, float* dW, float* db,
                               GradMode mode, float* work);

}  // namespace cuda

}  // namespace gan
