// Writes the fuzz targets' seed corpus with the engine's own writers, so the seeds are valid files
// of today's formats (a format change regenerates them; nothing binary is committed):
//   <out>/fuzz_idx/          image and label files, raw and gzip (write_idx_images/labels)
//   <out>/fuzz_checkpoint/   trainer checkpoints (an image GAN with batch norm, two toy runs) and
//                            hand-made edge cases (no tensors, a scalar, an empty tensor)
//   <out>/fuzz_safetensors/  the generator exports of those runs and hand-made edge cases
//   <out>/fuzz_config/       config.json as a run writes it, for every preset and toy experiment
// Usage: make_seed_corpus OUT_DIR
#include <cstdio>
#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/train/checkpoint.h"
#include "engine/core/context.h"
#include "engine/train/gan_trainer.h"
#include "engine/data/idx.h"
#include "engine/io/safetensors.h"
#include "engine/train/toy_experiments.h"
#include "engine/train/train_config.h"
#include "engine/train/training_run.h"

using namespace gan;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Deterministic bytes with MNIST's texture: runs of zeros between bright strokes.
ImageSet pattern_images(uint32_t count, uint32_t rows, uint32_t cols) {
  ImageSet set{count, rows, cols, std::vector<uint8_t>(size_t(count) * rows * cols)};
  for (size_t i = 0; i < set.pixels.size(); ++i)
    set.pixels[i] = (i / 3) % 4 == 0 ? uint8_t(i * 37) : 0;
  return set;
}

void write_idx_seeds(const fs::path& dir) {
  for (bool gzip : {false, true}) {
    const std::string suffix = gzip ? ".gz" : "";
    write_idx_images((dir / ("images-3x4x5" + suffix)).string(), pattern_images(3, 4, 5), gzip);
    write_idx_images((dir / ("images-2x28x28" + suffix)).string(), pattern_images(2, 28, 28),
                     gzip);
    write_idx_images((dir / ("images-1x1x1" + suffix)).string(), pattern_images(1, 1, 1), gzip);
    write_idx_labels((dir / ("labels-10" + suffix)).string(),
                     {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, gzip);
    write_idx_labels((dir / ("labels-1" + suffix)).string(), {7}, gzip);
  }
}

// The image GAN a mnist_gan run on 4x4 images would train: batch norm in G, dropout in D.
TrainConfig small_image_config() {
  TrainConfig c = make_preset("keras-mlp");
  c.generator.input = 4;
  c.generator.layers = {LayerSpec::dense(8), LayerSpec::activation(Activation::leaky_relu(0.2f)),
                        LayerSpec::batchnorm(BatchNormConfig::keras(0.8f)), LayerSpec::dense(16),
                        LayerSpec::activation(Activation::tanh())};
  c.discriminator.input = 16;
  c.discriminator.layers = {LayerSpec::dense(8),
                            LayerSpec::activation(Activation::leaky_relu(0.2f)),
                            LayerSpec::dropout(0.25f), LayerSpec::dense(1)};
  c.batch = 4;
  c.steps = 3;
  return c;
}

// A trainer after a few steps: its checkpoint (with config.json's meta, as a run saves it) and
// its generator export (with a run's metadata).
void write_trainer_seeds(const fs::path& ckpt_dir, const fs::path& st_dir, const std::string& name,
                         GanTrainer& trainer, const json& meta) {
  trainer.init();
  for (int i = 0; i < 3; ++i) trainer.train_step();
  trainer.context().synchronize();
  save_checkpoint((ckpt_dir / (name + ".ckpt")).string(), trainer.checkpoint(meta));
  write_safetensors((st_dir / (name + ".safetensors")).string(),
                    model_named_tensors(trainer.generator()),
                    {{"format", "pt"},
                     {"model", describe_model_spec(trainer.config().generator)},
                     {"step", std::to_string(trainer.step())},
                     {"engine", std::string("gan-engine ") + engine_version()}});
}

json image_run_meta(const TrainConfig& cfg, const ImageSet& data) {
  return {{"version", engine_version()}, {"config", train_config_to_json(cfg)},
          {"device", "cpu (reference ops)"}, {"data", "/usr/share/datasets/fashion-mnist/x.gz"},
          {"image_rows", data.rows}, {"image_cols", data.cols}};
}

json toy_run_meta(const ToyExperiment& e) {
  return {{"version", engine_version()},
          {"config", train_config_to_json(e.config)},
          {"device", "cpu (reference ops)"},
          {"data", "toy"},
          {"toy",
           {{"experiment", e.name},
            {"summary", e.summary},
            {"target", toy_target_to_json(e.target)},
            {"eval_samples", e.eval_samples}}}};
}

// config.json as Run::write_config writes it: the meta plus the execution flags.
void write_config_seed(const fs::path& path, json meta) {
  meta["gemm_backend"] = "cublas";
  meta["tf32"] = false;
  meta["cuda_graph"] = false;
  const std::string text = meta.dump(2) + "\n";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
    throw std::runtime_error(path.string() + ": cannot write");
}

void write_seeds(const fs::path& out) {
  const fs::path idx = out / "fuzz_idx", ckpt = out / "fuzz_checkpoint",
                 st = out / "fuzz_safetensors", config = out / "fuzz_config";
  for (const fs::path& dir : {idx, ckpt, st, config}) fs::create_directories(dir);
  write_idx_seeds(idx);

  ExecResources cpu(DeviceKind::Cpu);
  {
    const TrainConfig cfg = small_image_config();
    const ImageSet data = pattern_images(8, 4, 4);
    GanTrainer trainer(cfg, data, cpu.context());
    write_trainer_seeds(ckpt, st, "image-gan", trainer, image_run_meta(cfg, data));
  }
  for (const std::string name : {"gauss1d", "parabola"}) {
    const ToyExperiment e = make_toy_experiment(name);
    const PointSet data = toy_training_set(e.target, e.config.seed);
    GanTrainer trainer(e.config, data, cpu.context());
    write_trainer_seeds(ckpt, st, "toy-" + name, trainer, toy_run_meta(e));
  }

  // Edge cases a trainer never writes but the formats allow.
  Checkpoint edge;
  save_checkpoint((ckpt / "empty.ckpt").string(), edge);
  edge.meta = {{"note", "edge cases"}, {"list", {1, -2, 3.5, nullptr, true}}};
  edge.counters = {{"step", 7}, {"adam_t_g", 18446744073709551615ull}};
  edge.tensors = {{"scalar", {}, {1.5f}},
                  {"empty", {0, 3}, {}},
                  {"matrix", {2, 3}, {1, 2, 3, -4, 0.5f, -0.0f}}};
  save_checkpoint((ckpt / "edge-cases.ckpt").string(), edge);
  write_safetensors((st / "empty.safetensors").string(), {});
  write_safetensors((st / "edge-cases.safetensors").string(), edge.tensors,
                    {{"format", "pt"}, {"", ""}});

  for (const std::string& name : preset_names()) {
    const TrainConfig cfg = make_preset(name);
    write_config_seed(config / (name + ".json"), image_run_meta(cfg, pattern_images(1, 28, 28)));
  }
  for (const std::string& name : toy_experiment_names())
    write_config_seed(config / ("toy-" + name + ".json"), toy_run_meta(make_toy_experiment(name)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seed_corpus OUT_DIR\n");
    return 2;
  }
  try {
    write_seeds(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_seed_corpus: %s\n", e.what());
    return 1;
  }
  return 0;
}
