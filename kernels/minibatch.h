// Minibatch features: a per-row feature computed from the whole batch, appended to each row, so D
// can see a collapsed (too uniform) batch. Against mode collapse (seeds 4 and 5).
//
// x: (B, F) row-major, B >= 1, F >= 1; y, dy: (B, F + 1): y[b, :F] = x[b], y[b, F] = the feature.
// Means are over the batch: m_j = (1/B) sum_b x[b, j]. Sums run in a fixed order (deterministic).
// dx (B, F) is overwritten: the gradient of the loss through y, both the copy and the feature.
#pragma once
#include "common.h"

namespace gan {

// Minibatch standard deviation (ProGAN, Karras et al. 2018): the same scalar on every row,
//   s = (1/F) sum_j sqrt(v_j + eps),  v_j = (1/B) sum_b (x[b, j] - m_j)^2,  eps = 1e-8.
// Backward: dx[b, j] = dy[b, j] + (sum_c dy[c, F]) (x[b, j] - m_j) / (F B sqrt(v_j + eps)).
inline constexpr double kMinibatchStddevEps = 1e-8;

// Minibatch distance (seed 2's "decorated" minibatch, Dev Nag's decorate_with_diffs): each row's
// squared distance from the batch mean,  d_b = sum_j (x[b, j] - m_j)^2.
// Backward, g_b = dy[b, F]:
//   dx[c, j] = dy[c, j] + 2 (x[c, j] - m_j) g_c - (2/B) sum_b g_b (x[b, j] - m_j).

namespace cpu {
template <class T>
void minibatch_stddev_forward(const T* x, T* y, int B, int F);
template <class T>
void minibatch_stddev_backward(const T* x, const T* dy, T* dx, int B, int F);
template <class T>
void minibatch_distance_forward(const T* x, T* y, int B, int F);
template <class T>
void minibatch_distance_backward(const T* x, const T* dy, T* dx, int B, int F);
}  // namespace cpu

namespace cuda {
void minibatch_stddev_forward(const float* x, float* y, int B, int F, cudaStream_t stream);
void minibatch_stddev_backward(const float* x, const float* dy, float* dx, int B, int F,
                               cudaStream_t stream);
void minibatch_distance_forward(const float* x, float* y, int B, int F, cudaStream_t stream);
void minibatch_distance_backward(const float* x, const float* dy, float* dx, int B, int F,
                                 cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
