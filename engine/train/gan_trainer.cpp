#include "engine/train/gan_trainer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>
#include <tuple>

#include "engine/core/cpu_threads.h"
#include "engine/core/ops.h"

#if GAN_WITH_CUDA
#include "kernels/cuda/check.h"
#endif

namespace gan {

namespace {

// Random-fill streams carry the top bit, so they never meet a dropout stream (draw * 64 + layer).
constexpr uint32_t kStreamData = 0x80000000u;    // + d-step index
constexpr uint32_t kStreamNoiseD = 0x80000100u;  // + d-step index
constexpr uint32_t kStreamNoiseG = 0x80000200u;
constexpr uint32_t kStreamFixedNoise = 0x80000300u;
constexpr uint32_t kStreamGenerate = 0x80000400u;
// Labels of the fake batches (conditional runs): D step k, and the G step.
constexpr uint32_t kStreamLabelsD = 0x80100000u;  // + d-step index
constexpr uint32_t kStreamLabelsG = 0x80200000u;
constexpr uint32_t kStreamInitG = 0x90000000u;
constexpr uint32_t kStreamInitD = 0x90010000u;
// Dropout draws of each model call within a step.
constexpr uint32_t draw_g_in_d_step(int k) { return 1 + 4 * uint32_t(k); }
constexpr uint32_t draw_d_real(int k) { return 2 + 4 * uint32_t(k); }
constexpr uint32_t draw_d_fake(int k) { return 3 + 4 * uint32_t(k); }
constexpr uint32_t kDrawGInGStep = 100000;
constexpr uint32_t kDrawDInGStep = 100001;
constexpr uint32_t kDrawSamples = 100002;

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

BceStats<float>* as_stats(float* p) { return reinterpret_cast<BceStats<float>*>(p); }

constexpr uint32_t kStreamInstanceNoise = 0x80000500u;  // + 2k (real), + 2k + 1 (fake); G: + 255

// Samples in the trainer's grids: one row of sample_grid per class when conditional.
int samples_in(const TrainConfig& c) {
  return c.classes > 0 ? c.classes * c.sample_grid : c.sample_grid * c.sample_grid;
}

// Validates before any member is built from the config, so a bad setting is reported by its flag.
const TrainConfig& validated(const TrainConfig& cfg, int sample_size, size_t n_samples) {
  if (n_samples == 0) throw std::invalid_argument("the data set holds no samples");
  if (n_samples > UINT32_MAX)
    throw std::invalid_argument(fmt::format("the data set holds {} samples, at most {} are supported",
                                            n_samples, UINT32_MAX));
  validate_train_config(cfg, sample_size);
  return cfg;
}

}  // namespace

GanTrainer::GanTrainer(const TrainConfig& cfg, const ImageSet& data, const ExecContext& ctx,
                       const std::vector<uint8_t>* labels)
    : GanTrainer(cfg, int(data.image_size()), data.count, ctx) {
  if (cfg.classes > 0) {
    if (!labels) throw std::invalid_argument("a conditional GAN needs the images' labels");
    check_labels(*labels, "the labels", data.count, "the data set", cfg.classes);
    labels_ = Array<uint8_t>(ctx.kind, labels->size());
    labels_.upload(*labels);
  }
  images_ = Array<uint8_t>(ctx.kind, data.pixels.size());
  images_.upload(data.pixels);
}

GanTrainer::GanTrainer(const TrainConfig& cfg, const PointSet& data, const ExecContext& ctx)
    : GanTrainer(cfg, data.dim, data.count(), ctx) {
  if (cfg.classes > 0)
    throw std::invalid_argument("a conditional GAN needs labelled images, not points");
  if (data.values.size() != data.count() * size_t(data.dim))
    throw std::invalid_argument(fmt::format("the point set's {} values are not rows of {}",
                                            data.values.size(), data.dim));
  points_ = Array<float>(ctx.kind, data.values.size());
  points_.upload(data.values);
}

GanTrainer::GanTrainer(const TrainConfig& cfg, int sample_size, size_t n_samples,
                       const ExecContext& ctx)
    : cfg_(validated(cfg, sample_size, n_samples)),
      ctx_(ctx),
      n_samples_(uint32_t(n_samples)),
      sample_size_(sample_size),
      G_("generator", cfg.generator, std::max(cfg.batch, samples_in(cfg)), ctx.kind),
      D_("discriminator", cfg.discriminator, cfg.batch, ctx.kind) {
  const DeviceKind dev = ctx.kind;
  const size_t B = size_t(cfg.batch);
  // Conditional grids share the noise down each column: one vector per column.
  const size_t n_noise = cfg.classes > 0 ? size_t(cfg.sample_grid) : size_t(samples_in(cfg));
  if (cfg.ema > 0.0f)
    G_ema_ = std::make_unique<Model>("generator (EMA)", cfg.generator, samples_in(cfg), dev);
  n_logits_ = D_.output_rows(cfg.batch);
  // The decay schedules count optimizer updates; the config counts training steps.
  const uint64_t d_updates = uint64_t(cfg.d_steps) * (cfg.d_update == DUpdate::Separate ? 2 : 1);
  opt_d_ = cfg.opt_d;
  opt_d_.adam.decay_every *= d_updates;
  opt_d_.sgd.decay_every *= d_updates;
  real_ = Array<float>(dev, B * sample_size_);
  if (cfg.sort_real) unsorted_ = Array<float>(dev, B * sample_size_);
  if (cfg.instance_noise > 0.0f) {
    noisy_real_ = Array<float>(dev, B * sample_size_);
    noisy_fake_ = Array<float>(dev, B * sample_size_);
  }
  z_ = Array<float>(dev, B * cfg.z_dim());
  fixed_z_ = Array<float>(dev, n_noise * cfg.z_dim());
  dlogits_ = Array<float>(dev, B);
  t_real_ = Array<float>(dev, B);
  t_fake_ = Array<float>(dev, B);
  t_one_ = Array<float>(dev, B);
  t_real_.upload(std::vector<float>(B, 1.0f - cfg.label_smoothing));
  t_one_.upload(std::vector<float>(B, 1.0f));
  step_stats_ = Array<float>(dev, kSlotFloats);
  slots_ = Array<float>(dev, size_t(cfg.log_every) * kSlotFloats);
  counters_ = Array<uint64_t>(dev, kNumCounters);
  stats_host_.resize(slots_.size());
  // The fixed sample noise: drawn once, the same for every grid of the run.
  ops::random_fill(ctx_, fixed_z_.data(), fixed_z_.size(), cfg.noise, cfg.seed, kStreamFixedNoise,
                   counters_.data() + kStep);
  if (cfg.classes > 0) {
    const int K = cfg.classes, z = cfg.z_dim();
    const size_t in = size_t(cfg.generator.input), d_in = size_t(cfg.discriminator.input);
    g_in_ = Array<float>(dev, B * in);
    d_in_real_ = Array<float>(dev, B * d_in);
    d_in_fake_ = Array<float>(dev, B * d_in);
    dfake_ = Array<float>(dev, B * sample_size_);
    indices_ = Array<uint32_t>(dev, B);
    real_labels_ = Array<uint32_t>(dev, B);
    fake_labels_ = Array<uint32_t>(dev, B);
    // The grid's input: row r (class r) is the column noise with r's code.
    std::vector<uint32_t> rows(size_t(samples_in(cfg)));
    for (size_t i = 0; i < rows.size(); ++i) rows[i] = uint32_t(i / size_t(cfg.sample_grid));
    Array<uint32_t> row_labels(dev, rows.size());
    row_labels.upload(rows);
    fixed_in_ = Array<float>(dev, rows.size() * in);
    for (int r = 0; r < K; ++r)
      ops::append_onehot(ctx_, fixed_z_.data(), cfg.sample_grid, size_t(z),
                         row_labels.data() + size_t(r) * cfg.sample_grid, K, 1,
                         fixed_in_.data() + size_t(r) * cfg.sample_grid * in);
    ctx_.synchronize();  // row_labels goes with this block
  }
#if GAN_WITH_CUDA
  if (ctx_.is_cuda()) {
    CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&stats_pinned_), slots_.size() * sizeof(float)));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    last_event_ = e0;  // recorded at the first step
    pending_.event = e1;
    CUDA_CHECK(
        cudaMallocHost(reinterpret_cast<void**>(&watch_pinned_), kSlotFloats * sizeof(float)));
    cudaEvent_t watch;
    CUDA_CHECK(cudaEventCreateWithFlags(&watch, cudaEventDisableTiming));
    watch_event_ = watch;
  }
#endif
  last_host_seconds_ = now_seconds();
}

GanTrainer::~GanTrainer() {
#if GAN_WITH_CUDA
  if (graph_exec_) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph_exec_));
  if (graph_) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  if (stats_pinned_) cudaFreeHost(stats_pinned_);
  if (last_event_) cudaEventDestroy(static_cast<cudaEvent_t>(last_event_));
  if (pending_.event) cudaEventDestroy(static_cast<cudaEvent_t>(pending_.event));
  if (watch_pinned_) cudaFreeHost(watch_pinned_);
  if (watch_event_) cudaEventDestroy(static_cast<cudaEvent_t>(watch_event_));
#endif
}

void GanTrainer::init() {
  G_.init(cfg_.init, cfg_.seed, kStreamInitG);
  D_.init(cfg_.init, cfg_.seed, kStreamInitD);
  if (G_ema_) {
    ctx_.synchronize();
    G_ema_->params().upload(G_.params().download());  // the average starts at G's weights
  }
  counters_.zero();
  step_ = 0;
  stats_from_ = 1;
  diverged_at_ = 0;
  watch_pending_ = false;  // a copy still in flight is of the old parameters: never read
}

void GanTrainer::use_cuda_graph(bool on) {
  if (on && !ctx_.is_cuda()) throw std::invalid_argument("--cuda-graph: needs a CUDA device");
  if (graph_exec_) throw std::logic_error("use_cuda_graph: the step is already captured");
  graph_on_ = on;
}

// Every step is the same sequence of launches with the same arguments: the step number, the
// random draws and the statistics slot all come from the counter in device memory.
void GanTrainer::enqueue_step() {
  ops::counter_add(ctx_, counters_.data() + kStep, 1);
  float* stats = step_stats_.data();
  // The optimizers only ever set their flags: clear both models' on the device, in the step.
  ops::stats_zero(ctx_, stats + kFlagsD, 2 * kNonfiniteFlags);
  const double started = now_seconds();
  for (int k = 0; k < cfg_.d_steps; ++k) {
    d_step(k, stats);
    // CPU: a stop request between D steps abandons a step that would outlast the patience (up to
    // 1,000 D steps of a large model can take minutes). The GPU only enqueues here.
    if (stop_requested() && !ctx_.is_cuda() && k + 1 < cfg_.d_steps) {
      const double per_d_step = (now_seconds() - started) / (k + 1);
      const double left = per_d_step * (cfg_.d_steps - k);  // the rest and about one G step
      if (left > stop_patience_)
        throw StepAbandoned(fmt::format(
            "step {} abandoned after D step {} of {} (about {:.0f} s of it were left)",
            step_ + 1, k + 1, cfg_.d_steps, left));
    }
  }
  g_step(stats + 6);
  ops::stats_to_slot(ctx_, stats, kSlotFloats, slots_.data(), uint32_t(cfg_.log_every),
                     counters_.data() + kStep);
}

void GanTrainer::train_step() {
  // The first interval's ms/step counts from the first step, not from construction (which loads
  // data and initialises parameters).
  if (!stepped_) {
    last_host_seconds_ = now_seconds();
#if GAN_WITH_CUDA
    if (ctx_.is_cuda())
      CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(last_event_), ctx_.stream));
#endif
  }
  poll_watch();
  if (!ctx_.is_cuda()) adapt_cpu_threads();  // fewer threads while other processes hold cores
#if GAN_WITH_CUDA
  // The first step runs as plain launches (a warm-up: cuBLAS and the module loader do their
  // one-time set-up outside the capture); the second is captured, and every later one replays it.
  if (graph_on_ && stepped_) {
    if (!graph_exec_) {
      cudaGraph_t graph = nullptr;
      cudaGraphExec_t exec = nullptr;
      CUDA_CHECK(cudaStreamBeginCapture(ctx_.stream, cudaStreamCaptureModeThreadLocal));
      enqueue_step();
      CUDA_CHECK(cudaStreamEndCapture(ctx_.stream, &graph));
      CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &graph_nodes_));
      graph_ = graph;
      graph_exec_ = exec;
    }
    CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph_exec_), ctx_.stream));
    ++step_;
    watch_step();
    return;
  }
#endif
  enqueue_step();
  stepped_ = true;
  ++step_;
  watch_step();
}

void GanTrainer::poll_watch() {
#if GAN_WITH_CUDA
  if (!watch_pending_) return;
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(watch_event_));
  if (status == cudaErrorNotReady) return;  // the GPU is behind: a later step gets looked at
  CUDA_CHECK(status);
  watch_pending_ = false;
  if (diverged_at_ == 0) note_divergence(watch_pinned_, watch_step_);
#endif
}

// The copy is enqueued after the step (after the graph launch, outside any capture), so a
// captured step stays the same graph; one copy is outstanding at a time, so the host never reads
// the pinned floats while a copy may be writing them.
void GanTrainer::watch_step() {
#if GAN_WITH_CUDA
  if (ctx_.is_cuda()) {
    if (watch_pending_) return;
    CUDA_CHECK(cudaMemcpyAsync(watch_pinned_, step_stats_.data(), kSlotFloats * sizeof(float),
                               cudaMemcpyDeviceToHost, ctx_.stream));
    CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(watch_event_), ctx_.stream));
    watch_pending_ = true;
    watch_step_ = step_;
    return;
  }
#endif
  // The CPU step has run: its statistics are host memory already.
  if (diverged_at_ == 0) note_divergence(step_stats_.data(), step_);
}

void GanTrainer::note_divergence(const float* v, uint64_t step) {
  diverged_what_ = nonfinite_in(v);
  if (!diverged_what_.empty()) diverged_at_ = step;
}

std::string GanTrainer::nonfinite_in(const float* v) const {
  // v: real {loss, prob, acc}, fake {loss, prob, acc}, G {loss, prob, acc}, D's flags, G's flags.
  const bool wgan = cfg_.loss == GanLoss::Wasserstein;
  const double d_loss = wgan ? double(v[0]) + v[3] : 0.5 * (double(v[0]) + v[3]);
  if (!(std::isfinite(d_loss) && std::isfinite(double(v[6])))) return "loss";
  for (const auto& [who, flags, opt] :
       {std::tuple{"D", v + kFlagsD, &cfg_.opt_d}, std::tuple{"G", v + kFlagsG, &cfg_.opt_g}}) {
    const bool params = flags[kNonfiniteParams] != 0.0f, state = flags[kNonfiniteState] != 0.0f;
    if (!params && !state) continue;
    const char* state_name = opt->kind == OptimizerKind::Adam  ? "Adam state"
                             : opt->kind == OptimizerKind::Sgd ? "SGD momentum"
                                                               : "RMSprop state";
    if (!state) return fmt::format("{} parameters", who);
    return fmt::format("{} parameters ({}{})", who, params ? "and " : "", state_name);
  }
  return "";
}

void GanTrainer::sample_real(int k, const uint64_t* counter, float* out) {
  const int B = cfg_.batch;
  float* dst = cfg_.sort_real ? unsorted_.data() : out;
  if (points_.size() > 0)
    ops::sample_rows(ctx_, points_.data(), n_samples_, size_t(sample_size_), B, cfg_.seed,
                     kStreamData + uint32_t(k), counter, dst);
  else
    ops::sample_batch(ctx_, images_.data(), n_samples_, size_t(sample_size_), B, cfg_.seed,
                      kStreamData + uint32_t(k), counter, dst,
                      cfg_.classes > 0 ? indices_.data() : nullptr);
  if (cfg_.classes > 0)
    ops::gather_labels(ctx_, labels_.data(), indices_.data(), B, real_labels_.data());
  if (cfg_.sort_real) ops::sort_values(ctx_, dst, out, size_t(B));  // 1D: B values
}

const float* GanTrainer::d_input(const float* x, float* noisy, uint32_t stream) {
  if (cfg_.instance_noise <= 0.0f) return x;
  ops::add_noise(ctx_, x, noisy, size_t(cfg_.batch) * sample_size_, cfg_.instance_noise,
                 cfg_.instance_noise_steps, cfg_.seed, stream, counters_.data() + kStep);
  return noisy;
}

void GanTrainer::draw_fake_labels(uint32_t stream) {
  const int B = cfg_.batch;
  ops::random_labels(ctx_, fake_labels_.data(), B, uint32_t(cfg_.classes), cfg_.seed, stream,
                     counters_.data() + kStep);
  ops::append_onehot(ctx_, z_.data(), B, size_t(cfg_.z_dim()), fake_labels_.data(), cfg_.classes, 1,
                     g_in_.data());
}

const float* GanTrainer::condition_d(const float* x, const uint32_t* labels, float* out) {
  if (cfg_.classes == 0) return x;
  ops::append_onehot(ctx_, x, cfg_.batch, size_t(sample_size_), labels, cfg_.classes,
                     size_t(cfg_.label_planes()), out);
  return out;
}

void GanTrainer::d_loss(const float* logits, const float* targets, float sign, float* stats) {
  if (cfg_.loss == GanLoss::Wasserstein)
    ops::wasserstein_loss(ctx_, logits, size_t(n_logits_), sign, dlogits_.data(), as_stats(stats));
  else
    ops::bce_with_logits(ctx_, logits, targets, size_t(n_logits_), 1.0f, dlogits_.data(),
                         as_stats(stats));
}

GanTrainer::StepInputs GanTrainer::step_inputs(uint64_t step) {
  const ExecContext& ctx = ctx_;
  Array<uint64_t> counter(ctx.kind, 1);
  counter.upload(&step, 1);
  Array<float> real(ctx.kind, real_.size()), z_d(ctx.kind, z_.size()), z_g(ctx.kind, z_.size());
  sample_real(0, counter.data(), real.data());
  ops::random_fill(ctx, z_d.data(), z_d.size(), cfg_.noise, cfg_.seed, kStreamNoiseD,
                   counter.data());
  ops::random_fill(ctx, z_g.data(), z_g.size(), cfg_.noise, cfg_.seed, kStreamNoiseG,
                   counter.data());
  ctx.synchronize();
  return {real.download(), z_d.download(), z_g.download()};
}

// D's objective: BCE(D(x), 1 - smoothing) + BCE(D(G(z)), 0), G's output treated as data; or the
// critic's mean D(G(z)) - mean D(x).
void GanTrainer::d_step(int k, float* stats) {
  const ExecContext& ctx = ctx_;
  const int B = cfg_.batch;
  const uint64_t seed = cfg_.seed;
  const uint64_t* step = counters_.data() + kStep;
  uint64_t* opt_t = counters_.data() + kAdamD;
  sample_real(k, step, real_.data());
  ops::random_fill(ctx, z_.data(), z_.size(), cfg_.noise, seed, kStreamNoiseD + uint32_t(k), step);
  if (cfg_.classes > 0) draw_fake_labels(kStreamLabelsD + uint32_t(k));
  const float* g_in = cfg_.classes > 0 ? g_in_.data() : z_.data();
  const float* fake =
      G_.forward(ctx, g_in, B, !cfg_.d_step_generator_eval, seed, draw_g_in_d_step(k), step);
  // Instance noise blurs the samples, never their labels' code.
  const float* real_in =
      condition_d(d_input(real_.data(), noisy_real_.data(), kStreamInstanceNoise + 2 * k),
                  real_labels_.data(), d_in_real_.data());
  const float* fake_in =
      condition_d(d_input(fake, noisy_fake_.data(), kStreamInstanceNoise + 2 * k + 1),
                  fake_labels_.data(), d_in_fake_.data());

  const bool separate = cfg_.d_update == DUpdate::Separate;
  const float* logits = D_.forward(ctx, real_in, B, true, seed, draw_d_real(k), step);
  d_loss(logits, t_real_.data(), -1.0f, stats);
  D_.backward(ctx, dlogits_.data(), GradMode::Overwrite, false);
  float* flags = step_stats_.data() + kFlagsD;
  if (separate) {
    ops::counter_add(ctx, opt_t, 1);
    D_.optimizer_step(ctx, opt_d_, opt_t, flags);
  }
  logits = D_.forward(ctx, fake_in, B, true, seed, draw_d_fake(k), step);
  d_loss(logits, t_fake_.data(), 1.0f, stats + 3);
  D_.backward(ctx, dlogits_.data(), separate ? GradMode::Overwrite : GradMode::Accumulate, false);
  ops::counter_add(ctx, opt_t, 1);
  D_.optimizer_step(ctx, opt_d_, opt_t, flags);
}

// Non-saturating: minimise BCE(D(G(z)), 1) = -log D(G(z)). Minimax: minimise log(1 - D(G(z))) =
// -BCE(D(G(z)), 0), i.e. the BCE gradient against target 0 scaled by -1. Wasserstein: minimise
// -mean D(G(z)).
void GanTrainer::g_step(float* stats) {
  const ExecContext& ctx = ctx_;
  const int B = cfg_.batch;
  const uint64_t seed = cfg_.seed;
  const uint64_t* step = counters_.data() + kStep;
  uint64_t* opt_t = counters_.data() + kAdamG;
  ops::random_fill(ctx, z_.data(), z_.size(), cfg_.noise, seed, kStreamNoiseG, step);
  if (cfg_.classes > 0) draw_fake_labels(kStreamLabelsG);
  const float* g_in = cfg_.classes > 0 ? g_in_.data() : z_.data();
  const float* fake = G_.forward(ctx, g_in, B, true, seed, kDrawGInGStep, step);
  const float* fake_in = condition_d(d_input(fake, noisy_fake_.data(), kStreamInstanceNoise + 255),
                                     fake_labels_.data(), d_in_fake_.data());
  const float* logits = D_.forward(ctx, fake_in, B, true, seed, kDrawDInGStep, step);
  if (cfg_.loss == GanLoss::Wasserstein) {
    ops::wasserstein_loss(ctx, logits, size_t(n_logits_), -1.0f, dlogits_.data(),
                          as_stats(stats));
  } else {
    const bool minimax = cfg_.g_loss == GLoss::Minimax;
    ops::bce_with_logits(ctx, logits, minimax ? t_fake_.data() : t_one_.data(),
                         size_t(n_logits_), minimax ? -1.0f : 1.0f, dlogits_.data(),
                         as_stats(stats));
  }
  float* dfake = D_.backward(ctx, dlogits_.data(), GradMode::Ignore, true);
  if (cfg_.classes > 0) {  // dL/d(sample) without the code's part
    ops::take_columns(ctx, dfake, B, size_t(cfg_.discriminator.input), size_t(sample_size_),
                      dfake_.data());
    dfake = dfake_.data();
  }
  G_.backward(ctx, dfake, GradMode::Overwrite, false);
  ops::counter_add(ctx, opt_t, 1);
  G_.optimizer_step(ctx, cfg_.opt_g, opt_t, step_stats_.data() + kFlagsG);
  if (G_ema_)
    ops::ema_update(ctx, G_ema_->params().data(), G_.params().data(), G_.params().size(), cfg_.ema,
                    cfg_.ema_start, step);
}

void GanTrainer::request_stats() {
  if (pending_.active) throw std::logic_error("request_stats: a request is already outstanding");
  if (step_ < stats_from_) return;
  pending_.active = true;
  // Slots hold the last log_every steps; an older part of a longer interval is gone.
  pending_.first =
      std::max(stats_from_, step_ >= uint64_t(cfg_.log_every) ? step_ - uint64_t(cfg_.log_every) + 1
                                                              : uint64_t(1));
  pending_.last = step_;
  stats_from_ = step_ + 1;
#if GAN_WITH_CUDA
  if (ctx_.is_cuda()) {
    CUDA_CHECK(cudaMemcpyAsync(stats_pinned_, slots_.data(), slots_.size() * sizeof(float),
                               cudaMemcpyDeviceToHost, ctx_.stream));
    CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(pending_.event), ctx_.stream));
    return;
  }
#endif
  slots_.download(stats_host_.data(), stats_host_.size());
  pending_.host_seconds = now_seconds();
}

bool GanTrainer::stats_ready() const {
  if (!pending_.active) return diverged() && step_ >= stats_from_;
#if GAN_WITH_CUDA
  if (ctx_.is_cuda()) {
    const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(pending_.event));
    if (status == cudaErrorNotReady) return false;
    CUDA_CHECK(status);
  }
#endif
  return true;
}

StepStats GanTrainer::collect_stats() {
  if (!pending_.active && diverged() && step_ >= stats_from_) request_stats();
  if (!pending_.active) throw std::logic_error("collect_stats: nothing requested");
  pending_.active = false;
  StepStats s;
  s.first_step = pending_.first;
  s.last_step = pending_.last;
  const double n = double(s.last_step - s.first_step + 1);
  const float* src = stats_host_.data();
#if GAN_WITH_CUDA
  if (ctx_.is_cuda()) {
    auto done = static_cast<cudaEvent_t>(pending_.event);
    CUDA_CHECK(cudaEventSynchronize(done));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(last_event_), done));
    s.ms_per_step = ms / n;
    std::swap(last_event_, pending_.event);  // this request's end starts the next interval
    src = stats_pinned_;
  }
#endif
  if (!ctx_.is_cuda()) {
    s.ms_per_step = 1000.0 * (pending_.host_seconds - last_host_seconds_) / n;
    last_host_seconds_ = pending_.host_seconds;
  }
  const bool wgan = cfg_.loss == GanLoss::Wasserstein;
  const bool minimax = !wgan && cfg_.g_loss == GLoss::Minimax;
  for (uint64_t step = s.first_step; step <= s.last_step; ++step) {
    const float* v = src + size_t((step - 1) % uint64_t(cfg_.log_every)) * kSlotFloats;
    // v: real {loss, prob, acc}, fake {loss, prob, acc}, G {loss, prob, acc}
    const double d_loss = wgan ? double(v[0]) + v[3] : 0.5 * (double(v[0]) + v[3]);
    const double g_loss = minimax ? -double(v[6]) : double(v[6]);
    if (s.first_nonfinite_step == 0) {
      s.nonfinite_what = nonfinite_in(v);
      if (!s.nonfinite_what.empty()) s.first_nonfinite_step = step;
    }
    s.d_loss += d_loss / n;
    s.d_loss_real += v[0] / n;
    s.d_loss_fake += v[3] / n;
    s.g_loss += g_loss / n;
    s.d_real += v[1] / n;
    s.d_fake += v[4] / n;
    s.d_accuracy += 0.5 * (double(v[2]) + v[5]) / n;
  }
  return s;
}

int GanTrainer::sample_count() const { return samples_in(cfg_); }

Model& GanTrainer::sampling_generator() {
  if (!G_ema_) return G_;
  ctx_.synchronize();
  G_ema_->state().upload(G_.state().download());
  return *G_ema_;
}

std::vector<float> GanTrainer::samples() {
  const int n = sample_count();
  Model& G = sampling_generator();
  const float* in = cfg_.classes > 0 ? fixed_in_.data() : fixed_z_.data();
  const float* out = G.forward(ctx_, in, n, false, cfg_.seed, kDrawSamples, counters_.data());
  std::vector<float> host(size_t(n) * sample_size_);
  ctx_.synchronize();
  detail::array_copy_out(ctx_.kind, host.data(), out, host.size() * sizeof(float));
  return host;
}

std::vector<float> generate_images(const ExecContext& ctx, Model& G, Distribution noise, int n,
                                   uint64_t seed, int classes, int label) {
  if (classes < 0 || classes >= G.input_dim() || label >= classes)
    throw std::invalid_argument(
        fmt::format("generate_images: label {} of {} classes for a "
                    "generator of {} inputs",
                    label, classes, G.input_dim()));
  std::vector<float> host;
  const uint64_t zero = 0;
  Array<uint64_t> counter(ctx.kind, 1);
  counter.upload(&zero, 1);
  const int z_dim = G.input_dim() - classes, B = G.max_batch();
  Array<float> z(ctx.kind, size_t(B) * z_dim), in;
  Array<uint32_t> labels;
  if (classes > 0) {
    in = Array<float>(ctx.kind, size_t(B) * G.input_dim());
    labels = Array<uint32_t>(ctx.kind, size_t(B));
  }
  std::vector<uint32_t> chunk_labels(static_cast<size_t>(B));
  for (int done = 0; done < n;) {
    const int chunk = std::min(n - done, B);
    // Each chunk of the noise has its own stream, so chunks are independent draws.
    ops::random_fill(ctx, z.data(), size_t(chunk) * z_dim, noise, seed,
                     kStreamGenerate + uint32_t(done / B), counter.data());
    const float* g_in = z.data();
    if (classes > 0) {
      for (int i = 0; i < chunk; ++i)
        chunk_labels[size_t(i)] = uint32_t(label >= 0 ? label : (done + i) % classes);
      labels.upload(chunk_labels.data(), size_t(chunk));
      ops::append_onehot(ctx, z.data(), chunk, size_t(z_dim), labels.data(), classes, 1, in.data());
      g_in = in.data();
    }
    const float* out = G.forward(ctx, g_in, chunk, false, seed, kDrawSamples, counter.data());
    ctx.synchronize();
    const size_t count = size_t(chunk) * G.output_dim();
    host.resize(host.size() + count);
    detail::array_copy_out(ctx.kind, host.data() + host.size() - count, out, count * sizeof(float));
    done += chunk;
  }
  return host;
}

namespace {
// The blocks of one model, by checkpoint name.
struct Block {
  std::string name;
  Array<float>* array;
};
// Everything a checkpoint holds of the models: G's and D's parameters, optimizer state and
// running statistics; G's weight average when there is one.
std::vector<Block> checkpoint_blocks(Model& G, Model& D, Model* G_ema) {
  std::vector<Block> out;
  for (auto [prefix, m] : {std::pair<std::string, Model*>{"g", &G}, {"d", &D}})
    for (Block b :
         {Block{prefix + ".params", &m->params()}, Block{prefix + ".adam_m", &m->adam_m()},
          Block{prefix + ".adam_v", &m->adam_v()}, Block{prefix + ".state", &m->state()}})
      out.push_back(b);
  if (G_ema) out.push_back({"g_ema.params", &G_ema->params()});
  return out;
}
}  // namespace

const char* sampling_params_name(const TrainConfig& cfg) {
  return cfg.ema > 0.0f ? "g_ema.params" : "g.params";
}

void load_model_weights(Model& m, const Checkpoint& ck, const std::string& prefix,
                        const std::string& params_name) {
  const std::pair<std::string, Array<float>*> parts[] = {
      {params_name.empty() ? prefix + ".params" : params_name, &m.params()},
      {prefix + ".state", &m.state()}};
  for (const auto& [name, array] : parts) {
    const NamedTensor* t = ck.find(name);
    if (!t) throw std::runtime_error("checkpoint has no tensor '" + name + "'");
    if (t->data.size() != array->size())
      throw std::runtime_error(fmt::format("checkpoint tensor '{}' has {} values, the {} needs {}",
                                           name, t->data.size(), m.name(), array->size()));
  }
  for (const auto& [name, array] : parts) array->upload(ck.find(name)->data);
}

std::vector<NamedTensor> model_named_tensors(Model& m) {
  const std::vector<float> params = m.params().download(), state = m.state().download();
  std::vector<NamedTensor> out;
  for (const TensorSlot& s : m.tensors()) {
    const std::vector<float>& src = s.is_state ? state : params;
    out.push_back({s.name, s.shape,
                   std::vector<float>(src.begin() + s.offset, src.begin() + s.offset + s.count)});
  }
  return out;
}

bool GanTrainer::parameters_finite() {
  ctx_.synchronize();
  for (Model* m : {&G_, &D_})
    for (float v : m->params().download())
      if (!std::isfinite(v)) return false;
  return true;
}

Checkpoint GanTrainer::checkpoint(const nlohmann::json& meta) {
  ctx_.synchronize();
  poll_watch();  // the stream is idle: the outstanding watch copy (if any) has landed
  if (diverged()) {
    // The watch may have skipped steps on CUDA: name the first bad one from the slots, which
    // hold the last log_every steps (every step not yet collected among them).
    const std::vector<float> slots = slots_.download();
    const uint64_t n_slots = uint64_t(cfg_.log_every);
    const uint64_t oldest = step_ >= n_slots ? step_ - n_slots + 1 : 1;
    uint64_t bad = diverged_at_;
    std::string what = diverged_what_;
    for (uint64_t s = std::max(oldest, pending_.active ? pending_.first : stats_from_);
         s < diverged_at_; ++s) {
      const std::string w = nonfinite_in(slots.data() + size_t((s - 1) % n_slots) * kSlotFloats);
      if (w.empty()) continue;
      bad = s;
      what = w;
      break;
    }
    throw NonFiniteError(
        fmt::format("non-finite {} at step {}: not writing a checkpoint", what, bad));
  }
  Checkpoint ck;
  ck.meta = meta;
  for (const Block& b : checkpoint_blocks(G_, D_, G_ema_.get())) {
    NamedTensor t{b.name, {int64_t(b.array->size())}, b.array->download()};
    for (float v : t.data)
      if (!std::isfinite(v))
        throw NonFiniteError(fmt::format(
            "non-finite value in {} at step {}: not writing a checkpoint", b.name, step_));
    ck.tensors.push_back(std::move(t));
  }
  const std::vector<uint64_t> c = counters_.download();
  ck.counters = {{"step", c[kStep]}, {"adam_t_g", c[kAdamG]}, {"adam_t_d", c[kAdamD]}};
  if (c[kStep] != step_)
    throw std::logic_error(fmt::format("step counter {} != host step {}", c[kStep], step_));
  return ck;
}

void GanTrainer::restore(const Checkpoint& ck) {
  // Check everything first, so a mismatch changes nothing.
  std::vector<std::pair<const NamedTensor*, Array<float>*>> plan;
  for (const Block& b : checkpoint_blocks(G_, D_, G_ema_.get())) {
    const NamedTensor* t = ck.find(b.name);
    if (!t) throw std::runtime_error("checkpoint has no tensor '" + b.name + "'");
    if (t->data.size() != b.array->size())
      throw std::runtime_error(
          fmt::format("checkpoint tensor '{}' has {} values, this configuration needs {}", b.name,
                      t->data.size(), b.array->size()));
    plan.emplace_back(t, b.array);
  }
  uint64_t c[kNumCounters];
  const char* names[kNumCounters] = {"step", "adam_t_g", "adam_t_d"};
  for (int i = 0; i < kNumCounters; ++i) {
    auto it = ck.counters.find(names[i]);
    if (it == ck.counters.end())
      throw std::runtime_error(std::string("checkpoint has no counter '") + names[i] + "'");
    c[i] = it->second;
  }
  ctx_.synchronize();
  for (auto& [t, a] : plan) a->upload(t->data);
  counters_.upload(c, kNumCounters);
  step_ = c[kStep];
  stats_from_ = step_ + 1;
  pending_.active = false;
  diverged_at_ = 0;
  watch_pending_ = false;  // the stream is idle: a copy of the old state is never read
}

}  // namespace gan
