// The GAN training step, on the CPU reference ops or enqueued on one CUDA stream.
//
// One step, as data flows (all in the context's memory; nothing returns to the host):
//   step counter += 1 (a uint64 in device memory: every random draw is keyed by it)
//   D step (d_steps times): sample a real batch from the resident data set (sorted, for seed 2's
//   1D runs), draw noise, fake = G(z), instance noise on both when configured,
//     D on real and fake: BCE with logits (targets 1 - smoothing and 0) or the Wasserstein critic
//     loss, value + gradient fused, D backward, D's optimizer (Adam, SGD or RMSprop, then WGAN's
//     clipping) on D's flat block (after each half, or once on the summed gradient)
//   G step: fresh noise, D(G(z)) with D's parameter gradients ignored, G backward, G's optimizer
//   the step's losses and D outputs land in a slot of a small device array, read back by the host
//   every log_every steps (read_stats), not inside a step; so do two divergence flags per model
//   (a parameter, an optimizer-state value went non-finite), zeroed at the start of the step and
//   set by the optimizer ops inside their own pass over the parameters (kernels/common.h).
// A divergence watch looks at every step's statistics as soon as they reach the host (at once on
// the CPU; on CUDA through a small asynchronous copy and a non-blocking event query), so a run
// can stop at the first bad step (diverged()).
// Real data is either uint8 images (scaled to [-1, 1]) or float points (the toy experiments).
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/array.h"
#include "engine/core/context.h"
#include "engine/data/idx.h"
#include "engine/nn/model.h"
#include "engine/train/checkpoint.h"
#include "engine/train/train_config.h"

namespace gan {

// Training diverged: a non-finite loss or parameter. The message names the step.
struct NonFiniteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A stop was requested (a signal) in the middle of a long step or of D's pre-training, and the
// work was abandoned there: the models are between two steps, so nothing may be saved from them.
// The message says where it stopped.
struct StepAbandoned : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A data set of float samples (the toy experiments): count() rows of `dim` values.
struct PointSet {
  int dim = 0;
  std::vector<float> values;  // count * dim, row-major
  size_t count() const { return dim > 0 ? values.size() / size_t(dim) : 0; }
};

// Means over the steps of one read_stats interval.
struct StepStats {
  uint64_t first_step = 0, last_step = 0;
  // BCE: the mean of the real and the fake BCE. Wasserstein: the critic loss mean D(G(z)) -
  // mean D(x) (minus the critic's Wasserstein estimate).
  double d_loss = 0;
  double d_loss_real = 0, d_loss_fake = 0;  // Wasserstein: -mean D(x) and mean D(G(z))
  // The G objective's value: BCE(D(G(z)), 1), log(1 - D(G(z))) for minimax, -mean D(G(z)) for
  // Wasserstein.
  double g_loss = 0;
  double d_real = 0;  // mean D(x) (Wasserstein: the mean critic score)
  double d_fake = 0;  // mean D(G(z)) in D's step
  double d_accuracy = 0;  // mean of the real and the fake accuracy (0 for a critic)
  // First step in the interval whose loss, parameters or optimizer state went non-finite, or 0;
  // and what did, for the message: "loss" (D's or G's), "D parameters", "G parameters (Adam
  // state)" (Adam's m or v; "SGD momentum", "RMSprop state"), "D parameters (and Adam state)".
  uint64_t first_nonfinite_step = 0;
  std::string nonfinite_what;
  // Time per step over the interval: CUDA events around it on the GPU, wall clock on the CPU
  // (0 for the first interval on the GPU, which has no earlier event).
  double ms_per_step = 0;
};

// G in inference mode on n noise vectors drawn from (seed, counter 0): (n, G's output) floats.
// A conditional G (classes > 0) reads each noise vector with a one-hot label: `label` for every
// sample, or (label < 0) sample i gets class i % classes, so every class has its share.
std::vector<float> generate_images(const ExecContext& ctx, Model& G, Distribution noise, int n,
                                   uint64_t seed, int classes = 0, int label = -1);
// Loads a model's parameters and running statistics ("<prefix>.params", "<prefix>.state") from a
// trainer checkpoint; throws naming the tensor when one is missing or has the wrong size.
// params_name: the parameters' tensor instead ("g_ema.params": G's weight average).
void load_model_weights(Model& m, const Checkpoint& ckpt, const std::string& prefix,
                        const std::string& params_name = "");
// The checkpoint tensor a generator's samples use: G's weight average when the run kept one
// (cfg.ema > 0), else G's own parameters; with "g.state" either way.
const char* sampling_params_name(const TrainConfig& cfg);
// The model's tensors under PyTorch nn.Sequential names, for safetensors export.
std::vector<NamedTensor> model_named_tensors(Model& m);

class GanTrainer {
 public:
  // Uploads the data set once; sizes every buffer for cfg.batch. Throws on an invalid config or
  // an empty data set.
  // labels: the images' classes (one per image, each < cfg.classes), needed when cfg.classes > 0.
  GanTrainer(const TrainConfig& cfg, const ImageSet& data, const ExecContext& ctx,
             const std::vector<uint8_t>* labels = nullptr);
  GanTrainer(const TrainConfig& cfg, const PointSet& data, const ExecContext& ctx);

  const TrainConfig& config() const { return cfg_; }
  const ExecContext& context() const { return ctx_; }
  Model& generator() { return G_; }
  // The generator whose samples a user sees: G's weight average (with G's running statistics,
  // copied in here) when cfg.ema > 0, else G itself. Synchronises.
  Model& sampling_generator();
  Model& discriminator() { return D_; }
  // Steps completed (host mirror of the device step counter).
  uint64_t step() const { return step_; }

  // Fresh parameters from the config's seed and scheme.
  void init();
  // Enqueues one full training step (no host synchronisation). With a CUDA graph enabled, the
  // first call runs plain launches (a warm-up), the second captures the step, and every call from
  // the second on launches the graph. Also runs the divergence
  // watch (diverged()).
  void train_step();
  // True once the watch has seen a step whose loss, parameters or optimizer state are not finite.
  // The CPU sees every step right after it runs. CUDA sees the newest step whose statistics have
  // reached the host: each train_step first queries (never waits on) the copy it enqueued after
  // an earlier step, and enqueues a copy of the new step's statistics when none is outstanding;
  // a GPU that keeps pace with the host is thus seen within a step or two. (A GPU running far
  // behind is sampled more sparsely; a bad step the watch skips is still found when its interval
  // is collected.) Never blocks. Once diverged, stats_ready() is true and collect_stats() covers
  // the steps since the last request (requesting them itself), naming the exact first bad step
  // (a request already outstanding is collected first, as usual: on CUDA its interval may end
  // before the bad step); checkpoint() refuses to write, naming the first bad step.
  bool diverged() const { return diverged_at_ != 0; }
  // CUDA only: run each step as one captured graph launch. Call before the first train_step.
  void use_cuda_graph(bool on);
  // A stop request (non-zero: a signal number) that long loops look at: on the CPU, a step whose
  // D steps would go on for more than `patience` seconds after the request throws StepAbandoned
  // between two D steps (a short step finishes, so the run can checkpoint it), and D's
  // pre-training stops at its next step. On a GPU a step is enqueued at once and always finishes.
  void set_stop_request(const std::atomic<int>* stop, double patience = 2.0) {
    stop_ = stop;
    stop_patience_ = patience;
  }
  int stop_requested() const { return stop_ ? stop_->load() : 0; }
  // Kernel nodes in the captured step (0 until captured, or without a graph).
  size_t graph_nodes() const { return graph_nodes_; }

  // The random inputs of step `step` (1-based) exactly as train_step draws them: the first D
  // step's real batch (B, sample) and noise (B, z), and the G step's noise. For peer comparisons.
  struct StepInputs {
    std::vector<float> real, z_d, z_g;
  };
  StepInputs step_inputs(uint64_t step);
  // Statistics of the steps since the previous request: request_stats enqueues their copy to the
  // host (asynchronous on CUDA), collect_stats waits for it. One request may be outstanding.
  void request_stats();
  bool stats_requested() const { return pending_.active; }
  // The requested copy has arrived (never blocks; always true on the CPU, where it is immediate),
  // or, with nothing requested, the run has diverged and steps since the last request are unread.
  bool stats_ready() const;
  // Waits for the requested copy; diverged with nothing requested: requests the steps since the
  // last request first.
  StepStats collect_stats();
  // The sampling generator in inference mode on the fixed sample noise: sample_count() samples of
  // sample_size floats, in sample_columns() columns. Unconditional: a sample_grid x sample_grid
  // grid. Conditional: one row per class, the same noise down each column.
  std::vector<float> samples();
  int sample_size() const { return sample_size_; }
  int sample_count() const;
  int sample_columns() const { return cfg_.sample_grid; }

  // Everything a resumed run needs: both models' parameters, Adam state, running statistics, the
  // step and Adam counters. Throws NonFiniteError if any value is not finite or the run has
  // diverged (the last good checkpoint stays).
  Checkpoint checkpoint(const nlohmann::json& meta);
  // Throws naming what does not match (tensor missing, wrong size) without changing anything.
  void restore(const Checkpoint& ckpt);
  // True when every parameter of both models is finite (synchronises).
  bool parameters_finite();

 private:
  enum Counter { kStep = 0, kAdamG = 1, kAdamD = 2, kNumCounters = 3 };
  // Conditional: the labels of step k's real batch (gathered) and fake batch (drawn), G's input
  // (noise then code) and D's inputs (sample then code); D's input gradient without the code.
  void draw_fake_labels(uint32_t stream);
  const float* condition_d(const float* x, const uint32_t* labels, float* out);
  // Per step: real BCE stats, fake BCE stats, G BCE stats (3 floats each), then D's and G's
  // divergence flags (kNonfiniteFlags each: parameters, optimizer state; kernels/common.h).
  static constexpr int kFlagsD = 9, kFlagsG = kFlagsD + kNonfiniteFlags;
  static constexpr int kSlotFloats = kFlagsG + kNonfiniteFlags;

  // Buffers for n_samples samples of sample_size values; the public constructors upload the data.
  GanTrainer(const TrainConfig& cfg, int sample_size, size_t n_samples, const ExecContext& ctx);
  void enqueue_step();
  // The divergence watch around a step: poll_watch before it is enqueued (CUDA: a non-blocking
  // look at an earlier step's copy), watch_step after (CPU: checks the step; CUDA: enqueues the
  // copy when none is outstanding).
  void poll_watch();
  void watch_step();
  // What went non-finite in one step's statistics (a slot: kSlotFloats floats), or "".
  std::string nonfinite_in(const float* v) const;
  // Records `step` as diverged when its statistics v show a non-finite value.
  void note_divergence(const float* v, uint64_t step);
  void d_step(int k, float* stats);
  void g_step(float* stats);
  // A real batch for D step k of the step in *counter, into `out` (B, sample_size).
  void sample_real(int k, const uint64_t* counter, float* out);
  // D's input: x itself, or x plus instance noise (into `noisy`) when configured.
  const float* d_input(const float* x, float* noisy, uint32_t stream);
  // D's loss on its n_logits outputs against `targets` (BCE) or with `sign` (Wasserstein).
  void d_loss(const float* logits, const float* targets, float sign, float* stats);

  TrainConfig cfg_;
  ExecContext ctx_;
  uint32_t n_samples_ = 0;
  int sample_size_ = 0;
  int n_logits_ = 0;  // D's outputs per batch: B / D's packing
  Model G_, D_;
  std::unique_ptr<Model> G_ema_;  // cfg.ema > 0: G's weight average (params only are kept)
  // D's optimizer with its decay counted in training steps: D makes several updates a step.
  OptimizerConfig opt_d_;
  Array<uint8_t> images_;  // image data, or
  Array<float> points_;    // point data
  Array<float> real_, unsorted_, noisy_real_, noisy_fake_, z_, fixed_z_, dlogits_, t_real_,
      t_fake_, t_one_, step_stats_, slots_;
  Array<float> g_in_, d_in_real_, d_in_fake_, dfake_, fixed_in_;  // conditional only
  Array<uint8_t> labels_;                                         // the images' classes
  Array<uint32_t> indices_, real_labels_, fake_labels_;
  Array<uint64_t> counters_;
  uint64_t step_ = 0, stats_from_ = 1;

  // The outstanding statistics request: which steps, and (CUDA) the copy's completion event.
  struct Pending {
    bool active = false;
    uint64_t first = 0, last = 0;
    double host_seconds = 0;  // CPU timing: wall clock at the request
    void* event = nullptr;    // cudaEvent_t recorded after the copy
  };
  Pending pending_;
  std::vector<float> stats_host_;  // the slots as copied (pinned on CUDA: stats_pinned_)
  float* stats_pinned_ = nullptr;
  void* last_event_ = nullptr;  // the previous request's event, for GPU time per interval
  double last_host_seconds_ = 0;
  // The divergence watch: the step it saw go bad (0: none); CUDA: the step whose statistics are
  // being copied to watch_pinned_ (kSlotFloats pinned floats) ahead of watch_event_.
  uint64_t diverged_at_ = 0;
  std::string diverged_what_;
  uint64_t watch_step_ = 0;
  bool watch_pending_ = false;
  float* watch_pinned_ = nullptr;
  void* watch_event_ = nullptr;  // cudaEvent_t
  bool graph_on_ = false;
  // A train_step ran in this trainer (step_ may start above 0 after a restore): the timing has
  // started, and a graph step captures rather than warms up.
  bool stepped_ = false;
  const std::atomic<int>* stop_ = nullptr;
  double stop_patience_ = 2.0;
  void* graph_ = nullptr;       // cudaGraph_t
  void* graph_exec_ = nullptr;  // cudaGraphExec_t
  size_t graph_nodes_ = 0;

 public:
  ~GanTrainer();
  GanTrainer(const GanTrainer&) = delete;
  GanTrainer& operator=(const GanTrainer&) = delete;
};

}  // namespace gan
