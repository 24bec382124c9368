#include "kernels/activation.h"

#include "kernels/cpu/act_loops.h"

namespace gan::cpu {

template <class T>
void activation_forward(Activation act, const T* x, T* y, size_t N) {
  act_forward_loop(act, x, y, N);
}

// dx = dy f'(x), with f'(x) recovered from y = f(x) (kernels/scalar.h).
template <class T>
void activation_backward(Activation act, const T* y, const T* dy, T* dx, size_t N) {
  act_backward_loop(act, y, dy, dx, N);
}

template void activation_forward<float>(Activation, const float*, float*, size_t);
template void activation_forward<double>(Activation, const double*, double*, size_t);
template void activation_backward<float>(Activation, const float*, const float*, float*, size_t);
template void activation_backward<double>(Activation, const double*, const double*, double*,
                                          size_t);

}  // namespace gan::cpu
