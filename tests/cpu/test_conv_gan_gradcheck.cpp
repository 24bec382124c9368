// A whole small convolutional GAN in float64, built from the reference ops and differentiated the
// way a GAN step does it: G z 3 -> dense 18 -> reshape 2x3x3 -> conv_transpose 2 (k3, s2, same:
// 6x6) -> batchnorm2d -> tanh -> conv_transpose 1 (k3, s1, p1) -> tanh; D reshape 1x6x6 -> conv 3
// (k3, s2, same: 3x3) -> leaky -> flatten -> dense 1. D's loss over a real and a fake batch with
// gradients accumulated; G's loss through D with D's parameter gradients ignored. Every parameter
// against two-sided differences.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "gradcheck.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/bce.h"
#include "kernels/conv.h"
#include "kernels/dense.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

constexpr int kB = 3, kZ = 3, kPix = 36;
const Activation kLeaky = Activation::leaky_relu(0.2f);

ConvShape geometry(int IN, int H, int OUT, int OH, int k, int s, int p) {
  ConvShape c;
  c.B = kB, c.IN = IN, c.H = c.W = H, c.OUT = OUT, c.OH = c.OW = OH;
  c.KH = c.KW = k, c.SH = c.SW = s, c.PH = c.PW = p;
  return c;
}
// 'same', stride 2, kernel 3, 3 -> 6: the conv from 6 to 3 pads (3 - 1) 2 + 3 - 6 = 1 in all, 0
// on top. G's second layer and D's conv as PyTorch would write them.
const ConvShape kUp = geometry(2, 3, 2, 6, 3, 2, 0);
const ConvShape kOut = geometry(2, 6, 1, 6, 3, 1, 1);
const ConvShape kDown = geometry(1, 6, 3, 3, 3, 2, 0);

struct Generator {
  std::vector<double> W0, b0, Wu, gamma, beta, Wo, bo;
  std::vector<double> h0, u, bn, a, o, out, mean, inv_std;
  const BatchNormConfig cfg = BatchNormConfig::torch();

  explicit Generator(Rng& rng)
      : W0(rng.vec<double>(18 * kZ)), b0(rng.vec<double>(18)), Wu(rng.vec<double>(kUp.w_size())),
        gamma(rng.vec<double>(2, 0.5, 1.5)), beta(rng.vec<double>(2)),
        Wo(rng.vec<double>(kOut.w_size())), bo(rng.vec<double>(1)), h0(kB * 18),
        u(kUp.y_size()), bn(u.size()), a(u.size()), o(kOut.y_size()), out(o.size()), mean(2),
        inv_std(2) {}

  const std::vector<double>& forward(const std::vector<double>& z) {
    cpu::dense_forward<double>(z.data(), W0.data(), b0.data(), h0.data(), kB, kZ, 18);
    cpu::conv_transpose2d_forward_direct<double>(kUp, h0.data(), Wu.data(), nullptr, u.data());
    cpu::batchnorm2d_forward_train<double>(cfg, u.data(), bn.data(), kB, 2, kPix, gamma.data(),
                                           beta.data(), mean.data(), inv_std.data(), nullptr,
                                           nullptr);
    cpu::activation_forward<double>(Activation::tanh(), bn.data(), a.data(), a.size());
    cpu::conv_transpose2d_forward_direct<double>(kOut, a.data(), Wo.data(), bo.data(), o.data());
    cpu::activation_forward<double>(Activation::tanh(), o.data(), out.data(), out.size());
    return out;
  }

  struct Grads {
    std::vector<double> W0, b0, Wu, gamma, beta, Wo, bo;
  };
  Grads backward(const std::vector<double>& z, std::vector<double> dout) {
    Grads g{std::vector<double>(W0.size()), std::vector<double>(18),
            std::vector<double>(Wu.size()), std::vector<double>(2),
            std::vector<double>(2),         std::vector<double>(Wo.size()),
            std::vector<double>(1)};
    std::vector<double> da(a.size()), du(u.size()), dh0(h0.size());
    cpu::activation_backward<double>(Activation::tanh(), out.data(), dout.data(), dout.data(),
                                     dout.size());
    cpu::conv_transpose2d_backward_direct<double>(kOut, a.data(), Wo.data(), dout.data(),
                                                  da.data(), g.Wo.data(), g.bo.data(),
                                                  GradMode::Overwrite);
    cpu::activation_backward<double>(Activation::tanh(), a.data(), da.data(), da.data(), da.size());
    cpu::batchnorm2d_backward<double>(u.data(), da.data(), du.data(), kB, 2, kPix, gamma.data(),
                                      mean.data(), inv_std.data(), g.gamma.data(), g.beta.data(),
                                      GradMode::Overwrite);
    cpu::conv_transpose2d_backward_direct<double>(kUp, h0.data(), Wu.data(), du.data(),
                                                  dh0.data(), g.Wu.data(), nullptr,
                                                  GradMode::Overwrite);
    cpu::dense_backward<double>(z.data(), W0.data(), dh0.data(), nullptr, g.W0.data(),
                                g.b0.data(), kB, kZ, 18, GradMode::Overwrite);
    return g;
  }
};

struct Discriminator {
  std::vector<double> Wc, bc, Wd, bd;
  std::vector<double> c, a, logit;

  explicit Discriminator(Rng& rng)
      : Wc(rng.vec<double>(kDown.w_size())), bc(rng.vec<double>(3)), Wd(rng.vec<double>(27)),
        bd(rng.vec<double>(1)), c(kDown.y_size()), a(c.size()), logit(kB) {}

  const std::vector<double>& forward(const std::vector<double>& x, KinkSignature* sig) {
    cpu::conv2d_forward_direct<double>(kDown, x.data(), Wc.data(), bc.data(), c.data());
    append_signs(sig, c);
    cpu::activation_forward<double>(kLeaky, c.data(), a.data(), a.size());
    cpu::dense_forward<double>(a.data(), Wd.data(), bd.data(), logit.data(), kB, 27, 1);
    return logit;
  }

  struct Grads {
    std::vector<double> Wc, bc, Wd, bd;
  };
  std::vector<double> backward(const std::vector<double>& x, std::vector<double> dlogit, Grads& g,
                               GradMode mode) {
    std::vector<double> da(a.size()), dx(x.size());
    cpu::dense_backward<double>(a.data(), Wd.data(), dlogit.data(), da.data(), g.Wd.data(),
                                g.bd.data(), kB, 27, 1, mode);
    cpu::activation_backward<double>(kLeaky, a.data(), da.data(), da.data(), da.size());
    cpu::conv2d_backward_direct<double>(kDown, x.data(), Wc.data(), da.data(), dx.data(),
                                        g.Wc.data(), g.bc.data(), mode);
    return dx;
  }
};

double bce(const std::vector<double>& logits, double target, std::vector<double>* dlogits) {
  std::vector<double> t(logits.size(), target);
  BceStats<double> st{};
  cpu::bce_with_logits<double>(logits.data(), t.data(), logits.size(), 1.0,
                               dlogits ? dlogits->data() : nullptr, &st);
  return st.loss;
}

}  // namespace

TEST(CpuConvGanGradient, DiscriminatorStepAccumulatesRealAndFake) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  Generator G(rng);
  Discriminator D(rng);
  const auto real = rng.vec<double>(kB * kPix);
  const auto z = rng.vec<double>(kB * kZ);
  const std::vector<double> fake = G.forward(z);
  LossFn loss = [&](KinkSignature* sig) {
    return bce(D.forward(real, sig), 1.0, nullptr) + bce(D.forward(fake, sig), 0.0, nullptr);
  };
  Discriminator::Grads g{std::vector<double>(D.Wc.size()), std::vector<double>(3),
                         std::vector<double>(27), std::vector<double>(1)};
  std::vector<double> dl(kB);
  bce(D.forward(real, nullptr), 1.0, &dl);
  D.backward(real, dl, g, GradMode::Overwrite);
  bce(D.forward(fake, nullptr), 0.0, &dl);
  D.backward(fake, dl, g, GradMode::Accumulate);
  expect_gradient("D.conv.weight", D.Wc, g.Wc, loss);
  expect_gradient("D.conv.bias", D.bc, g.bc, loss);
  expect_gradient("D.dense.weight", D.Wd, g.Wd, loss);
  expect_gradient("D.dense.bias", D.bd, g.bd, loss);
}

TEST(CpuConvGanGradient, GeneratorStepThroughTheDiscriminator) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  Generator G(rng);
  Discriminator D(rng);
  const auto z = rng.vec<double>(kB * kZ);
  LossFn loss = [&](KinkSignature* sig) { return bce(D.forward(G.forward(z), sig), 1.0, nullptr); };
  // D's parameter gradients are ignored (poisoned and must stay so); only dL/dx flows to G.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Discriminator::Grads ignored{std::vector<double>(D.Wc.size(), nan), std::vector<double>(3, nan),
                               std::vector<double>(27, nan), std::vector<double>(1, nan)};
  std::vector<double> dl(kB);
  const std::vector<double>& x = G.forward(z);
  bce(D.forward(x, nullptr), 1.0, &dl);
  const std::vector<double> dx = D.backward(x, dl, ignored, GradMode::Ignore);
  for (const auto* v : {&ignored.Wc, &ignored.bc, &ignored.Wd, &ignored.bd})
    for (double e : *v) ASSERT_TRUE(std::isnan(e)) << "Ignore wrote a D parameter gradient";
  Generator::Grads g = G.backward(z, dx);
  expect_gradient("G.dense.weight", G.W0, g.W0, loss);
  expect_gradient("G.dense.bias", G.b0, g.b0, loss);
  expect_gradient("G.convT1.weight", G.Wu, g.Wu, loss);
  expect_gradient("G.bn.gamma", G.gamma, g.gamma, loss);
  expect_gradient("G.bn.beta", G.beta, g.beta, loss);
  expect_gradient("G.convT2.weight", G.Wo, g.Wo, loss);
  expect_gradient("G.convT2.bias", G.bo, g.bo, loss);
}
