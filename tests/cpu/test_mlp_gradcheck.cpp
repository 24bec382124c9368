// Whole-network float64 gradient checks built from the reference ops: a small generator
// (dense -> LeakyReLU -> BatchNorm -> dense -> tanh) and discriminator (dense -> LeakyReLU ->
// dropout -> dense -> logit), differentiated the way a GAN step does it: D's loss over a real and
// a fake batch with gradients accumulated, and G's loss through D with D's parameter gradients
// ignored.
#include <gtest/gtest.h>

#include "gradcheck.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/bce.h"
#include "kernels/dense.h"
#include "kernels/dropout.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

constexpr int kB = 6, kZ = 3, kH = 7, kX = 5, kDH = 4;
const Activation kLeaky = Activation::leaky_relu(0.2f);

struct Generator {
  std::vector<double> W1, b1, gamma, beta, W2, b2;
  // forward caches
  std::vector<double> h1, a1, mean, inv_std, bn, out;
  BatchNormConfig cfg = BatchNormConfig::keras(0.8f);

  explicit Generator(Rng& rng)
      : W1(rng.vec<double>(kH * kZ)),
        b1(rng.vec<double>(kH)),
        gamma(rng.vec<double>(kH, 0.5, 1.5)),
        beta(rng.vec<double>(kH)),
        W2(rng.vec<double>(kX * kH)),
        b2(rng.vec<double>(kX)),
        h1(kB * kH),
        a1(kB * kH),
        mean(kH),
        inv_std(kH),
        bn(kB * kH),
        out(kB * kX) {}

  const std::vector<double>& forward(const std::vector<double>& z, KinkSignature* sig) {
    cpu::dense_forward<double>(z.data(), W1.data(), b1.data(), h1.data(), kB, kZ, kH);
    append_signs(sig, h1);
    cpu::activation_forward<double>(kLeaky, h1.data(), a1.data(), h1.size());
    cpu::batchnorm_forward_train<double>(cfg, a1.data(), bn.data(), kB, kH, gamma.data(),
                                         beta.data(), mean.data(), inv_std.data(), nullptr,
                                         nullptr);
    cpu::dense_forward<double>(bn.data(), W2.data(), b2.data(), out.data(), kB, kH, kX,
                               Activation::tanh());
    return out;
  }

  struct Grads {
    std::vector<double> W1, b1, gamma, beta, W2, b2, z;
  };
  // dout: gradient w.r.t. G's output (tanh output).
  Grads backward(const std::vector<double>& z, std::vector<double> dout) {
    Grads g{std::vector<double>(W1.size()), std::vector<double>(kH),        std::vector<double>(kH),
            std::vector<double>(kH),        std::vector<double>(W2.size()), std::vector<double>(kX),
            std::vector<double>(z.size())};
    std::vector<double> dbn(bn.size()), da1(a1.size());
    cpu::activation_backward<double>(Activation::tanh(), out.data(), dout.data(), dout.data(),
                                     dout.size());
    cpu::dense_backward<double>(bn.data(), W2.data(), dout.data(), dbn.data(), g.W2.data(),
                                g.b2.data(), kB, kH, kX, GradMode::Overwrite);
    cpu::batchnorm_backward<double>(a1.data(), dbn.data(), da1.data(), kB, kH, gamma.data(),
                                    mean.data(), inv_std.data(), g.gamma.data(), g.beta.data(),
                                    GradMode::Overwrite);
    cpu::activation_backward<double>(kLeaky, a1.data(), da1.data(), da1.data(), da1.size());
    cpu::dense_backward<double>(z.data(), W1.data(), da1.data(), g.z.data(), g.W1.data(),
                                g.b1.data(), kB, kZ, kH, GradMode::Overwrite);
    return g;
  }
};

struct Discriminator {
  std::vector<double> W1, b1, W2, b2;
  std::vector<double> h1, a1, d1, logit;
  const float p = 0.3f;
  const uint64_t seed = 99, counter = 5;

  explicit Discriminator(Rng& rng)
      : W1(rng.vec<double>(kDH * kX)),
        b1(rng.vec<double>(kDH)),
        W2(rng.vec<double>(kDH)),
        b2(rng.vec<double>(1)),
        h1(kB * kDH),
        a1(kB * kDH),
        d1(kB * kDH),
        logit(kB) {}

  // stream picks the dropout draw, so the real and the fake pass use different masks.
  const std::vector<double>& forward(const std::vector<double>& x, uint32_t stream,
                                     KinkSignature* sig) {
    cpu::dense_forward<double>(x.data(), W1.data(), b1.data(), h1.data(), kB, kX, kDH);
    append_signs(sig, h1);
    cpu::activation_forward<double>(kLeaky, h1.data(), a1.data(), h1.size());
    cpu::dropout_forward<double>(a1.data(), d1.data(), a1.size(), p, true, seed, stream, &counter);
    cpu::dense_forward<double>(d1.data(), W2.data(), b2.data(), logit.data(), kB, kDH, 1);
    return logit;
  }

  struct Grads {
    std::vector<double> W1, b1, W2, b2;
  };
  // Backward of the latest forward; parameter gradients under `mode`; returns dL/dx.
  std::vector<double> backward(const std::vector<double>& x, std::vector<double> dlogit,
                               uint32_t stream, Grads& g, GradMode mode) {
    std::vector<double> dd1(d1.size()), dx(x.size());
    cpu::dense_backward<double>(d1.data(), W2.data(), dlogit.data(), dd1.data(), g.W2.data(),
                                g.b2.data(), kB, kDH, 1, mode);
    cpu::dropout_backward<double>(dd1.data(), dd1.data(), dd1.size(), p, seed, stream, &counter);
    cpu::activation_backward<double>(kLeaky, a1.data(), dd1.data(), dd1.data(), dd1.size());
    cpu::dense_backward<double>(x.data(), W1.data(), dd1.data(), dx.data(), g.W1.data(),
                                g.b1.data(), kB, kX, kDH, mode);
    return dx;
  }
};

double bce(const std::vector<double>& logits, double target, double scale,
           std::vector<double>* dlogits) {
  std::vector<double> t(logits.size(), target);
  BceStats<double> st{};
  cpu::bce_with_logits<double>(logits.data(), t.data(), logits.size(), scale,
                               dlogits ? dlogits->data() : nullptr, &st);
  return scale * st.loss;
}

}  // namespace

TEST(CpuNetworkGradient, DiscriminatorStepAccumulatesRealAndFake) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  Generator G(rng);
  Discriminator D(rng);
  auto real = rng.vec<double>(kB * kX);
  auto z = rng.vec<double>(kB * kZ);
  const std::vector<double> fake = G.forward(z, nullptr);  // detached: D's step does not reach G

  // L_D = 0.5 BCE(D(real), 0.9) + 0.5 BCE(D(fake), 0): label-smoothed real targets.
  LossFn loss = [&](KinkSignature* sig) {
    double l = bce(D.forward(real, 0, sig), 0.9, 0.5, nullptr);
    return l + bce(D.forward(fake, 1, sig), 0.0, 0.5, nullptr);
  };
  Discriminator::Grads g{std::vector<double>(D.W1.size()), std::vector<double>(kDH),
                         std::vector<double>(kDH), std::vector<double>(1)};
  std::vector<double> dlogit(kB);
  bce(D.forward(real, 0, nullptr), 0.9, 0.5, &dlogit);
  D.backward(real, dlogit, 0, g, GradMode::Overwrite);
  bce(D.forward(fake, 1, nullptr), 0.0, 0.5, &dlogit);
  D.backward(fake, dlogit, 1, g, GradMode::Accumulate);

  expect_gradient("D.W1", D.W1, g.W1, loss);
  expect_gradient("D.b1", D.b1, g.b1, loss);
  expect_gradient("D.W2", D.W2, g.W2, loss);
  expect_gradient("D.b2", D.b2, g.b2, loss);
}

TEST(CpuNetworkGradient, GeneratorStepThroughDiscriminator) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  Generator G(rng);
  Discriminator D(rng);
  auto z = rng.vec<double>(kB * kZ);

  // Non-saturating G loss: BCE(D(G(z)), 1).
  LossFn loss = [&](KinkSignature* sig) {
    return bce(D.forward(G.forward(z, sig), 2, sig), 1.0, 1.0, nullptr);
  };
  const std::vector<double> fake = G.forward(z, nullptr);
  std::vector<double> dlogit(kB);
  bce(D.forward(fake, 2, nullptr), 1.0, 1.0, &dlogit);
  // D's parameter gradients must stay untouched under Ignore: poison them.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Discriminator::Grads untouched{std::vector<double>(D.W1.size(), nan),
                                 std::vector<double>(kDH, nan), std::vector<double>(kDH, nan),
                                 std::vector<double>(1, nan)};
  const std::vector<double> dfake = D.backward(fake, dlogit, 2, untouched, GradMode::Ignore);
  for (double v : untouched.W1) ASSERT_TRUE(std::isnan(v));
  for (double v : untouched.b2) ASSERT_TRUE(std::isnan(v));
  Generator::Grads g = G.backward(z, dfake);

  expect_gradient("G.W1", G.W1, g.W1, loss);
  expect_gradient("G.b1", G.b1, g.b1, loss);
  expect_gradient("G.gamma", G.gamma, g.gamma, loss);
  expect_gradient("G.beta", G.beta, g.beta, loss);
  expect_gradient("G.W2", G.W2, g.W2, loss);
  expect_gradient("G.b2", G.b2, g.b2, loss);
  expect_gradient("z", z, g.z, loss);
}
