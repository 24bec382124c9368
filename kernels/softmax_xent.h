// Softmax cross-entropy for a classifier: softmax, loss gradient and batch statistics in one pass.
#pragma once
#include "bce.h"
#include "common.h"

namespace gan {

// logits: (B, C), B >= 1, 2 <= C (up to a few thousand); labels: uint8 class ids (< C, the
// caller's invariant, not checked; so only the first 256 classes can be labels): row b's label is
// labels[indices ? indices[b] : b] (indices from sample_batch's indices_out select rows of a
// resident label set).
// probs (B, C) = softmax(logits) unless null.
// dlogits (B, C) = grad_scale * (probs - onehot(label)) / B unless null: the gradient of
// grad_scale * loss.
// stats, in BceStats' layout, written unless null:
//   loss      = mean over rows of -log softmax(z)[label] = logsumexp(z) - z[label]
//   mean_prob = mean over rows of softmax(z)[label] (the true class's probability)
//   accuracy  = fraction of rows whose argmax of the logits (the first index of the maximum on
//               ties) equals the label.
// labels (and indices) may be null only when dlogits and stats are both null (softmax only).
// Numerically stable for any finite logits (the row maximum is subtracted before exponentiating;
// the loss is log(sum e^(z - max)) - (z[label] - max)): +-1000 gives finite outputs. NaN logits
// give unspecified results.
// Aliasing: one of probs and dlogits (not both) may be exactly logits, overwriting them in place;
// otherwise no two of logits, probs and dlogits may overlap. (Every logit, and the label's, is
// read before it is overwritten.)
// Sums run in a fixed order, so repeated calls give the same bits.
namespace cpu {
template <class T>
void softmax_xent(const T* logits, const uint8_t* labels, const uint32_t* indices, int B, int C,
                  T grad_scale, T* probs, T* dlogits, BceStats<T>* stats);
}  // namespace cpu

namespace cuda {
// With stats requested the whole op runs in one block (so the statistics reduce in a fixed order
// without scratch memory or atomics); without, rows spread over as many blocks as they fill.
// probs and dlogits are the same bits either way.
void softmax_xent(const float* logits, const uint8_t* labels, const uint32_t* indices, int B, int C,
                  float grad_scale, float* probs, float* dlogits, BceStats<float>* stats,
                  cudaStream_t stream);
}  // namespace cuda

}  // namespace gan
