// CPU-internal: float activations over arrays in 16-lane vectors (GCC vector extensions, compiled
// for AVX-512, AVX2 and the baseline and chosen at run time). The same 16-lane code runs at every
// level and in the tail (padded), so the bits depend on neither the CPU, the length nor the split.
// ReLU and LeakyReLU forward and backward are act_forward's and act_grad_from_output's arithmetic
// exactly (as selects: GCC kept the scalar forms as branches, unvectorised). tanh: libm's tanhf
// is a scalar call per element (a fifth of a tf-mlp step went to it); this one takes IEEE adds,
// multiplies and one division, at most 1.35 ulp from the exact tanh (checked on every float in
// [0, 12]; the tests check it against the float64 tanh).
#pragma once
#include <cstddef>

#include "kernels/common.h"

namespace gan::cpu {

// y[i] = tanh(x[i]); y is x or disjoint from it. NaN in gives NaN out; tanh(-0) = -0.
void tanh_floats(const float* x, float* y, size_t n);

// act is ReLU or LeakyReLU: y[i] = act(x[i]) (y is x or disjoint from it).
void rectifier_forward_floats(Activation act, const float* x, float* y, size_t n);

// act is ReLU or LeakyReLU: dx[i] = dy[i] f'(y[i]) (dx is dy or disjoint from both).
void rectifier_backward_floats(Activation act, const float* y, const float* dy, float* dx,
                               size_t n);

}  // namespace gan::cpu
