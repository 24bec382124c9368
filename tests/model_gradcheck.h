// Float finite differences through the Model class (layer offsets, fusion, in-place backward,
// packing, views): a wiring error (wrong offset, missing term) is off by O(1).
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/nn/model.h"
#include "test_util.h"

namespace gan::test {

inline void expect_model_gradients_match_finite_differences(const ModelSpec& spec, int B) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  Model m("probe", spec, B, DeviceKind::Cpu);
  m.init(InitScheme::TorchDefault, rng.bits(), 0);
  auto x = rng.vec<float>(size_t(B) * spec.input);
  const auto w = rng.vec<float>(size_t(m.output_rows(B)) * m.output_dim());
  const uint64_t counter = 0;
  std::vector<float> params;
  auto loss = [&]() {
    if (!params.empty()) m.params().upload(params);
    const float* y = m.forward(ExecContext{}, x.data(), B, true, 1, 0, &counter);
    double l = 0;
    for (size_t i = 0; i < w.size(); ++i) l += double(w[i]) * y[i];
    return l;
  };
  loss();
  std::vector<float> dout(w);
  const float* dx_ptr = m.backward(ExecContext{}, dout.data(), GradMode::Overwrite, true);
  const std::vector<float> dx(dx_ptr, dx_ptr + x.size());
  params = m.params().download();
  const std::vector<float> grads = m.grads().download();
  // Richardson extrapolation of central differences at h and h/2 cancels the h^2 term, leaving
  // O(h^4) truncation and float rounding of ~eps |L| / h ~ 1e-4.
  auto derivative = [&](float& v) {
    const float orig = v;
    auto central = [&](float h) {
      v = orig + h;
      const double lp = loss();
      v = orig - h;
      const double lm = loss();
      v = orig;
      return (lp - lm) / (2.0 * h);
    };
    return (4.0 * central(5e-3f) - central(1e-2f)) / 3.0;
  };
  for (size_t i = 0; i < params.size(); ++i) {
    const double numeric = derivative(params[i]);
    EXPECT_NEAR(grads[i], numeric, 2e-3 * std::max(1.0, std::fabs(numeric))) << "param " << i;
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const double numeric = derivative(x[i]);
    EXPECT_NEAR(dx[i], numeric, 2e-3 * std::max(1.0, std::fabs(numeric))) << "x " << i;
  }
}

}  // namespace gan::test
