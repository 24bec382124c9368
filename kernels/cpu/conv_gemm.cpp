// The float path of the CPU convolutions (kernels/conv.h), around cpu::gemm<float>'s AVX2 tiles:
// the dispatch, and the im2row path. A transposed convolution runs as the conv2d c it is the
// adjoint of (conv_adjoint): its forward is c's input-gradient map, its input gradient c's
// forward, its dW c's dW with x and dy in each other's roles. Layers with 16+ channels on both
// sides (all of the DCGAN's but the 1-channel ends) take the per-tap path of conv_taps.cpp, which
// never multiplies padding; thinner ones take im2row here: rows (B OH OW, IN KH KW) holds in row
// (n, oh, ow) the patch that y[n, :, oh, ow] reads, in W's (i, kh, kw) order (zeros outside the
// image), and with Y the output as rows (B OH OW, OUT) (NHWC):
//   forward      Y = rows W^T                (M = B OH OW, N = OUT, K = IN KH KW)
//   input grad   drows = dY W, then row2im   (M = B OH OW, N = IN KH KW, K = OUT)
//   weight grad  dW = dY^T rows              (M = OUT, N = IN KH KW, K = B OH OW)
// W is packed once per call. Images go in chunks, each through its whole pipeline on one thread;
// every output element is summed in an order fixed by the shape, never by the thread count.
#include "kernels/cpu/conv_gemm.h"

#include <algorithm>
#include <vector>

#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/scratch.h"

namespace gan::cpu {

namespace {

// A chunk holds about kChunkRows GEMM rows (B OH OW): its scratch stays in L2 / L3, and packing
// W once per call costs little beside the products.
constexpr int kChunkRows = 192;
constexpr size_t kChunkFloats = size_t(1) << 20;  // im2row rows per chunk: at most 4 MiB
// dW sums over images; to be the same whatever the thread count, its chunks are fixed by the
// shape and go round kLanes partial sums (lane l: chunks l, l + kLanes, ... in order), added in
// lane order at the end.
constexpr int kLanes = 4;

// Images per chunk: kChunkRows rows, at most kChunkFloats of rows, and with `threads` > 1 at
// least one chunk per thread.
int chunk_images(const ConvShape& c, int threads) {
  const int P = c.OH * c.OW;
  const size_t per_image = size_t(P) * c.IN * c.KH * c.KW;
  const int by_rows = (kChunkRows + P - 1) / P;
  const int by_floats = int(std::max<size_t>(1, kChunkFloats / per_image));
  const int by_threads = (c.B + threads - 1) / threads;
  return std::clamp(std::min({by_rows, by_floats, by_threads}), 1, c.B);
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

// Scratch of the thread that runs a chunk: im2row rows (or their gradient), NHWC rows of the
// output side.
struct Scratch {
  std::vector<float> rows, yrows;
  static float* get(std::vector<float>& v, size_t n) { return scratch_at_least(v, n); }
};
Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// Per call, on the calling thread: W packed for the GEMMs that multiply by it (once per call,
// shared by every chunk) and the dW lanes.
struct CallScratch {
  PackedB w;
  std::vector<float> lanes;
};
CallScratch& call_scratch() {
  thread_local CallScratch s;
  return s;
}

// conv2d on c: x: (B, IN, H, W), W: (OUT, IN, KH, KW), b: (OUT) or null -> y: (B, OUT, OH, OW).
void forward_gemm(const ConvShape& c, const float* x, const float* W, const float* b, float* y) {
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c, conv_max_threads());
  PackedB& wt = call_scratch().w;
  pack_gemm_b(Trans::Yes, K, c.OUT, W, wt);  // W^T (K, OUT)
  conv_for_chunks(c.B, nb, [&](int n0, int m) {
    Scratch& sc = scratch();
    float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
    float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
    im2row(c, x, n0, m, rows);
    // Y (m P, OUT) = rows (m P, K) W^T (K, OUT) + b
    gemm_packed(Trans::No, m * P, 1.0f, rows, wt, 0.0f, yrows, b);
    rows_to_planes(yrows, n0, m, c.OUT, P, y);
  });
}

// conv2d^T on c: dy: (B, OUT, OH, OW), W: (OUT, IN, KH, KW), bias: (IN) or null -> dx: (B, IN, H,
// W) = conv2d^T(dy) + bias (conv2d's input gradient; conv_transpose2d's forward).
void input_grad_gemm(const ConvShape& c, const float* W, const float* dy, const float* bias,
                     float* dx) {
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c, conv_max_threads());
  PackedB& wp = call_scratch().w;
  pack_gemm_b(Trans::No, c.OUT, K, W, wp);
  conv_for_chunks(c.B, nb, [&](int n0, int m) {
    Scratch& sc = scratch();
    float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
    float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
    planes_to_rows(dy, n0, m, c.OUT, P, yrows);
    // drows (m P, K) = dY (m P, OUT) W (OUT, K)
    gemm_packed(Trans::No, m * P, 1.0f, yrows, wp, 0.0f, rows);
    row2im(c, rows, bias, n0, m, dx);
  });
}

// The backward pass of conv2d c over fixed chunks, lane by lane. For each chunk the thread builds
// rows = im2row(x) and X = the output gradient as NHWC rows, adds X^T rows into its lane's dW,
// then runs `rest` (the input gradient of that chunk) with both still in its scratch. Then dW =
// the lanes' sum, written as `mode` says. With mode == Ignore only `rest` runs, chunk by chunk.
template <class Rest>
void backward_chunks(const ConvShape& c, const float* x, const float* g, float* dW, GradMode mode,
                     const Rest& rest) {
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW;
  if (mode == GradMode::Ignore) {
    const int nb = chunk_images(c, conv_max_threads());
    conv_for_chunks(c.B, nb, [&](int n0, int m) { rest(n0, m, nb, nullptr, nullptr); });
    return;
  }
  const int nb = chunk_images(c, 1), chunks = (c.B + nb - 1) / nb;
  const int lanes = std::min(kLanes, chunks);
  const size_t wsize = size_t(K) * c.OUT;
  float* lane = Scratch::get(call_scratch().lanes, lanes * wsize);
#pragma omp parallel for schedule(static) if (lanes > 1 && conv_max_threads() > 1)
  for (int l = 0; l < lanes; ++l) {
    Scratch& sc = scratch();
    float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
    float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
    for (int ch = l; ch < chunks; ch += lanes) {
      const int n0 = ch * nb, m = std::min(nb, c.B - n0);
      im2row(c, x, n0, m, rows);
      planes_to_rows(g, n0, m, c.OUT, P, yrows);
      // dW (OUT, K) (+)= X^T (OUT, m P) rows (m P, K)
      gemm<float>(Trans::Yes, Trans::No, c.OUT, K, m * P, 1.0f, yrows, rows, ch == l ? 0.0f : 1.0f,
                  lane + l * wsize);
      rest(n0, m, nb, rows, yrows);
    }
  }
#pragma omp parallel for schedule(static) if (wsize > 65536)
  for (int o = 0; o < c.OUT; ++o)
    for (int k = 0; k < K; ++k) {
      const size_t j = size_t(o) * K + k;
      float sum = lane[j];
      for (int l = 1; l < lanes; ++l) sum += lane[l * wsize + j];
      write_grad(dW + j, sum, mode);
    }
}

// conv2d backward on c: dW from im2row(x) and dY rows; dx from drows = dY W (into the rows
// buffer once dW is done with it) and row2im.
void conv2d_backward_gemm(const ConvShape& c, const float* x, const float* W, const float* dy,
                          float* dx, float* dW, GradMode mode) {
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW;
  PackedB& wp = call_scratch().w;
  if (dx) pack_gemm_b(Trans::No, c.OUT, K, W, wp);
  backward_chunks(c, x, dy, dW, mode, [&](int n0, int m, int nb, float* rows, float* yrows) {
    if (!dx) return;
    Scratch& sc = scratch();
    if (!rows) {
      rows = Scratch::get(sc.rows, size_t(nb) * P * K);
      yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
      planes_to_rows(dy, n0, m, c.OUT, P, yrows);
    }
    gemm_packed(Trans::No, m * P, 1.0f, yrows, wp, 0.0f, rows);
    row2im(c, rows, nullptr, n0, m, dx);
  });
}

// conv_transpose2d backward as its conv2d c = adjoint(t): that conv2d's input is dy and its
// output gradient x, so dW pairs im2row(dy) with x's rows, and dx = rows W^T (its forward).
void conv_transpose2d_backward_gemm(const ConvShape& c, const float* x, const float* W,
                                    const float* dy, float* dx, float* dW, GradMode mode) {
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW;
  PackedB& wt = call_scratch().w;
  if (dx) pack_gemm_b(Trans::Yes, K, c.OUT, W, wt);  // W^T (K, OUT)
  backward_chunks(c, dy, x, dW, mode, [&](int n0, int m, int nb, float* rows, float* yrows) {
    if (!dx) return;
    Scratch& sc = scratch();
    if (!rows) {
      rows = Scratch::get(sc.rows, size_t(nb) * P * K);
      yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
      im2row(c, dy, n0, m, rows);
    }
    gemm_packed(Trans::No, m * P, 1.0f, rows, wt, 0.0f, yrows);
    rows_to_planes(yrows, n0, m, c.OUT, P, dx);
  });
}

}  // namespace

void conv2d_forward_fast(const ConvShape& s, const float* x, const float* W, const float* b,
                         float* y) {
  if (conv_use_taps(s))
    conv_taps_apply(s, x, W, b, y, false);
  else
    forward_gemm(s, x, W, b, y);
}

void conv2d_backward_fast(const ConvShape& s, const float* x, const float* W, const float* dy,
                          float* dx, float* dW, float* db, GradMode mode) {
  if (conv_use_taps(s))
    conv_taps_backward(s, x, W, dy, dx, dW, mode, false);
  else
    conv2d_backward_gemm(s, x, W, dy, dx, dW, mode);
  if (db && mode != GradMode::Ignore) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
}

void conv_transpose2d_forward_fast(const ConvShape& s, const float* x, const float* W,
                                   const float* b, float* y) {
  const ConvShape c = conv_adjoint(s);
  if (conv_use_taps(c))
    conv_taps_apply(c, x, W, b, y, true);
  else
    input_grad_gemm(c, W, x, b, y);
}

void conv_transpose2d_backward_fast(const ConvShape& s, const float* x, const float* W,
                                    const float* dy, float* dx, float* dW, float* db,
                                    GradMode mode) {
  const ConvShape c = conv_adjoint(s);
  if (conv_use_taps(c))
    conv_taps_backward(c, dy, W, x, dx, dW, mode, true);
  else
    conv_transpose2d_backward_gemm(c, x, W, dy, dx, dW, mode);
  if (db && mode != GradMode::Ignore) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
}

}  // namespace gan::cpu
