// mnist_gan: trains the seed tutorials' GANs on MNIST-format data, writes sample grids, metrics
// and checkpoints; generates images from a checkpoint.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <optional>

#include "engine/checkpoint.h"
#include "engine/gan_trainer.h"
#include "engine/image_grid.h"
#include "engine/safetensors.h"
#include "engine/training_run.h"

using namespace gan;

namespace {

std::atomic<int> g_stop_signal{0};

void on_signal(int signo) { g_stop_signal.store(signo); }

void install_signal_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Flags that override one field of the preset, applied only when given.
struct Overrides {
  std::optional<int> batch, z_dim, d_steps, log_every, sample_every, checkpoint_every, keep, grid;
  std::optional<uint64_t> steps, seed;
  std::optional<float> lr, lr_g, lr_d, beta1, beta2, label_smoothing;
  std::optional<std::string> noise, g_loss, d_update, init;

  void apply(TrainConfig& c) const {
    if (batch) c.batch = *batch;
    if (steps) c.steps = *steps;
    if (seed) c.seed = *seed;
    if (z_dim) c.generator.input = *z_dim;
    if (d_steps) c.d_steps = *d_steps;
    if (log_every) c.log_every = *log_every;
    if (sample_every) c.sample_every = *sample_every;
    if (checkpoint_every) c.checkpoint_every = *checkpoint_every;
    if (keep) c.keep_checkpoints = *keep;
    if (grid) c.sample_grid = *grid;
    if (lr) c.adam_g.lr = c.adam_d.lr = *lr;
    if (lr_g) c.adam_g.lr = *lr_g;
    if (lr_d) c.adam_d.lr = *lr_d;
    if (beta1) c.adam_g.beta1 = c.adam_d.beta1 = *beta1;
    if (beta2) c.adam_g.beta2 = c.adam_d.beta2 = *beta2;
    if (label_smoothing) c.label_smoothing = *label_smoothing;
    if (noise) c.noise = distribution_from_name(*noise);
    if (g_loss) c.g_loss = g_loss_from_name(*g_loss);
    if (d_update) c.d_update = d_update_from_name(*d_update);
    if (init) c.init = init_scheme_from_name(*init);
  }
  bool any_model_setting() const {
    return batch || z_dim || d_steps || lr || lr_g || lr_d || beta1 || beta2 || label_smoothing ||
           noise || g_loss || d_update || init || seed || grid;
  }
};

GemmBackend gemm_from_name(const std::string& s) {
  if (s == "cublas") return GemmBackend::Cublas;
  if (s == "tiled") return GemmBackend::Tiled;
  throw std::invalid_argument("--gemm: expected cublas or tiled, got '" + s + "'");
}

int run_generate(const std::string& ckpt_path, int n, const std::string& out, uint64_t seed,
                 const std::string& device, int columns) {
  const Checkpoint ck = load_checkpoint(ckpt_path);
  TrainConfig cfg;
  int rows = 0, cols = 0;
  try {
    cfg = train_config_from_json(ck.meta.at("config"));
    rows = ck.meta.at("image_rows").get<int>();
    cols = ck.meta.at("image_cols").get<int>();
  } catch (const std::exception& e) {
    throw std::runtime_error(ckpt_path + ": checkpoint metadata: " + e.what());
  }
  ExecResources exec(resolve_device(device_choice_from_name(device)));
  Model G("generator", cfg.generator, std::min(n, 1024), exec.context().kind);
  load_model_weights(G, ck, "g");
  const std::vector<float> images = generate_images(exec.context(), G, cfg.noise, n, seed);
  if (columns <= 0) {
    columns = 1;
    while (columns * columns < n) ++columns;
  }
  write_png(out, tile_images(images.data(), n, rows, cols, columns), 2);
  std::printf("wrote %d samples (%s, seed %llu) to %s\n", n, exec.description().c_str(),
              (unsigned long long)seed, out.c_str());
  return 0;
}

int run_export(const std::string& ckpt_path, const std::string& out) {
  const Checkpoint ck = load_checkpoint(ckpt_path);
  TrainConfig cfg;
  try {
    cfg = train_config_from_json(ck.meta.at("config"));
  } catch (const std::exception& e) {
    throw std::runtime_error(ckpt_path + ": checkpoint metadata: " + e.what());
  }
  Model G("generator", cfg.generator, 1, DeviceKind::Cpu);
  load_model_weights(G, ck, "g");
  write_safetensors(out, model_named_tensors(G),
                    {{"format", "pt"}, {"model", describe_model_spec(cfg.generator)}});
  std::printf("wrote the generator (%s) to %s\n", describe_model_spec(cfg.generator).c_str(),
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
  train->add_option("--steps", ov.steps, "total training iterations");
  train->add_option("--batch", ov.batch, "batch size");
  train->add_option("--seed", ov.seed, "seed of every random draw (init, data, noise, dropout)");
  train->add_option("--lr", ov.lr, "Adam learning rate of both G and D");
  train->add_option("--lr-g", ov.lr_g, "Adam learning rate of G");
  train->add_option("--lr-d", ov.lr_d, "Adam learning rate of D");
  train->add_option("--beta1", ov.beta1, "Adam beta1 of both");
  train->add_option("--beta2", ov.beta2, "Adam beta2 of both");
  train->add_option("--z-dim", ov.z_dim, "noise size (G's input)");
  train->add_option("--noise", ov.noise, "noise distribution: normal or uniform (-1, 1)");
  train->add_option("--d-steps", ov.d_steps, "D steps per G step");
  train->add_option("--d-update", ov.d_update,
                    "separate (Adam step after the real and after the fake batch, as Keras' two "
                    "train_on_batch calls) or joint (one step on the summed gradient)");
  train->add_option("--g-loss", ov.g_loss,
                    "nonsaturating (-log D(G(z))) or minimax (log(1 - D(G(z))))");
  train->add_option("--label-smoothing", ov.label_smoothing,
                    "one-sided: real targets become 1 - value");
  train->add_option("--init", ov.init, "glorot_uniform (Keras) or torch_default (PyTorch)");
  train->add_option("--log-every", ov.log_every, "steps between metrics rows / progress updates");
  train->add_option("--sample-every", ov.sample_every, "steps between sample grids");
  train->add_option("--checkpoint-every", ov.checkpoint_every, "steps between checkpoints");
  train->add_option("--keep-checkpoints", ov.keep, "checkpoints kept (oldest deleted)");
  train->add_option("--sample-grid", ov.grid, "sample grids hold N x N images");
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
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  generate->add_option("--columns", gen_cols, "grid columns (default: square)");
  generate->add_option("--seed", gen_seed, "noise seed")->capture_default_str();
  generate->add_option("--device", gen_device, "auto, cuda or cpu")->capture_default_str();

  // ---- export ----
  CLI::App* exp = app.add_subcommand("export", "write a checkpoint's generator as safetensors");
  std::string exp_ckpt, exp_out;
  exp->add_option("--checkpoint", exp_ckpt, "checkpoint file")->required();
  exp->add_option("--out", exp_out, "safetensors file to write")->required();

  // ---- devices ----
  CLI::App* devices = app.add_subcommand("devices", "list the compute devices this build can use");

  CLI11_PARSE(app, argc, argv);

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
      if (!out_dir.empty()) throw std::invalid_argument("--resume and --out: give one of them");
      if (ov.any_model_setting() || train->count("--preset"))
        throw std::invalid_argument(
            "--resume: the run's settings come from its config.json; only --steps and --device "
            "may be given");
      req.resume = true;
      req.run_dir = resume_dir;
      req.steps = ov.steps;
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
    req.live_progress = isatty(fileno(stdout));
    req.stop = &g_stop_signal;
    install_signal_handlers();
    const RunResult r = run_training(req);
    if (r.stopped_by_signal) {
      std::printf("stopped by signal %d at step %llu; checkpoint: %s\n", r.stopped_by_signal,
                  (unsigned long long)r.step, r.last_checkpoint.c_str());
      return 128 + r.stopped_by_signal;
    }
    std::printf(
        "done: %llu steps in %.1f s; samples in %s/samples, metrics in %s/metrics.csv, "
        "checkpoint %s\n",
        (unsigned long long)r.step, r.seconds, req.run_dir.c_str(), req.run_dir.c_str(),
        r.last_checkpoint.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "mnist_gan: error: %s\n", e.what());
    return 1;
  }
}
