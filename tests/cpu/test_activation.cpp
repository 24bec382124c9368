// Activations: float64 gradient checks of every kind, and forward values against the formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "gradcheck.h"
#include "kernels/activation.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {
const Activation kAll[] = {Activation::identity(),       Activation::relu(),
                           Activation::leaky_relu(0.2f), Activation::tanh(),
                           Activation::sigmoid(),        Activation::elu(1.0f),
                           Activation::elu(0.5f),        Activation::leaky_relu(0.0f)};

double formula(Activation a, double x) {
  switch (a.kind) {
    case ActKind::ReLU: return std::max(x, 0.0);
    case ActKind::LeakyReLU: return x >= 0 ? x : double(a.param) * x;
    case ActKind::Tanh: return std::tanh(x);
    case ActKind::Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case ActKind::ELU: return x >= 0 ? x : double(a.param) * std::expm1(x);
    default: return x;
  }
}
}  // namespace

TEST(CpuActivation, ForwardMatchesFormula) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (Activation a : kAll) {
    auto x = rng.vec<double>(1000, -6, 6);
    x.push_back(0.0);
    x.push_back(-40.0);  // sigmoid's far tail must not be 0/0
    x.push_back(40.0);
    std::vector<double> y(x.size()), want(x.size());
    cpu::activation_forward<double>(a, x.data(), y.data(), x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = formula(a, x[i]);
    EXPECT_TRUE(all_close(std::string("y ") + activation_name(a.kind), y, want, 1e-15, 1e-12));
  }
}

TEST(CpuActivation, GradientCheck) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (Activation a : kAll) {
    SCOPED_TRACE(std::string(activation_name(a.kind)) + " param " + std::to_string(a.param));
    auto x = rng.vec<double>(257, -3, 3);
    auto w = rng.vec<double>(x.size());
    std::vector<double> y(x.size()), dx(x.size());
    LossFn loss = [&](KinkSignature* sig) {
      cpu::activation_forward<double>(a, x.data(), y.data(), x.size());
      append_signs(sig, x);  // the kink of ReLU, LeakyReLU and ELU is at 0
      return weighted_sum(w, y);
    };
    cpu::activation_forward<double>(a, x.data(), y.data(), x.size());
    cpu::activation_backward<double>(a, y.data(), w.data(), dx.data(), x.size());
    expect_gradient("x", x, dx, loss);
  }
}

TEST(CpuActivation, InPlace) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Activation a = Activation::leaky_relu(0.2f);
  auto x = rng.vec<double>(33);
  std::vector<double> y(x.size()), buf(x);
  cpu::activation_forward<double>(a, x.data(), y.data(), x.size());
  cpu::activation_forward<double>(a, buf.data(), buf.data(), buf.size());
  EXPECT_TRUE(all_close("y in place", buf, y, 0, 0));
  auto dy = rng.vec<double>(x.size());
  std::vector<double> dx(x.size()), dbuf(dy);
  cpu::activation_backward<double>(a, y.data(), dy.data(), dx.data(), x.size());
  cpu::activation_backward<double>(a, y.data(), dbuf.data(), dbuf.data(), x.size());
  EXPECT_TRUE(all_close("dx in place", dbuf, dx, 0, 0));
}
