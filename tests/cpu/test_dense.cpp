// Dense layer: float64 gradient checks of dx, dW, db, and the three gradient modes.
#include <gtest/gtest.h>

#include <limits>

#include "gradcheck.h"
#include "kernels/dense.h"
#include "kernels/scalar.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {
struct DenseShape {
  int B, IN, OUT;
};
}  // namespace

TEST(CpuDense, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (DenseShape s :
       {DenseShape{1, 1, 1}, DenseShape{3, 5, 7}, DenseShape{4, 100, 3}, DenseShape{6, 2, 9}}) {
    SCOPED_TRACE("B=" + std::to_string(s.B) + " IN=" + std::to_string(s.IN) +
                 " OUT=" + std::to_string(s.OUT));
    auto x = rng.vec<double>(size_t(s.B) * s.IN);
    auto W = rng.vec<double>(size_t(s.OUT) * s.IN);
    auto b = rng.vec<double>(s.OUT);
    auto w = rng.vec<double>(size_t(s.B) * s.OUT);  // dL/dy
    std::vector<double> y(w.size());
    LossFn loss = [&](KinkSignature*) {
      cpu::dense_forward<double>(x.data(), W.data(), b.data(), y.data(), s.B, s.IN, s.OUT);
      return weighted_sum(w, y);
    };
    std::vector<double> dx(x.size()), dW(W.size()), db(b.size());
    cpu::dense_backward<double>(x.data(), W.data(), w.data(), dx.data(), dW.data(), db.data(), s.B,
                                s.IN, s.OUT, GradMode::Overwrite);
    expect_gradient("x", x, dx, loss);
    expect_gradient("W", W, dW, loss);
    expect_gradient("b", b, db, loss);
  }
}

// dense_act_backward: the gradients of L = sum(w * act(x W^T + b)) from the layer's output y, in
// every activation, against finite differences (elements at a kink of ReLU-like activations are
// skipped by their signature: the signs of the pre-activations); dy comes back as dL/d(pre-act).
TEST(CpuDense, ActBackwardGradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const DenseShape s{4, 6, 5};
  for (Activation act : {Activation::leaky_relu(0.2f), Activation::relu(), Activation::tanh(),
                         Activation::sigmoid(), Activation::elu(0.7f), Activation::identity()}) {
    SCOPED_TRACE(activation_name(act.kind));
    auto x = rng.vec<double>(size_t(s.B) * s.IN);
    auto W = rng.vec<double>(size_t(s.OUT) * s.IN);
    auto b = rng.vec<double>(s.OUT);
    const auto w = rng.vec<double>(size_t(s.B) * s.OUT);  // dL/dy
    std::vector<double> y(w.size()), pre(w.size());
    LossFn loss = [&](KinkSignature* sig) {
      cpu::dense_forward<double>(x.data(), W.data(), b.data(), pre.data(), s.B, s.IN, s.OUT);
      if (sig) {
        sig->clear();
        for (double z : pre) sig->push_back(z > 0);
      }
      cpu::dense_forward<double>(x.data(), W.data(), b.data(), y.data(), s.B, s.IN, s.OUT, act);
      return weighted_sum(w, y);
    };
    loss(nullptr);  // y and pre at the point itself
    std::vector<double> dy = w, dx(x.size()), dW(W.size()), db(b.size());
    cpu::dense_act_backward<double>(act, y.data(), dy.data(), x.data(), W.data(), dx.data(),
                                    dW.data(), db.data(), s.B, s.IN, s.OUT, GradMode::Overwrite);
    for (size_t i = 0; i < dy.size(); ++i)  // dL/d(pre) = w f'(pre)
      EXPECT_DOUBLE_EQ(dy[i], w[i] * act_grad_from_output<double>(act, y[i])) << i;
    expect_gradient("x", x, dx, loss);
    expect_gradient("W", W, dW, loss);
    expect_gradient("b", b, db, loss);
  }
}

TEST(CpuDense, ForwardFusesBiasAndActivation) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 5, IN = 11, OUT = 4;
  auto x = rng.vec<double>(B * IN), W = rng.vec<double>(OUT * IN), b = rng.vec<double>(OUT);
  std::vector<double> y(B * OUT), want(B * OUT);
  cpu::dense_forward<double>(x.data(), W.data(), nullptr, y.data(), B, IN, OUT, Activation::tanh());
  for (int r = 0; r < B; ++r)
    for (int o = 0; o < OUT; ++o) {
      double s = 0;
      for (int i = 0; i < IN; ++i) s += x[r * IN + i] * W[o * IN + i];
      want[r * OUT + o] = std::tanh(s);
    }
  EXPECT_TRUE(all_close("y (no bias, tanh)", y, want, 1e-14, 1e-14));
  cpu::dense_forward<double>(x.data(), W.data(), b.data(), y.data(), B, IN, OUT,
                             Activation::leaky_relu(0.2f));
  for (int r = 0; r < B; ++r)
    for (int o = 0; o < OUT; ++o) {
      double s = b[o];
      for (int i = 0; i < IN; ++i) s += x[r * IN + i] * W[o * IN + i];
      want[r * OUT + o] = s > 0 ? s : 0.2 * s;
    }
  EXPECT_TRUE(all_close("y (bias, leaky)", y, want, 1e-14, 1e-7));
}

TEST(CpuDense, GradModes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 4, IN = 6, OUT = 3;
  auto x = rng.vec<double>(B * IN), W = rng.vec<double>(OUT * IN), dy = rng.vec<double>(B * OUT);
  std::vector<double> dx(B * IN), dW(OUT * IN), db(OUT);
  cpu::dense_backward<double>(x.data(), W.data(), dy.data(), dx.data(), dW.data(), db.data(), B, IN,
                              OUT, GradMode::Overwrite);

  // Accumulate adds exactly the Overwrite result to what was there.
  auto dW_acc = rng.vec<double>(OUT * IN), db_acc = rng.vec<double>(OUT);
  std::vector<double> dW_want(dW_acc), db_want(db_acc), dx2(B * IN);
  for (size_t i = 0; i < dW.size(); ++i) dW_want[i] += dW[i];
  for (size_t i = 0; i < db.size(); ++i) db_want[i] += db[i];
  cpu::dense_backward<double>(x.data(), W.data(), dy.data(), dx2.data(), dW_acc.data(),
                              db_acc.data(), B, IN, OUT, GradMode::Accumulate);
  EXPECT_TRUE(all_close("dW (accumulate)", dW_acc, dW_want, 1e-14, 1e-14));
  EXPECT_TRUE(all_close("db (accumulate)", db_acc, db_want, 1e-14, 1e-14));
  EXPECT_TRUE(all_close("dx (accumulate)", dx2, dx, 0, 0));

  // Ignore leaves parameter gradients untouched (NaN stays NaN) and still writes dx.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> dW_nan(OUT * IN, nan), db_nan(OUT, nan), dx3(B * IN, nan);
  cpu::dense_backward<double>(x.data(), W.data(), dy.data(), dx3.data(), dW_nan.data(),
                              db_nan.data(), B, IN, OUT, GradMode::Ignore);
  for (double v : dW_nan) EXPECT_TRUE(std::isnan(v));
  for (double v : db_nan) EXPECT_TRUE(std::isnan(v));
  EXPECT_TRUE(all_close("dx (ignore)", dx3, dx, 0, 0));

  // dx == nullptr: only parameter gradients; db == nullptr: a layer without bias.
  std::vector<double> dW4(OUT * IN, nan);
  cpu::dense_backward<double>(x.data(), W.data(), dy.data(), nullptr, dW4.data(), nullptr, B, IN,
                              OUT, GradMode::Overwrite);
  EXPECT_TRUE(all_close("dW (no dx, no db)", dW4, dW, 0, 0));
}
