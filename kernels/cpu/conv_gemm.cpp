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
#include "kernels/cpu/conv_gemm.h"

#include <algorithm>
#include <type_traits>
#include <vector>

#include "kernels/cpu/gemm_packed.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gan::cpu {

namespace {

// ---- the float path ------------------------------------------------------------------------

// The float path runs over chunks of images, each through the whole pipeline (im2row, GEMM,
// row2im) on one thread: a chunk's scratch stays near its core and a pass has one parallel region
// (a barrier per chunk and step costs far more when other work shares the cores). A chunk holds
// about kChunkRows GEMM rows (B OH OW), enough that packing W once per chunk costs little beside
// the products. With fewer chunks than threads the chunks run in turn and each step spreads over
// the threads instead.
constexpr int kChunkRows = 192;
constexpr size_t kChunkFloats = size_t(1) << 20;  // im2row rows per chunk: at most 4 MiB
// dW sums over images; to be the same whatever the thread count, its chunks are fixed by the
// shape and go round kLanes partial sums (lane l: chunks l, l + kLanes, ... in order), added in
// lane order at the end.
constexpr int kLanes = 4;

int max_threads() {
#if defined(_OPENMP)
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

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

// body(n0, m) for chunks [n0, n0 + m) of nb images: in parallel when there are several (each on
// one thread; the ops inside see a parallel region and stay on it), else in turn.
template <class Body>
void for_chunks(int B, int nb, const Body& body) {
  const int chunks = (B + nb - 1) / nb;
#pragma omp parallel for schedule(static) if (chunks > 1 && max_threads() > 1)
  for (int ch = 0; ch < chunks; ++ch) body(ch * nb, std::min(nb, B - ch * nb));
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
  static float* get(std::vector<float>& v, size_t n) {
    if (v.size() < n) v.resize(n);
    return v.data();
  }
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
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c, max_threads());
  PackedB& wt = call_scratch().w;
  pack_gemm_b(Trans::Yes, K, c.OUT, W, wt);  // W^T (K, OUT)
  for_chunks(c.B, nb, [&](int n0, int m) {
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
  const int K = c.IN * c.KH * c.KW, P = c.OH * c.OW, nb = chunk_images(c, max_threads());
  PackedB& wp = call_scratch().w;
  pack_gemm_b(Trans::No, c.OUT, K, W, wp);
  for_chunks(c.B, nb, [&](int n0, int m) {
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
    const int nb = chunk_images(c, max_threads());
    for_chunks(c.B, nb, [&](int n0, int m) { rest(n0, m, nb, nullptr, nullptr); });
    return;
  }
  const int nb = chunk_images(c, 1), chunks = (c.B + nb - 1) / nb;
  const int lanes = std::min(kLanes, chunks);
  const size_t wsize = size_t(K) * c.OUT;
  float* lane = Scratch::get(call_scratch().lanes, lanes * wsize);
#pragma omp parallel for schedule(static) if (lanes > 1 && max_threads() > 1)
  for (int l = 0; l < lanes; ++l) {
    Scratch& sc = scratch();
    float* rows = Scratch::get(sc.rows, size_t(nb) * P * K);
    float* yrows = Scratch::get(sc.yrows, size_t(nb) * P * c.OUT);
    for (int ch = l; ch < chunks; ch += lanes) {
      const int n0 = ch * nb, m = std::min(nb, c.B - n0);
      im2row(c, x, n0, m, rows);
      planes_to_rows(g, n0, m, c.OUT, P, yrows);
      // dW (OUT, K) (+)= X^T (OUT, m P) rows (m P, K)
      gemm<float>(Trans::Yes, Trans::No, c.OUT, K, m * P, 1.0f, yrows, rows,
                  ch == l ? 0.0f : 1.0f, lane + l * wsize);
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

// ---- one GEMM per kernel tap and output row, padding skipped -----------------------------------
//
// Images are stored as pixel rows (a chunk of m images: row (h, w, j) holds image j's channels at
// pixel (h, w), j fastest), the conv2d's input side with its columns in phases of the stride SW
// (w = SW q + r: all of phase 0, then phase 1, ...). Then the pixels that tap (kh, kw) pairs
// along an output row oh are one contiguous block of rows on each side: output (oh, ow_lo ..),
// input (ih, phase r, q_lo ..). Each (row, tap) is a GEMM on views of the two tensors, and
// products that would read padding are never formed (31% of them in the DCGAN's 7x7 k5 s1 layer,
// 30% in its 14 -> 7 k5 s2 ones). Each output element's products are FMA'd onto its initial
// value (bias or 0) tap after tap in (kh, kw) order: one chain in a fixed order. dW sums per tap
// over the chunks (fixed by the shape) and rows in order, one tap per thread.
constexpr int kTapImages = 32;

// Enough channels for the GEMMs' K (IN for the forward, OUT for the input gradient) to keep the
// register tile busy; thinner layers take the im2row path.
bool use_taps(const ConvShape& c) { return c.IN >= 16 && c.OUT >= 16; }

// Images per chunk of the tap path: at most kTapImages, chunks of equal size (shape only).
int tap_chunk(int B) {
  const int chunks = (B + kTapImages - 1) / kTapImages;
  return (B + chunks - 1) / chunks;
}

// Pixel rows per image of an (H, W) side whose columns go in S phases of Q = ceil(W / S) rows
// (the last q of a short phase is unused), and the row of pixel (h, w).
struct PixelRows {
  int H, W, S, Q;
  PixelRows(int h, int w, int s) : H(h), W(w), S(s), Q((w + s - 1) / s) {}
  int per_image() const { return H * S * Q; }
  int row(int h, int w) const { return (h * S + w % S) * Q + w / S; }
};

// The input-side view of tap kw along an output row: phase r, q = ow + d, for ow in [lo, hi).
struct TapCols {
  int r, d, lo, hi;
};
TapCols tap_cols(const ConvShape& c, int kw) {
  const int t = kw - c.PW, d = t >= 0 ? t / c.SW : -((c.SW - 1 - t) / c.SW), r = t - d * c.SW;
  const int q_end = (c.W - r + c.SW - 1) / c.SW;  // columns of phase r
  return {r, d, std::max(0, -d), std::min(c.OW, q_end - d)};
}

// t: (B, C, H, W) planes <-> pixel rows in chunks of nb images (chunk of n0 at r + n0 rows C).
void to_pixel_rows(const float* t, int B, int C, const PixelRows& pr, int nb, float* r) {
  const int P = pr.H * pr.W, R = pr.per_image();
#pragma omp parallel for schedule(static) if (size_t(B) * C * P > 65536)
  for (int n = 0; n < B; ++n) {
    const int n0 = n / nb * nb, m = std::min(nb, B - n0), j = n - n0;
    float* dst = r + size_t(n0) * R * C + size_t(j) * C;
    const float* src = t + size_t(n) * C * P;
    // Pixel by pixel: contiguous writes; the C strided reads stay in L1 from one pixel to the next.
    for (int h = 0; h < pr.H; ++h)
      for (int w = 0; w < pr.W; ++w) {
        float* d = dst + size_t(pr.row(h, w)) * m * C;
        const float* s = src + h * pr.W + w;
        for (int ch = 0; ch < C; ++ch) d[ch] = s[size_t(ch) * P];
      }
  }
}

void from_pixel_rows(const float* r, int B, int C, const PixelRows& pr, int nb, float* t) {
  const int P = pr.H * pr.W, R = pr.per_image();
#pragma omp parallel for schedule(static) if (size_t(B) * C * P > 65536)
  for (int n = 0; n < B; ++n) {
    const int n0 = n / nb * nb, m = std::min(nb, B - n0), j = n - n0;
    const float* src = r + size_t(n0) * R * C + size_t(j) * C;
    float* dst = t + size_t(n) * C * P;
    for (int h = 0; h < pr.H; ++h)
      for (int w = 0; w < pr.W; ++w) {
        const float* s = src + size_t(pr.row(h, w)) * m * C;
        float* d = dst + h * pr.W + w;
        for (int ch = 0; ch < C; ++ch) d[size_t(ch) * P] = s[ch];
      }
  }
}

// Every row of a (rows, C) block = bias, or zeros.
void fill_rows(float* r, size_t rows, int C, const float* bias) {
#pragma omp parallel for schedule(static) if (rows * C > 65536)
  for (size_t i = 0; i < rows; ++i)
    for (int ch = 0; ch < C; ++ch) r[i * C + ch] = bias ? bias[ch] : 0.0f;
}

// W: (OUT, IN, KH, KW) -> per tap, W[:, :, kh, kw] packed as op(B) = its transpose (IN, OUT)
// when `transposed` (the forward), else as it is (OUT, IN) (the input gradient).
void pack_taps(const ConvShape& c, const float* W, bool transposed, std::vector<PackedB>& taps) {
  const int KK = c.KH * c.KW;
  if (int(taps.size()) < KK) taps.resize(KK);
#pragma omp parallel for schedule(static) if (size_t(c.OUT) * c.IN * KK > 65536)
  for (int t = 0; t < KK; ++t) {
    thread_local std::vector<float> w;
    w.resize(size_t(c.OUT) * c.IN);
    for (size_t j = 0; j < w.size(); ++j) w[j] = W[j * KK + t];
    if (transposed)
      pack_gemm_b(Trans::Yes, c.IN, c.OUT, w.data(), taps[t]);
    else
      pack_gemm_b(Trans::No, c.OUT, c.IN, w.data(), taps[t]);
  }
}

// Y (m images of c's output) += conv2d of X (its input): Y[oh, ow ..] += X[ih, r, q ..] W_tap^T.
void taps_forward_chunk(const ConvShape& c, const float* X, int m,
                        const std::vector<PackedB>& wt, float* Y) {
  const PixelRows in(c.H, c.W, c.SW);
  for (int oh = 0; oh < c.OH; ++oh)
    for (int kh = 0; kh < c.KH; ++kh) {
      const int ih = oh * c.SH - c.PH + kh;
      if (ih < 0 || ih >= c.H) continue;
      for (int kw = 0; kw < c.KW; ++kw) {
        const TapCols tc = tap_cols(c, kw);
        if (tc.lo >= tc.hi) continue;
        const float* x = X + size_t((ih * c.SW + tc.r) * in.Q + tc.lo + tc.d) * m * c.IN;
        float* y = Y + size_t(oh * c.OW + tc.lo) * m * c.OUT;
        gemm_packed_onto(Trans::No, (tc.hi - tc.lo) * m, x, wt[kh * c.KW + kw], y);
      }
    }
}

// dX (m images of c's input) += conv2d^T of dY: dX[ih, r, q ..] += dY[oh, ow ..] W_tap.
void taps_input_grad_chunk(const ConvShape& c, const float* dY, int m,
                           const std::vector<PackedB>& w, float* dX) {
  const PixelRows in(c.H, c.W, c.SW);
  for (int ih = 0; ih < c.H; ++ih)
    for (int kh = 0; kh < c.KH; ++kh) {
      const int t = ih + c.PH - kh;
      if (t < 0 || t % c.SH != 0 || t / c.SH >= c.OH) continue;
      const int oh = t / c.SH;
      for (int kw = 0; kw < c.KW; ++kw) {
        const TapCols tc = tap_cols(c, kw);
        if (tc.lo >= tc.hi) continue;
        const float* dy = dY + size_t(oh * c.OW + tc.lo) * m * c.OUT;
        float* dx = dX + size_t((ih * c.SW + tc.r) * in.Q + tc.lo + tc.d) * m * c.IN;
        gemm_packed_onto(Trans::No, (tc.hi - tc.lo) * m, dy, w[kh * c.KW + kw], dx);
      }
    }
}

// dW (OUT, IN, KH, KW) from pixel rows X (c's input) and G (its output gradient), chunks of nb:
// per tap, dW_tap (OUT, IN) = sum over chunks and rows of G[oh, ow ..]^T X[ih, r, q ..].
void taps_weight_grad(const ConvShape& c, const float* X, const float* G, int nb, float* dW,
                      GradMode mode) {
  const int KK = c.KH * c.KW;
  const PixelRows in(c.H, c.W, c.SW);
  const bool split = KK >= max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (split && max_threads() > 1)
  for (int t = 0; t < KK; ++t) {
    const int kh = t / c.KW;
    const TapCols tc = tap_cols(c, t % c.KW);
    thread_local std::vector<float> acc;
    acc.resize(size_t(c.OUT) * c.IN);
    bool first = true;
    for (int n0 = 0; n0 < c.B && tc.lo < tc.hi; n0 += nb) {
      const int m = std::min(nb, c.B - n0);
      const float* Xc = X + size_t(n0) * in.per_image() * c.IN;
      const float* Gc = G + size_t(n0) * c.OH * c.OW * c.OUT;
      for (int oh = 0; oh < c.OH; ++oh) {
        const int ih = oh * c.SH - c.PH + kh;
        if (ih < 0 || ih >= c.H) continue;
        const float* g = Gc + size_t(oh * c.OW + tc.lo) * m * c.OUT;
        const float* x = Xc + size_t((ih * c.SW + tc.r) * in.Q + tc.lo + tc.d) * m * c.IN;
        // dW_tap (OUT, IN) (+)= G_rows^T (OUT, rows) X_rows (rows, IN)
        gemm<float>(Trans::Yes, Trans::No, c.OUT, c.IN, (tc.hi - tc.lo) * m, 1.0f, g, x,
                    first ? 0.0f : 1.0f, acc.data());
        first = false;
      }
    }
    if (first) std::fill(acc.begin(), acc.end(), 0.0f);
    for (size_t j = 0; j < acc.size(); ++j) write_grad(dW + j * KK + t, acc[j], mode);
  }
}

// Per call: pixel rows of the two sides and the packed taps.
struct TapScratch {
  std::vector<float> in, out;
  std::vector<PackedB> taps;
};
TapScratch& tap_scratch() {
  thread_local TapScratch s;
  return s;
}

// conv2d on c (x: its input -> y: its output), or with `adjoint_op` conv2d^T (x: its output
// side -> y: its input side), + bias.
void taps_apply(const ConvShape& c, const float* x, const float* W, const float* bias, float* y,
                bool adjoint_op) {
  TapScratch& sc = tap_scratch();
  const int nb = tap_chunk(c.B);
  const PixelRows in(c.H, c.W, c.SW), out(c.OH, c.OW, 1);
  const PixelRows& px = adjoint_op ? out : in;
  const PixelRows& py = adjoint_op ? in : out;
  const int cx = adjoint_op ? c.OUT : c.IN, cy = adjoint_op ? c.IN : c.OUT;
  float* X = Scratch::get(sc.in, size_t(c.B) * px.per_image() * cx);
  float* Y = Scratch::get(sc.out, size_t(c.B) * py.per_image() * cy);
  pack_taps(c, W, !adjoint_op, sc.taps);
  to_pixel_rows(x, c.B, cx, px, nb, X);
  fill_rows(Y, size_t(c.B) * py.per_image(), cy, bias);
  for_chunks(c.B, nb, [&](int n0, int m) {
    const float* Xc = X + size_t(n0) * px.per_image() * cx;
    float* Yc = Y + size_t(n0) * py.per_image() * cy;
    if (adjoint_op)
      taps_input_grad_chunk(c, Xc, m, sc.taps, Yc);
    else
      taps_forward_chunk(c, Xc, m, sc.taps, Yc);
  });
  from_pixel_rows(Y, c.B, cy, py, nb, y);
}

// The backward pass of conv2d c on the tap path: x its input, g its output gradient; dW (mode),
// and when dx is set, dx = conv2d^T(g) (conv2d's backward) or, with `forward_dx`, conv2d(x) (the
// input gradient of the transposed convolution that c is the adjoint of).
void taps_backward(const ConvShape& c, const float* x, const float* W, const float* g, float* dx,
                   float* dW, GradMode mode, bool forward_dx) {
  TapScratch& sc = tap_scratch();
  const int nb = tap_chunk(c.B);
  const PixelRows in(c.H, c.W, c.SW), out(c.OH, c.OW, 1);
  float* X = Scratch::get(sc.in, size_t(c.B) * in.per_image() * c.IN);
  float* G = Scratch::get(sc.out, size_t(c.B) * out.per_image() * c.OUT);
  to_pixel_rows(x, c.B, c.IN, in, nb, X);
  to_pixel_rows(g, c.B, c.OUT, out, nb, G);
  if (mode != GradMode::Ignore) taps_weight_grad(c, X, G, nb, dW, mode);
  if (!dx) return;
  // The result goes to this thread's chunk scratch rows (sized for the whole batch here).
  const PixelRows& pd = forward_dx ? out : in;
  const int cd = forward_dx ? c.OUT : c.IN;
  float* D = Scratch::get(scratch().rows, size_t(c.B) * pd.per_image() * cd);
  pack_taps(c, W, forward_dx, sc.taps);
  fill_rows(D, size_t(c.B) * pd.per_image(), cd, nullptr);
  for_chunks(c.B, nb, [&](int n0, int m) {
    float* Dc = D + size_t(n0) * pd.per_image() * cd;
    if (forward_dx)
      taps_forward_chunk(c, X + size_t(n0) * in.per_image() * c.IN, m, sc.taps, Dc);
    else
      taps_input_grad_chunk(c, G + size_t(n0) * out.per_image() * c.OUT, m, sc.taps, Dc);
  });
  from_pixel_rows(D, c.B, cd, pd, nb, dx);
}

}  // namespace

void conv2d_forward_fast(const ConvShape& s, const float* x, const float* W, const float* b,
                         float* y) {
  if (use_taps(s))
    taps_apply(s, x, W, b, y, false);
  else
    forward_gemm(s, x, W, b, y);
}

void conv2d_backward_fast(const ConvShape& s, const float* x, const float* W, const float* dy,
                          float* dx, float* dW, float* db, GradMode mode) {
  if (use_taps(s))
    taps_backward(s, x, W, dy, dx, dW, mode, false);
  else
    conv2d_backward_gemm(s, x, W, dy, dx, dW, mode);
  if (db && mode != GradMode::Ignore) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
}

void conv_transpose2d_forward_fast(const ConvShape& s, const float* x, const float* W,
                                   const float* b, float* y) {
  const ConvShape c = conv_adjoint(s);
  if (use_taps(c))
    taps_apply(c, x, W, b, y, true);
  else
    input_grad_gemm(c, W, x, b, y);
}

void conv_transpose2d_backward_fast(const ConvShape& s, const float* x, const float* W,
                                    const float* dy, float* dx, float* dW, float* db,
                                    GradMode mode) {
  const ConvShape c = conv_adjoint(s);
  if (use_taps(c))
    taps_backward(c, dy, W, x, dx, dW, mode, true);
  else
    conv_transpose2d_backward_gemm(c, x, W, dy, dx, dW, mode);
  if (db && mode != GradMode::Ignore) conv_bias_grad(s.B, s.OUT, s.OH * s.OW, dy, db, mode);
}

}  // namespace gan::cpu
