// CPU-internal: tanh over float arrays, vectorised. libm's tanhf is a scalar call per element (a
// fifth of a tf-mlp step went to it); this evaluates 16 lanes at once with IEEE adds, multiplies
// and one division, at most 1.35 ulp from the exact tanh (checked on every float in [0, 12]; the
// tests check it against the float64 tanh). The same 16-lane code runs at every instruction-set
// level and in the tail (padded), so the bits do not depend on the CPU, the length or the split.
#pragma once
#include <cstddef>

namespace gan::cpu {

// y[i] = tanh(x[i]); y may alias x. NaN in gives NaN out; tanh(-0) = -0.
void tanh_floats(const float* x, float* y, size_t n);

}  // namespace gan::cpu
