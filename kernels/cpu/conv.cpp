// 2-D convolution and transposed convolution on the CPU: the definition as nested loops (the float64
// reference) and the engine's float path, im2row / row2im around cpu::gemm<float>.
//
// The float path works on "rows": for a conv2d geometry c, rows (B OH OW, IN KH KW) holds in row
// (n, oh, ow) the input patch that y[n, :, oh, ow] reads, in W's (i, kh, kw) order (zeros outside
// the image). Then, with Y the output as rows (B OH OW, OUT) (NHWC):
//   forward      Y = rows W^T               (M = B OH OW, N = OUT, K = IN KH KW)
//   input grad   drows = dY W, then row2im  (M = B OH OW, N = IN KH KW, K = OUT)
//   weight grad  dW^T = rows^T dY           (M = IN KH KW, N = OUT, K = B OH OW)
// so every GEMM has a long M (row blocks for the threads), contiguous rows of B, and W as it is
// stored or transposed once per call. Images go through in chunks of a size fixed by the shape
// (never by the thread count), so scratch stays near the caches and results are deterministic.
// A transposed convolution is run as the conv2d it is the adjoint of (adjoint() below): its
// forward is that conv2d's input-grad path, its input gradient that conv2d's forward.
#include "kernels/conv.h"

#include <algorithm>
#include <type_traits>
#include <vector>

namespace gan::cpu {

namespace {

// The conv2d whose input-gradient map is the transposed convolution t, and vice versa (an
// involution): input and output swap, W's memory (t.IN, t.OUT, KH, KW) reads as (c.OUT, c.IN, ..).
ConvShape adjoint(const ConvShape& t) {
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
void bias_grad(int B, int C, int P, const T* dy, T* db, GradMode mode) {
#pragma omp parallel for schedule(static) if (size_t(B) * C * P > 65536)
  for (int c = 0; c < C; ++c) {
    T acc = T(0);
    for (int n = 0; n < B; ++n)
      for (int p = 0; p < P; ++p) acc += dy[(size_t(n) * C + c) * P + p];
    write_grad(db + c, acc, mode);
  }
}

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
    if (db) bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  }
  if (dx) conv_transpose2d_forward_direct<T>(adjoint(s), dy, W, nullptr, dx);
}

// y = conv_transpose2d(x; W) + b = A x + b with A = conv2d(.; W)^T on c = adjoint(s): dx = A^T dy
// = conv2d(dy; W) on c; dW pairs x and dy exactly as conv2d's weight gradient on c does with its
// input dy and output gradient x; db sums dy.
template <class T>
void conv_transpose2d_backward_direct(const ConvShape& s, const T* x, const T* W, const T* dy,
                                      T* dx, T* dW, T* db, GradMode mode) {
  const ConvShape c = adjoint(s);
  if (mode != GradMode::Ignore) {
    weight_grad_direct(c, dy, x, dW, mode);
    if (db) bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  }
  if (dx) conv2d_forward_direct<T>(c, dy, W, nullptr, dx);
}

namespace {

// ---- the float path ------------------------------------------------------------------------

// Images per chunk: enough for about kChunkRows GEMM rows (so that packing W, once per chunk
// and thread, costs little beside the products), at most kChunkFloats of im2row rows (16 MiB),
// and chunks of equal size. Fixed by the shape alone, so the dW sums run in the same order
// whatever the thread count.
constexpr int kChunkRows = 1024;
constexpr size_t kChunkFloats = size_t(1) << 22;

int chunk_images(const ConvShape& c) {
  const int P = c.OH * c.OW;
  const size_t per_image = size_t(P) * c.IN * c.KH * c.KW;
  const int by_rows = (kChunkRows + P - 1) / P;
  const int by_floats = int(std::max<size_t>(1, kChunkFloats / per_image));
  const int nb = std::clamp(std::min(by_rows, by_floats), 1, c.B);
  const int chunks = (c.B + nb - 1) / nb;
  return (c.B + chunks - 1) / chunks;
}

// The kernel taps [lo, hi) that land inside [0, size) from output position o: tap t reads input
// o * stride - pad + t.
struct Taps {
  int lo, hi;
};
Taps taps(int o, int stride, int pad, int k, int size) {
  return {std::max(0, pad - o * stride), std::min(k, size + pad - o * stride)};
}

// rows: (nb OH OW, IN KH KW) for images [n0, n0 + nb) of x: (B, IN, H, W).
void im2row(const ConvShape& c, const float* x, int n0, int nb, float* rows) {
  const int K = c.IN * c.KH * c.KW;
#pragma omp parallel for schedule(static) if (size_t(nb) * c.OH * c.OW * K > 32768)
  for (int t = 0; t < nb * c.OH; ++t) {
    const int n = n0 + t / c.OH, oh = t % c.OH;
    const Taps th = taps(oh, c.SH, c.PH, c.KH, c.H);
    for (int ow = 0; ow < c.OW; ++ow) {
      const Taps tw = taps(ow, c.SW, c.PW, c.KW, c.W);
      float* r = rows + (size_t(t) * c.OW + ow) * K;
      for (int i = 0; i < c.IN; ++i)
        for (int kh = 0; kh < c.KH; ++kh) {
          float* dst = r + (i * c.KH + kh) * c.KW;
          if (kh < th.lo || kh >= th.hi || tw.lo >= tw.hi) {
            std::fill(dst, dst + c.KW, 0.0f);
            continue;
          }
          const float* src = x + ((size_t(n) * c.IN + i) * c.H + oh * c.SH - c.PH + kh) * c.W;
          const int iw0 = ow * c.SW - c.PW;
          std::fill(dst, dst + tw.lo, 0.0f);
          for (int kw = tw.lo; kw < tw.hi; ++kw) dst[kw] = src[iw0 + kw];
          std::fill(dst + tw.hi, dst + c.KW, 0.0f);
        }
    }
  }
}

// x planes of images [n0, n0 + nb) = bias (or 0) + every rows entry added where its patch reads.
// One thread per (n, i) plane, each adding in (oh, ow, kh, kw) order: a fixed order.
void row2im(const ConvShape& c, const float* rows, const float* bias, int n0, int nb, float* x) {
  const int K = c.IN * c.KH * c.KW, KK = c.KH * c.KW;
#pragma omp parallel for schedule(static) if (size_t(nb) * c.OH * c.OW * K > 32768)
  for (int pl = 0; pl < nb * c.IN; ++pl) {
    const int n = pl / c.IN, i = pl % c.IN;
    float* plane = x + (size_t(n0 + n) * c.IN + i) * c.H * c.W;
    std::fill(plane, plane + size_t(c.H) * c.W, bias ? bias[i] : 0.0f);
    for (int oh = 0; oh < c.OH; ++oh) {
      const Taps th = taps(oh, c.SH, c.PH, c.KH, c.H);
      for (int ow = 0; ow < c.OW; ++ow) {
        const Taps tw = taps(ow, c.SW, c.PW, c.KW, c.W);
        const float* r = rows + ((size_t(n) * c.OH + oh) * c.OW + ow) * K + size_t(i) * KK;
        const int iw0 = ow * c.SW - c.PW;
        for (int kh = th.lo; kh < th.hi; ++kh) {
          float* dst = plane + size_t(oh * c.SH - c.PH + kh) * c.W;
          const float* src = r + kh * c.KW;
          for (int kw = tw.lo; kw < tw.hi; ++kw) dst[iw0 + kw] += src[kw];
        }
      }
    }
  }
}

// (nb, C, P) images [n0, n0 + nb) of t -> (nb P, C) rows, and back.
void planes_to_rows(const float* t, int n0, int nb, int C, int P, float* rows) {
#pragma omp parallel for schedule(static) if (size_t(nb) * C * P > 65536)
  for (int n = 0; n < nb; ++n) {
    const float* src = t + size_t(n0 + n) * C * P;
    float* dst = rows + size_t(n) * P * C;
    for (int p = 0; p < P; ++p)
      for (int ch = 0; ch < C; ++ch) dst[size_t(p) * C + ch] = src[size_t(ch) * P + p];
  }
}

void rows_to_planes(const float* rows, int n0, int nb, int C, int P, float* t) {
#pragma omp parallel for schedule(static) if (size_t(nb) * C * P > 65536)
  for (int n = 0; n < nb; ++n) {
    const float* src = rows + size_t(n) * P * C;
    float* dst = t + size_t(n0 + n) * C * P;
    for (int ch = 0; ch < C; ++ch)
      for (int p = 0; p < P; ++p) dst[size_t(ch) * P + p] = src[size_t(p) * C + ch];
  }
}

// (R, C) -> (C, R), both row-major; threads take bands of output rows.
void transpose(const float* a, int R, int C, float* t) {
#pragma omp parallel for schedule(static) if (size_t(R) * C > 65536)
  for (int ch = 0; ch < C; ++ch)
    for (int r = 0; r < R; ++r) t[size_t(ch) * R + r] = a[size_t(r) * C + ch];
}

// Scratch kept per calling thread (the parallel regions inside share the caller's buffers): im2row
// rows (or their gradient), NHWC rows of the output side, W^T, dW^T.
struct Scratch {
  std::vector<float> rows, yrows, wt, dwt;
  static float* get(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// dW (OUT, K) = dW^T (K, OUT) transposed, written as `mode` says.
void store_weight_grad(const float* dwt, int K, int OUT, float* dW, GradMode mode) {
#pragma omp parallel for schedule(static) if (size_t(K) * OUT > 65536)
  for (int o = 0; o < OUT; ++o)
    for (int k = 0; k < K; ++k) write_grad(dW + size_t(o) * K + k, dwt[size_t(k) * OUT + o], mode);
}

// conv2d on c: x: (B, IN, H, W), W: (OUT, IN, KH, KW), b: (OUT) or null -> y: (B, OUT, OH, OW).
void forward_gemm(const ConvShape& c, const float* x, const float* W, const float* b, float* y) {
  Scratch& sc = scratch();
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c);
  float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
  float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
  float* wt = Scratch::get(sc.wt, size_t(K) * c.OUT);
  transpose(W, c.OUT, K, wt);
  for (int n0 = 0; n0 < c.B; n0 += nb) {
    const int m = std::min(nb, c.B - n0);
    im2row(c, x, n0, m, rows);
    // Y (m P, OUT) = rows (m P, K) W^T (K, OUT) + b
    gemm<float>(Trans::No, Trans::No, m * P, c.OUT, K, 1.0f, rows, wt, 0.0f, yrows, b);
    rows_to_planes(yrows, n0, m, c.OUT, P, y);
  }
}

// conv2d^T on c: dy: (B, OUT, OH, OW), W: (OUT, IN, KH, KW), bias: (IN) or null -> dx: (B, IN, H,
// W) = conv2d^T(dy) + bias (conv2d's input gradient; conv_transpose2d's forward).
void input_grad_gemm(const ConvShape& c, const float* W, const float* dy, const float* bias,
                     float* dx) {
  Scratch& sc = scratch();
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c);
  float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
  float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
  for (int n0 = 0; n0 < c.B; n0 += nb) {
    const int m = std::min(nb, c.B - n0);
    planes_to_rows(dy, n0, m, c.OUT, P, yrows);
    // drows (m P, K) = dY (m P, OUT) W (OUT, K)
    gemm<float>(Trans::No, Trans::No, m * P, K, c.OUT, 1.0f, yrows, W, 0.0f, rows);
    row2im(c, rows, bias, n0, m, dx);
  }
}

// conv2d backward on c, one pass over the chunks: dY rows feed both dW^T (+)= rows^T dY and
// drows = dY W; the rows buffer holds im2row(x) for the first, then drows for row2im.
void conv2d_backward_gemm(const ConvShape& c, const float* x, const float* W, const float* dy,
                          float* dx, float* dW, GradMode mode) {
  Scratch& sc = scratch();
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c);
  const bool want_dW = mode != GradMode::Ignore;
  float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
  float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
  float* dwt = Scratch::get(sc.dwt, size_t(K) * c.OUT);
  for (int n0 = 0; n0 < c.B; n0 += nb) {
    const int m = std::min(nb, c.B - n0);
    planes_to_rows(dy, n0, m, c.OUT, P, yrows);
    if (want_dW) {
      im2row(c, x, n0, m, rows);
      // dW^T (K, OUT) (+)= rows^T (K, m P) dY (m P, OUT); chunks add in order
      gemm<float>(Trans::Yes, Trans::No, K, c.OUT, m * P, 1.0f, rows, yrows,
                  n0 == 0 ? 0.0f : 1.0f, dwt);
    }
    if (dx) {
      gemm<float>(Trans::No, Trans::No, m * P, K, c.OUT, 1.0f, yrows, W, 0.0f, rows);
      row2im(c, rows, nullptr, n0, m, dx);
    }
  }
  if (want_dW) store_weight_grad(dwt, K, c.OUT, dW, mode);
}

// conv_transpose2d backward as its conv2d c = adjoint(t), one pass over the chunks: im2row(dy)
// feeds both dW^T (+)= rows^T X (X: x as NHWC rows, the conv2d's output gradient) and
// dx = rows W^T (the conv2d's forward).
void conv_transpose2d_backward_gemm(const ConvShape& c, const float* x, const float* W,
                                    const float* dy, float* dx, float* dW, GradMode mode) {
  Scratch& sc = scratch();
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c);
  const bool want_dW = mode != GradMode::Ignore;
  float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
  float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
  float* dwt = Scratch::get(sc.dwt, size_t(K) * c.OUT);
  float* wt = Scratch::get(sc.wt, size_t(K) * c.OUT);
  if (dx) transpose(W, c.OUT, K, wt);
  for (int n0 = 0; n0 < c.B; n0 += nb) {
    const int m = std::min(nb, c.B - n0);
    im2row(c, dy, n0, m, rows);
    if (want_dW) {
      planes_to_rows(x, n0, m, c.OUT, P, yrows);
      gemm<float>(Trans::Yes, Trans::No, K, c.OUT, m * P, 1.0f, rows, yrows,
                  n0 == 0 ? 0.0f : 1.0f, dwt);
    }
    if (dx) {
      gemm<float>(Trans::No, Trans::No, m * P, c.OUT, K, 1.0f, rows, wt, 0.0f, yrows);
      rows_to_planes(yrows, n0, m, c.OUT, P, dx);
    }
  }
  if (want_dW) store_weight_grad(dwt, K, c.OUT, dW, mode);
}

}  // namespace

template <class T>
void conv2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    forward_gemm(s, x, W, b, y);
  else
    conv2d_forward_direct(s, x, W, b, y);
}

template <class T>
void conv2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW, T* db,
                     GradMode mode) {
  if constexpr (std::is_same_v<T, float>) {
    conv2d_backward_gemm(s, x, W, dy, dx, dW, mode);
    if (db && mode != GradMode::Ignore) bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  } else {
    conv2d_backward_direct(s, x, W, dy, dx, dW, db, mode);
  }
}

template <class T>
void conv_transpose2d_forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) {
  if constexpr (std::is_same_v<T, float>)
    input_grad_gemm(adjoint(s), W, x, b, y);
  else
    conv_transpose2d_forward_direct(s, x, W, b, y);
}

template <class T>
void conv_transpose2d_backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx,
                               T* dW, T* db, GradMode mode) {
  if constexpr (std::is_same_v<T, float>) {
    conv_transpose2d_backward_gemm(adjoint(s), x, W, dy, dx, dW, mode);
    if (db && mode != GradMode::Ignore) bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
  } else {
    conv_transpose2d_backward_direct(s, x, W, dy, dx, dW, db, mode);
  }
}

#define GAN_CONV_INSTANTIATE(T)                                                                   \
  template void conv2d_forward_direct<T>(const ConvShape&, const T*, const T*, const T*, T*);     \
  template void conv2d_backward_direct<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, \
                                          T*, GradMode);                                          \
  template void conv_transpose2d_forward_direct<T>(const ConvShape&, const T*, const T*,          \
                                                   const T*, T*);                                 \
  template void conv_transpose2d_backward_direct<T>(const ConvShape&, const T*, const T*,         \
                                                    const T*, T*, T*, T*, GradMode);              \
  template void conv2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);            \
  template void conv2d_backward<T>(const ConvShape&, const T*, const T*, const T*, T*, T*, T*,    \
                                   GradMode);                                                     \
  template void conv_transpose2d_forward<T>(const ConvShape&, const T*, const T*, const T*, T*);  \
  template void conv_transpose2d_backward<T>(const ConvShape&, const T*, const T*, const T*, T*,  \
                                             T*, T*, GradMode);
GAN_CONV_INSTANTIATE(float)
GAN_CONV_INSTANTIATE(double)
#undef GAN_CONV_INSTANTIATE

}  // namespace gan::cpu
