// Whole-training-step benchmark: microseconds per iteration and images/s for each preset and
// batch size, with plain launches and (CUDA) one graph launch per step; kernels per step (graph
// nodes) and the trainer's device memory. Also dumps one step's inputs and results for the
// PyTorch/JAX peers to check that they compute the same thing (benchmarks/peers).
#include <fmt/format.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/core/cpu_threads.h"
#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "engine/train/gan_trainer.h"
#include "kernels/random.h"

#if GAN_WITH_CUDA
#include "kernels/cuda/check.h"
#endif

using namespace gan;

namespace {

// A resident set of random images (the step's cost does not depend on their content).
ImageSet synthetic_data(uint32_t count) {
  ImageSet set{count, 28, 28, std::vector<uint8_t>(size_t(count) * 784)};
  std::vector<float> u(set.pixels.size());
  const uint64_t counter = 0;
  cpu::random_fill<float>(u.data(), u.size(), Distribution::Uniform01, 7, 0, &counter);
  for (size_t i = 0; i < u.size(); ++i) set.pixels[i] = uint8_t(u[i] * 256.0f);
  return set;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

size_t device_free_bytes(const ExecContext& ctx) {
#if GAN_WITH_CUDA
  if (ctx.is_cuda()) {
    size_t free_b = 0, total_b = 0;
    CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    return free_b;
  }
#endif
  (void)ctx;
  return 0;
}

// CPU-bound processes beside the benchmark (--busy): each spins until this process ends them
// (or dies: PR_SET_PDEATHSIG), as a build or a second run would hold a core.
class BusyProcesses {
 public:
  explicit BusyProcesses(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) throw std::runtime_error("--busy: fork failed");
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile unsigned long x = 0;
        for (;;) x = x + 1;
      }
      pids_.push_back(pid);
    }
  }
  ~BusyProcesses() {
    for (pid_t pid : pids_) kill(pid, SIGKILL);
    for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  }
  BusyProcesses(const BusyProcesses&) = delete;
  BusyProcesses& operator=(const BusyProcesses&) = delete;

 private:
  std::vector<pid_t> pids_;
};

// Microseconds per step over `steps` steps after `warmup` (device time on CUDA: host clock around
// a synchronised span, which on a saturated stream is the device's time). With the adaptive CPU
// thread count the warm-up lasts at least half a second, so that the count has measured the load.
double time_steps(GanTrainer& t, const ExecContext& ctx, int warmup, int steps, bool adaptive) {
  const auto w0 = std::chrono::steady_clock::now();
  for (int i = 0; i < warmup; ++i) t.train_step();
  while (adaptive && !ctx.is_cuda() &&
         std::chrono::steady_clock::now() - w0 < std::chrono::milliseconds(500))
    t.train_step();
  ctx.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) t.train_step();
  ctx.synchronize();
  const auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / steps;
}

TrainConfig bench_config(const std::string& preset, int batch, bool no_dropout) {
  TrainConfig c = make_preset(preset);
  c.batch = batch;
  c.log_every = 1;
  c.sample_grid = 1;
  c.seed = 1;
  if (no_dropout)
    for (ModelSpec* m : {&c.generator, &c.discriminator})
      for (LayerSpec& l : m->layers)
        if (l.kind == LayerKind::Dropout) l.rate = 0.0f;
  return c;
}

std::vector<NamedTensor> prefixed(const std::string& prefix, std::vector<NamedTensor> ts) {
  for (auto& t : ts) t.name = prefix + t.name;
  return ts;
}

int dump_first_step(const std::string& dir, const std::string& preset, int batch, bool no_dropout,
                    const ExecContext& ctx) {
  std::filesystem::create_directories(dir);
  const TrainConfig cfg = bench_config(preset, batch, no_dropout);
  const ImageSet data = synthetic_data(2048);
  GanTrainer t(cfg, data, ctx);
  t.init();
  auto both = [&] {
    auto g = prefixed("G.", model_named_tensors(t.generator()));
    auto d = prefixed("D.", model_named_tensors(t.discriminator()));
    g.insert(g.end(), d.begin(), d.end());
    return g;
  };
  write_safetensors(dir + "/init.safetensors", both(), {{"preset", preset}});
  const GanTrainer::StepInputs in = t.step_inputs(1);
  const int64_t B = batch, z = cfg.z_dim();
  write_safetensors(
      dir + "/inputs.safetensors",
      {{"real", {B, 784}, in.real}, {"z_d", {B, z}, in.z_d}, {"z_g", {B, z}, in.z_g}});
  t.train_step();
  t.request_stats();
  const StepStats st = t.collect_stats();
  write_safetensors(dir + "/after.safetensors", both(), {{"preset", preset}});
  const nlohmann::json losses = {{"preset", preset},
                                 {"batch", batch},
                                 {"d_loss_real", st.d_loss_real},
                                 {"d_loss_fake", st.d_loss_fake},
                                 {"g_loss", st.g_loss},
                                 {"dropout", !no_dropout},
                                 {"config", train_config_to_json(cfg)}};
  write_file_atomic(dir + "/losses.json", losses.dump(2) + "\n");
  fmt::print("wrote {}/{{init,inputs,after}}.safetensors and losses.json ({} batch {}, {})\n", dir,
             preset, batch, no_dropout ? "dropout off" : "dropout on");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_step: microseconds per GAN training iteration, per preset and batch size"};
  std::string device = "auto", presets = "keras-mlp,tf-mlp,torch-mlp", batches, json_path,
              gemm = "cublas";
  std::string dump_dir, dump_preset = "keras-mlp";
  int steps = 200, warmup = 20, dump_batch = 64, threads = 0, busy = 0;
  bool tf32 = false, no_graph = false, no_dropout = false, unfused_act_backward = false;
  app.add_option("--device", device, "auto, cuda or cpu")->capture_default_str();
  app.add_option("--presets", presets, "comma-separated presets")->capture_default_str();
  app.add_option("--batches", batches,
                 "comma-separated batch sizes (default 32,64,128,1024,8192 on CUDA, 32,64,128 on "
                 "the CPU)");
  app.add_option("--steps", steps, "timed steps per case")->check(CLI::PositiveNumber);
  app.add_option("--warmup", warmup, "untimed steps first")->check(CLI::NonNegativeNumber);
  app.add_option("--gemm", gemm, "cublas or tiled")
      ->check(CLI::IsMember({"cublas", "tiled"}))
      ->capture_default_str();
  app.add_flag("--tf32", tf32, "TF32 tensor cores in cuBLAS");
  app.add_flag("--no-graph", no_graph, "skip the CUDA-graph timing");
  app.add_flag("--unfused-act-backward", unfused_act_backward,
               "a dense layer's activation backward and bias gradient as two kernels (the old "
               "way, to measure the fused kernel against)");
  app.add_option("--threads", threads,
                 "CPU threads: 0 adapts to the cores other processes leave free (the default)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--busy", busy,
                 "CPU-bound processes to run beside the benchmark (a shared machine)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--json", json_path, "write the rows as JSON here");
  app.add_option("--dump-first-step", dump_dir,
                 "instead of timing: write one step's initial weights, inputs, updated weights and "
                 "losses to DIR for the peers' check");
  app.add_option("--preset", dump_preset, "preset of --dump-first-step")->capture_default_str();
  app.add_option("--batch", dump_batch, "batch of --dump-first-step")->capture_default_str();
  app.add_flag("--no-dropout", no_dropout, "dropout rates 0 (--dump-first-step)");
  CLI11_PARSE(app, argc, argv);

  try {
    // Before any thread exists: fork copies only the calling thread.
    BusyProcesses busy_procs(busy);
    set_cpu_threads(threads);
    DeviceKind kind = DeviceKind::Cpu;
    if (device == "cuda" || device == "auto") {
      std::string why;
      if (cuda_device_count(&why) > 0)
        kind = DeviceKind::Cuda;
      else if (device == "cuda")
        throw std::runtime_error("--device cuda: " + why);
    } else if (device != "cpu") {
      throw std::invalid_argument("--device: expected auto, cuda or cpu");
    }
    ExecResources exec(kind);
    exec.context().gemm_backend = gemm == "tiled" ? GemmBackend::Tiled : GemmBackend::Cublas;
    exec.context().tf32 = tf32;
    exec.context().fused_act_backward = !unfused_act_backward;
    const ExecContext& ctx = exec.context();
    if (!dump_dir.empty())
      return dump_first_step(dump_dir, dump_preset, dump_batch, no_dropout, ctx);

    if (batches.empty()) batches = kind == DeviceKind::Cuda ? "32,64,128,1024,8192" : "32,64,128";
    const ImageSet data = synthetic_data(60000);
    nlohmann::json rows = nlohmann::json::array();
    fmt::print("device: {}\n", exec.description());
    if (kind == DeviceKind::Cpu)
      fmt::print("cpu threads: {} (of {}), {} busy process(es) beside\n",
                 threads ? fmt::format("{}", std::min(threads, cpu_threads_max())) : "adaptive",
                 cpu_threads_max(), busy);
    fmt::print("{:<10} {:>6} {:>6} {:>12} {:>12} {:>8} {:>12} {:>9} {:>4}\n", "preset", "batch",
               "prec", "plain us", "graph us", "kernels", "images/s", "dev MiB", "thr");
    for (const std::string& preset : split(presets))
      for (const std::string& b : split(batches)) {
        const int batch = std::stoi(b);
        const TrainConfig cfg = bench_config(preset, batch, false);
        const size_t free_before = device_free_bytes(ctx);
        double plain_us = 0, graph_us = -1;
        size_t nodes = 0, used = 0;
        {
          GanTrainer t(cfg, data, ctx);
          t.init();
          plain_us = time_steps(t, ctx, warmup, steps, threads == 0);
          used = free_before - device_free_bytes(ctx);
        }
        if (kind == DeviceKind::Cuda && !no_graph) {
          GanTrainer t(cfg, data, ctx);
          t.init();
          t.use_cuda_graph(true);
          graph_us =
              time_steps(t, ctx, std::max(warmup, 2), steps, threads == 0);  // plain, then capture
          nodes = t.graph_nodes();
        }
        const double best = graph_us > 0 ? std::min(plain_us, graph_us) : plain_us;
        // The CPU thread count at the end of the timed steps.
        const int thr = cpu_threads();
        fmt::print("{:<10} {:>6} {:>6} {:>12.1f} {:>12} {:>8} {:>12.0f} {:>9} {:>4}\n", preset,
                   batch, tf32 ? "tf32" : "fp32", plain_us,
                   graph_us > 0 ? fmt::format("{:.1f}", graph_us) : "-",
                   nodes ? std::to_string(nodes) : "-", batch * 1e6 / best,
                   kind == DeviceKind::Cuda ? fmt::format("{:.1f}", used / 1048576.0) : "-",
                   kind == DeviceKind::Cuda ? "-" : std::to_string(thr));
        std::fflush(stdout);
        rows.push_back(
            {{"preset", preset},
             {"batch", batch},
             {"precision", tf32 ? "tf32" : "fp32"},
             {"gemm", gemm},
             {"fused_act_backward", !unfused_act_backward},
             {"cpu_threads",
              kind == DeviceKind::Cuda ? nlohmann::json(nullptr) : nlohmann::json(thr)},
             {"cpu_threads_policy", threads ? "fixed" : "adaptive"},
             {"busy_processes", busy},
             {"ours_plain_us", plain_us},
             {"ours_graph_us", graph_us > 0 ? nlohmann::json(graph_us) : nullptr},
             {"kernels_per_iter", nodes ? nlohmann::json(nodes) : nullptr},
             {"device_mem_bytes", kind == DeviceKind::Cuda ? nlohmann::json(used) : nullptr}});
      }
    if (!json_path.empty()) {
      const nlohmann::json out = {{"device", exec.description()}, {"rows", rows}};
      write_file_atomic(json_path, out.dump(2) + "\n");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_step: error: %s\n", e.what());
    return 1;
  }
}
