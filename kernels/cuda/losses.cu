// The Wasserstein critic loss and the sigmoid-MSE regression on the GPU: gradient and value in one
// pass, reduced in a fixed order so the values are bitwise reproducible.
#include "kernels/cuda/check.h"
#include "kernels/losses.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// One block, as for BCE: N is a batch size (a few thousand at most), far too small to be worth a
// second reduction stage, and a single block keeps the summation order fixed without atomics.
constexpr int kThreads = 1024;

// Sums v over the block by a shared-memory tree whose shape depends only on kThreads; the total
// is valid in thread 0.
__device__ float block_sum(float v, float (&buf)[kThreads]) {
  const int t = threadIdx.x;
  buf[t] = v;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) buf[t] += buf[t + half];
    __syncthreads();
  }
  return buf[0];
}

// L = sign mean_i(score_i)  =>  dL/dscore_i = sign / N.
// Thread mapping: one block; thread t takes elements t, t + kThreads, ... (coalesced), then the
// tree. dscores may alias scores (each element is read, then written, by one thread).
__global__ void __launch_bounds__(kThreads)
    wasserstein_loss_kernel(const float* scores, size_t N, float sign, float* dscores,
                            BceStats<float>* stats) {
  __shared__ float buf[kThreads];
  const float n = float(N), g = sign / n;
  float sum = 0.0f;
  for (size_t i = threadIdx.x; i < N; i += kThreads) {
    sum += scores[i];
    if (dscores != nullptr) dscores[i] = g;
  }
  if (stats == nullptr) return;  // uniform across the block: no thread is left at a barrier
  const float mean = block_sum(sum, buf) / n;
  if (threadIdx.x == 0) {
    stats->loss = sign * mean;
    stats->mean_prob = mean;
    stats->accuracy = 0.0f;
  }
}

// L = mean_i (s_i - t_i)^2, s = sigmoid(z), ds/dz = s (1 - s)  =>  dL/dz_i = 2 (s_i - t_i)
// s_i (1 - s_i) / N. Thread mapping: as wasserstein_loss_kernel; dlogits may alias logits.
__global__ void __launch_bounds__(kThreads)
    sigmoid_mse_kernel(const float* logits, const float* targets, size_t N, float* dlogits,
                       float* loss) {
  __shared__ float buf[kThreads];
  const float n = float(N);
  float sum = 0.0f;
  for (size_t i = threadIdx.x; i < N; i += kThreads) {
    const float s = sigmoid_of<float>(logits[i]);
    const float e = s - targets[i];
    sum += e * e;
    if (dlogits != nullptr) dlogits[i] = 2.0f * e * s * (1.0f - s) / n;
  }
  if (loss == nullptr) return;  // uniform across the block
  const float total = block_sum(sum, buf);
  if (threadIdx.x == 0) *loss = total / n;
}

}  // namespace

// scores, dscores: (N); stats: one BceStats in device memory.
void wasserstein_loss(const float* scores, size_t N, float sign, float* dscores,
                      BceStats<float>* stats, cudaStream_t stream) {
  if (N == 0 || (dscores == nullptr && stats == nullptr)) return;
  wasserstein_loss_kernel<<<1, kThreads, 0, stream>>>(scores, N, sign, dscores, stats);
  CUDA_CHECK_LAUNCH();
}

// logits, targets, dlogits: (N); loss: one float in device memory.
void sigmoid_mse(const float* logits, const float* targets, size_t N, float* dlogits, float* loss,
                 cudaStream_t stream) {
  if (N == 0 || (dlogits == nullptr && loss == nullptr)) return;
  sigmoid_mse_kernel<<<1, kThreads, 0, stream>>>(logits, targets, N, dlogits, loss);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
