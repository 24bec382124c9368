// Element-wise activations: LeakyReLU(slope), ReLU, tanh, sigmoid, ELU(alpha), identity.
#pragma once
#include "common.h"

namespace gan {

// x, y: (N); y may alias x.
// backward: dx = dy * f'(x), with f' computed from the forward output y; dx may alias dy.
namespace cpu {
template <class T>
void activation_forward(Activation act, const T* x, T* y, size_t N);
template <class T>
void activation_backward(Activation act, const T* y, const T* dy, T* dx, size_t N);
}  // namespace cpu

namespace cuda {
void activation_forward(Activation act, const float* x, float* y, size_t N, cudaStream_t stream);
void activation_backward(Activation act, const float* y, const float* dy, float* dx, size_t N,
                         cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
