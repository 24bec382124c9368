// Losses beside BCE: the Wasserstein critic objective (WGAN) and the sigmoid-MSE regression that
// pre-trains seed 2's discriminator on the target pdf. Value, gradient and statistics in one pass,
// reported in BceStats' layout so the trainer's statistics slots hold any loss.
#pragma once
#include "bce.h"
#include "common.h"

namespace gan {

// scores: (N), N >= 1 (the critic's raw outputs). The loss sign * mean(scores): sign -1 for real
// samples and +1 for fakes in the critic's step (critic loss = mean D(fake) - mean D(real)), -1
// for G's step (G loss = -mean D(G(z))).
// dscores (N) = sign / N unless null. stats (unless null): loss = sign * mean(scores),
// mean_prob = mean(scores) (the mean critic output, not a probability), accuracy = 0 (a critic
// has none).
namespace cpu {
template <class T>
void wasserstein_loss(const T* scores, size_t N, T sign, T* dscores, BceStats<T>* stats);

// logits, targets: (N), N >= 1. loss = mean (sigmoid(z) - t)^2; dlogits (N) = 2 (s - t) s (1 - s)
// / N unless null; *loss written unless null. For D's pre-training (MSE on D's probability).
template <class T>
void sigmoid_mse(const T* logits, const T* targets, size_t N, T* dlogits, T* loss);
}  // namespace cpu

namespace cuda {
void wasserstein_loss(const float* scores, size_t N, float sign, float* dscores,
                      BceStats<float>* stats, cudaStream_t stream);
void sigmoid_mse(const float* logits, const float* targets, size_t N, float* dlogits, float* loss,
                 cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
