// Element-wise activations on the GPU; the maths is kernels/scalar.h's, shared with the CPU path.
#include <algorithm>

#include "kernels/activation.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/launch.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// Thread mapping: grid-stride loop, one element per iteration. x and y may alias (each element is
// read and then written by the same thread), so no __restrict__.
__global__ void activation_forward_kernel(Activation act, const float* x, float* y, size_t N) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride)
    y[i] = act_forward<float>(act, x[i]);
}

// dL/dx = dL/dy * dy/dx, and dy/dx = f'(x) is a function of y alone for every kind
// (act_grad_from_output), so the forward input need not be kept.
// Thread mapping: grid-stride loop, one element per iteration; dy and dx may alias.
__global__ void activation_backward_kernel(Activation act, const float* y, const float* dy,
                                           float* dx, size_t N) {
  const size_t stride = size_t(gridDim.x) * blockDim.x;
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < N; i += stride)
    dx[i] = dy[i] * act_grad_from_output<float>(act, y[i]);
}

}  // namespace

void activation_forward(Activation act, const float* x, float* y, size_t N, cudaStream_t stream) {
  if (N == 0) return;
  activation_forward_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(act, x, y, N);
  CUDA_CHECK_LAUNCH();
}

void activation_backward(Activation act, const float* y, const float* dy, float* dx, size_t N,
                         cudaStream_t stream) {
  if (N == 0) return;
  activation_backward_kernel<<<grid_stride_blocks(N), kGridStrideThreads, 0, stream>>>(act, y, dy,
                                                                                       dx, N);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
