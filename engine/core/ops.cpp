// Every op the same way: the CUDA kernel when the context is CUDA, else the CPU reference.
#include "engine/core/ops.h"

#include "kernels/activation.h"
#include "kernels/dense.h"
#include "kernels/gather.h"
#include "kernels/minibatch.h"
#include "kernels/stats.h"

#if GAN_WITH_CUDA
#define GAN_DISPATCH(cuda_call, cpu_call) \
  do {                                    \
    if (ctx.is_cuda()) {                  \
      cuda_call;                          \
    } else {                              \
      cpu_call;                           \
    }                                     \
  } while (0)
#else
// Without CUDA a context is always the CPU (ExecResources refuses Cuda).
#define GAN_DISPATCH(cuda_call, cpu_call) \
  do {                                    \
    (void)ctx;                            \
    cpu_call;                             \
  } while (0)
#endif

namespace gan::ops {

void dense_forward(const ExecContext& ctx, const float* x, const float* W, const float* b, float* y,
                   int B, int IN, int OUT, Activation act) {
  GAN_DISPATCH(cuda::dense_forward(ctx.gemm(), x, W, b, y, B, IN, OUT, act),
               cpu::dense_forward<float>(x, W, b, y, B, IN, OUT, act));
}

void dense_backward(const ExecContext& ctx, const float* x, const float* W, const float* dy,
                    float* dx, float* dW, float* db, int B, int IN, int OUT, GradMode mode) {
  GAN_DISPATCH(cuda::dense_backward(ctx.gemm(), x, W, dy, dx, dW, db, B, IN, OUT, mode),
               cpu::dense_backward<float>(x, W, dy, dx, dW, db, B, IN, OUT, mode));
}

void dense_act_backward(const ExecContext& ctx, Activation act, const float* y, float* dy,
                        const float* x, const float* W, float* dx, float* dW, float* db, int B,
                        int IN, int OUT, GradMode mode) {
  GAN_DISPATCH(cuda::dense_act_backward(ctx.gemm(), act, y, dy, x, W, dx, dW, db, B, IN, OUT, mode,
                                        ctx.fused_act_backward),
               cpu::dense_act_backward<float>(act, y, dy, x, W, dx, dW, db, B, IN, OUT, mode));
}

void activation_forward(const ExecContext& ctx, Activation act, const float* x, float* y,
                        size_t N) {
  GAN_DISPATCH(cuda::activation_forward(act, x, y, N, ctx.stream),
               cpu::activation_forward<float>(act, x, y, N));
}

void activation_backward(const ExecContext& ctx, Activation act, const float* y, const float* dy,
                         float* dx, size_t N) {
  GAN_DISPATCH(cuda::activation_backward(act, y, dy, dx, N, ctx.stream),
               cpu::activation_backward<float>(act, y, dy, dx, N));
}

void batchnorm2d_forward_train(const ExecContext& ctx, const BatchNormConfig& cfg, const float* x,
                               float* y, int B, int C, int S, const float* gamma,
                               const float* beta, float* save_mean, float* save_inv_std,
                               float* running_mean, float* running_var) {
  GAN_DISPATCH(cuda::batchnorm2d_forward_train(cfg, x, y, B, C, S, gamma, beta, save_mean,
                                               save_inv_std, running_mean, running_var, ctx.stream),
               cpu::batchnorm2d_forward_train<float>(cfg, x, y, B, C, S, gamma, beta, save_mean,
                                                     save_inv_std, running_mean, running_var));
}

void batchnorm2d_forward_eval(const ExecContext& ctx, const BatchNormConfig& cfg, const float* x,
                              float* y, int B, int C, int S, const float* gamma, const float* beta,
                              const float* running_mean, const float* running_var) {
  GAN_DISPATCH(cuda::batchnorm2d_forward_eval(cfg, x, y, B, C, S, gamma, beta, running_mean,
                                              running_var, ctx.stream),
               cpu::batchnorm2d_forward_eval<float>(cfg, x, y, B, C, S, gamma, beta, running_mean,
                                                    running_var));
}

void batchnorm2d_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx, int B,
                          int C, int S, const float* gamma, const float* save_mean,
                          const float* save_inv_std, float* dgamma, float* dbeta, GradMode mode) {
  GAN_DISPATCH(cuda::batchnorm2d_backward(x, dy, dx, B, C, S, gamma, save_mean, save_inv_std,
                                          dgamma, dbeta, mode, ctx.stream),
               cpu::batchnorm2d_backward<float>(x, dy, dx, B, C, S, gamma, save_mean,
                                                save_inv_std, dgamma, dbeta, mode));
}

size_t conv_workspace_floats(DeviceKind device, const ConvShape& s) {
#if GAN_WITH_CUDA
  if (device == DeviceKind::Cuda) return cuda::conv_workspace_floats(s);
#endif
  (void)device, (void)s;
  return 0;
}

void conv2d_forward(const ExecContext& ctx, const ConvShape& s, const float* x, const float* W,
                    const float* b, float* y, float* work) {
  GAN_DISPATCH(cuda::conv2d_forward(ctx.gemm(), s, x, W, b, y, work),
               ((void)work, cpu::conv2d_forward<float>(s, x, W, b, y)));
}

void conv2d_backward(const ExecContext& ctx, const ConvShape& s, const float* x, const float* W,
                     const float* dy, float* dx, float* dW, float* db, GradMode mode, float* work) {
  GAN_DISPATCH(cuda::conv2d_backward(ctx.gemm(), s, x, W, dy, dx, dW, db, mode, work),
               ((void)work, cpu::conv2d_backward<float>(s, x, W, dy, dx, dW, db, mode)));
}

void conv_transpose2d_forward(const ExecContext& ctx, const ConvShape& s, const float* x,
                              const float* W, const float* b, float* y, float* work) {
  GAN_DISPATCH(cuda::conv_transpose2d_forward(ctx.gemm(), s, x, W, b, y, work),
               ((void)work, cpu::conv_transpose2d_forward<float>(s, x, W, b, y)));
}

void conv_transpose2d_backward(const ExecContext& ctx, const ConvShape& s, const float* x,
                               const float* W, const float* dy, float* dx, float* dW, float* db,
                               GradMode mode, float* work) {
  GAN_DISPATCH(cuda::conv_transpose2d_backward(ctx.gemm(), s, x, W, dy, dx, dW, db, mode, work),
               ((void)work, cpu::conv_transpose2d_backward<float>(s, x, W, dy, dx, dW, db, mode)));
}

void dropout_forward(const ExecContext& ctx, const float* x, float* y, size_t N, float p,
                     bool training, uint64_t seed, uint32_t stream, const uint64_t* counter) {
  GAN_DISPATCH(cuda::dropout_forward(x, y, N, p, training, seed, stream, counter, ctx.stream),
               cpu::dropout_forward<float>(x, y, N, p, training, seed, stream, counter));
}

void dropout_backward(const ExecContext& ctx, const float* dy, float* dx, size_t N, float p,
                      uint64_t seed, uint32_t stream, const uint64_t* counter) {
  GAN_DISPATCH(cuda::dropout_backward(dy, dx, N, p, seed, stream, counter, ctx.stream),
               cpu::dropout_backward<float>(dy, dx, N, p, seed, stream, counter));
}

void bce_with_logits(const ExecContext& ctx, const float* logits, const float* targets, size_t N,
                     float grad_scale, float* dlogits, BceStats<float>* stats) {
  GAN_DISPATCH(cuda::bce_with_logits(logits, targets, N, grad_scale, dlogits, stats, ctx.stream),
               cpu::bce_with_logits<float>(logits, targets, N, grad_scale, dlogits, stats));
}

void softmax_xent(const ExecContext& ctx, const float* logits, const uint8_t* labels,
                  const uint32_t* indices, int B, int C, float grad_scale, float* probs,
                  float* dlogits, BceStats<float>* stats) {
  GAN_DISPATCH(cuda::softmax_xent(logits, labels, indices, B, C, grad_scale, probs, dlogits, stats,
                                  ctx.stream),
               cpu::softmax_xent<float>(logits, labels, indices, B, C, grad_scale, probs, dlogits,
                                        stats));
}

void adam_step(const ExecContext& ctx, const AdamConfig& cfg, float* p, const float* g, float* m,
               float* v, size_t N, const uint64_t* step, float* nonfinite) {
  GAN_DISPATCH(cuda::adam_step(cfg, p, g, m, v, N, step, nonfinite, ctx.stream),
               cpu::adam_step<float>(cfg, p, g, m, v, N, step, nonfinite));
}

void random_fill(const ExecContext& ctx, float* out, size_t N, Distribution dist, uint64_t seed,
                 uint32_t stream, const uint64_t* counter) {
  GAN_DISPATCH(cuda::random_fill(out, N, dist, seed, stream, counter, ctx.stream),
               cpu::random_fill<float>(out, N, dist, seed, stream, counter));
}

void counter_add(const ExecContext& ctx, uint64_t* counter, uint64_t by) {
  GAN_DISPATCH(cuda::counter_add(counter, by, ctx.stream), cpu::counter_add(counter, by));
}

void sample_batch(const ExecContext& ctx, const uint8_t* images, uint32_t n_images, size_t D, int B,
                  uint64_t seed, uint32_t stream, const uint64_t* counter, float* out,
                  uint32_t* indices_out) {
  GAN_DISPATCH(
      cuda::sample_batch(images, n_images, D, B, seed, stream, counter, out, indices_out,
                         ctx.stream),
      cpu::sample_batch<float>(images, n_images, D, B, seed, stream, counter, out, indices_out));
}

void sample_rows(const ExecContext& ctx, const float* rows, uint32_t n_rows, size_t D, int B,
                 uint64_t seed, uint32_t stream, const uint64_t* counter, float* out) {
  GAN_DISPATCH(
      cuda::sample_rows(rows, n_rows, D, B, seed, stream, counter, out, nullptr, ctx.stream),
      cpu::sample_rows<float>(rows, n_rows, D, B, seed, stream, counter, out, nullptr));
}

void sort_values(const ExecContext& ctx, const float* x, float* y, size_t N) {
  GAN_DISPATCH(cuda::sort_values(x, y, N, ctx.stream), cpu::sort_values<float>(x, y, N));
}

void add_noise(const ExecContext& ctx, const float* x, float* y, size_t N, float sigma0,
               uint64_t anneal_steps, uint64_t seed, uint32_t stream, const uint64_t* counter) {
  GAN_DISPATCH(
      cuda::add_noise(x, y, N, sigma0, anneal_steps, seed, stream, counter, ctx.stream),
      cpu::add_noise<float>(x, y, N, sigma0, anneal_steps, seed, stream, counter));
}

void sgd_step(const ExecContext& ctx, const SgdConfig& cfg, float* p, const float* g, float* buf,
              size_t N, const uint64_t* t, float* nonfinite) {
  GAN_DISPATCH(cuda::sgd_step(cfg, p, g, buf, N, t, nonfinite, ctx.stream),
               cpu::sgd_step<float>(cfg, p, g, buf, N, t, nonfinite));
}

void rmsprop_step(const ExecContext& ctx, const RmspropConfig& cfg, float* p, const float* g,
                  float* v, size_t N, float* nonfinite) {
  GAN_DISPATCH(cuda::rmsprop_step(cfg, p, g, v, N, nonfinite, ctx.stream),
               cpu::rmsprop_step<float>(cfg, p, g, v, N, nonfinite));
}

void clip_values(const ExecContext& ctx, float* p, size_t N, float c, float* nonfinite) {
  GAN_DISPATCH(cuda::clip_values(p, N, c, nonfinite, ctx.stream),
               cpu::clip_values<float>(p, N, c, nonfinite));
}

void minibatch_stddev_forward(const ExecContext& ctx, const float* x, float* y, int B, int F) {
  GAN_DISPATCH(cuda::minibatch_stddev_forward(x, y, B, F, ctx.stream),
               cpu::minibatch_stddev_forward<float>(x, y, B, F));
}

void minibatch_stddev_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx,
                               int B, int F) {
  GAN_DISPATCH(cuda::minibatch_stddev_backward(x, dy, dx, B, F, ctx.stream),
               cpu::minibatch_stddev_backward<float>(x, dy, dx, B, F));
}

void minibatch_distance_forward(const ExecContext& ctx, const float* x, float* y, int B, int F) {
  GAN_DISPATCH(cuda::minibatch_distance_forward(x, y, B, F, ctx.stream),
               cpu::minibatch_distance_forward<float>(x, y, B, F));
}

void minibatch_distance_backward(const ExecContext& ctx, const float* x, const float* dy, float* dx,
                                 int B, int F) {
  GAN_DISPATCH(cuda::minibatch_distance_backward(x, dy, dx, B, F, ctx.stream),
               cpu::minibatch_distance_backward<float>(x, dy, dx, B, F));
}

void wasserstein_loss(const ExecContext& ctx, const float* scores, size_t N, float sign,
                      float* dscores, BceStats<float>* stats) {
  GAN_DISPATCH(cuda::wasserstein_loss(scores, N, sign, dscores, stats, ctx.stream),
               cpu::wasserstein_loss<float>(scores, N, sign, dscores, stats));
}

void sigmoid_mse(const ExecContext& ctx, const float* logits, const float* targets, size_t N,
                 float* dlogits, float* loss) {
  GAN_DISPATCH(cuda::sigmoid_mse(logits, targets, N, dlogits, loss, ctx.stream),
               cpu::sigmoid_mse<float>(logits, targets, N, dlogits, loss));
}

void stats_to_slot(const ExecContext& ctx, const float* src, int n, float* slots, uint32_t n_slots,
                   const uint64_t* step) {
  GAN_DISPATCH(cuda::stats_to_slot(src, n, slots, n_slots, step, ctx.stream),
               cpu::stats_to_slot(src, n, slots, n_slots, step));
}

void stats_zero(const ExecContext& ctx, float* x, int n) {
  GAN_DISPATCH(cuda::stats_zero(x, n, ctx.stream), cpu::stats_zero(x, n));
}

void random_labels(const ExecContext& ctx, uint32_t* labels, int B, uint32_t K, uint64_t seed,
                   uint32_t stream, const uint64_t* counter) {
  GAN_DISPATCH(cuda::random_labels(labels, B, K, seed, stream, counter, ctx.stream),
               cpu::random_labels(labels, B, K, seed, stream, counter));
}

void gather_labels(const ExecContext& ctx, const uint8_t* table, const uint32_t* indices, int B,
                   uint32_t* labels) {
  GAN_DISPATCH(cuda::gather_labels(table, indices, B, labels, ctx.stream),
               cpu::gather_labels(table, indices, B, labels));
}

void append_onehot(const ExecContext& ctx, const float* x, int B, size_t F, const uint32_t* labels,
                   int K, size_t S, float* y) {
  GAN_DISPATCH(cuda::append_onehot(x, B, F, labels, K, S, y, ctx.stream),
               cpu::append_onehot<float>(x, B, F, labels, K, S, y));
}

void take_columns(const ExecContext& ctx, const float* x, int B, size_t W, size_t F, float* y) {
  GAN_DISPATCH(cuda::take_columns(x, B, W, F, y, ctx.stream),
               cpu::take_columns<float>(x, B, W, F, y));
}

void ema_update(const ExecContext& ctx, float* ema, const float* p, size_t N, float decay,
                uint64_t start, const uint64_t* step) {
  GAN_DISPATCH(cuda::ema_update(ema, p, N, decay, start, step, ctx.stream),
               cpu::ema_update<float>(ema, p, N, decay, start, step));
}

}  // namespace gan::ops
