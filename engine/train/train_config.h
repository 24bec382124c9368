// Every setting of a GAN training run, the seed tutorials' presets, and their JSON form (the run
// directory's config.json, which --resume reads back).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/nn/model.h"
#include "kernels/adam.h"
#include "kernels/random.h"

namespace gan {

// Bce: D is a classifier (one logit; BCE with logits). Wasserstein: D is WGAN's critic (raw score;
// critic loss mean D(G(z)) - mean D(x), G loss -mean D(G(z))); pair it with weight clipping.
enum class GanLoss : uint8_t { Bce, Wasserstein };
// With Bce: NonSaturating: G minimises -log D(G(z)); Minimax: G minimises log(1 - D(G(z))).
enum class GLoss : uint8_t { NonSaturating, Minimax };
// Separate: one Adam step after the real batch and another after the fake batch (the Keras seed's
// two train_on_batch calls). Joint: one Adam step on the summed real + fake gradient.
enum class DUpdate : uint8_t { Separate, Joint };

struct TrainConfig {
  std::string preset;
  ModelSpec generator, discriminator;  // generator.input is the noise size z_dim
  Distribution noise = Distribution::Normal;
  InitScheme init = InitScheme::GlorotUniform;
  int batch = 32;
  uint64_t steps = 30000;
  // opt_d.clip > 0: WGAN's weight clipping of D. Learning-rate decay (decay_every) counts training
  // steps for both models (the trainer converts it for D's several updates a step).
  OptimizerConfig opt_g, opt_d;
  int d_steps = 1;  // D steps per G step
  GanLoss loss = GanLoss::Bce;
  GLoss g_loss = GLoss::NonSaturating;
  DUpdate d_update = DUpdate::Separate;
  float label_smoothing = 0.0f;  // one-sided: real targets are 1 - label_smoothing
  // Instance noise: N(0, sigma_t^2) added to every input D sees (real and fake, in D's and G's
  // steps), sigma_t annealed linearly from instance_noise to 0 over instance_noise_steps steps
  // (0: constant).
  float instance_noise = 0.0f;
  uint64_t instance_noise_steps = 0;
  // Real batches sorted ascending (1D data only): seed 2's sorted minibatches, which with
  // stratified noise keep G's mapping monotone.
  bool sort_real = false;
  // The fake batch of D's step comes from G in inference mode (running batch-norm statistics,
  // no dropout), as Keras' generator.predict does; otherwise from G in training mode.
  bool d_step_generator_eval = false;
  uint64_t seed = 1;
  int log_every = 100;
  int sample_every = 200;
  int checkpoint_every = 1000;
  int keep_checkpoints = 3;
  int sample_grid = 5;  // samples/step_NNNNNN.png holds sample_grid x sample_grid images
  int sample_scale = 2;  // and drawn each pixel as sample_scale x sample_scale (nearest neighbour)
  // Sample quality (engine/eval) scored every eval_every steps (0: never) on eval_samples samples
  // of G with the classifier in eval_classifier (empty: the data set's cached one), into
  // eval.csv. MNIST-format runs only.
  int eval_every = 0;
  int eval_samples = 10000;
  std::string eval_classifier;
  // Conditional GAN (Mirza and Osindero 2014) when classes > 0: every sample has a class label,
  // given to G and D as a one-hot code (make_conditional). G's input is z (z_dim values) then the
  // code; D's input is the sample then the code (label_planes() values each of the code's).
  int classes = 0;
  // An exponential moving average of G's weights (StudioGAN's G EMA) when ema > 0: after every
  // step from ema_start on, ema = p + ema (ema - p); a copy of G's weights before. Samples,
  // evaluation and the exported generator use the average with G's own batch-norm running
  // statistics (StudioGAN copies G's buffers the same way).
  float ema = 0.0f;
  uint64_t ema_start = 0;

  int z_dim() const { return generator.input - classes; }
  // Values of D's input per value of the one-hot code: 1 for a flat D, H W for a D that reads
  // images (its first layer after any pack is a reshape): the code as constant planes.
  int label_planes() const;
};

inline constexpr int kMaxClasses = 256;  // labels are bytes
// Makes `c` conditional on `classes` labels: G's input grows by the code; D's by the code (a flat
// D) or by `classes` planes (a D that starts with a reshape to images: its channels grow).
// Throws std::invalid_argument naming --conditional when it already is, or D has a pack layer
// (condition first, then pack).
void make_conditional(TrainConfig& c, int classes);
// PacGAN (Lin et al. 2018): D judges m samples at once. A pack layer goes first in D; a D that
// starts with a reshape (C, H, W) then reads (m C, H, W): the m samples stacked as channels,
// PacGAN's convolutional form. Throws naming --pack on m outside [1, kMaxPackRows].
void add_packing(TrainConfig& c, int m);
// What a run's generator reads and which weights its samples come from, in words: for people and
// for the exported safetensors file's metadata ("input", "weights").
std::string generator_input_note(const TrainConfig& c);
std::string generator_weights_note(const TrainConfig& c);

// Bounds on the counts and sizes of a run, so that every buffer fits in memory arithmetic and
// every step (and a stop request waiting for one) ends in bounded time. Checked for flags and for
// config.json alike.
inline constexpr int kMaxBatch = 1 << 20;
inline constexpr int kMaxDSteps = 1000;
inline constexpr uint64_t kMaxSteps = 1'000'000'000'000ull;  // 10^12: 3 years at 100 us a step
inline constexpr int kMaxLogEvery = 1'000'000;             // the statistics buffer holds as many
inline constexpr int kMaxKeepCheckpoints = 1000;
inline constexpr int kMaxSampleGrid = 32;
inline constexpr int kMaxSampleScale = 16;
inline constexpr int kMaxEvalSamplesInRun = 1'000'000;

std::vector<std::string> preset_names();
// Throws std::invalid_argument naming the preset and listing the known ones.
TrainConfig make_preset(const std::string& name);
// Throws std::invalid_argument naming the setting that is out of range, with its bound: as its
// command-line flag (`--batch: ...`) when `source` is empty, else as its config.json key prefixed
// by `source` (`runs/a/config.json: config.batch: ...`), so the message points where the value
// came from. sample_size: the values in one data sample (pixels of an image, coordinates of a
// point).
void validate_train_config(const TrainConfig& cfg, int sample_size, const std::string& source = "");

nlohmann::json train_config_to_json(const TrainConfig& cfg);
// Throws std::invalid_argument naming the key on a malformed config: a missing key, a value of
// the wrong type, a fraction or negative number where a count is expected, a non-finite number.
TrainConfig train_config_from_json(const nlohmann::json& j);

const char* gan_loss_name(GanLoss l);
GanLoss gan_loss_from_name(const std::string& s);
const char* g_loss_name(GLoss g);
GLoss g_loss_from_name(const std::string& s);
const char* d_update_name(DUpdate d);
DUpdate d_update_from_name(const std::string& s);
Distribution distribution_from_name(const std::string& s);

}  // namespace gan
