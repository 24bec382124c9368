// mnist_gan: trains the seed tutorials' GANs on MNIST-format data, writes sample grids, metrics
// and checkpoints; generates images from a checkpoint.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

#include "engine/io/atomic_file.h"
#include "engine/train/checkpoint.h"
#include "engine/eval/evaluator.h"
#include "engine/train/gan_trainer.h"
#include "engine/io/image_grid.h"
#include "engine/io/json_fields.h"
#include "engine/core/memory_limits.h"
#include "engine/io/safetensors.h"
#include "engine/train/training_run.h"
#include "train_flags.h"

using namespace gan;
using gan::app::Overrides;

namespace {

GemmBackend gemm_from_name(const std::string& s) {
  if (s == "cublas") return GemmBackend::Cublas;
  if (s == "tiled") return GemmBackend::Tiled;
  throw std::invalid_argument("--gemm: expected cublas or tiled, got '" + s + "'");
}

// A checkpoint's generator, everything in it checked against everything else before any of it is
// used or anything is allocated for it: the config valid (its bounds), the image size recorded
// beside it equal to G's output, the tensors' sizes those of the generator the config describes
// (computed, not allocated), every weight finite, and the model within memory.
// The parameters used are the run's sampling weights (its EMA when it kept one), or G's own with
// raw_weights.
struct GeneratorCheckpoint {
  Checkpoint ck;
  TrainConfig cfg;
  int rows = 0, cols = 0;
  std::string params;  // the tensor of the weights used: "g.params" or "g_ema.params"
};

GeneratorCheckpoint read_generator_checkpoint(const std::string& path, bool raw_weights) {
  GeneratorCheckpoint g{load_checkpoint(path), {}, 0, 0, ""};
  const auto bad = [&](const std::string& what) {
    throw std::runtime_error(path + ": checkpoint metadata: " + what);
  };
  try {
    g.cfg = train_config_from_json(json_member(g.ck.meta, "config"));
    if (json_string(g.ck.meta, "data") == "toy")
      bad("a toy_gan run (points, not images): mnist_gan draws images only");
    g.rows = int(json_int(g.ck.meta, "image_rows", 1, kMaxLayerWidth));
    g.cols = int(json_int(g.ck.meta, "image_cols", 1, kMaxLayerWidth));
  } catch (const std::invalid_argument& e) {
    bad(e.what());
  }
  if (int64_t(g.rows) * g.cols > kMaxRowWidth)
    bad(fmt::format("images of {}x{} are larger than any model's rows", g.rows, g.cols));
  try {
    validate_train_config(g.cfg, g.rows * g.cols, path + ": config");
  } catch (const std::invalid_argument& e) {
    // The image size is the one fact beside the config: name both when they disagree.
    throw std::runtime_error(fmt::format("{} (the checkpoint records images of {}x{})", e.what(),
                                         g.rows, g.cols));
  }
  g.params = raw_weights ? "g.params" : sampling_params_name(g.cfg);
  const ModelFootprint f = model_footprint(g.cfg.generator, 1);
  for (const auto& [name, need] :
       {std::pair<std::string, uint64_t>{g.params, f.params}, {"g.state", f.state}}) {
    const NamedTensor* t = g.ck.find(name);
    if (!t) throw std::runtime_error(path + ": checkpoint has no tensor '" + name + "'");
    if (t->data.size() != need)
      throw std::runtime_error(fmt::format(
          "{}: tensor '{}' has {} values, the generator its config describes ({}) needs {}", path,
          name, t->data.size(), describe_model_spec(g.cfg.generator), need));
    for (size_t i = 0; i < t->data.size(); ++i)
      if (!std::isfinite(t->data[i]))
        throw std::runtime_error(fmt::format(
            "{}: tensor '{}' holds a non-finite value (at {}): the weights diverged", path, name, i));
  }
  return g;
}

void load_generator(Model& G, const GeneratorCheckpoint& g) {
  load_model_weights(G, g.ck, "g", g.params);
}

bool uses_average(const GeneratorCheckpoint& g) { return g.params == "g_ema.params"; }

// Which weights, for the command's output line.
std::string weights_said(const GeneratorCheckpoint& g) {
  if (uses_average(g)) return fmt::format(", EMA weights (decay {:g})", g.cfg.ema);
  return g.cfg.ema > 0.0f ? ", G's raw weights (not the EMA)" : "";
}

int run_generate(const std::string& ckpt_path, int n, const std::string& out, uint64_t seed,
                 const std::string& device, int columns, int scale, std::optional<int> label,
                 bool raw_weights) {
  const GeneratorCheckpoint g = read_generator_checkpoint(ckpt_path, raw_weights);
  if (label && g.cfg.classes == 0)
    throw std::invalid_argument("--label: " + ckpt_path + " holds an unconditional generator");
  if (label && *label >= g.cfg.classes)
    throw std::invalid_argument(fmt::format(
        "--label: {} is not a class of this generator (0 to {})", *label, g.cfg.classes - 1));
  ExecResources exec(resolve_device(device_choice_from_name(device)));
  Model G("generator", g.cfg.generator, std::min(n, 1024), exec.context().kind);
  load_generator(G, g);
  const std::vector<float> images =
      generate_images(exec.context(), G, g.cfg.noise, n, seed, g.cfg.classes, label.value_or(-1));
  // Conditional without --label: sample i is of class i % classes, so a row of `classes` columns
  // holds one of each.
  if (columns <= 0 && g.cfg.classes > 0 && !label) columns = std::min(n, g.cfg.classes);
  if (columns <= 0) {
    columns = 1;
    while (columns * columns < n) ++columns;
  }
  write_png(out, tile_images(images, n, g.rows, g.cols, columns), scale);
  const std::string classes = g.cfg.classes == 0 ? ""
                              : label            ? fmt::format(", class {}", *label)
                                      : fmt::format(", classes 0-{} in turn", g.cfg.classes - 1);
  std::printf("wrote %d samples (%s, seed %llu%s%s) to %s\n", n, exec.description().c_str(),
              (unsigned long long)seed, classes.c_str(), weights_said(g).c_str(), out.c_str());
  return 0;
}

int run_export(const std::string& ckpt_path, const std::string& out, bool raw_weights) {
  const GeneratorCheckpoint g = read_generator_checkpoint(ckpt_path, raw_weights);
  Model G("generator", g.cfg.generator, 1, DeviceKind::Cpu);
  load_generator(G, g);
  std::map<std::string, std::string> meta = {{"format", "pt"},
                                             {"model", describe_model_spec(g.cfg.generator)},
                                             {"input", generator_input_note(g.cfg)},
                                             {"weights", uses_average(g)
                                                             ? generator_weights_note(g.cfg)
                                                             : "G's trained weights"}};
  if (g.cfg.classes > 0) meta["classes"] = std::to_string(g.cfg.classes);
  write_safetensors(out, model_named_tensors(G), meta);
  std::printf("wrote the generator (%s%s) to %s\n", describe_model_spec(g.cfg.generator).c_str(),
              weights_said(g).c_str(), out.c_str());
  return 0;
}

int run_classifier(const std::string& data_dir, const std::string& out, const std::string& device,
                   const ClassifierTrainConfig& cfg) {
  ExecResources exec(resolve_device(device_choice_from_name(device)));
  auto clf = train_classifier(exec.context(), data_dir, cfg, stdout);
  clf->save(out);
  std::printf("wrote the classifier (%s, %.2f%% on the test split) to %s\n",
              describe_model_spec(clf->model().spec()).c_str(), 100 * clf->test_accuracy,
              out.c_str());
  return 0;
}

struct EvaluateRequest {
  std::string checkpoint, samples, classifier, data_dir, json_out, device = "auto";
  int n = 10000;
  uint64_t seed = 1;
  bool raw_weights = false;
};

// Samples another tool wrote (the PyTorch peer's dumps): a safetensors file with one float32
// tensor "samples" of shape (n, rows * cols) or (n, rows, cols) or (n, 1, rows, cols), in [-1, 1].
std::vector<float> read_sample_file(const std::string& path, size_t D, size_t* n) {
  const std::vector<NamedTensor> tensors = read_safetensors(path);
  const auto t = std::find_if(tensors.begin(), tensors.end(),
                              [](const NamedTensor& x) { return x.name == "samples"; });
  if (t == tensors.end()) throw std::runtime_error(path + ": no tensor 'samples'");
  if (t->shape.empty() || t->shape[0] < 1 || t->data.size() != size_t(t->shape[0]) * D)
    throw std::runtime_error(fmt::format("{}: 'samples' has shape [{}], expected (n, {})", path,
                                         fmt::join(t->shape, ", "), D));
  for (size_t i = 0; i < t->data.size(); ++i)
    if (!(t->data[i] >= -1.0001f && t->data[i] <= 1.0001f))
      throw std::runtime_error(fmt::format(
          "{}: sample value {} (at {}) is outside [-1, 1] (not images scaled as the engine's)",
          path, t->data[i], i));
  *n = size_t(t->shape[0]);
  return t->data;
}

int run_evaluate(const EvaluateRequest& r) {
  if (r.checkpoint.empty() == r.samples.empty())
    throw std::invalid_argument("evaluate: give one of --checkpoint and --samples");
  std::optional<GeneratorCheckpoint> g;
  std::string data_dir = r.data_dir;
  if (!r.checkpoint.empty()) {
    g = read_generator_checkpoint(r.checkpoint, r.raw_weights);
    if (data_dir.empty()) {
      try {
        data_dir = std::filesystem::path(json_string(g->ck.meta, "data")).parent_path().string();
      } catch (const std::invalid_argument& e) {
        throw std::runtime_error(r.checkpoint + ": checkpoint metadata: " + e.what());
      }
    }
  }
  if (data_dir.empty()) data_dir = kDefaultDataDir;
  ExecResources exec(resolve_device(device_choice_from_name(r.device)));
  auto clf = obtain_classifier(exec.context(), r.classifier, data_dir, 1024, stdout);
  const size_t D = size_t(clf->input_dim());
  if (g && size_t(g->rows) * size_t(g->cols) != D)
    throw std::runtime_error(fmt::format("{}: the generator makes {}x{} images, the data set in {} "
                                         "has {}x{}",
                                         r.checkpoint, g->rows, g->cols, data_dir,
                                         clf->identity().rows, clf->identity().cols));
  if (g && exec.context().kind == DeviceKind::Cpu)
    require_host_memory(evaluation_bytes(size_t(r.n), D, size_t(clf->feature_dim()),
                                         size_t(clf->classes())),
                        fmt::format("scoring --n {} samples", r.n));
  Evaluator ev(exec.context(), std::move(clf), read_labelled_split(data_dir, "t10k", kMnistClasses));
  QualityScores gen;
  std::string what;
  if (g) {
    Model G("generator", g->cfg.generator, 1, exec.context().kind);
    load_generator(G, *g);
    gen = ev.score_generator(G, g->cfg.noise, size_t(r.n), r.seed, g->cfg.classes);
    what =
        fmt::format("{} (step {}), {} samples, noise seed {}{}{}", r.checkpoint,
                    g->ck.counters.count("step") ? g->ck.counters.at("step") : 0, r.n, r.seed,
                    g->cfg.classes ? fmt::format(", classes 0-{} in turn", g->cfg.classes - 1) : "",
                    weights_said(*g));
  } else {
    size_t n = 0;
    const std::vector<float> samples = read_sample_file(r.samples, D, &n);
    gen = ev.score_images(samples.data(), n);
    what = fmt::format("{}, {} samples", r.samples, n);
  }
  const QualityScores real = ev.real_vs_real();
  std::printf("%s\nclassifier %.2f%% on the test split; real: %zu test images of %s\n%s",
              what.c_str(), 100 * ev.classifier().test_accuracy, ev.real_count(), data_dir.c_str(),
              format_quality_table(gen, real).c_str());
  if (!r.json_out.empty()) {
    const nlohmann::json j = {{"source", r.checkpoint.empty() ? r.samples : r.checkpoint},
                              {"data", data_dir},
                              {"seed", r.seed},
                              {"classifier_test_accuracy", ev.classifier().test_accuracy},
                              {"generated", quality_scores_to_json(gen)},
                              {"real_vs_real", quality_scores_to_json(real)}};
    write_file_atomic(r.json_out, j.dump(2) + "\n");
  }
  return 0;
}

// The models a `train` with the same --preset and flags would build, layer by layer.
int run_describe(const std::string& preset, const Overrides& ov) {
  TrainConfig c = make_preset(preset);
  ov.apply(c);
  validate_train_config(c, 784);
  std::printf("preset %s, batch %d, %llu steps, %s noise, %s init, D update %s\n",
              c.preset.c_str(), c.batch, (unsigned long long)c.steps,
              distribution_name(c.noise), init_scheme_name(c.init), d_update_name(c.d_update));
  if (c.classes > 0) std::printf("G reads %s\n", generator_input_note(c).c_str());
  if (c.ema > 0.0f) std::printf("samples from %s\n", generator_weights_note(c).c_str());
  std::printf("\ngenerator\n%s\ndiscriminator\n%s", describe_model_layers(c.generator).c_str(),
              describe_model_layers(c.discriminator).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mnist_gan: trains the seed tutorials' GANs (MLPs and a DCGAN) on MNIST-format (IDX) data on "
      "a CUDA GPU or the CPU, writing sample grids, metrics and checkpoints"};
  app.require_subcommand(1);

  // ---- train ----
  CLI::App* train = app.add_subcommand("train", "train a GAN (new run, or --resume one)");
  std::string preset = "keras-mlp", data_dir, out_dir, resume_dir, device = "auto", gemm = "cublas";
  bool tf32 = false;
  Overrides ov;
  std::string presets_help = "model preset:";
  for (const auto& p : preset_names()) presets_help += " " + p;
  train->add_option("--preset", preset, presets_help)->capture_default_str();
  train->add_option("--data", data_dir,
                    fmt::format("MNIST-format directory (train-images-idx3-ubyte[.gz]); default "
                                "{} (Debian package dataset-fashion-mnist)",
                                kDefaultDataDir));
  train->add_option("--out", out_dir, "run directory to create, e.g. runs/NAME");
  train->add_option("--resume", resume_dir,
                    "continue the run in this directory from its latest "
                    "checkpoint (to its total, or to --steps)");
  train->add_option("--device", device, "auto (GPU when one exists), cuda or cpu")
      ->capture_default_str();
  ov.add_to(train);
  train->add_option("--sample-grid", ov.grid, "sample grids hold N x N images")
      ->check(app::whole_number(1, kMaxSampleGrid));
  train->add_option("--sample-scale", ov.scale, "sample grids' pixel scale (nearest neighbour)")
      ->check(app::whole_number(1, kMaxSampleScale));
  train->add_flag("--conditional", ov.conditional,
                  "conditional GAN: G and D also read the class (one-hot, labels from "
                  "train-labels-idx1-ubyte); grids show one class a row");
  train->add_option("--gemm", gemm, "CUDA GEMM back end: cublas or tiled")->capture_default_str();
  train->add_flag("--tf32", tf32, "allow TF32 tensor cores in cuBLAS GEMMs");
  app::GraphFlags graph;
  graph.add_to(train);
  std::optional<int> eval_every, eval_n;
  std::optional<std::string> train_classifier_path;
  train->add_option("--eval-every", eval_every,
                    "score sample quality every N steps into eval.csv (0: never)")
      ->check(app::whole_number(0, INT32_MAX));
  train->add_option("--eval-n", eval_n, "samples scored at each evaluation (default 10000)")
      ->check(app::whole_number(10, kMaxEvalSamplesInRun));
  train->add_option("--classifier", train_classifier_path,
                    "classifier for --eval-every (default: the data set's cached one, trained "
                    "the first time)");

  // ---- classifier ----
  CLI::App* classify = app.add_subcommand(
      "classifier", "train the evaluation classifier on a labelled MNIST-format data set");
  std::string cls_data = kDefaultDataDir, cls_out, cls_device = "auto";
  ClassifierTrainConfig cls_cfg;
  classify->add_option("--data", cls_data, "MNIST-format directory with train-* and t10k-* "
                                           "images and labels")
      ->capture_default_str();
  classify->add_option("--out", cls_out, "safetensors file to write")->required();
  classify->add_option("--steps", cls_cfg.steps, "training steps")
      ->check(app::whole_number(1, 10'000'000))
      ->capture_default_str();
  classify->add_option("--batch", cls_cfg.batch, "batch size")
      ->check(app::whole_number(1, 65536))
      ->capture_default_str();
  classify->add_option("--seed", cls_cfg.seed, "seed of the init, batches and dropout")
      ->check(app::whole_number(0, UINT64_MAX))
      ->capture_default_str();
  classify->add_option("--device", cls_device, "auto, cuda or cpu")->capture_default_str();

  // ---- evaluate ----
  CLI::App* evaluate = app.add_subcommand(
      "evaluate", "score a generator's samples: Frechet distance, classifier score, classes "
                  "covered, precision and recall, beside the real data's own values");
  EvaluateRequest ev_req;
  evaluate->add_option("--checkpoint", ev_req.checkpoint, "checkpoint whose generator is scored");
  evaluate->add_option("--samples", ev_req.samples,
                       "or: a safetensors file of samples to score (tensor 'samples', (n, 784), "
                       "values in [-1, 1])");
  evaluate->add_option("--classifier", ev_req.classifier,
                       "classifier file (default: the data set's cached one, trained the first "
                       "time)");
  evaluate->add_option("--data", ev_req.data_dir,
                       "MNIST-format directory of the real images (default: the checkpoint's "
                       "training data, else Fashion-MNIST)");
  evaluate->add_option("--n", ev_req.n, "samples generated and scored")
      ->check(app::whole_number(kMinEvalSamples, kMaxEvalSamples))
      ->capture_default_str();
  evaluate->add_option("--seed", ev_req.seed, "noise seed")
      ->check(app::whole_number(0, UINT64_MAX))
      ->capture_default_str();
  evaluate->add_option("--json", ev_req.json_out, "also write the numbers to this JSON file");
  evaluate->add_option("--device", ev_req.device, "auto, cuda or cpu")->capture_default_str();
  const char* raw_help = "use G's trained weights, not the average a --ema run kept";
  evaluate->add_flag("--raw-weights", ev_req.raw_weights, raw_help);

  // ---- generate ----
  CLI::App* generate = app.add_subcommand("generate", "write a grid of samples from a checkpoint");
  std::string gen_ckpt, gen_out, gen_device = "auto";
  int gen_n = 64, gen_cols = 0, gen_scale = 2;
  uint64_t gen_seed = 1;
  std::optional<int> gen_label;
  generate->add_option("--checkpoint", gen_ckpt, "checkpoint file (runs/NAME/checkpoints/...)")
      ->required();
  generate->add_option("--out", gen_out, "PNG file to write")->required();
  generate->add_option("--n", gen_n, "number of samples")
      ->check(app::whole_number(1, 4096))
      ->capture_default_str();
  generate->add_option("--columns", gen_cols, "grid columns (default: square)")
      ->check(app::whole_number(1, 4096));
  generate->add_option("--sample-scale", gen_scale, "the grid's pixel scale (nearest neighbour)")
      ->check(app::whole_number(1, kMaxSampleScale))
      ->capture_default_str();
  generate->add_option("--seed", gen_seed, "noise seed")
      ->check(app::whole_number(0, UINT64_MAX))
      ->capture_default_str();
  generate
      ->add_option("--label", gen_label,
                   "conditional generators: every sample of this class (default: each class "
                   "in turn, one per column)")
      ->check(app::whole_number(0, kMaxClasses - 1));
  generate->add_option("--device", gen_device, "auto, cuda or cpu")->capture_default_str();
  bool gen_raw = false;
  generate->add_flag("--raw-weights", gen_raw, raw_help);

  // ---- export ----
  CLI::App* exp = app.add_subcommand("export", "write a checkpoint's generator as safetensors");
  std::string exp_ckpt, exp_out;
  exp->add_option("--checkpoint", exp_ckpt, "checkpoint file")->required();
  exp->add_option("--out", exp_out, "safetensors file to write")->required();
  bool exp_raw = false;
  exp->add_flag("--raw-weights", exp_raw, raw_help);

  // ---- describe ----
  CLI::App* describe = app.add_subcommand(
      "describe", "print the generator and discriminator a train command would build: each "
                  "layer, its output shape and parameters");
  std::string desc_preset = "keras-mlp";
  Overrides desc_ov;
  describe->add_option("--preset", desc_preset, presets_help)->capture_default_str();
  desc_ov.add_to(describe);
  describe->add_flag("--conditional", desc_ov.conditional, "as train --conditional");

  // ---- devices ----
  CLI::App* devices = app.add_subcommand("devices", "list the compute devices this build can use");

  if (const int status = app::parse_command_line(app, argc, argv, "mnist_gan"); status >= 0)
    return status;

  try {
    if (generate->parsed())
      return run_generate(gen_ckpt, gen_n, gen_out, gen_seed, gen_device, gen_cols, gen_scale,
                          gen_label, gen_raw);
    if (exp->parsed()) return run_export(exp_ckpt, exp_out, exp_raw);
    if (classify->parsed()) return run_classifier(cls_data, cls_out, cls_device, cls_cfg);
    if (evaluate->parsed()) return run_evaluate(ev_req);
    if (describe->parsed()) return run_describe(desc_preset, desc_ov);
    if (devices->parsed()) {
      std::string why;
      const int n = cuda_device_count(&why);
      for (int i = 0; i < n; ++i)
        std::printf("cuda:%d %s\n", i, cuda_device_description(i).c_str());
      if (n == 0) std::printf("%s\n", why.c_str());
      std::printf("cpu (reference ops)\n");
      return 0;
    }

    RunRequest req;
    if (!resume_dir.empty()) {
      req = app::resume_request(resume_dir, out_dir, ov, train->count("--preset") > 0);
    } else {
      req.config = make_preset(preset);
      ov.apply(req.config);
      req.run_dir = out_dir;
      req.data_dir = data_dir;
    }
    req.eval_every = eval_every;
    req.eval_samples = eval_n;
    // Absolute, so a resume from another working directory finds the same file.
    if (train_classifier_path)
      req.classifier = std::filesystem::absolute(*train_classifier_path).string();
    req.device = device_choice_from_name(device);
    req.gemm = gemm_from_name(gemm);
    req.tf32 = tf32;
    req.cuda_graph = graph.choice();
    return app::run_stoppable(req, [&](const RunResult& r) {
      std::printf(
          "done: %llu steps in %.1f s; samples in %s/samples, metrics in %s/metrics.csv, "
          "checkpoint %s\n",
          (unsigned long long)r.step, r.seconds, req.run_dir.c_str(), req.run_dir.c_str(),
          r.last_checkpoint.c_str());
    });
  } catch (const std::exception& e) {
    return app::report_error("mnist_gan", e);
  }
}
