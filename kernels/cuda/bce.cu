// Binary cross-entropy with logits on the GPU: the per-element gradient and the batch statistics
// in one pass, reduced in a fixed order so the statistics are bitwise reproducible.
#include "kernels/bce.h"
#include "kernels/cuda/check.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// One block: N is a batch size (a few thousand at most), far too small to be worth a second
// reduction stage, and a single block keeps the summation order fixed without atomics.
constexpr int kThreads = 1024;

// L = mean_i [max(z, 0) - z t + log(1 + e^-|z|)]; dL/dz_i = (sigmoid(z_i) - t_i) / N, so
// d(grad_scale L)/dz_i = grad_scale (sigmoid(z_i) - t_i) / N.
// Thread mapping: one block; thread t takes elements t, t + kThreads, ... (coalesced), keeping
// running sums of loss, sigmoid and correct predictions, then a shared-memory tree reduction
// whose shape depends only on kThreads. dlogits may alias logits (each element is read, then
// written, by one thread).
__global__ void __launch_bounds__(kThreads)
    bce_with_logits_kernel(const float* logits, const float* targets, size_t N, float grad_scale,
                           float* dlogits, BceStats<float>* stats) {
  __shared__ float loss_sum[kThreads];
  __shared__ float prob_sum[kThreads];
  __shared__ unsigned correct_sum[kThreads];
  const int t = threadIdx.x;
  const float n = float(N);

  float loss = 0.0f, prob = 0.0f;
  unsigned correct = 0;
  for (size_t i = t; i < N; i += kThreads) {
    const float z = logits[i], target = targets[i];
    const float s = sigmoid_of<float>(z);
    loss += bce_with_logits_value<float>(z, target);
    prob += s;
    correct += unsigned((z > 0.0f) == (target > 0.5f));
    if (dlogits != nullptr) dlogits[i] = grad_scale * (s - target) / n;
  }
  if (stats == nullptr) return;  // uniform across the block: no thread is left at a barrier

  loss_sum[t] = loss;
  prob_sum[t] = prob;
  correct_sum[t] = correct;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      loss_sum[t] += loss_sum[t + half];
      prob_sum[t] += prob_sum[t + half];
      correct_sum[t] += correct_sum[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    stats->loss = loss_sum[0] / n;
    stats->mean_prob = prob_sum[0] / n;
    stats->accuracy = float(correct_sum[0]) / n;
  }
}

}  // namespace

// logits, targets, dlogits: (N); stats: one BceStats in device memory.
void bce_with_logits(const float* logits, const float* targets, size_t N, float grad_scale,
                     float* dlogits, BceStats<float>* stats, cudaStream_t stream) {
  if (N == 0 || (dlogits == nullptr && stats == nullptr)) return;
  bce_with_logits_kernel<<<1, kThreads, 0, stream>>>(logits, targets, N, grad_scale, dlogits,
                                                     stats);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
