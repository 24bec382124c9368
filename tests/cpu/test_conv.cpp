// conv2d and conv_transpose2d: the direct reference against a definition written independently,
// float64 gradient checks, the adjoint identity, gradient modes, and the float im2row path
// against the float64 reference (DCGAN shapes and odd ones), bitwise deterministic.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "gradcheck.h"
#include "kernels/conv.h"
#include "test_util.h"

#if defined(_OPENMP)
#include <omp.h>
#endif

using namespace gan;
using namespace gan::test;

namespace {

ConvShape geometry(int B, int IN, int H, int W, int OUT, int OH, int OW, int KH, int KW, int SH,
                   int SW, int PH, int PW) {
  ConvShape s;
  s.B = B, s.IN = IN, s.H = H, s.W = W, s.OUT = OUT, s.OH = OH, s.OW = OW;
  s.KH = KH, s.KW = KW, s.SH = SH, s.SW = SW, s.PH = PH, s.PW = PW;
  return s;
}

std::string describe(const ConvShape& s) {
  return "B=" + std::to_string(s.B) + " IN=" + std::to_string(s.IN) + " " + std::to_string(s.H) +
         "x" + std::to_string(s.W) + " -> OUT=" + std::to_string(s.OUT) + " " +
         std::to_string(s.OH) + "x" + std::to_string(s.OW) + " k" + std::to_string(s.KH) + "x" +
         std::to_string(s.KW) + " s" + std::to_string(s.SH) + "x" + std::to_string(s.SW) + " p" +
         std::to_string(s.PH) + "x" + std::to_string(s.PW);
}

// conv2d geometries (x: (B, IN, H, W) -> y: (B, OUT, OH, OW)): batch 1 and 3, 1 and 3 channels,
// kernels 1, 3, 4, 5, strides 1 and 2, valid, TensorFlow 'same' (asymmetric: PH = 1 for k5 s2 on
// 8, the odd pixel at the bottom), PyTorch explicit padding with a floored output size, and
// non-square images, kernels and strides.
const ConvShape kConvShapes[] = {
    geometry(1, 1, 5, 5, 1, 5, 5, 1, 1, 1, 1, 0, 0),   // 1x1 kernel, valid
    geometry(3, 3, 6, 7, 1, 6, 7, 3, 3, 1, 1, 1, 1),   // 'same' k3 s1
    geometry(1, 1, 8, 8, 3, 4, 4, 5, 5, 2, 2, 1, 1),   // TF 'same' k5 s2 8 -> 4 (PH = 1)
    geometry(3, 3, 7, 9, 3, 3, 7, 4, 3, 2, 1, 1, 0),   // k4x3 s2x1, PyTorch pad 1 floored in H
    geometry(2, 2, 9, 6, 3, 4, 2, 3, 5, 2, 1, 0, 0),   // valid, KH != KW
    geometry(1, 3, 8, 5, 1, 3, 3, 3, 3, 2, 2, 0, 1),   // floor: the last row never read
    geometry(3, 1, 6, 6, 3, 3, 3, 5, 5, 2, 2, 2, 2)};  // PyTorch k5 s2 p2

// conv_transpose2d geometries (x: (B, IN, H, W) -> y: (B, OUT, OH, OW)).
const ConvShape kConvTShapes[] = {
    geometry(1, 1, 4, 4, 1, 4, 4, 1, 1, 1, 1, 0, 0),   // 1x1
    geometry(3, 3, 4, 4, 1, 8, 8, 5, 5, 2, 2, 1, 1),   // TF 'same' k5 s2 4 -> 8 (PH = 1)
    geometry(1, 1, 4, 4, 3, 8, 8, 5, 5, 2, 2, 2, 2),   // PyTorch p2, output_padding 1
    geometry(3, 3, 3, 5, 3, 6, 10, 4, 4, 2, 2, 1, 1),  // DCGAN-style k4 s2 p1
    geometry(2, 1, 3, 4, 3, 7, 3, 3, 2, 2, 1, 0, 1),   // full in H, cropped in W, KH != KW
    geometry(3, 3, 5, 5, 3, 5, 5, 3, 3, 1, 1, 1, 1),   // 'same' k3 s1
    geometry(1, 3, 3, 3, 1, 8, 6, 3, 3, 2, 2, 0, 0)};  // output beyond every target (zeros)

// The conv2d that `t` is the adjoint of, written out here rather than taken from the library.
ConvShape adjoint_of(const ConvShape& t) {
  return geometry(t.B, t.OUT, t.OH, t.OW, t.IN, t.H, t.W, t.KH, t.KW, t.SH, t.SW, t.PH, t.PW);
}

// conv2d as "zero-pad, then correlate": x copied into a zero image that covers every row and
// column any output reads ((OH - 1) SH + KH rows from -PH on), then y[oh, ow] = sum W xp[oh SH +
// kh, ow SW + kw] with no bounds test.
std::vector<double> naive_conv2d(const ConvShape& s, const std::vector<double>& x,
                                 const std::vector<double>& W, const std::vector<double>& b) {
  const int HP = (s.OH - 1) * s.SH + s.KH, WP = (s.OW - 1) * s.SW + s.KW;
  std::vector<double> y(s.y_size());
  for (int n = 0; n < s.B; ++n) {
    std::vector<double> xp(size_t(s.IN) * HP * WP, 0.0);
    for (int i = 0; i < s.IN; ++i)
      for (int r = 0; r < HP; ++r)
        for (int c = 0; c < WP; ++c) {
          const int h = r - s.PH, w = c - s.PW;
          if (h >= 0 && h < s.H && w >= 0 && w < s.W)
            xp[(size_t(i) * HP + r) * WP + c] = x[((size_t(n) * s.IN + i) * s.H + h) * s.W + w];
        }
    for (int o = 0; o < s.OUT; ++o)
      for (int oh = 0; oh < s.OH; ++oh)
        for (int ow = 0; ow < s.OW; ++ow) {
          double acc = b[o];
          for (int i = 0; i < s.IN; ++i)
            for (int kh = 0; kh < s.KH; ++kh)
              for (int kw = 0; kw < s.KW; ++kw)
                acc += W[((size_t(o) * s.IN + i) * s.KH + kh) * s.KW + kw] *
                       xp[(size_t(i) * HP + oh * s.SH + kh) * WP + ow * s.SW + kw];
          y[((size_t(n) * s.OUT + o) * s.OH + oh) * s.OW + ow] = acc;
        }
  }
  return y;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// One op (conv2d or conv_transpose2d) through its public entry points, in T.
template <class T>
struct Op {
  bool transposed;
  void forward(const ConvShape& s, const T* x, const T* W, const T* b, T* y) const {
    if (transposed)
      cpu::conv_transpose2d_forward<T>(s, x, W, b, y);
    else
      cpu::conv2d_forward<T>(s, x, W, b, y);
  }
  void backward(const ConvShape& s, const T* x, const T* W, const T* dy, T* dx, T* dW, T* db,
                GradMode mode) const {
    if (transposed)
      cpu::conv_transpose2d_backward<T>(s, x, W, dy, dx, dW, db, mode);
    else
      cpu::conv2d_backward<T>(s, x, W, dy, dx, dW, db, mode);
  }
  const char* name() const { return transposed ? "conv_transpose2d" : "conv2d"; }
};

}  // namespace

TEST(CpuConv, DirectMatchesNaiveDefinition) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const ConvShape& s : kConvShapes) {
    SCOPED_TRACE(describe(s));
    auto x = rng.vec<double>(s.x_size()), W = rng.vec<double>(s.w_size());
    auto b = rng.vec<double>(s.OUT);
    std::vector<double> y(s.y_size(), std::numeric_limits<double>::quiet_NaN()), y0(y);
    cpu::conv2d_forward_direct<double>(s, x.data(), W.data(), b.data(), y.data());
    EXPECT_TRUE(all_close("y", y, naive_conv2d(s, x, W, b), 1e-13, 1e-13));
    // Null bias: the same sums without b.
    cpu::conv2d_forward_direct<double>(s, x.data(), W.data(), nullptr, y0.data());
    EXPECT_TRUE(all_close("y (no bias)", y0, naive_conv2d(s, x, W, std::vector<double>(s.OUT)),
                          1e-13, 1e-13));
  }
}

// Both ops are linear in x, W and b, so the loss sum w y has exact central differences (only
// rounding): every element of every gradient is checked.
TEST(CpuConv, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (bool transposed : {false, true})
    for (const ConvShape& s : transposed ? kConvTShapes : kConvShapes) {
      const Op<double> op{transposed};
      SCOPED_TRACE(std::string(op.name()) + " " + describe(s));
      auto x = rng.vec<double>(s.x_size()), W = rng.vec<double>(s.w_size());
      auto b = rng.vec<double>(s.OUT), w = rng.vec<double>(s.y_size());
      std::vector<double> y(s.y_size());
      LossFn loss = [&](KinkSignature*) {
        op.forward(s, x.data(), W.data(), b.data(), y.data());
        return weighted_sum(w, y);
      };
      const double nan = std::numeric_limits<double>::quiet_NaN();
      std::vector<double> dx(x.size(), nan), dW(W.size(), nan), db(b.size(), nan);
      op.backward(s, x.data(), W.data(), w.data(), dx.data(), dW.data(), db.data(),
                  GradMode::Overwrite);
      expect_gradient("x", x, dx, loss);
      expect_gradient("W", W, dW, loss);
      expect_gradient("b", b, db, loss);
    }
}

// <conv2d(u; W), v> = <u, conv_transpose2d(v; W)>: the transposed convolution is the adjoint.
TEST(CpuConv, TransposeIsAdjoint) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const ConvShape& t : kConvTShapes) {
    const ConvShape c = adjoint_of(t);
    SCOPED_TRACE(describe(t));
    auto u = rng.vec<double>(t.y_size()), v = rng.vec<double>(t.x_size());
    auto W = rng.vec<double>(t.w_size());
    std::vector<double> cu(c.y_size()), tv(t.y_size());
    cpu::conv2d_forward_direct<double>(c, u.data(), W.data(), nullptr, cu.data());
    cpu::conv_transpose2d_forward_direct<double>(t, v.data(), W.data(), nullptr, tv.data());
    double scale = 0;
    for (size_t i = 0; i < u.size(); ++i) scale += std::fabs(u[i] * tv[i]);
    EXPECT_NEAR(dot(cu, v), dot(u, tv), 1e-12 * std::max(1.0, scale));
  }
}

namespace {

// Overwrite, Accumulate and Ignore for dW and db; null db and null dx; in T (double: the direct
// loops, float: the im2row path with its own mode handling).
template <class T>
void check_grad_modes(const Op<T>& op, const ConvShape& s, Rng& rng) {
  SCOPED_TRACE(std::string(op.name()) + " " + describe(s));
  auto x = rng.vec<T>(s.x_size()), W = rng.vec<T>(s.w_size()), dy = rng.vec<T>(s.y_size());
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> dx(x.size(), nan), dW(W.size(), nan), db(s.OUT, nan);
  op.backward(s, x.data(), W.data(), dy.data(), dx.data(), dW.data(), db.data(),
              GradMode::Overwrite);

  // Accumulate adds exactly the Overwrite result to what was there.
  auto dW_acc = rng.vec<T>(W.size()), db_acc = rng.vec<T>(s.OUT);
  std::vector<T> dW_want(dW_acc), db_want(db_acc), dx2(x.size(), nan);
  for (size_t i = 0; i < dW.size(); ++i) dW_want[i] += dW[i];
  for (size_t i = 0; i < db.size(); ++i) db_want[i] += db[i];
  op.backward(s, x.data(), W.data(), dy.data(), dx2.data(), dW_acc.data(), db_acc.data(),
              GradMode::Accumulate);
  EXPECT_TRUE(all_close("dW (accumulate)", dW_acc, dW_want, 0, 0));
  EXPECT_TRUE(all_close("db (accumulate)", db_acc, db_want, 0, 0));
  EXPECT_TRUE(all_close("dx (accumulate)", dx2, dx, 0, 0));

  // Ignore leaves dW and db untouched (NaN stays NaN) and still writes dx.
  std::vector<T> dW_nan(W.size(), nan), db_nan(s.OUT, nan), dx3(x.size(), nan);
  op.backward(s, x.data(), W.data(), dy.data(), dx3.data(), dW_nan.data(), db_nan.data(),
              GradMode::Ignore);
  for (T v : dW_nan) ASSERT_TRUE(std::isnan(v)) << "dW written under Ignore";
  for (T v : db_nan) ASSERT_TRUE(std::isnan(v)) << "db written under Ignore";
  EXPECT_TRUE(all_close("dx (ignore)", dx3, dx, 0, 0));

  // db == nullptr (no bias) and dx == nullptr (first layer): the rest unchanged.
  std::vector<T> dW4(W.size(), nan), dx4(x.size(), nan), dW5(W.size(), nan), db5(s.OUT, nan);
  op.backward(s, x.data(), W.data(), dy.data(), dx4.data(), dW4.data(), nullptr,
              GradMode::Overwrite);
  EXPECT_TRUE(all_close("dW (no db)", dW4, dW, 0, 0));
  EXPECT_TRUE(all_close("dx (no db)", dx4, dx, 0, 0));
  op.backward(s, x.data(), W.data(), dy.data(), nullptr, dW5.data(), db5.data(),
              GradMode::Overwrite);
  EXPECT_TRUE(all_close("dW (no dx)", dW5, dW, 0, 0));
  EXPECT_TRUE(all_close("db (no dx)", db5, db, 0, 0));
}

// Shapes for the float path: the DCGAN layers at a small batch, odd ones, and ones that take
// several chunks of images (dW summed across chunks, a short last chunk). Layers with 16+
// channels on both sides of the conv2d take the per-tap path (conv_taps.cpp: the DCGAN's middle
// layers and the last three), the others im2row (conv_gemm.cpp: 2800 GEMM rows in chunks of about
// 192, dW over lanes).
struct FloatCase {
  bool transposed;
  ConvShape s;
};
const FloatCase kFloatCases[] = {
    {true, geometry(2, 256, 7, 7, 128, 7, 7, 5, 5, 1, 1, 2, 2)},    // G: 256 -> 128, 7 -> 7
    {true, geometry(3, 128, 7, 7, 64, 14, 14, 5, 5, 2, 2, 1, 1)},   // G: 7 -> 14, TF 'same'
    {true, geometry(2, 128, 7, 7, 64, 14, 14, 5, 5, 2, 2, 2, 2)},   // G: 7 -> 14, PyTorch
    {true, geometry(3, 64, 14, 14, 1, 28, 28, 5, 5, 2, 2, 2, 2)},   // G: 64 -> 1, 14 -> 28
    {false, geometry(3, 1, 28, 28, 64, 14, 14, 5, 5, 2, 2, 1, 1)},  // D: 1 -> 64, TF 'same'
    {false, geometry(2, 64, 14, 14, 128, 7, 7, 5, 5, 2, 2, 2, 2)},  // D: 64 -> 128, 14 -> 7
    {false, geometry(7, 2, 20, 20, 3, 20, 20, 3, 3, 1, 1, 1, 1)},   // several chunks
    {true, geometry(7, 3, 20, 20, 2, 20, 20, 3, 3, 1, 1, 1, 1)},    // several chunks
    {false, geometry(5, 3, 7, 9, 7, 3, 7, 4, 3, 2, 1, 1, 0)},       // odd, non-square
    {true, geometry(5, 7, 3, 5, 3, 6, 10, 4, 4, 2, 2, 1, 1)},       // odd
    {true, geometry(1, 3, 3, 4, 5, 7, 3, 3, 2, 2, 1, 0, 1)},        // odd, cropped
    // Stride 1 along W with 16+ channels: the per-tap path, 2 chunks of images.
    {false, geometry(40, 16, 5, 6, 17, 3, 7, 3, 4, 2, 1, 1, 2)},
    {true, geometry(35, 17, 3, 4, 16, 6, 4, 4, 3, 2, 1, 1, 1)},
    {false, geometry(2, 20, 6, 6, 24, 6, 6, 5, 5, 1, 1, 2, 2)},  // one chunk, 'same' k5 s1
};

}  // namespace

TEST(CpuConv, GradModes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (bool transposed : {false, true}) {
    const ConvShape& s = transposed ? kConvTShapes[3] : kConvShapes[3];
    check_grad_modes(Op<double>{transposed}, s, rng);
    check_grad_modes(Op<float>{transposed}, s, rng);
  }
  for (const FloatCase& c : {kFloatCases[6], kFloatCases[7], kFloatCases[11], kFloatCases[12]})
    check_grad_modes(Op<float>{c.transposed}, c.s, rng);
}

namespace {

// Every element of a float result within the worst-case bound of float summation: n terms summed
// in any order (FMA or not) err by at most gamma_n sum |term| <= (n + 2) 2^-24 absref, absref the
// float64 result of the same op on |x|, |W|, |b|, |dy| (the inputs are floats, exact in double).
// Far tighter than any indexing error: a term misplaced or missing moves an element by O(|term|).
::testing::AssertionResult within_float_bound(const std::string& name,
                                              const std::vector<float>& got,
                                              const std::vector<double>& want,
                                              const std::vector<double>& absref, double n) {
  size_t bad = 0;
  std::string msg;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= (n + 2) * std::ldexp(1.0, -24) * absref[i]) && ++bad <= 5)
      msg += "\n  " + name + "[" + std::to_string(i) + "]: got " + std::to_string(got[i]) +
             ", want " + std::to_string(want[i]) + ", bound " +
             std::to_string((n + 2) * std::ldexp(1.0, -24) * absref[i]);
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << name << ": " << bad << " of " << got.size() << " elements outside the bound" << msg;
}

std::vector<double> abs_of(const std::vector<double>& v) {
  std::vector<double> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

}  // namespace

TEST(CpuConv, FloatPathMatchesFloat64Reference) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const FloatCase& c : kFloatCases) {
    const ConvShape& s = c.s;
    const Op<float> opf{c.transposed};
    const Op<double> opd{c.transposed};
    SCOPED_TRACE(std::string(opf.name()) + " " + describe(s));
    const auto xf = rng.vec<float>(s.x_size()), Wf = rng.vec<float>(s.w_size()),
               bf = rng.vec<float>(s.OUT), dyf = rng.vec<float>(s.y_size());
    const auto x = to_double(xf), W = to_double(Wf), b = to_double(bf), dy = to_double(dyf);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> y(s.y_size(), nan), dx(s.x_size(), nan), dW(s.w_size(), nan), db(s.OUT, nan);
    opf.forward(s, xf.data(), Wf.data(), bf.data(), y.data());
    opf.backward(s, xf.data(), Wf.data(), dyf.data(), dx.data(), dW.data(), db.data(),
                 GradMode::Overwrite);

    // The reference, and the same op on absolute values for the bound.
    std::vector<double> yr(s.y_size()), dxr(s.x_size()), dWr(s.w_size()), dbr(s.OUT);
    std::vector<double> ya(s.y_size()), dxa(s.x_size()), dWa(s.w_size()), dba(s.OUT);
    opd.forward(s, x.data(), W.data(), b.data(), yr.data());
    opd.backward(s, x.data(), W.data(), dy.data(), dxr.data(), dWr.data(), dbr.data(),
                 GradMode::Overwrite);
    const auto xa = abs_of(x), Wa = abs_of(W), ba = abs_of(b), dya = abs_of(dy);
    opd.forward(s, xa.data(), Wa.data(), ba.data(), ya.data());
    opd.backward(s, xa.data(), Wa.data(), dya.data(), dxa.data(), dWa.data(), dba.data(),
                 GradMode::Overwrite);

    // Terms per element: y sums IN KH KW products and the bias, dx OUT KH KW products, dW and db
    // one per pixel of the side they sum over.
    const double KK = double(s.KH) * s.KW;
    const double pixels = double(s.B) * (c.transposed ? s.H * s.W : s.OH * s.OW);
    EXPECT_TRUE(within_float_bound("y", y, yr, ya, s.IN * KK + 1));
    EXPECT_TRUE(within_float_bound("dx", dx, dxr, dxa, s.OUT * KK));
    EXPECT_TRUE(within_float_bound("dW", dW, dWr, dWa, pixels));
    EXPECT_TRUE(within_float_bound("db", db, dbr, dba, double(s.B) * s.OH * s.OW));
  }
}

// Two calls give the same bits, and so do other thread counts (each output element is summed by
// one thread in a fixed order; image chunks are sized by the shape alone).
TEST(CpuConv, FloatPathIsDeterministic) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const FloatCase& c : {kFloatCases[0], kFloatCases[1], kFloatCases[5], kFloatCases[6],
                             kFloatCases[7], kFloatCases[11], kFloatCases[12]}) {
    const ConvShape& s = c.s;
    const Op<float> op{c.transposed};
    SCOPED_TRACE(std::string(op.name()) + " " + describe(s));
    const auto x = rng.vec<float>(s.x_size()), W = rng.vec<float>(s.w_size()),
               b = rng.vec<float>(s.OUT), dy = rng.vec<float>(s.y_size());
    auto run = [&] {
      std::vector<float> out(s.y_size() + s.x_size() + s.w_size() + s.OUT);
      float* y = out.data();
      float* dx = y + s.y_size();
      float* dW = dx + s.x_size();
      op.forward(s, x.data(), W.data(), b.data(), y);
      op.backward(s, x.data(), W.data(), dy.data(), dx, dW, dW + s.w_size(), GradMode::Overwrite);
      return out;
    };
    const auto first = run();
    EXPECT_TRUE(all_close("second call", run(), first, 0, 0));
#if defined(_OPENMP)
    const int threads = omp_get_max_threads();
    for (int t : {1, 3}) {
      omp_set_num_threads(t);
      const auto other = run();
      omp_set_num_threads(threads);
      EXPECT_TRUE(all_close("threads=" + std::to_string(t), other, first, 0, 0));
    }
#endif
  }
}
