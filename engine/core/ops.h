// The engine's one dispatch point: each op runs the CPU reference (float) or the CUDA kernel on
// the context's stream, with the kernels' contracts (kernels/*.h). Layers, models and the trainer
// call only these, so the same code drives both paths.
#pragma once
#include "engine/core/context.h"
#include "kernels/adam.h"
#include "kernels/batchnorm.h"
#include "kernels/bce.h"
#include "kernels/common.h"
#include "kernels/condition.h"
#include "kernels/conv.h"
#include "kernels/dropout.h"
#include "kernels/ema.h"
#include "kernels/losses.h"
#include "kernels/optimizers.h"
#include "kernels/random.h"
#include "kernels/softmax_xent.h"

namespace gan::ops {

void dense_forward(const ExecContext& ctx, const float* x, const float* W, const float* b, float* y,
                   int B, int IN, int OUT, Activation act);
void dense_backward(const ExecContext& ctx, const float* x, const float* W, const float* dy,
                    float* dx, float* dW, float* db, int B, int IN, int OUT, GradMode mode);
// y = act(x W^T + b)'s backward: dy is overwritten by dy * f'(y), then dense_backward (one kernel
// fewer on the GPU unless ctx.fused_act_backward is off).
void dense_act_backward(const ExecContext& ctx, Activation act, const float* y, float* dy,
                        const float* x, const float* W, float* dx, float* dW, float* db, int B,
                        int IN, int OUT, GradMode mode);
void activation_forward(const ExecContext& ctx, Activation act, const float* x, float* y, size_t N);
void activation_backward(const ExecContext& ctx, Activation act, const float* y, const float* dy,
                         float* dx, size_t N);
// BatchNorm1d is S = 1.
void batchnorm2d_forward_train(const ExecContext& ctx, const BatchNormConfig& cfg, const float* x,
                               float* y, int B, int C, int S, const float* gamma,
                               const float* beta, float* save_mean, float* save_inv_std,
                               float* running_mean, float* running_var);
void batchnorm2d_forward_eval(const ExecContext& ctx, const BatchNormConfig& cfg, const float* x,
                              float* y, int B, int C, int S, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var);
void batchnorm2d_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx, int B,
                          int C, int S, const float* gamma, const float* save_mean,
                          const float* save_inv_std, float* dgamma, float* dbeta, GradMode mode);
// Convolutions (kernels/conv.h). work: conv_workspace_floats(device, s) floats in the context's
// memory (none on the CPU, whose path keeps its own per-thread scratch).
size_t conv_workspace_floats(DeviceKind device, const ConvShape& s);
void conv2d_forward(const ExecContext& ctx, const ConvShape& s, const float* x, const float* W,
                    const float* b, float* y, float* work);
void conv2d_backward(const ExecContext& ctx, const ConvShape& s, const float* x, const float* W,
                     const float* dy, float* dx, float* dW, float* db, GradMode mode, float* work);
void conv_transpose2d_forward(const ExecContext& ctx, const ConvShape& s, const float* x,
                              const float* W, const float* b, float* y, float* work);
void conv_transpose2d_backward(const ExecContext& ctx, const ConvShape& s, const float* x,
                               const float* W, const float* dy, float* dx, float* dW, float* db,
                               GradMode mode, float* work);
void dropout_forward(const ExecContext& ctx, const float* x, float* y, size_t N, float p,
                     bool training, uint64_t seed, uint32_t stream, const uint64_t* counter);
void dropout_backward(const ExecContext& ctx, const float* dy, float* dx, size_t N, float p,
                      uint64_t seed, uint32_t stream, const uint64_t* counter);
void bce_with_logits(const ExecContext& ctx, const float* logits, const float* targets, size_t N,
                     float grad_scale, float* dlogits, BceStats<float>* stats);
void softmax_xent(const ExecContext& ctx, const float* logits, const uint8_t* labels,
                  const uint32_t* indices, int B, int C, float grad_scale, float* probs,
                  float* dlogits, BceStats<float>* stats);
void adam_step(const ExecContext& ctx, const AdamConfig& cfg, float* p, const float* g, float* m,
               float* v, size_t N, const uint64_t* step, float* nonfinite);
void random_fill(const ExecContext& ctx, float* out, size_t N, Distribution dist, uint64_t seed,
                 uint32_t stream, const uint64_t* counter);
void counter_add(const ExecContext& ctx, uint64_t* counter, uint64_t by);
void stats_to_slot(const ExecContext& ctx, const float* src, int n, float* slots, uint32_t n_slots,
                   const uint64_t* step);
void stats_zero(const ExecContext& ctx, float* x, int n);
// indices_out (B): the rows drawn (for their labels), unless null.
void sample_batch(const ExecContext& ctx, const uint8_t* images, uint32_t n_images, size_t D, int B,
                  uint64_t seed, uint32_t stream, const uint64_t* counter, float* out,
                  uint32_t* indices_out = nullptr);
void sample_rows(const ExecContext& ctx, const float* rows, uint32_t n_rows, size_t D, int B,
                 uint64_t seed, uint32_t stream, const uint64_t* counter, float* out);
void sort_values(const ExecContext& ctx, const float* x, float* y, size_t N);
void add_noise(const ExecContext& ctx, const float* x, float* y, size_t N, float sigma0,
               uint64_t anneal_steps, uint64_t seed, uint32_t stream, const uint64_t* counter);
void sgd_step(const ExecContext& ctx, const SgdConfig& cfg, float* p, const float* g, float* buf,
              size_t N, const uint64_t* t, float* nonfinite);
void rmsprop_step(const ExecContext& ctx, const RmspropConfig& cfg, float* p, const float* g,
                  float* v, size_t N, float* nonfinite);
void clip_values(const ExecContext& ctx, float* p, size_t N, float c, float* nonfinite);
void minibatch_stddev_forward(const ExecContext& ctx, const float* x, float* y, int B, int F);
void minibatch_stddev_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx,
                               int B, int F);
void minibatch_distance_forward(const ExecContext& ctx, const float* x, float* y, int B, int F);
void minibatch_distance_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx,
                                 int B, int F);
void wasserstein_loss(const ExecContext& ctx, const float* scores, size_t N, float sign,
                      float* dscores, BceStats<float>* stats);
void sigmoid_mse(const ExecContext& ctx, const float* logits, const float* targets, size_t N,
                 float* dlogits, float* loss);

// Class conditioning (kernels/condition.h).
void random_labels(const ExecContext& ctx, uint32_t* labels, int B, uint32_t K, uint64_t seed,
                   uint32_t stream, const uint64_t* counter);
void gather_labels(const ExecContext& ctx, const uint8_t* table, const uint32_t* indices, int B,
                   uint32_t* labels);
void append_onehot(const ExecContext& ctx, const float* x, int B, size_t F, const uint32_t* labels,
                   int K, size_t S, float* y);
void take_columns(const ExecContext& ctx, const float* x, int B, size_t W, size_t F, float* y);
// G's weight average (kernels/ema.h).
void ema_update(const ExecContext& ctx, float* ema, const float* p, size_t N, float decay,
                uint64_t start, const uint64_t* step);

}  // namespace gan::ops
