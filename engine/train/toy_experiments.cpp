#include "engine/train/toy_experiments.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "engine/io/atomic_file.h"
#include "engine/io/json_fields.h"
#include "engine/core/ops.h"
#include "engine/io/plot.h"
#include "kernels/random.h"

namespace fs = std::filesystem;

namespace gan {

namespace {

constexpr double kPi = 3.14159265358979323846;
// Streams of the host-side draws (distinct from the trainer's and toy_data's).
constexpr uint32_t kStreamGaussData = 0x70790101u;
constexpr uint32_t kStreamTargetEval = 0x70790102u;
constexpr uint32_t kStreamPretrainX = 0x70790103u;
constexpr uint64_t kEvalSeedSalt = 0x5eed0e7a1ull;

double normal_pdf(double x, double mean, double std) {
  const double u = (x - mean) / std;
  return std::exp(-0.5 * u * u) / (std * std::sqrt(2.0 * kPi));
}

std::vector<float> gaussian_draws(double mean, double std, int n, uint64_t seed, uint32_t stream) {
  std::vector<float> z(static_cast<size_t>(n));
  const uint64_t counter = 0;
  cpu::random_fill<float>(z.data(), z.size(), Distribution::Normal, seed, stream, &counter);
  for (float& v : z) v = float(mean + std * double(v));
  return z;
}

ModelSpec mlp(int input, const std::vector<int>& hidden, const std::vector<Activation>& acts,
              int output) {
  ModelSpec m;
  m.input = input;
  for (size_t i = 0; i < hidden.size(); ++i) {
    m.layers.push_back(LayerSpec::dense(hidden[i]));
    m.layers.push_back(LayerSpec::activation(acts[i]));
  }
  m.layers.push_back(LayerSpec::dense(output));
  return m;
}

TrainConfig toy_defaults() {
  TrainConfig c;
  c.init = InitScheme::GlorotUniform;
  c.d_update = DUpdate::Joint;
  c.sample_grid = 1;  // the trainer's fixed sample noise is unused: pictures draw their own
  c.log_every = 100;
  c.keep_checkpoints = 2;
  return c;
}

// Seed 2, tutorial 1 (Eric Jang's 1D GAN): N(-1, 1) from stratified uniform noise, 6-5 tanh MLPs,
// momentum SGD 0.6 at 0.001 decayed x0.95 four times, M = 200, D pre-trained on the pdf.
ToyExperiment gauss1d() {
  ToyExperiment e;
  e.name = "gauss1d";
  e.summary = "seed 2: N(-1, 1) from stratified uniform noise, D pre-trained on the pdf";
  e.target.kind = ToyTargetKind::Gaussian1D;
  e.target.mean = -1.0;
  e.target.std = 1.0;
  e.target.n_points = 100000;
  e.target.pretrain_steps = 1000;
  e.target.pretrain_range = 5.0;
  e.target.x_min = -5.0;
  e.target.x_max = 5.0;
  TrainConfig& c = e.config = toy_defaults();
  c.preset = "toy-gauss1d";
  const Activation tanh = Activation::tanh();
  c.generator = mlp(1, {6, 5}, {tanh, tanh}, 1);  // linear output (the seed scales 5 tanh)
  c.discriminator = mlp(1, {6, 5}, {tanh, tanh}, 1);
  c.noise = Distribution::Stratified01;
  c.sort_real = true;
  c.batch = 200;
  c.steps = 10000;
  for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
    o->kind = OptimizerKind::Sgd;
    o->sgd = {0.001f, 0.6f, 0.95f, 2500};
  }
  c.sample_every = 1000;
  c.checkpoint_every = 2500;
  return e;
}

// Seed 2's 1D setup made convergent: without regularisation the GAN game circles its
// equilibrium (Mescheder et al. 2018) and gauss1d's G collapses or oscillates; constant instance
// noise on D's inputs makes it converge (the same noise on real and fake keeps the equilibrium at
// the target), and a staircase decay damps Adam's jitter. Adam 1e-3, beta1 0.5, M = 400.
ToyExperiment gauss1d_instance_noise() {
  ToyExperiment e = gauss1d();
  e.name = "gauss1d-instance-noise";
  e.summary = "seed 2's N(-1, 1) made convergent: instance noise 1.0, Adam with staircase decay";
  TrainConfig& c = e.config;
  c.preset = "toy-gauss1d-instance-noise";
  c.instance_noise = 1.0f;
  c.batch = 400;
  c.steps = 8000;
  for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
    o->kind = OptimizerKind::Adam;
    o->adam.lr = 1e-3f;
    o->adam.beta1 = 0.5f;
    o->adam.decay = 0.5f;
    o->adam.decay_every = 2000;
  }
  c.checkpoint_every = 2000;
  return e;
}

// Seed 2, tutorial 4 (Dev Nag's 50-line GAN): N(4, 1.25) from uniform noise; G 1-50-50-1 with ELU
// then sigmoid; D sees the whole minibatch of 100 as one vector, each sample with its squared
// distance from the batch mean; Adam 2e-4, betas (0.9, 0.999); 30,000 steps.
ToyExperiment gauss1d_minibatch() {
  ToyExperiment e;
  e.name = "gauss1d-minibatch";
  e.summary = "seed 2: N(4, 1.25); D judges the whole minibatch with minibatch distance features";
  e.target.kind = ToyTargetKind::Gaussian1D;
  e.target.mean = 4.0;
  e.target.std = 1.25;
  e.target.n_points = 100000;
  e.target.x_min = -2.0;
  e.target.x_max = 10.0;
  TrainConfig& c = e.config = toy_defaults();
  c.preset = "toy-gauss1d-minibatch";
  const Activation elu = Activation::elu(1.0f);
  c.generator = mlp(1, {50, 50}, {elu, Activation::sigmoid()}, 1);
  c.discriminator.input = 1;
  c.discriminator.layers = {LayerSpec::minibatch_distance(), LayerSpec::pack(100),
                            LayerSpec::dense(50),           LayerSpec::activation(elu),
                            LayerSpec::dense(50),           LayerSpec::activation(elu),
                            LayerSpec::dense(1)};
  c.noise = Distribution::Uniform01;
  c.init = InitScheme::TorchDefault;
  c.batch = 100;
  c.steps = 30000;
  for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
    o->adam.lr = 2e-4f;
    o->adam.beta1 = 0.9f;
    o->adam.beta2 = 0.999f;
  }
  c.sample_every = 3000;
  c.checkpoint_every = 10000;
  return e;
}

// Seed 3: 1,000 points on y = x^2 + 5; G and D 10-10 leaky ReLU; Adam 1e-3; batch 32; 5,000
// epochs of 32 steps (1,000 / 32 rounded up; batches drawn with replacement); a scatter every
// 250 epochs.
ToyExperiment parabola() {
  ToyExperiment e;
  e.name = "parabola";
  e.summary = "seed 3: the parabola y = x^2 + 5, 10-10 leaky ReLU nets";
  e.target.kind = ToyTargetKind::Parabola;
  e.target.n_points = 1000;
  e.target.x_min = -6.0;
  e.target.x_max = 6.0;
  e.target.y_min = 0.0;
  e.target.y_max = 35.0;
  TrainConfig& c = e.config = toy_defaults();
  c.preset = "toy-parabola";
  const Activation leaky = Activation::leaky_relu(0.2f);  // tf.nn.leaky_relu's default
  c.generator = mlp(2, {10, 10}, {leaky, leaky}, 2);
  c.discriminator = mlp(2, {10, 10}, {leaky, leaky}, 1);
  c.noise = Distribution::UniformSym;
  c.batch = 32;
  const uint64_t steps_per_epoch = 32;
  c.steps = 5000 * steps_per_epoch;
  for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) o->adam.lr = 1e-3f;
  c.log_every = 500;
  c.sample_every = int(250 * steps_per_epoch);
  c.checkpoint_every = 40000;
  return e;
}

// Seed 4's mode-collapse demo on the standard 2D mixtures, with the Unrolled-GAN-style MLPs:
// z 256 normal; G 256-128-128-2 and D 2-128-128-1 with ReLU; Adam 1e-4, beta1 0.5; batch 512;
// 25,000 steps, snapshots every 5,000 (seed 4's 0, 5k, ..., 25k).
ToyExperiment mixture(const std::string& name, const ToyModes& modes, double range) {
  ToyExperiment e;
  e.name = name;
  e.target.kind = ToyTargetKind::Mixture;
  e.target.modes = modes;
  e.target.n_points = 100000;
  e.target.x_min = e.target.y_min = -range;
  e.target.x_max = e.target.y_max = range;
  TrainConfig& c = e.config = toy_defaults();
  c.preset = "toy-" + name;
  const Activation relu = Activation::relu();
  c.generator = mlp(256, {128, 128}, {relu, relu}, 2);
  c.discriminator = mlp(2, {128, 128}, {relu, relu}, 1);
  c.noise = Distribution::Normal;
  c.batch = 512;
  c.steps = 25000;
  for (OptimizerConfig* o : {&c.opt_g, &c.opt_d}) {
    o->adam.lr = 1e-4f;
    o->adam.beta1 = 0.5f;
  }
  c.sample_every = 5000;
  c.checkpoint_every = 5000;
  e.eval_samples = 2500;  // PacGAN's count
  return e;
}

}  // namespace

std::string ToyTarget::describe() const {
  switch (kind) {
    case ToyTargetKind::Gaussian1D: return fmt::format("N({:g}, {:g}^2)", mean, std);
    case ToyTargetKind::Parabola: return "the parabola y = x^2 + 5, x uniform in [-5, 5)";
    case ToyTargetKind::Mixture: {
      const bool ring = modes.k() != 25;
      return fmt::format("{} Gaussians {} (sigma {:g})", modes.k(),
                         ring ? "on a ring" : "on a 5x5 grid", modes.sigma);
    }
  }
  return "?";
}

std::vector<std::string> toy_experiment_names() {
  return {"gauss1d", "gauss1d-instance-noise", "gauss1d-minibatch", "parabola", "ring", "grid"};
}

ToyExperiment make_toy_experiment(const std::string& name) {
  if (name == "gauss1d") return gauss1d();
  if (name == "gauss1d-instance-noise") return gauss1d_instance_noise();
  if (name == "gauss1d-minibatch") return gauss1d_minibatch();
  if (name == "parabola") return parabola();
  if (name == "ring") {
    ToyExperiment e = mixture("ring", ring_modes(8, 2.0f, 0.02f), 3.0);
    e.summary = "seed 4: 8 Gaussians on a ring of radius 2, sigma 0.02 (Unrolled GAN)";
    return e;
  }
  if (name == "grid") {
    ToyExperiment e = mixture("grid", grid_modes(0.05f), 6.0);
    e.summary = "25 Gaussians on {-4,-2,0,2,4}^2, sigma 0.05 (VEEGAN, PacGAN)";
    return e;
  }
  std::string known;
  for (const auto& n : toy_experiment_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("--experiment: unknown experiment '" + name + "' (known: " + known +
                              ")");
}

nlohmann::json toy_target_to_json(const ToyTarget& t) {
  nlohmann::json j = {{"kind", t.kind == ToyTargetKind::Gaussian1D ? "gaussian1d"
                               : t.kind == ToyTargetKind::Parabola ? "parabola"
                                                                   : "mixture"},
                      {"n_points", t.n_points},
                      {"pretrain_steps", t.pretrain_steps},
                      {"pretrain_range", t.pretrain_range},
                      {"x_range", {t.x_min, t.x_max}},
                      {"y_range", {t.y_min, t.y_max}},
                      {"description", t.describe()}};
  if (t.kind == ToyTargetKind::Gaussian1D) j["mean"] = t.mean, j["std"] = t.std;
  if (t.kind == ToyTargetKind::Mixture) j["centers"] = t.modes.centers, j["sigma"] = t.modes.sigma;
  return j;
}

void validate_toy_target(const ToyTarget& t) {
  const auto require = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument("toy target: " + what);
  };
  require(t.n_points >= 1 && t.n_points <= kMaxToyPoints,
          fmt::format("n_points must be in [1, {}] (got {})", kMaxToyPoints, t.n_points));
  require(t.pretrain_steps >= 0 && t.pretrain_steps <= kMaxPretrainSteps,
          fmt::format("pretrain_steps must be in [0, {}] (got {})", kMaxPretrainSteps,
                      t.pretrain_steps));
  require(std::isfinite(t.pretrain_range) && t.pretrain_range > 0,
          fmt::format("pretrain_range must be finite and > 0 (got {:g})", t.pretrain_range));
  require(std::isfinite(t.x_min) && std::isfinite(t.x_max) && t.x_min < t.x_max &&
              std::isfinite(t.y_min) && std::isfinite(t.y_max) && t.y_min <= t.y_max,
          "x_range and y_range must be finite and increasing");
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D:
      require(std::isfinite(t.mean) && std::isfinite(t.std) && t.std > 0,
              fmt::format("mean must be finite and std finite and > 0 (got {:g}, {:g})", t.mean,
                          t.std));
      break;
    case ToyTargetKind::Parabola: break;
    case ToyTargetKind::Mixture:
      require(t.modes.centers.size() % 2 == 0 && t.modes.k() >= 1 && t.modes.k() <= kMaxToyModes,
              fmt::format("centers must hold 1 to {} (x, y) pairs (got {} values)", kMaxToyModes,
                          t.modes.centers.size()));
      for (float c : t.modes.centers) require(std::isfinite(c), "centers must be finite");
      require(std::isfinite(t.modes.sigma) && t.modes.sigma > 0,
              fmt::format("sigma must be finite and > 0 (got {:g})", t.modes.sigma));
      break;
  }
}

ToyTarget toy_target_from_json(const nlohmann::json& j) {
  // Strict fields (json_fields.h): a hand-edited config.json gets a message naming the key.
  try {
    ToyTarget t;
    const std::string kind = json_string(j, "kind");
    if (kind == "gaussian1d") {
      t.kind = ToyTargetKind::Gaussian1D;
      t.mean = json_double(j, "mean");
      t.std = json_double(j, "std");
    } else if (kind == "parabola") {
      t.kind = ToyTargetKind::Parabola;
    } else if (kind == "mixture") {
      t.kind = ToyTargetKind::Mixture;
      const nlohmann::json& centers = json_member(j, "centers");
      if (!centers.is_array() || centers.size() > size_t(2 * kMaxToyModes))
        throw std::invalid_argument(
            fmt::format("centers: expected an array of at most {} numbers", 2 * kMaxToyModes));
      for (size_t i = 0; i < centers.size(); ++i)
        t.modes.centers.push_back(json_value_float(centers[i], fmt::format("centers[{}]", i)));
      t.modes.sigma = json_float(j, "sigma");
    } else {
      throw std::invalid_argument("kind: unknown target kind '" + kind + "'");
    }
    t.n_points = int(json_int(j, "n_points", 1, kMaxToyPoints));
    t.pretrain_steps = int(json_int(j, "pretrain_steps", 0, kMaxPretrainSteps));
    t.pretrain_range = json_double(j, "pretrain_range");
    const auto range = [&](const char* key, double* lo, double* hi) {
      const nlohmann::json& r = json_member(j, key);
      if (!r.is_array() || r.size() != 2)
        throw std::invalid_argument(std::string(key) + ": expected [min, max]");
      *lo = json_value_double(r[0], key);
      *hi = json_value_double(r[1], key);
    };
    range("x_range", &t.x_min, &t.x_max);
    range("y_range", &t.y_min, &t.y_max);
    validate_toy_target(t);
    return t;
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("toy target: ") + e.what());
  }
}

PointSet toy_training_set(const ToyTarget& t, uint64_t seed) {
  validate_toy_target(t);
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D:
      if (!(t.std > 0)) throw std::invalid_argument("toy target: std must be > 0");
      return {1, gaussian_draws(t.mean, t.std, t.n_points, seed, kStreamGaussData)};
    case ToyTargetKind::Parabola: return {2, sample_parabola(t.n_points, seed)};
    case ToyTargetKind::Mixture: return {2, sample_mixture(t.modes, t.n_points, seed)};
  }
  throw std::logic_error("toy_training_set: unknown target kind");
}

nlohmann::json ToyEvaluation::to_json(const ToyTarget& t) const {
  nlohmann::json j = {{"step", step}, {"samples", samples.size() / (t.kind == ToyTargetKind::Gaussian1D ? 1 : 2)}};
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D:
      j["mean"] = mean, j["std"] = std, j["wasserstein1"] = wasserstein1;
      j["target_mean"] = t.mean, j["target_std"] = t.std;
      break;
    case ToyTargetKind::Parabola: j["median_residual"] = parabola_residual; break;
    case ToyTargetKind::Mixture:
      j["modes_captured"] = modes.modes_captured, j["modes"] = t.modes.k();
      j["high_quality_fraction"] = modes.high_quality_fraction;
      // NaN (no high-quality sample) is not JSON: null.
      if (std::isfinite(modes.reverse_kl))
        j["reverse_kl"] = modes.reverse_kl;
      else
        j["reverse_kl"] = nullptr;
      break;
  }
  return j;
}

std::string ToyEvaluation::describe(const ToyTarget& t) const {
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D:
      return fmt::format("G mean {:.3f} (target {:g}), std {:.3f} (target {:g}), W1 {:.4f}", mean,
                         t.mean, std, t.std, wasserstein1);
    case ToyTargetKind::Parabola:
      return fmt::format("median |y - x^2 - 5| {:.4f}", parabola_residual);
    case ToyTargetKind::Mixture:
      return fmt::format("modes captured {}/{}, high-quality {:.1f}%, reverse KL {:.3f}",
                         modes.modes_captured, t.modes.k(), 100 * modes.high_quality_fraction,
                         modes.reverse_kl);
  }
  return "?";
}

ToyEvaluation evaluate_toy(GanTrainer& trainer, const ToyExperiment& e) {
  const TrainConfig& c = trainer.config();
  ToyEvaluation ev;
  ev.step = trainer.step();
  ev.samples = generate_images(trainer.context(), trainer.sampling_generator(), c.noise,
                               e.eval_samples, c.seed ^ kEvalSeedSalt);
  const ToyTarget& t = e.target;
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D: {
      const Moments1D m = moments_1d(ev.samples);
      ev.mean = m.mean;
      ev.std = m.std;
      ev.wasserstein1 = wasserstein1_1d(
          ev.samples, gaussian_draws(t.mean, t.std, int(ev.samples.size()), c.seed ^ kEvalSeedSalt,
                                     kStreamTargetEval));
      break;
    }
    case ToyTargetKind::Parabola: ev.parabola_residual = parabola_median_residual(ev.samples); break;
    case ToyTargetKind::Mixture: ev.modes = mode_metrics(t.modes, ev.samples); break;
  }
  return ev;
}

double pretrain_discriminator_on_pdf(GanTrainer& trainer, const ToyTarget& t) {
  if (t.kind != ToyTargetKind::Gaussian1D || t.pretrain_steps <= 0) return 0.0;
  const ExecContext& ctx = trainer.context();
  const TrainConfig& c = trainer.config();
  Model& D = trainer.discriminator();
  if (D.pack_factor() != 1 || D.input_dim() != 1)
    throw std::invalid_argument("D pre-training needs a D of single 1D samples");
  const int M = c.batch;
  Array<float> x(ctx.kind, size_t(M)), target(ctx.kind, size_t(M)), dlogits(ctx.kind, size_t(M)),
      loss(ctx.kind, 1);
  Array<uint64_t> counters(ctx.kind, 2);  // dropout/draw counter, optimizer step
  counters.zero();
  std::vector<float> hx(static_cast<size_t>(M)), ht(static_cast<size_t>(M));
  for (int step = 0; step < t.pretrain_steps; ++step) {
    if (trainer.stop_requested())
      throw StepAbandoned(fmt::format("D's pre-training abandoned at its step {} of {}", step,
                                      t.pretrain_steps));
    // Host draws and an upload: this runs once, before training, outside the step.
    const uint64_t counter = uint64_t(step);
    cpu::random_fill<float>(hx.data(), hx.size(), Distribution::Uniform01, c.seed,
                            kStreamPretrainX, &counter);
    for (int i = 0; i < M; ++i) {
      hx[i] = float((2.0 * hx[i] - 1.0) * t.pretrain_range);
      ht[i] = float(normal_pdf(hx[i], t.mean, t.std));
    }
    x.upload(hx);
    target.upload(ht);
    const float* logits = D.forward(ctx, x.data(), M, true, c.seed, 0, counters.data());
    ops::sigmoid_mse(ctx, logits, target.data(), size_t(M), dlogits.data(), loss.data());
    D.backward(ctx, dlogits.data(), GradMode::Overwrite, false);
    ops::counter_add(ctx, counters.data() + 1, 1);
    D.optimizer_step(ctx, c.opt_d, counters.data() + 1, nullptr);
  }
  ctx.synchronize();
  const double last_mse = double(loss.download()[0]);
  // A fresh D with the pre-trained weights: optimizer state starts over.
  D.adam_m().zero();
  D.adam_v().zero();
  D.grads().zero();
  return last_mse;
}

void write_toy_picture(GanTrainer& trainer, const ToyExperiment& e, const ToyEvaluation& ev,
                       const PointSet& real, const std::string& path) {
  const ToyTarget& t = e.target;
  PlotSpec spec;
  spec.title = e.name;
  spec.x_min = t.x_min;
  spec.x_max = t.x_max;
  if (t.kind == ToyTargetKind::Gaussian1D) {
    spec.x_label = "x";
    spec.y_label = "density / D(x)";
    spec.y_min = 0.0;
    spec.y_max = 1.05;
    const int n_curve = 400, n_bins = 60;
    const double span = t.x_max - t.x_min, bin = span / n_bins;
    Series pdf{"target pdf", {}, {}, 0, 0, 0};
    for (int i = 0; i <= n_curve; ++i) {
      const double x = t.x_min + span * i / n_curve;
      pdf.x.push_back(x);
      pdf.y.push_back(normal_pdf(x, t.mean, t.std));
    }
    Series hist{"G samples (density)", {}, {}, 40, 80, 220};
    std::vector<double> counts(size_t(n_bins), 0.0);
    for (float v : ev.samples) {
      const double k = std::floor((double(v) - t.x_min) / bin);
      if (k >= 0 && k < n_bins) counts[size_t(k)] += 1.0;
    }
    for (int k = 0; k < n_bins; ++k) {  // a step outline of the histogram
      const double h = counts[size_t(k)] / (double(ev.samples.size()) * bin);
      hist.x.insert(hist.x.end(), {t.x_min + k * bin, t.x_min + (k + 1) * bin});
      hist.y.insert(hist.y.end(), {h, h});
    }
    std::vector<Series> series = {pdf, hist};
    Model& D = trainer.discriminator();
    if (D.pack_factor() == 1) {  // D(x) is defined for a single point
      const ExecContext& ctx = trainer.context();
      Series dec{"D(x)", {}, {}, 220, 40, 40};
      const int B = D.max_batch();
      Array<float> x(ctx.kind, size_t(B));
      Array<uint64_t> counter(ctx.kind, 1);
      counter.zero();
      for (int done = 0; done <= n_curve;) {
        const int chunk = std::min(B, n_curve + 1 - done);
        std::vector<float> hx(static_cast<size_t>(chunk));
        for (int i = 0; i < chunk; ++i) hx[size_t(i)] = float(t.x_min + span * (done + i) / n_curve);
        x.upload(hx.data(), hx.size());
        const float* logits = D.forward(ctx, x.data(), chunk, false, 0, 0, counter.data());
        std::vector<float> hl(static_cast<size_t>(chunk));
        ctx.synchronize();
        detail::array_copy_out(ctx.kind, hl.data(), logits, hl.size() * sizeof(float));
        for (int i = 0; i < chunk; ++i) {
          dec.x.push_back(hx[size_t(i)]);
          dec.y.push_back(1.0 / (1.0 + std::exp(-double(hl[size_t(i)]))));
        }
        done += chunk;
      }
      series.push_back(dec);
    }
    write_plot_png(path, spec, series);
    return;
  }
  spec.x_label = "x1";
  spec.y_label = "x2";
  spec.y_min = t.y_min;
  spec.y_max = t.y_max;
  spec.width = spec.height = 520;
  Series r{"real", {}, {}, 170, 170, 170, true}, g{"generated", {}, {}, 30, 70, 220, true};
  const size_t n_real = std::min<size_t>(real.count(), 2500);
  for (size_t i = 0; i < n_real; ++i) {
    r.x.push_back(real.values[2 * i]);
    r.y.push_back(real.values[2 * i + 1]);
  }
  for (size_t i = 0; i + 1 < ev.samples.size(); i += 2) {
    g.x.push_back(ev.samples[i]);
    g.y.push_back(ev.samples[i + 1]);
  }
  write_plot_png(path, spec, {r, g});
}

namespace {

std::string toy_metrics_header(const ToyTarget& t) {
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D: return "step,mean,std,wasserstein1";
    case ToyTargetKind::Parabola: return "step,median_residual";
    case ToyTargetKind::Mixture: return "step,modes_captured,high_quality_fraction,reverse_kl";
  }
  return "step";
}

std::string toy_metrics_row(const ToyTarget& t, const ToyEvaluation& ev) {
  switch (t.kind) {
    case ToyTargetKind::Gaussian1D:
      return fmt::format("{},{:.6f},{:.6f},{:.6f}", ev.step, ev.mean, ev.std, ev.wasserstein1);
    case ToyTargetKind::Parabola: return fmt::format("{},{:.6f}", ev.step, ev.parabola_residual);
    case ToyTargetKind::Mixture:
      return fmt::format("{},{},{:.6f},{:.6f}", ev.step, ev.modes.modes_captured,
                         ev.modes.high_quality_fraction, ev.modes.reverse_kl);
  }
  return "";
}

// Keeps the header and the rows up to `step` (a resumed run rewrites what followed).
std::string kept_rows(const std::string& path, const std::string& header, uint64_t step) {
  std::string kept = header + "\n";
  if (step == 0 || !fs::exists(path)) return kept;
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (!line.empty() && std::strtoull(line.c_str(), nullptr, 10) <= step) kept += line + "\n";
  return kept;
}

}  // namespace

std::shared_ptr<PointRun> make_toy_run(const ToyExperiment& e, std::FILE* out) {
  auto run = std::make_shared<PointRun>();
  run->data = toy_training_set(e.target, e.config.seed);
  run->description = e.target.describe();
  run->meta = {{"experiment", e.name},
               {"summary", e.summary},
               {"target", toy_target_to_json(e.target)},
               {"eval_samples", e.eval_samples}};
  // The closures share the experiment and the metrics file's text.
  auto state = std::make_shared<std::pair<ToyExperiment, std::string>>(e, std::string());
  const PointSet* real = &run->data;
  run->start = [state, out](GanTrainer& trainer, const std::string& dir, bool resumed) {
    const ToyExperiment& ex = state->first;
    // A resumed run rewrites the rows after its checkpoint, so no step appears twice.
    state->second = kept_rows(dir + "/toy_metrics.csv", toy_metrics_header(ex.target),
                              resumed ? trainer.step() : 0);
    const ToyTarget& t = ex.target;
    if (resumed || t.pretrain_steps <= 0) return;
    const double mse = pretrain_discriminator_on_pdf(trainer, t);
    std::fprintf(out, "  D pre-trained on the target pdf: %d steps, final MSE %.3g\n",
                 t.pretrain_steps, mse);
  };
  run->write_samples = [state, real](GanTrainer& trainer, const std::string& dir, uint64_t step) {
    const ToyExperiment& ex = state->first;
    const ToyEvaluation ev = evaluate_toy(trainer, ex);
    write_toy_picture(trainer, ex, ev, *real, fmt::format("{}/samples/step_{:06d}.png", dir, step));
    std::string& text = state->second;
    text += toy_metrics_row(ex.target, ev) + "\n";
    write_file_atomic(dir + "/toy_metrics.csv", text);
  };
  run->finish = [state, real, out](GanTrainer& trainer, const std::string& dir) {
    const ToyExperiment& ex = state->first;
    const ToyEvaluation ev = evaluate_toy(trainer, ex);
    write_toy_picture(trainer, ex, ev, *real, dir + "/final.png");
    nlohmann::json result = {{"experiment", ex.name},
                             {"summary", ex.summary},
                             {"target", toy_target_to_json(ex.target)},
                             {"settings", train_config_to_json(trainer.config())},
                             {"device", trainer.context().is_cuda() ? "cuda" : "cpu"},
                             {"result", ev.to_json(ex.target)}};
    write_file_atomic(dir + "/result.json", result.dump(2) + "\n");
    std::fprintf(out, "result at step %llu: %s\n", (unsigned long long)ev.step,
                 ev.describe(ex.target).c_str());
  };
  return run;
}

}  // namespace gan
