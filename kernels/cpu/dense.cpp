#include "kernels/dense.h"

#include "kernels/activation.h"

namespace gan::cpu {

template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* y, int B, int IN, int OUT,
                   Activation act) {
  // y (B, OUT) = act(x (B, IN) W^T (IN, OUT) + b)
  gemm<T>(Trans::No, Trans::Yes, B, OUT, IN, T(1), x, W, T(0), y, b, act);
}

// y = x W^T + b  =>  dW = dy^T x, db = sum_b dy, dx = dy W.
template <class T>
void dense_backward(const T* x, const T* W, const T* dy, T* dx, T* dW, T* db, int B, int IN,
                    int OUT, GradMode mode) {
  if (mode != GradMode::Ignore) {
    const T beta = mode == GradMode::Accumulate ? T(1) : T(0);
    // dW (OUT, IN) (+)= dy^T (OUT, B) x (B, IN)
    gemm<T>(Trans::Yes, Trans::No, OUT, IN, B, T(1), dy, x, beta, dW);
    if (db) {
      for (int o = 0; o < OUT; ++o) {
        T s = T(0);
        for (int r = 0; r < B; ++r) s += dy[size_t(r) * OUT + o];
        db[o] = mode == GradMode::Accumulate ? db[o] + s : s;
      }
    }
  }
  // dx (B, IN) = dy (B, OUT) W (OUT, IN)
  if (dx) gemm<T>(Trans::No, Trans::No, B, IN, OUT, T(1), dy, W, T(0), dx);
}

template <class T>
void dense_act_backward(Activation act, const T* y, T* dy, const T* x, const T* W, T* dx, T* dW,
                        T* db, int B, int IN, int OUT, GradMode mode) {
  activation_backward<T>(act, y, dy, dy, size_t(B) * size_t(OUT));
  dense_backward<T>(x, W, dy, dx, dW, db, B, IN, OUT, mode);
}

template void dense_forward<float>(const float*, const float*, const float*, float*, int, int, int,
                                   Activation);
template void dense_forward<double>(const double*, const double*, const double*, double*, int, int,
                                    int, Activation);
template void dense_backward<float>(const float*, const float*, const float*, float*, float*,
                                    float*, int, int, int, GradMode);
template void dense_backward<double>(const double*, const double*, const double*, double*, double*,
                                     double*, int, int, int, GradMode);

template void dense_act_backward<float>(Activation, const float*, float*, const float*,
                                        const float*, float*, float*, float*, int, int, int,
                                        GradMode);
template void dense_act_backward<double>(Activation, const double*, double*, const double*,
                                         const double*, double*, double*, double*, int, int, int,
                                         GradMode);

}  // namespace gan::cpu
