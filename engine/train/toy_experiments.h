// The seed tutorials' toy experiments (../shared/SEEDS.md sections 2-4) as ready-to-run setups:
// the target distribution, the models and settings, D's pre-training (seed 2), the pictures
// (1D: target pdf, histogram of G's samples and D's decision curve; 2D: real vs generated
// scatter) and the numbers (1D moments and Wasserstein-1; mode coverage; parabola residual).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/data/toy_data.h"
#include "engine/eval/toy_metrics.h"
#include "engine/train/train_config.h"
#include "engine/train/training_run.h"

namespace gan {

enum class ToyTargetKind : uint8_t { Gaussian1D, Parabola, Mixture };

// What G must learn.
struct ToyTarget {
  ToyTargetKind kind = ToyTargetKind::Gaussian1D;
  double mean = 0.0, std = 1.0;  // Gaussian1D
  ToyModes modes;                // Mixture
  int n_points = 0;              // the training set's size (drawn once from the seed)
  // Seed 2's D pre-training: regress D's probability on the target pdf (MSE) at uniform points
  // over [-pretrain_range, pretrain_range], pretrain_steps steps of D's optimizer (0: none).
  int pretrain_steps = 0;
  double pretrain_range = 5.0;
  // The picture's fixed axis ranges (1D: x only).
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
  std::string describe() const;
};

struct ToyExperiment {
  std::string name;
  std::string summary;  // one line: what it reproduces
  ToyTarget target;
  TrainConfig config;
  int eval_samples = 10000;  // G samples behind each number and histogram
};

// gauss1d, gauss1d-instance-noise, gauss1d-minibatch, parabola, ring, grid.
std::vector<std::string> toy_experiment_names();
// Throws std::invalid_argument naming the experiment and listing the known ones.
ToyExperiment make_toy_experiment(const std::string& name);

// Bounds on a target read back from config.json: the training set and D's pre-training must fit
// in memory and end in bounded time (the experiments use at most 100,000 points, 1,000 steps and
// 25 modes).
inline constexpr int kMaxToyPoints = 1 << 24;
inline constexpr int kMaxPretrainSteps = 1'000'000;
inline constexpr int kMaxToyModes = 1024;
inline constexpr int kMaxEvalSamples = 1'000'000;

nlohmann::json toy_target_to_json(const ToyTarget& t);
// Throws std::invalid_argument naming the key on a malformed or out-of-range block.
ToyTarget toy_target_from_json(const nlohmann::json& j);
// Throws std::invalid_argument naming the field that is out of range (validate_toy_target bounds).
void validate_toy_target(const ToyTarget& t);

// The training set: n_points draws from the target, deterministic by seed.
PointSet toy_training_set(const ToyTarget& t, uint64_t seed);

// The numbers of one evaluation: G's eval_samples samples (drawn with a fixed seed, so every
// evaluation of a run uses the same noise) against the target.
struct ToyEvaluation {
  uint64_t step = 0;
  // Gaussian1D: G's sample mean and std, and Wasserstein-1 to as many target draws.
  double mean = 0, std = 0, wasserstein1 = 0;
  ModeMetrics modes;               // Mixture
  double parabola_residual = 0;    // Parabola: median |y - x^2 - 5|
  std::vector<float> samples;      // G's samples, (eval_samples, dim)
  nlohmann::json to_json(const ToyTarget& t) const;
  std::string describe(const ToyTarget& t) const;  // one line
};
ToyEvaluation evaluate_toy(GanTrainer& trainer, const ToyExperiment& e);

// Seed 2's pre-training of D (target.pretrain_steps steps); returns the last step's MSE. D's
// optimizer state is zeroed afterwards, as when the pre-trained weights are copied into a fresh D.
double pretrain_discriminator_on_pdf(GanTrainer& trainer, const ToyTarget& t);

// Writes `path`: 1D: the target pdf (black), the histogram of G's samples as a density (blue)
// and D's decision curve D(x) (red; not drawn when D packs samples together) over the target's
// x range; 2D: real points (grey) and G's samples (blue) on the target's fixed ranges.
void write_toy_picture(GanTrainer& trainer, const ToyExperiment& e, const ToyEvaluation& ev,
                       const PointSet& real, const std::string& path);

// A run of `e` for run_training: the training set, the pictures at every sample step
// (samples/step_NNNNNN.png), toy_metrics.csv (the numbers at every sample step), and at the end
// result.json (experiment, settings, numbers) and final.png; the result line goes to `out`.
std::shared_ptr<PointRun> make_toy_run(const ToyExperiment& e, std::FILE* out);

}  // namespace gan
