// The per-tap float path of the CPU convolutions (see conv_gemm.h): one GEMM per kernel tap and
// output row, padding skipped.
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
#include <algorithm>
#include <vector>

#include "kernels/cpu/conv_gemm.h"
#include "kernels/cpu/gemm_packed.h"
#include "kernels/cpu/scratch.h"

namespace gan::cpu {

namespace {

constexpr int kTapImages = 32;

// Images per chunk of the tap path: at most kTapImages, chunks of equal size (shape only), and
// two chunks or more from two images on: a chunk runs on one thread, so a small batch is one
// parallel region rather than one per tap GEMM (a barrier each, which costs a scheduler tick
// whenever other work shares the cores).
int tap_chunk(int B) {
  const int chunks = std::max((B + kTapImages - 1) / kTapImages, std::min(B, 2));
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
void taps_forward_chunk(const ConvShape& c, const float* X, int m, const std::vector<PackedB>& wt,
                        float* Y) {
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
  const bool split = KK >= conv_max_threads();
#pragma omp parallel for schedule(dynamic, 1) if (split && conv_max_threads() > 1)
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

// Per call: pixel rows of the two sides (and of dx), the packed taps.
struct TapScratch {
  std::vector<float> in, out, dx;
  std::vector<PackedB> taps;
};
float* get(std::vector<float>& v, size_t n) { return scratch_at_least(v, n); }
TapScratch& tap_scratch() {
  thread_local TapScratch s;
  return s;
}

}  // namespace

// Enough channels for the GEMMs' K (IN for the forward, OUT for the input gradient) to keep the
// register tile busy; thinner layers take the im2row path.
bool conv_use_taps(const ConvShape& c) { return c.IN >= 16 && c.OUT >= 16; }

void conv_taps_apply(const ConvShape& c, const float* x, const float* W, const float* bias,
                     float* y, bool adjoint_op) {
  TapScratch& sc = tap_scratch();
  const int nb = tap_chunk(c.B);
  const PixelRows in(c.H, c.W, c.SW), out(c.OH, c.OW, 1);
  const PixelRows& px = adjoint_op ? out : in;
  const PixelRows& py = adjoint_op ? in : out;
  const int cx = adjoint_op ? c.OUT : c.IN, cy = adjoint_op ? c.IN : c.OUT;
  float* X = get(sc.in, size_t(c.B) * px.per_image() * cx);
  float* Y = get(sc.out, size_t(c.B) * py.per_image() * cy);
  pack_taps(c, W, !adjoint_op, sc.taps);
  to_pixel_rows(x, c.B, cx, px, nb, X);
  fill_rows(Y, size_t(c.B) * py.per_image(), cy, bias);
  conv_for_chunks(c.B, nb, [&](int n0, int m) {
    const float* Xc = X + size_t(n0) * px.per_image() * cx;
    float* Yc = Y + size_t(n0) * py.per_image() * cy;
    if (adjoint_op)
      taps_input_grad_chunk(c, Xc, m, sc.taps, Yc);
    else
      taps_forward_chunk(c, Xc, m, sc.taps, Yc);
  });
  from_pixel_rows(Y, c.B, cy, py, nb, y);
}

void conv_taps_backward(const ConvShape& c, const float* x, const float* W, const float* g,
                        float* dx, float* dW, GradMode mode, bool forward_dx) {
  TapScratch& sc = tap_scratch();
  const int nb = tap_chunk(c.B);
  const PixelRows in(c.H, c.W, c.SW), out(c.OH, c.OW, 1);
  float* X = get(sc.in, size_t(c.B) * in.per_image() * c.IN);
  float* G = get(sc.out, size_t(c.B) * out.per_image() * c.OUT);
  to_pixel_rows(x, c.B, c.IN, in, nb, X);
  to_pixel_rows(g, c.B, c.OUT, out, nb, G);
  if (mode != GradMode::Ignore) taps_weight_grad(c, X, G, nb, dW, mode);
  if (!dx) return;
  const PixelRows& pd = forward_dx ? out : in;
  const int cd = forward_dx ? c.OUT : c.IN;
  float* D = get(sc.dx, size_t(c.B) * pd.per_image() * cd);
  pack_taps(c, W, forward_dx, sc.taps);
  fill_rows(D, size_t(c.B) * pd.per_image(), cd, nullptr);
  conv_for_chunks(c.B, nb, [&](int n0, int m) {
    float* Dc = D + size_t(n0) * pd.per_image() * cd;
    if (forward_dx)
      taps_forward_chunk(c, X + size_t(n0) * in.per_image() * c.IN, m, sc.taps, Dc);
    else
      taps_input_grad_chunk(c, G + size_t(n0) * out.per_image() * c.OUT, m, sc.taps, Dc);
  });
  from_pixel_rows(D, c.B, cd, pd, nb, dx);
}

}  // namespace gan::cpu
