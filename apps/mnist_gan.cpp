// mnist_gan: trains the seed tutorials' GANs on MNIST-format data, writes sample grids, metrics
// and checkpoints; generates images from a checkpoint.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <optional>

#include "engine/checkpoint.h"
#include "engine/gan_trainer.h"
#include "engine/image_grid.h"
#include "engine/json_fields.h"
#include "engine/safetensors.h"
#include "engine/training_run.h"
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
struct GeneratorCheckpoint {
  Checkpoint ck;
  TrainConfig cfg;
  int rows = 0, cols = 0;
};

GeneratorCheckpoint read_generator_checkpoint(const std::string& path) {
  GeneratorCheckpoint g{load_checkpoint(path), {}, 0, 0};
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
  const ModelFootprint f = model_footprint(g.cfg.generator, 1);
  for (const auto& [name, need] : {std::pair<std::string, uint64_t>{"g.params", f.params},
                                   {"g.state", f.state}}) {
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

int run_generate(const std::string& ckpt_path, int n, const std::string& out, uint64_t seed,
                 const std::string& device, int columns) {
  const GeneratorCheckpoint g = read_generator_checkpoint(ckpt_path);
  ExecResources exec(resolve_device(device_choice_from_name(device)));
  Model G("generator", g.cfg.generator, std::min(n, 1024), exec.context().kind);
  load_model_weights(G, g.ck, "g");
  const std::vector<float> images = generate_images(exec.context(), G, g.cfg.noise, n, seed);
  if (columns <= 0) {
    columns = 1;
    while (columns * columns < n) ++columns;
  }
  write_png(out, tile_images(images, n, g.rows, g.cols, columns), 2);
  std::printf("wrote %d samples (%s, seed %llu) to %s\n", n, exec.description().c_str(),
              (unsigned long long)seed, out.c_str());
  return 0;
}

int run_export(const std::string& ckpt_path, const std::string& out) {
  const GeneratorCheckpoint g = read_generator_checkpoint(ckpt_path);
  Model G("generator", g.cfg.generator, 1, DeviceKind::Cpu);
  load_model_weights(G, g.ck, "g");
  write_safetensors(out, model_named_tensors(G),
                    {{"format", "pt"}, {"model", describe_model_spec(g.cfg.generator)}});
  std::printf("wrote the generator (%s) to %s\n", describe_model_spec(g.cfg.generator).c_str(),
              out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "mnist_gan: trains the seed tutorials' MLP GANs on MNIST-format (IDX) data on a CUDA GPU or "
      "the CPU, writing sample grids, metrics and checkpoints"};
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
  train->add_option("--gemm", gemm, "CUDA GEMM back end: cublas or tiled")->capture_default_str();
  train->add_flag("--tf32", tf32, "allow TF32 tensor cores in cuBLAS GEMMs");
  bool cuda_graph = false;
  train->add_flag("--cuda-graph", cuda_graph,
                  "CUDA: capture the training step once and replay it as one graph launch");

  // ---- generate ----
  CLI::App* generate = app.add_subcommand("generate", "write a grid of samples from a checkpoint");
  std::string gen_ckpt, gen_out, gen_device = "auto";
  int gen_n = 64, gen_cols = 0;
  uint64_t gen_seed = 1;
  generate->add_option("--checkpoint", gen_ckpt, "checkpoint file (runs/NAME/checkpoints/...)")
      ->required();
  generate->add_option("--out", gen_out, "PNG file to write")->required();
  generate->add_option("--n", gen_n, "number of samples")
      ->check(app::whole_number(1, 4096))
      ->capture_default_str();
  generate->add_option("--columns", gen_cols, "grid columns (default: square)")
      ->check(app::whole_number(1, 4096));
  generate->add_option("--seed", gen_seed, "noise seed")
      ->check(app::whole_number(0, UINT64_MAX))
      ->capture_default_str();
  generate->add_option("--device", gen_device, "auto, cuda or cpu")->capture_default_str();

  // ---- export ----
  CLI::App* exp = app.add_subcommand("export", "write a checkpoint's generator as safetensors");
  std::string exp_ckpt, exp_out;
  exp->add_option("--checkpoint", exp_ckpt, "checkpoint file")->required();
  exp->add_option("--out", exp_out, "safetensors file to write")->required();

  // ---- devices ----
  CLI::App* devices = app.add_subcommand("devices", "list the compute devices this build can use");

  if (const int status = app::parse_command_line(app, argc, argv, "mnist_gan"); status >= 0)
    return status;

  try {
    if (generate->parsed())
      return run_generate(gen_ckpt, gen_n, gen_out, gen_seed, gen_device, gen_cols);
    if (exp->parsed()) return run_export(exp_ckpt, exp_out);
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
    req.device = device_choice_from_name(device);
    req.gemm = gemm_from_name(gemm);
    req.tf32 = tf32;
    req.cuda_graph = cuda_graph;
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
