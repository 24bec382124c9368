// A whole training run as a user gets it: device choice, the run directory (config.json,
// metrics.csv, samples/, checkpoints/, generator.safetensors), progress output, exact resume,
// clean stops on a signal, and a hard stop on a non-finite loss.
#pragma once
#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/core/context.h"
#include "engine/train/gan_trainer.h"
#include "engine/train/train_config.h"

namespace gan {

enum class DeviceChoice { Auto, Cpu, Cuda };
DeviceChoice device_choice_from_name(const std::string& s);  // auto|cpu|cuda, else throws
// Auto: CUDA when a device is usable, else the CPU. Cuda with none: throws the reason.
DeviceKind resolve_device(DeviceChoice choice);

// A run on float points (the toy experiments) instead of MNIST-format images: the data, what
// config.json records of it (enough for the caller to rebuild it on --resume), and the pictures.
struct PointRun {
  PointSet data;
  std::string description;  // progress line: "8-Gaussian ring (radius 2, sigma 0.02)"
  nlohmann::json meta;      // config.json's "toy" block
  // After init (new run: seed 2's D pre-training) or restore (resumed run), before the first step.
  std::function<void(GanTrainer&, const std::string& run_dir, bool resumed)> start;
  // G's samples at `step` (replaces the image grid); also called for step 0 of a new run.
  std::function<void(GanTrainer&, const std::string& run_dir, uint64_t step)> write_samples;
  // After the last step: final pictures and numbers.
  std::function<void(GanTrainer&, const std::string& run_dir)> finish;
};

struct RunRequest {
  std::string run_dir;
  bool resume = false;
  TrainConfig config;             // new runs only (a resumed run reads config.json)
  std::optional<uint64_t> steps;  // resume: continue to this total instead of the saved one
  // Evaluation settings that replace the config's (a new run's, or a resumed run's saved ones: they
  // do not change the training). classifier: a path as given (made absolute by the caller).
  std::optional<int> eval_every, eval_samples;
  std::optional<std::string> classifier;
  std::string data_dir;           // new runs: MNIST-format directory (default: Fashion-MNIST)
  std::shared_ptr<PointRun> points;  // set: train on these points (data_dir unused)
  DeviceChoice device = DeviceChoice::Auto;
  GemmBackend gemm = GemmBackend::Cublas;
  bool tf32 = false;
  // CUDA: each step one graph launch (the first step plain launches, the second captured).
  // Unset: on for a CUDA run; true on the CPU is an error.
  std::optional<bool> cuda_graph;
  bool live_progress = false;              // a terminal: one updating line, else plain log lines
  const std::atomic<int>* stop = nullptr;  // non-zero (a signal number): checkpoint and return
  std::FILE* out = stdout;
};

struct RunResult {
  uint64_t step = 0;          // steps completed
  int stopped_by_signal = 0;  // the signal number when `stop` ended the run
  // Set when the stop came in the middle of a long step or of D's pre-training: what was
  // abandoned. Nothing was saved then; last_checkpoint is the newest one (or empty).
  std::string abandoned;
  std::string last_checkpoint;
  StepStats last_stats;
  std::string report;  // report.html's path ("" when it could not be written)
  double seconds = 0;
};

// Throws std::runtime_error / std::invalid_argument with a one-line message naming the file or
// flag on any bad input, and NonFiniteError when training diverges.
RunResult run_training(const RunRequest& req);

// The version written into config.json and checkpoints.
const char* engine_version();

}  // namespace gan
