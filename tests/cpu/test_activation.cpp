// Activations: float64 gradient checks of every kind, and forward values against the formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "gradcheck.h"
#include "kernels/activation.h"
#include "kernels/cpu/isa.h"
#include "kernels/scalar.h"
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

// Float tanh (vector_act.h, behind activation_forward<float> and the dense layers' fused epilogue):
// within 1.35 ulp of the float64 tanh over a sweep of every 997th float in [0, 12] with both signs
// and fresh random inputs, exact at the special values, and the same bits at every instruction-set
// level this CPU has and for every length (the padded tail).
TEST(CpuActivation, FloatTanhIsWithinOneAndAThirdUlpAndTheSameAtEveryLevel) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  std::vector<float> x;
  uint32_t lo = 0, hi = 0;
  const float twelve = 12.0f;
  std::memcpy(&hi, &twelve, 4);
  for (uint32_t b = lo; b < hi; b += 997) {
    float v;
    std::memcpy(&v, &b, 4);
    x.push_back(v);
    x.push_back(-v);
  }
  for (int i = 0; i < 100000; ++i) x.push_back(float(rng.uniform(-20, 20)));
  const size_t swept = x.size();
  const float specials[] = {0.0f,   -0.0f,   INFINITY, -INFINITY, NAN,    1e-45f, -1e-45f, 1e-38f,
                            0.625f, -0.625f, 10.0f,    1e30f,     -1e30f, 88.8f,  0.3f};
  x.insert(x.end(), std::begin(specials), std::end(specials));

  std::vector<float> ref_bits;
  for (int level = 0; level <= int(cpu::isa_detected()); ++level) {
    cpu::set_isa_cap(cpu::Isa(level));
    std::vector<float> y(x.size());
    cpu::activation_forward<float>(Activation::tanh(), x.data(), y.data(), x.size());
    if (ref_bits.empty()) {
      ref_bits = y;
      double worst = 0;
      size_t worst_i = 0;
      for (size_t i = 0; i < swept; ++i) {
        const double want = std::tanh(double(x[i]));
        const double ulp = double(std::nextafter(float(std::fabs(want)), INFINITY)) -
                           double(float(std::fabs(want)));
        const double err = std::fabs(double(y[i]) - want) / ulp;
        if (err > worst) worst = err, worst_i = i;
      }
      EXPECT_LE(worst, 1.35) << "at x = " << x[worst_i] << ": " << y[worst_i] << " vs "
                             << std::tanh(double(x[worst_i]));
      const size_t s = swept;
      EXPECT_EQ(std::signbit(y[s]), false);
      EXPECT_EQ(y[s], 0.0f);
      EXPECT_TRUE(std::signbit(y[s + 1]) && y[s + 1] == 0.0f) << "tanh(-0) is -0";
      EXPECT_EQ(y[s + 2], 1.0f);
      EXPECT_EQ(y[s + 3], -1.0f);
      EXPECT_TRUE(std::isnan(y[s + 4]));
      EXPECT_EQ(y[s + 5], 1e-45f);
      EXPECT_EQ(y[s + 6], -1e-45f);
      EXPECT_EQ(y[s + 7], 1e-38f);
      EXPECT_EQ(y[s + 10], 1.0f);
      EXPECT_EQ(y[s + 11], 1.0f);
      EXPECT_EQ(y[s + 12], -1.0f);
      EXPECT_EQ(y[s + 13], 1.0f);
    } else {
      EXPECT_TRUE(same_bits(std::string("tanh at ") + cpu::isa_name(cpu::Isa(level)), y, ref_bits));
    }
    // Every length's tail (and in place): the same bits as in the long call.
    for (size_t n = 1; n <= 40; ++n) {
      std::vector<float> part(x.end() - n, x.end());
      cpu::activation_forward<float>(Activation::tanh(), part.data(), part.data(), n);
      EXPECT_TRUE(same_bits("tanh of the last " + std::to_string(n), part,
                            std::vector<float>(ref_bits.end() - n, ref_bits.end())));
    }
  }
  cpu::set_isa_cap(cpu::Isa::Avx512);
}

// Float ReLU and LeakyReLU, forward and backward (vector_act.h, 16 lanes): the scalar formulas'
// bits at every instruction-set level, in place and not, for every length up to past two vectors
// and a long one, with signed zeros, infinities, NaN and subnormals among the inputs.
TEST(CpuActivation, FloatRectifiersAreTheScalarFormulasBitwise) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const float specials[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, -1e-38f};
  for (Activation act : {Activation::relu(), Activation::leaky_relu(0.2f),
                         Activation::leaky_relu(float(rng.uniform(0.01, 0.5)))}) {
    for (int level = 0; level <= int(cpu::isa_detected()); ++level) {
      cpu::set_isa_cap(cpu::Isa(level));
      for (size_t n : {size_t(1), size_t(5), size_t(16), size_t(17), size_t(33), size_t(1000)}) {
        std::vector<float> x = rng.vec<float>(n, -3, 3), dy = rng.vec<float>(n, -1, 1);
        for (size_t i = 0; i < n && i < 8; ++i) x[(i * 7) % n] = specials[i];
        std::vector<float> want_y(n), want_dx(n), y(n), dx(n);
        for (size_t i = 0; i < n; ++i) {
          want_y[i] = act_forward(act, x[i]);
          want_dx[i] = dy[i] * act_grad_from_output(act, want_y[i]);
        }
        const std::string where = std::string(activation_name(act.kind)) + " at " +
                                  cpu::isa_name(cpu::Isa(level)) + " n " + std::to_string(n);
        cpu::activation_forward<float>(act, x.data(), y.data(), n);
        EXPECT_TRUE(same_bits("y " + where, y, want_y));
        cpu::activation_backward<float>(act, y.data(), dy.data(), dx.data(), n);
        EXPECT_TRUE(same_bits("dx " + where, dx, want_dx));
        cpu::activation_forward<float>(act, x.data(), x.data(), n);  // in place
        EXPECT_TRUE(same_bits("y in place " + where, x, want_y));
        cpu::activation_backward<float>(act, y.data(), dy.data(), dy.data(), n);
        EXPECT_TRUE(same_bits("dx in place " + where, dy, want_dx));
      }
    }
  }
  cpu::set_isa_cap(cpu::Isa::Avx512);
}
