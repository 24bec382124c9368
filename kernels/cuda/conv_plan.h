// The CUDA convolutions' algorithm, kept apart from the kernels that run it: im2col / col2im around
// GEMMs, over the batch in chunks of images. Plain C++ (no CUDA include): the index maths is
// __host__ __device__ and the plans are templates over an executor, so conv.cu runs them with CUDA
// kernels and cuBLAS / tiled GEMMs while a host test (tests/cpu/test_conv_plan.cpp) runs the very
// same plans with loops and cpu::gemm, checking every index and GEMM shape without a GPU.
//
// Column matrices. For a batch chunk of nb images img: (nb, C, IH, IW) and a kernel swept over a
// GH x GW grid of positions, col: (C KH KW, nb GH GW) holds
//   col[(c, kh, kw), (n, gh, gw)] = img[n, c, gh SH - PH + kh, gw SW - PW + kw]   (0 outside),
// rows ordered (c, kh, kw) as in both PyTorch weight layouts and columns (n, gh, gw).
//   conv2d:           img = x  (C = IN,  IH x IW = H x W),   grid = y's OH x OW.
//   conv_transpose2d: img = y  (C = OUT, IH x IW = OH x OW), grid = x's H x W.
// im2col builds col from img; col2im is its adjoint, a gather: each image element sums the col
// entries that im2col would have read from it, in a fixed order (kh, then kw, ascending), so no
// atomics are needed and the result is bitwise reproducible.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/conv.h"

namespace gan::cuda {

struct ColGeometry {
  int C, IH, IW;  // image: (nb, C, IH, IW)
  int GH, GW;     // kernel positions
  int KH, KW, SH, SW, PH, PW;

  GAN_HD int64_t rows() const { return int64_t(C) * KH * KW; }
  GAN_HD int64_t grid() const { return int64_t(GH) * GW; }
  GAN_HD int64_t image() const { return int64_t(C) * IH * IW; }
};

inline ColGeometry conv2d_cols(const ConvShape& s) {
  return {s.IN, s.H, s.W, s.OH, s.OW, s.KH, s.KW, s.SH, s.SW, s.PH, s.PW};
}
inline ColGeometry conv_transpose2d_cols(const ConvShape& s) {
  return {s.OUT, s.OH, s.OW, s.H, s.W, s.KH, s.KW, s.SH, s.SW, s.PH, s.PW};
}

// col[r, j] for row r = (c, kh, kw) and column j = (n, gh, gw) of a chunk's column matrix.
template <class T>
GAN_HD T im2col_element(const ColGeometry& g, const T* img, int64_t r, int64_t j) {
  const int kk = int(r % (int64_t(g.KH) * g.KW));
  const int c = int(r / (int64_t(g.KH) * g.KW));
  const int kh = kk / g.KW, kw = kk % g.KW;
  const int64_t n = j / g.grid();
  const int gg = int(j % g.grid());
  const int ih = (gg / g.GW) * g.SH - g.PH + kh;
  const int iw = (gg % g.GW) * g.SW - g.PW + kw;
  if (ih < 0 || ih >= g.IH || iw < 0 || iw >= g.IW) return T(0);
  return img[((n * g.C + c) * g.IH + ih) * g.IW + iw];
}

// img[i] (flat index into the chunk's (nb, C, IH, IW)) = (bias ? bias[c] : 0) + the sum of the
// col entries im2col reads from that element: those (kh, kw, gh, gw) with gh SH - PH + kh = ih and
// gw SW - PW + kw = iw. For a fixed ih the valid kh are ih + PH - kh = gh SH with 0 <= gh < GH:
// kh = (ih + PH) mod SH, then every SH-th value up to ih + PH (ih + PH >= 0 since PH >= 0).
template <class T>
GAN_HD T col2im_element(const ColGeometry& g, int nb, const T* col, const T* bias, int64_t i) {
  const int iw = int(i % g.IW);
  int64_t t = i / g.IW;
  const int ih = int(t % g.IH);
  t /= g.IH;
  const int c = int(t % g.C);
  const int64_t n = t / g.C;
  const int64_t ncols = int64_t(nb) * g.grid();
  T sum = T(0);
  for (int kh = (ih + g.PH) % g.SH; kh < g.KH && kh <= ih + g.PH; kh += g.SH) {
    const int gh = (ih + g.PH - kh) / g.SH;
    if (gh >= g.GH) continue;
    for (int kw = (iw + g.PW) % g.SW; kw < g.KW && kw <= iw + g.PW; kw += g.SW) {
      const int gw = (iw + g.PW - kw) / g.SW;
      if (gw >= g.GW) continue;
      const int64_t r = (int64_t(c) * g.KH + kh) * g.KW + kw;
      sum += col[r * ncols + (n * g.GH + gh) * g.GW + gw];
    }
  }
  return bias ? sum + bias[c] : sum;
}

// Flat index i of a (nb, C, S) tensor -> the same element's index in its (C, nb, S) transpose:
// the layout a batched GEMM over the chunk reads and writes (channels as rows, (n, s) as columns).
GAN_HD int64_t channel_major_index(int64_t i, int nb, int C, int64_t S) {
  const int64_t s = i % S, t = i / S;
  return ((t % C) * nb + t / C) * S + s;
}

// ---- chunking and the workspace bound -----------------------------------------------------------
//
// Scratch floats one image needs: conv2d holds its column matrix (IN KH KW, OH OW) and a
// channel-major copy of y or dy (OUT, OH OW); conv_transpose2d its column matrix
// (OUT KH KW, H W) and a channel-major copy of x or dx (IN, H W).
inline int64_t conv2d_image_floats(const ConvShape& s) {
  return (int64_t(s.IN) * s.KH * s.KW + s.OUT) * s.OH * s.OW;
}
inline int64_t conv_transpose2d_image_floats(const ConvShape& s) {
  return (int64_t(s.OUT) * s.KH * s.KW + s.IN) * s.H * s.W;
}

// A chunk holds as many images as fit in kConvChunkFloats (32 MiB), at least one, at most B. At
// that size the GEMMs' column count (nb OH OW, or nb H W) is 2^23 / (rows + channels): thousands
// for any layer with rows + channels below a few thousand, so the GEMMs stay large; one image
// larger than the budget is a chunk of its own.
constexpr int64_t kConvChunkFloats = int64_t(1) << 23;

inline int conv_chunk_images(int B, int64_t image_floats) {
  return int(std::clamp<int64_t>(kConvChunkFloats / image_floats, 1, B));
}
inline int conv2d_chunk_images(const ConvShape& s) {
  return conv_chunk_images(s.B, conv2d_image_floats(s));
}
inline int conv_transpose2d_chunk_images(const ConvShape& s) {
  return conv_chunk_images(s.B, conv_transpose2d_image_floats(s));
}

// Covers all four ops for shape s (conv.h promises one bound; the size does not know which op the
// layer runs, so it is the larger of the two): at most max(kConvChunkFloats, one image's need)
// floats, and never more than the whole batch's need.
inline size_t conv_plan_workspace_floats(const ConvShape& s) {
  return size_t(std::max(conv2d_chunk_images(s) * conv2d_image_floats(s),
                         conv_transpose2d_chunk_images(s) * conv_transpose2d_image_floats(s)));
}

// ---- the plans ----------------------------------------------------------------------------------
//
// Exec provides, all enqueued in order (the plans reuse scratch between steps):
//   gemm(ta, tb, M, N, K, alpha, A, B, beta, C)        row-major, as cuda::gemm
//   im2col(g, nb, img, col), col2im(g, nb, col, bias, img)   as above (bias may be null)
//   to_channel_major(src, dst, nb, C, S)                 dst (C, nb, S) = src (nb, C, S)
//   from_channel_major(src, dst, nb, C, S, bias)         dst (nb, C, S) = src (C, nb, S) + bias[c]
//   channel_sum(src, dst, B, C, S, accumulate)           dst[c] (+)= sum over n, s of src (B, C, S)
// channel_sum and dW's chunk-by-chunk accumulation run in a fixed order, so the result depends on
// the shape only (the chunk size is a function of the shape).

// x: (B, IN, H, W), W: (OUT, IN KH KW), b: (OUT) or null, y: (B, OUT, OH, OW).
template <class T, class Exec>
void conv2d_forward_plan(Exec& ex, const ConvShape& s, const T* x, const T* W, const T* b, T* y,
                         T* work) {
  const ColGeometry g = conv2d_cols(s);
  const int nb = conv2d_chunk_images(s);
  const int64_t P = g.grid(), rows = g.rows(), y_image = int64_t(s.OUT) * P;
  T* col = work;                  // (IN KH KW, nb P)
  T* out = work + rows * nb * P;  // (OUT, nb P)
  for (int n0 = 0; n0 < s.B; n0 += nb) {
    const int n = std::min(nb, s.B - n0);
    ex.im2col(g, n, x + n0 * g.image(), col);
    // out (OUT, n P) = W (OUT, IN KH KW) col (IN KH KW, n P)
    ex.gemm(Trans::No, Trans::No, s.OUT, int(n * P), int(rows), T(1), W, col, T(0), out);
    ex.from_channel_major(out, y + n0 * y_image, n, s.OUT, P, b);
  }
}

// With y = W col + b per image (col = im2col(x)): dW = sum_images dy col^T, db = sum dy over n and
// positions, dcol = W^T dy and dx = col2im(dcol) (im2col's adjoint, i.e. conv_transpose2d).
// dy is made channel-major once per chunk and feeds both GEMMs; dcol reuses col's scratch.
template <class T, class Exec>
void conv2d_backward_plan(Exec& ex, const ConvShape& s, const T* x, const T* W, const T* dy, T* dx,
                          T* dW, T* db, GradMode mode, T* work) {
  const bool grads = mode != GradMode::Ignore;
  const ColGeometry g = conv2d_cols(s);
  const int64_t P = g.grid(), rows = g.rows(), y_image = int64_t(s.OUT) * P;
  if (grads && db) ex.channel_sum(dy, db, s.B, s.OUT, P, mode == GradMode::Accumulate);
  if (!grads && !dx) return;
  const int nb = conv2d_chunk_images(s);
  T* dyc = work;                            // (OUT, nb P)
  T* col = work + int64_t(s.OUT) * nb * P;  // (IN KH KW, nb P): col, then dcol
  for (int n0 = 0; n0 < s.B; n0 += nb) {
    const int n = std::min(nb, s.B - n0);
    ex.to_channel_major(dy + n0 * y_image, dyc, n, s.OUT, P);
    if (grads) {
      ex.im2col(g, n, x + n0 * g.image(), col);
      const T beta = (n0 == 0 && mode == GradMode::Overwrite) ? T(0) : T(1);
      // dW (OUT, IN KH KW) (+)= dyc (OUT, n P) col^T
      ex.gemm(Trans::No, Trans::Yes, s.OUT, int(rows), int(n * P), T(1), dyc, col, beta, dW);
    }
    if (dx) {
      // dcol (IN KH KW, n P) = W^T dyc (OUT, n P); W is stored (OUT, IN KH KW)
      ex.gemm(Trans::Yes, Trans::No, int(rows), int(n * P), s.OUT, T(1), W, dyc, T(0), col);
      ex.col2im(g, n, col, static_cast<const T*>(nullptr), dx + n0 * g.image());
    }
  }
}

// x: (B, IN, H, W), W: (IN, OUT KH KW), b: (OUT) or null, y: (B, OUT, OH, OW).
// Per image: col (OUT KH KW, H W) = W^T x, y = col2im(col) + b (the transpose of conv2d's
// x -> col -> W col).
template <class T, class Exec>
void conv_transpose2d_forward_plan(Exec& ex, const ConvShape& s, const T* x, const T* W, const T* b,
                                   T* y, T* work) {
  const ColGeometry g = conv_transpose2d_cols(s);
  const int nb = conv_transpose2d_chunk_images(s);
  const int64_t Q = g.grid(), rows = g.rows(), x_image = int64_t(s.IN) * Q;
  T* xc = work;                            // (IN, nb Q)
  T* col = work + int64_t(s.IN) * nb * Q;  // (OUT KH KW, nb Q)
  for (int n0 = 0; n0 < s.B; n0 += nb) {
    const int n = std::min(nb, s.B - n0);
    ex.to_channel_major(x + n0 * x_image, xc, n, s.IN, Q);
    // col (OUT KH KW, n Q) = W^T xc (IN, n Q); W is stored (IN, OUT KH KW)
    ex.gemm(Trans::Yes, Trans::No, int(rows), int(n * Q), s.IN, T(1), W, xc, T(0), col);
    ex.col2im(g, n, col, b, y + n0 * g.image());
  }
}

// With col = W^T x and y = col2im(col) + b per image: dcol = im2col(dy) (col2im's adjoint),
// dW = sum_images x dcol^T, db = sum dy over n and positions, dx = W dcol (= conv2d(dy; W)).
// x's channel-major copy and then dx's share one scratch region.
template <class T, class Exec>
void conv_transpose2d_backward_plan(Exec& ex, const ConvShape& s, const T* x, const T* W,
                                    const T* dy, T* dx, T* dW, T* db, GradMode mode, T* work) {
  const bool grads = mode != GradMode::Ignore;
  const ColGeometry g = conv_transpose2d_cols(s);
  const int64_t Q = g.grid(), rows = g.rows(), x_image = int64_t(s.IN) * Q;
  if (grads && db)
    ex.channel_sum(dy, db, s.B, s.OUT, int64_t(s.OH) * s.OW, mode == GradMode::Accumulate);
  if (!grads && !dx) return;
  const int nb = conv_transpose2d_chunk_images(s);
  T* xc = work;                            // (IN, nb Q): x, then dx, channel-major
  T* col = work + int64_t(s.IN) * nb * Q;  // (OUT KH KW, nb Q): dcol
  for (int n0 = 0; n0 < s.B; n0 += nb) {
    const int n = std::min(nb, s.B - n0);
    ex.im2col(g, n, dy + n0 * g.image(), col);
    if (grads) {
      ex.to_channel_major(x + n0 * x_image, xc, n, s.IN, Q);
      const T beta = (n0 == 0 && mode == GradMode::Overwrite) ? T(0) : T(1);
      // dW (IN, OUT KH KW) (+)= xc (IN, n Q) dcol^T
      ex.gemm(Trans::No, Trans::Yes, s.IN, int(rows), int(n * Q), T(1), xc, col, beta, dW);
    }
    if (dx) {
      // dxc (IN, n Q) = W (IN, OUT KH KW) dcol (OUT KH KW, n Q)
      ex.gemm(Trans::No, Trans::No, s.IN, int(n * Q), int(rows), T(1), W, col, T(0), xc);
      ex.from_channel_major(xc, dx + n0 * x_image, n, s.IN, Q, static_cast<const T*>(nullptr));
    }
  }
}

}  // namespace gan::cuda
