// Dense (fully connected) layer through GEMM: y = act(x W^T + b).
#pragma once
#include "common.h"
#include "gemm.h"

namespace gan {

// x: (B, IN), W: (OUT, IN), b: (OUT) or null, y: (B, OUT).
// The activation is fused into the GEMM epilogue; pass identity for a plain affine layer.
namespace cpu {
template <class T>
void dense_forward(const T* x, const T* W, const T* b, T* y, int B, int IN, int OUT,
                   Activation act = {});

// dy: (B, OUT) is the gradient w.r.t. the pre-activation output (run activation_backward first
// when the forward fused one). Writes dW: (OUT, IN) and db: (OUT) as `mode` says (db may be null
// for a layer without bias; both untouched under Ignore), and dx: (B, IN) unless dx is null.
template <class T>
void dense_backward(const T* x, const T* W, const T* dy, T* dx, T* dW, T* db, int B, int IN,
                    int OUT, GradMode mode);

// The backward of y = act(x W^T + b), the layer whose forward fused the activation: dy (B, OUT),
// the gradient w.r.t. y, is overwritten by the gradient w.r.t. the pre-activation, dy * f'(y)
// (activation_backward's, from the layer's output y), then dense_backward runs on it. On the GPU,
// up to a batch of 1024, one kernel writes that gradient and db together (one launch fewer than
// activation_backward then dense_backward, and the same bits).
template <class T>
void dense_act_backward(Activation act, const T* y, T* dy, const T* x, const T* W, T* dx, T* dW,
                        T* db, int B, int IN, int OUT, GradMode mode);
}  // namespace cpu

namespace cuda {
void dense_forward(const GemmContext& ctx, const float* x, const float* W, const float* b, float* y,
                   int B, int IN, int OUT, Activation act = {});
void dense_backward(const GemmContext& ctx, const float* x, const float* W, const float* dy,
                    float* dx, float* dW, float* db, int B, int IN, int OUT, GradMode mode);
// fuse = false: always the two kernels (the baseline bench_step --unfused-act-backward times).
void dense_act_backward(const GemmContext& ctx, Activation act, const float* y, float* dy,
                        const float* x, const float* W, float* dx, float* dW, float* db, int B,
                        int IN, int OUT, GradMode mode, bool fuse = true);
}  // namespace cuda

}  // namespace gan
