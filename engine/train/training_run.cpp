#include "engine/train/training_run.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/core/memory_limits.h"
#include "engine/data/idx.h"
#include "engine/eval/evaluator.h"
#include "engine/io/atomic_file.h"
#include "engine/io/image_grid.h"
#include "engine/io/json_fields.h"
#include "engine/io/report.h"
#include "engine/io/safetensors.h"
#include "engine/train/run_outputs.h"

namespace fs = std::filesystem;

namespace gan {

const char* engine_version() { return "0.2.0"; }

DeviceChoice device_choice_from_name(const std::string& s) {
  if (s == "auto") return DeviceChoice::Auto;
  if (s == "cpu") return DeviceChoice::Cpu;
  if (s == "cuda") return DeviceChoice::Cuda;
  throw std::invalid_argument("--device: expected auto, cuda or cpu, got '" + s + "'");
}

DeviceKind resolve_device(DeviceChoice choice) {
  if (choice == DeviceChoice::Cpu) return DeviceKind::Cpu;
  std::string why;
  const bool have = cuda_device_count(&why) > 0;
  if (choice == DeviceChoice::Cuda && !have) throw std::runtime_error("--device cuda: " + why);
  return have ? DeviceKind::Cuda : DeviceKind::Cpu;
}

namespace {

constexpr const char* kMetricsHeader =
    "step,d_loss,g_loss,d_real,d_fake,d_accuracy,ms_per_step,images_per_s";

std::string metrics_row(const StepStats& s, int batch) {
  const double ips = s.ms_per_step > 0 ? 1000.0 * batch / s.ms_per_step : 0.0;
  return fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.4f},{:.1f}", s.last_step, s.d_loss,
                     s.g_loss, s.d_real, s.d_fake, s.d_accuracy, s.ms_per_step, ips);
}

constexpr const char* kEvalHeader =
    "step,n,fd,classifier_score,classes_covered,kl_to_uniform,precision,recall";

// A conditional run's rows end with the label accuracy.
constexpr const char* kEvalLabelColumn = ",label_accuracy";

std::string eval_row(uint64_t step, const QualityScores& s) {
  std::string row = fmt::format("{},{},{:.6f},{:.6f},{},{:.6f},{:.6f},{:.6f}", step, s.n, s.fd,
                                s.score, s.covered, s.kl_uniform, s.precision, s.recall);
  if (!s.class_accuracy.empty()) row += fmt::format(",{:.6f}", s.label_accuracy);
  return row;
}

// metrics.csv (and eval.csv) keep the header and the rows up to `step` (a resumed run rewrites
// what followed its checkpoint, so the file never holds a step twice).
void reset_rows(const std::string& path, const std::string& header, uint64_t step) {
  std::string kept = header + "\n";
  if (step > 0 && fs::exists(path)) {
    std::istringstream in(read_file(path));
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const uint64_t row_step = std::strtoull(line.c_str(), nullptr, 10);
      if (row_step >= 1 && row_step <= step) kept += line + "\n";
    }
  }
  write_file_atomic(path, kept);
}

std::string sample_path(const std::string& run_dir, uint64_t step) {
  return fmt::format("{}/samples/step_{:06d}.png", run_dir, step);
}

class Run {
 public:
  Run(const RunRequest& req) : req_(req) {}
  RunResult go();

 private:
  void prepare_new();
  void prepare_resume();
  int sample_size() const;
  void write_config();
  void handle_stats(const StepStats& s);
  void save_checkpoint_now();
  void write_samples();
  void export_generator();
  void prepare_evaluation(DeviceKind kind);
  void evaluate_now();
  void read_labels();
  nlohmann::json meta() const;

  void start_outputs();
  void end_progress_line();  // a live progress line gets its newline before other output
  void say(const std::string& line);
  void check_memory(DeviceKind kind) const;
  void lock_run_directory();
  void finish_outputs();
  RunResult abandon(const StepAbandoned& e);

 public:
  // The report of a run that an exception is ending (a non-finite loss, a failed save).
  void fail(const std::string& why);

 private:

  const RunRequest& req_;
  TrainConfig cfg_;
  std::string config_path_;  // a resumed run's config.json (names it in errors)
  std::string data_path_;
  ImageSet data_;
  std::vector<uint8_t> labels_;  // conditional runs: the images' classes
  std::string labels_path_;
  std::unique_ptr<ExecResources> exec_;
  std::unique_ptr<GanTrainer> trainer_;
  std::unique_ptr<Checkpoint> resume_from_;
  bool graph_ = false;  // the step runs as a CUDA graph (req_.cuda_graph resolved for the device)
  std::ofstream metrics_;
  std::unique_ptr<Evaluator> eval_;  // when cfg_.eval_every > 0
  QualityScores eval_real_;
  RunResult result_;
  uint64_t total_ = 0;
  std::chrono::steady_clock::time_point start_;
  bool progress_shown_ = false;
  std::unique_ptr<RunOutputs> outputs_;  // once the run directory is set up
  double it_per_s_ = 0, eta_s_ = -1;     // the progress line's, for the report
  DirectoryLock lock_;
};

void Run::prepare_new() {
  cfg_ = req_.config;
  if (fs::exists(fs::path(req_.run_dir) / "config.json"))
    throw std::runtime_error("--out " + req_.run_dir +
                             ": already holds a run (config.json); continue it with --resume " +
                             req_.run_dir + " (from its last checkpoint, or from step 0 if it has "
                             "none), or choose another --out");
  if (req_.points) return;
  const std::string dir = req_.data_dir.empty() ? kDefaultDataDir : req_.data_dir;
  // Absolute, so a resume from another working directory finds the same file.
  data_path_ = fs::absolute(find_train_images(dir)).lexically_normal().string();
}

// A conditional run's labels: the train-labels file beside the images, one per image, each one of
// the config's classes.
void Run::read_labels() {
  if (cfg_.classes == 0 || req_.points) return;
  const std::string flag =
      config_path_.empty() ? "--conditional" : config_path_ + ": config.classes";
  const std::string dir = fs::path(data_path_).parent_path().string();
  try {
    labels_path_ = find_mnist_file(dir, "train-labels");
  } catch (const std::exception& e) {
    throw std::runtime_error(flag + ": the images' labels are needed: " + e.what());
  }
  labels_ = read_idx_labels(labels_path_);
  check_labels(labels_, labels_path_, data_.count, data_path_, cfg_.classes);
}

void Run::prepare_resume() {
  config_path_ = req_.run_dir + "/config.json";
  if (!fs::exists(config_path_))
    throw std::runtime_error("--resume " + req_.run_dir + ": no config.json (not a run directory)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(config_path_));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(config_path_ + ": not valid JSON (" + e.what() + ")");
  }
  try {
    cfg_ = train_config_from_json(json_member(j, "config"));
    if (!req_.points) data_path_ = json_string(j, "data");
  } catch (const std::exception& e) {
    throw std::runtime_error(config_path_ + ": config." + e.what());
  }
  if (req_.steps) cfg_.steps = *req_.steps;
  const auto checkpoints = list_checkpoints(req_.run_dir);
  // A run stopped before its first checkpoint starts over: every draw is keyed by the seed and the
  // step, so that is exactly the run it would have been.
  if (checkpoints.empty()) return;
  resume_from_ = std::make_unique<Checkpoint>(load_checkpoint(checkpoints.back().second));
  result_.last_checkpoint = checkpoints.back().second;
}

int Run::sample_size() const {
  return req_.points ? req_.points->data.dim : int(data_.image_size());
}

nlohmann::json Run::meta() const {
  nlohmann::json j = {{"version", engine_version()},
                      {"config", train_config_to_json(cfg_)},
                      {"device", exec_->description()}};
  if (req_.points) {
    j["data"] = "toy";
    j["toy"] = req_.points->meta;
  } else {
    j["data"] = data_path_;
    j["image_rows"] = data_.rows;
    j["image_cols"] = data_.cols;
  }
  return j;
}

void Run::write_config() {
  nlohmann::json j = meta();
  j["gemm_backend"] = gemm_backend_name(req_.gemm);
  j["tf32"] = req_.tf32;
  j["cuda_graph"] = graph_;
  write_file_atomic(req_.run_dir + "/config.json", j.dump(2) + "\n");
}

void Run::save_checkpoint_now() {
  if (trainer_->stats_requested()) handle_stats(trainer_->collect_stats());
  const uint64_t step = trainer_->step();
  const std::string path = checkpoint_path(req_.run_dir, step);
  Checkpoint ck;
  try {
    ck = trainer_->checkpoint(meta());
  } catch (const NonFiniteError& e) {
    end_progress_line();
    throw NonFiniteError(
        fmt::format("{}; training stopped; last good checkpoint: {}", e.what(),
                    result_.last_checkpoint.empty() ? "none" : result_.last_checkpoint));
  }
  save_checkpoint(path, ck);
  prune_checkpoints(req_.run_dir, cfg_.keep_checkpoints);
  result_.last_checkpoint = path;
}

// A grid that cannot be written is said once and skipped: a picture never ends a run.
void Run::write_samples() {
  const uint64_t step = trainer_->step();
  const std::string path = sample_path(req_.run_dir, step);
  const bool drawn = outputs_->guarded("sample pictures (samples/)", [&] {
    if (req_.points) {
      if (req_.points->write_samples) req_.points->write_samples(*trainer_, req_.run_dir, step);
      return;
    }
    const std::vector<float> images = trainer_->samples();
    write_png(path,
              tile_images(images, trainer_->sample_count(), int(data_.rows), int(data_.cols),
                          trainer_->sample_columns()),
              cfg_.sample_scale);
  });
  if (drawn && fs::exists(path)) outputs_->add_sample(step);
  outputs_->update(step, it_per_s_, eta_s_, true);
}

void Run::export_generator() {
  std::map<std::string, std::string> meta = {
      {"format", "pt"},
      {"model", describe_model_spec(cfg_.generator)},
      {"input", generator_input_note(cfg_)},
      {"weights", generator_weights_note(cfg_)},
      {"step", std::to_string(trainer_->step())},
      {"engine", std::string("gan-engine ") + engine_version()}};
  if (cfg_.classes > 0) meta["classes"] = std::to_string(cfg_.classes);
  write_safetensors(req_.run_dir + "/generator.safetensors",
                    model_named_tensors(trainer_->sampling_generator()), meta);
}

void Run::handle_stats(const StepStats& s) {
  if (s.first_nonfinite_step != 0) {
    end_progress_line();
    throw NonFiniteError(
        fmt::format("non-finite {} at step {}: training stopped; last good checkpoint: {}",
                    s.nonfinite_what, s.first_nonfinite_step,
                    result_.last_checkpoint.empty() ? "none" : result_.last_checkpoint));
  }
  result_.last_stats = s;
  metrics_ << metrics_row(s, cfg_.batch) << '\n';
  metrics_.flush();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double it_s = s.ms_per_step > 0 ? 1000.0 / s.ms_per_step : 0.0;
  const double eta = it_s > 0 ? double(total_ - s.last_step) / it_s : -1;
  it_per_s_ = it_s;
  eta_s_ = eta;
  const std::string line = fmt::format(
      "{}/{} [D loss: {:.3f}, acc.: {:.2f}%] [G loss: {:.3f}] D(x) {:.3f} D(G(z)) {:.3f} | {:.1f} "
      "it/s, ETA {}",
      s.last_step, total_, s.d_loss, 100 * s.d_accuracy, s.g_loss, s.d_real, s.d_fake, it_s,
      format_duration(eta, true));
  if (req_.live_progress) {
    std::fprintf(req_.out, "\r\033[2K%s", line.c_str());
    progress_shown_ = true;
  } else {
    std::fprintf(req_.out, "%s (%.0fs)\n", line.c_str(), elapsed);
  }
  std::fflush(req_.out);
  if (outputs_) {
    outputs_->add_stats(s);
    outputs_->update(s.last_step, it_s, eta, false);
  }
}

void Run::end_progress_line() {
  if (progress_shown_) std::fputc('\n', req_.out);
  progress_shown_ = false;
}

void Run::say(const std::string& line) {
  end_progress_line();
  std::fprintf(req_.out, "%s\n", line.c_str());
  std::fflush(req_.out);
}

// The classifier (trained and cached first when the data set has none yet) and the real test
// split, embedded once; the real-vs-real reference into eval_reference.json later.
void Run::prepare_evaluation(DeviceKind kind) {
  if (cfg_.eval_every == 0) return;
  const std::string flag = config_path_.empty() ? "--eval-every" : config_path_ + ": config.eval_every";
  if (req_.points) throw std::invalid_argument(flag + ": the toy experiments have no classifier");
  const std::string dir = fs::path(data_path_).parent_path().string();
  const size_t D = data_.image_size();
  if (kind == DeviceKind::Cpu)
    require_host_memory(
        evaluation_bytes(size_t(cfg_.eval_samples), D, kClassifierFeatures, kMnistClasses),
                        fmt::format("scoring {} samples (--eval-n)", cfg_.eval_samples));
  auto clf = obtain_classifier(exec_->context(), cfg_.eval_classifier, dir, 1024, req_.out);
  eval_ = std::make_unique<Evaluator>(exec_->context(), std::move(clf),
                                      read_labelled_split(dir, "t10k", kMnistClasses));
  eval_real_ = eval_->real_vs_real();
}

void Run::evaluate_now() {
  const uint64_t step = trainer_->step();
  const QualityScores s = eval_->score_generator(trainer_->sampling_generator(), cfg_.noise,
                                                 size_t(cfg_.eval_samples), 1, cfg_.classes);
  const std::string path = req_.run_dir + "/eval.csv";
  std::ofstream out(path, std::ios::app);
  out << eval_row(step, s) << '\n';
  out.flush();
  if (!out) throw std::runtime_error(path + ": cannot append the evaluation row");
  end_progress_line();
  std::fprintf(req_.out,
               "eval at step %llu (%zu samples): FD %.3f (real %.3f), score %.3f (real %.3f), "
               "classes %d/%d, precision %.3f, recall %.3f\n",
               (unsigned long long)step, s.n, s.fd, eval_real_.fd, s.score, eval_real_.score,
               s.covered, s.classes, s.precision, s.recall);
  if (!s.class_accuracy.empty())
    std::fprintf(req_.out,
                 "  label accuracy %.3f (the classifier agrees with the label asked for)\n",
                 s.label_accuracy);
  std::fflush(req_.out);
  outputs_->add_eval(step, s, eval_real_);
  outputs_->update(step, it_per_s_, eta_s_, true);
}

// Everything the trainer will allocate, estimated from the config before it does: both models at
// their batch sizes, the resident data set and the per-step buffers.
void Run::check_memory(DeviceKind kind) const {
  const TrainConfig& c = cfg_;
  const uint64_t B = uint64_t(c.batch), grid = uint64_t(c.sample_grid) *
                                               uint64_t(c.classes > 0 ? c.classes : c.sample_grid);
  const uint64_t data_bytes = req_.points ? 4 * uint64_t(req_.points->data.values.size())
                                          : uint64_t(data_.pixels.size());
  const uint64_t step_floats = B * (4 * uint64_t(sample_size()) + 2 * uint64_t(c.z_dim()) + 8) +
                               grid * uint64_t(c.z_dim());
  const ModelFootprint g = model_footprint(c.generator, int(std::max<uint64_t>(B, grid)));
  // Conditional: G's and D's inputs with the code, D's input gradient; EMA: a second G.
  const uint64_t code_floats =
      c.classes > 0 ? B * (uint64_t(c.generator.input) + 2 * uint64_t(c.discriminator.input) +
                           uint64_t(sample_size()) + 3) +
                          grid * uint64_t(c.generator.input)
                    : 0;
  const uint64_t bytes = g.bytes() +
                         (c.ema > 0.0f ? model_footprint(c.generator, int(grid)).bytes() : 0) +
                         4 * code_floats + model_footprint(c.discriminator, c.batch).bytes() +
                         data_bytes + 4 * step_floats;
  const std::string what =
      fmt::format("training G ({}) and D ({}) at --batch {}", describe_model_spec(c.generator),
                  describe_model_spec(c.discriminator), c.batch);
  if (kind == DeviceKind::Cpu) {
    // The host also holds the data set as read (until the trainer has its copy).
    require_host_memory(bytes + data_bytes, what);
    return;
  }
  const uint64_t free_b = cuda_free_memory();
  if (bytes > free_b)
    throw std::runtime_error(fmt::format("{}: needs {} of GPU memory, {} free", what,
                                         format_bytes(bytes), format_bytes(free_b)));
}

void Run::lock_run_directory() {
  const std::string flag = req_.resume ? "--resume " : "--out ";
  lock_ = DirectoryLock(req_.run_dir, flag + req_.run_dir);
  // Temp files of saves that a kill interrupted: nothing else can be writing them now.
  for (const fs::path& dir : {fs::path(req_.run_dir), fs::path(req_.run_dir) / "checkpoints",
                              fs::path(req_.run_dir) / "samples"})
    for (const std::string& f : remove_stale_temp_files(dir.string()))
      std::fprintf(req_.out, "removed %s (a save interrupted by a kill)\n", f.c_str());
}

void Run::start_outputs() {
  RunOutputsSetup setup;
  setup.run_dir = req_.run_dir;
  setup.title = fmt::format("{}: {}", req_.points ? "toy_gan" : "mnist_gan", req_.run_dir);
  const std::string data =
      req_.points ? fmt::format("{} points of {}: {}", req_.points->data.count(),
                                req_.points->data.dim, req_.points->description)
                  : fmt::format("{} images of {}x{} from {}", data_.count, data_.rows, data_.cols,
                                data_path_);
  setup.facts = {{"preset", cfg_.preset},
                 {"device", exec_->description()},
                 {"data", data},
                 {"seed", std::to_string(cfg_.seed)},
                 {"steps", fmt::format("{} (batch {})", cfg_.steps, cfg_.batch)},
                 {"generator", describe_model_spec(cfg_.generator)},
                 {"discriminator", describe_model_spec(cfg_.discriminator)},
                 {"engine", std::string("gan-engine ") + engine_version()}};
  if (cfg_.classes > 0)
    setup.facts.emplace_back(
        "conditional", fmt::format("{} classes, one-hot codes (labels from {}); the grids show "
                                   "one class a row",
                                   cfg_.classes, labels_path_));
  if (cfg_.ema > 0.0f) setup.facts.emplace_back("samples from", generator_weights_note(cfg_));
  if (exec_->context().is_cuda())
    setup.facts.emplace_back("CUDA graph",
                             graph_ ? "on: the first step runs as plain launches, the second is "
                                      "captured, every later step is one graph launch"
                                    : "off: every step as plain launches (--no-cuda-graph)");
  if (req_.resume)
    setup.facts.emplace_back("this session", fmt::format("resumed at step {}", trainer_->step()));
  setup.settings = train_config_to_json(cfg_);
  setup.wasserstein = cfg_.loss == GanLoss::Wasserstein;
  setup.total = total_;
  outputs_ = std::make_unique<RunOutputs>(setup, [this](const std::string& line) { say(line); });
  if (eval_) outputs_->set_eval_floor(eval_real_.fd);
  outputs_->start(trainer_->step());
  outputs_->update(trainer_->step(), 0, -1, false);
}

// A stop in the middle of a long step or of D's pre-training: the models are between two states,
// so nothing is saved from them; metrics.csv keeps the steps completed before.
RunResult Run::abandon(const StepAbandoned& e) {
  end_progress_line();
  if (metrics_.is_open()) metrics_.flush();
  result_.stopped_by_signal = trainer_->stop_requested();
  result_.abandoned = e.what();
  result_.step = trainer_->step();
  result_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (outputs_) {
    outputs_->finish(result_.step, "stopped",
                     fmt::format("stopped by signal {} during {}; nothing saved since {}",
                                 result_.stopped_by_signal, e.what(),
                                 result_.last_checkpoint.empty() ? "the start"
                                                                 : result_.last_checkpoint));
    result_.report = outputs_->report_path();
  }
  return result_;
}

void Run::fail(const std::string& why) {
  if (!outputs_) return;
  outputs_->finish(trainer_->step(), "failed", why);
}

// What a finished run leaves besides its checkpoints: the last grid, the generator, the curves
// and (toy runs) the final pictures and numbers.
void Run::finish_outputs() {
  if (trainer_->stats_requested()) handle_stats(trainer_->collect_stats());
  end_progress_line();
  export_generator();
  metrics_.flush();
  if (req_.points && req_.points->finish) req_.points->finish(*trainer_, req_.run_dir);
  const uint64_t step = trainer_->step();
  const int signal = req_.stop ? req_.stop->load() : 0;
  if (signal && step < total_)
    outputs_->finish(step, "stopped",
                     fmt::format("stopped by signal {} at step {}; continue it with --resume {}",
                                 signal, step, req_.run_dir));
  else
    outputs_->finish(step, "finished", fmt::format("trained {} steps", step));
  result_.report = outputs_->report_path();
}

RunResult Run::go() {
  start_ = std::chrono::steady_clock::now();
  if (req_.run_dir.empty()) throw std::invalid_argument("--out: a run directory is required");
  if (req_.resume) {
    if (!fs::is_directory(req_.run_dir))
      throw std::runtime_error("--resume " + req_.run_dir + ": no such run directory");
    lock_run_directory();  // before anything in it is read
    prepare_resume();
  } else {
    prepare_new();
  }
  if (req_.eval_every) cfg_.eval_every = *req_.eval_every;
  if (req_.eval_samples) cfg_.eval_samples = *req_.eval_samples;
  if (req_.classifier) cfg_.eval_classifier = *req_.classifier;
  if (!req_.points) data_ = read_idx_images(data_path_);
  read_labels();
  const DeviceKind kind = resolve_device(req_.device);
  if (req_.cuda_graph.value_or(false) && kind != DeviceKind::Cuda)
    throw std::invalid_argument("--cuda-graph: needs a CUDA device (running on the CPU)");
  // On by default on a GPU: the same bits as plain launches (tested), 1.6x to 2.8x faster per
  // step for the MLP presets on an H200 (benchmarks/RESULTS.md, 2026-11-27).
  graph_ = req_.cuda_graph.value_or(kind == DeviceKind::Cuda);

  // Everything is checked and allocated before the run directory is created, so a refused or
  // failed new run leaves nothing behind.
  validate_train_config(cfg_, sample_size(), config_path_);
  exec_ = std::make_unique<ExecResources>(kind);
  exec_->context().gemm_backend = req_.gemm;
  exec_->context().tf32 = req_.tf32;
  check_memory(kind);
  // Before the trainer, whose clock for the first interval starts when it is built: training a
  // classifier for the cache takes a minute.
  prepare_evaluation(kind);
  trainer_ = req_.points ? std::make_unique<GanTrainer>(cfg_, req_.points->data, exec_->context())
                         : std::make_unique<GanTrainer>(cfg_, data_, exec_->context(), &labels_);
  // The trainer holds the data set now; the host copy is not needed beyond its shape.
  data_.pixels = std::vector<uint8_t>();
  labels_ = std::vector<uint8_t>();
  trainer_->use_cuda_graph(graph_);

  // A new run creates its directory here; a resumed one gets back any sub-folder it lost.
  std::error_code ec;
  fs::create_directories(fs::path(req_.run_dir) / "samples", ec);
  if (!ec) fs::create_directories(fs::path(req_.run_dir) / "checkpoints", ec);
  if (ec)
    throw std::runtime_error(fmt::format("{} {}: cannot create the run directory ({})",
                                         req_.resume ? "--resume" : "--out", req_.run_dir,
                                         ec.message()));
  if (!req_.resume) {
    lock_run_directory();
    if (fs::exists(fs::path(req_.run_dir) / "config.json"))  // another process got there first
      throw std::runtime_error("--out " + req_.run_dir + ": already holds a run (config.json)");
  }

  if (resume_from_) {
    trainer_->restore(*resume_from_);
    if (trainer_->step() > cfg_.steps)
      throw std::invalid_argument(fmt::format(
          "--steps {}: the run is already at step {}; give a larger --steps to continue it",
          cfg_.steps, trainer_->step()));
  } else {
    trainer_->init();
    if (req_.resume)
      std::fprintf(req_.out, "%s has no checkpoint yet: starting it from step 0\n",
                   req_.run_dir.c_str());
  }
  trainer_->set_stop_request(req_.stop);
  if (req_.points && req_.points->start) {
    try {
      req_.points->start(*trainer_, req_.run_dir, resume_from_ != nullptr);
    } catch (const StepAbandoned& e) {
      return abandon(e);
    }
  }
  total_ = cfg_.steps;
  write_config();
  const std::string metrics_path = req_.run_dir + "/metrics.csv";
  reset_rows(metrics_path, kMetricsHeader, trainer_->step());
  if (eval_) {
    reset_rows(req_.run_dir + "/eval.csv",
               std::string(kEvalHeader) + (cfg_.classes > 0 ? kEvalLabelColumn : ""),
               trainer_->step());
    nlohmann::json ref = {{"classifier", eval_->classifier().identity().train_images},
                          {"classifier_test_accuracy", eval_->classifier().test_accuracy},
                          {"real_vs_real", quality_scores_to_json(eval_real_)},
                          {"test_images", eval_->real_count()}};
    write_file_atomic(req_.run_dir + "/eval_reference.json", ref.dump(2) + "\n");
  }
  metrics_.open(metrics_path, std::ios::app);
  if (!metrics_) throw std::runtime_error(metrics_path + ": cannot open for appending");

  const std::string data_line =
      req_.points ? fmt::format("{} points of {} from {}", req_.points->data.count(),
                                req_.points->data.dim, req_.points->description)
                  : fmt::format("{} images of {}x{} from {}", data_.count, data_.rows, data_.cols,
                                data_path_);
  std::fprintf(req_.out, "%s %s: %s, %s\n", req_.resume ? "resuming" : "training",
               req_.run_dir.c_str(), exec_->description().c_str(), data_line.c_str());
  std::fprintf(req_.out, "  G: %s\n  D: %s\n  steps %llu -> %llu, batch %d, seed %llu\n",
               describe_model_spec(cfg_.generator).c_str(),
               describe_model_spec(cfg_.discriminator).c_str(),
               (unsigned long long)trainer_->step(), (unsigned long long)total_, cfg_.batch,
               (unsigned long long)cfg_.seed);
  if (cfg_.classes > 0)
    std::fprintf(req_.out, "  conditional on %d classes (labels: %s), one-hot codes\n",
                 cfg_.classes, labels_path_.c_str());
  if (cfg_.ema > 0.0f)
    std::fprintf(req_.out, "  samples from %s\n", generator_weights_note(cfg_).c_str());
  std::fflush(req_.out);

  start_outputs();

  // A run stopped (by a signal or a kill) at its last step skips the loop: its last grid was
  // written before its last checkpoint, and finish_outputs writes the rest.
  if (trainer_->step() == total_)
    std::fprintf(req_.out, "the run is already at its last step (%llu): writing its final outputs\n",
                 (unsigned long long)total_);
  if (trainer_->step() == 0) write_samples();  // the untrained generator, for comparison
  while (trainer_->step() < total_) {
    try {
      trainer_->train_step();
    } catch (const StepAbandoned& e) {
      return abandon(e);
    }
    const uint64_t step = trainer_->step();
    const bool last = step == total_;
    const int signal = req_.stop ? req_.stop->load() : 0;
    // A stop by signal also ends a logging interval, so metrics.csv covers every completed step.
    if (step % uint64_t(cfg_.log_every) == 0 || last || signal) {
      if (trainer_->stats_requested()) handle_stats(trainer_->collect_stats());
      trainer_->request_stats();
    }
    // Report an interval as soon as its statistics have arrived (at once on the CPU; on the GPU
    // when the stream has caught up), without waiting.
    if (trainer_->stats_ready()) handle_stats(trainer_->collect_stats());
    if (step % uint64_t(cfg_.sample_every) == 0 || last) write_samples();
    if (eval_ && (step % uint64_t(cfg_.eval_every) == 0 || last)) evaluate_now();
    if (step % uint64_t(cfg_.checkpoint_every) == 0 || last || signal) save_checkpoint_now();
    if (signal) {
      result_.stopped_by_signal = signal;
      break;
    }
  }
  finish_outputs();
  result_.step = trainer_->step();
  result_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  return result_;
}

}  // namespace

RunResult run_training(const RunRequest& req) {
  Run run(req);
  try {
    return run.go();
  } catch (const std::exception& e) {
    run.fail(e.what());  // the report says how the run ended, then the caller does
    throw;
  }
}

}  // namespace gan
