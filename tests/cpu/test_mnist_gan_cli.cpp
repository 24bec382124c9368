// mnist_gan end to end: the binary run as a child process on tiny synthetic IDX data in a fresh
// temp dir, checking exit codes, the one-line `mnist_gan: error: ...` contract, what lands in the
// run directory (and that nothing half-written is left looking valid), exact resume, clean stops
// on SIGINT / SIGTERM and the hard stop on a non-finite loss. Every run is a few tiny steps of the
// tf-mlp preset on the CPU, so the whole file takes a few seconds.
#include <gtest/gtest.h>
#include <signal.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "mnist_gan_cli.h"
#include "engine/train/checkpoint.h"
#include "engine/core/device.h"
#include "engine/data/idx.h"


namespace fs = std::filesystem;
using namespace gan;
using namespace gan::test;

namespace {

// ---- 1. the happy path ----

TEST_F(MnistGanCli, TrainWritesACompleteRunDirectory) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, /*gzip=*/true);
  const Outcome o =
      train(data, run,
            {"--steps", "7", "--seed", "7", "--checkpoint-every", "2", "--keep-checkpoints", "2"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  EXPECT_NE(o.out.find("done: 7 steps"), std::string::npos) << o.out;

  // Exactly these entries: no temp file of an atomic write left behind.
  EXPECT_EQ(names_in(run),
            (std::set<std::string>{"checkpoints", "config.json", "curves.png", "d_outputs.png",
                                   "generator.safetensors", "metrics.csv", "progress.gif",
                                   "report.html", "samples"}));

  const auto cfg = nlohmann::json::parse(slurp(run + "/config.json"), nullptr, false);
  ASSERT_FALSE(cfg.is_discarded()) << "config.json is not valid JSON";
  EXPECT_EQ(cfg.at("config").at("seed"), 7u);
  EXPECT_EQ(cfg.at("config").at("steps"), 7u);
  EXPECT_EQ(cfg.at("config").at("batch"), 8);
  EXPECT_EQ(cfg.at("config").at("preset"), "tf-mlp");
  EXPECT_EQ(cfg.at("config").at("sample_scale"), 2);
  ASSERT_TRUE(cfg.contains("device"));
  EXPECT_NE(cfg.at("device").get<std::string>().find("cpu"), std::string::npos) << cfg.dump();
  EXPECT_TRUE(cfg.contains("version"));

  // One row per --log-every steps and one for the final step; first column the step.
  const Metrics m = read_metrics(run + "/metrics.csv");
  EXPECT_EQ(m.header.rfind("step,", 0), 0u) << m.header;
  EXPECT_EQ(m.steps, (std::vector<uint64_t>{2, 4, 6, 7}));
  const size_t columns = split_csv(m.header).size();
  for (const auto& row : m.rows) {
    ASSERT_EQ(row.size(), columns) << "metrics row with another column count than the header";
    for (const auto& cell : row) EXPECT_TRUE(std::isfinite(std::stod(cell))) << cell;
  }

  // Samples: the untrained generator (step 0), every --sample-every steps and the last step.
  EXPECT_EQ(names_in(run + "/samples"),
            (std::set<std::string>{"step_000000.png", "step_000002.png", "step_000004.png",
                                   "step_000006.png", "step_000007.png"}));
  for (const auto& f : names_in(run + "/samples")) {
    const auto [w, h] = png_size(run + "/samples/" + f);
    EXPECT_GT(w, 0u) << f << " is not a PNG";
    EXPECT_EQ(w, h) << f << ": a square grid";
  }

  // At most --keep-checkpoints checkpoints, the newest ones, each loading with finite tensors;
  // nothing else in checkpoints/.
  EXPECT_EQ(checkpoint_steps(run), (std::vector<uint64_t>{6, 7}));
  EXPECT_EQ(names_in(run + "/checkpoints"),
            (std::set<std::string>{"step_00000006.ckpt", "step_00000007.ckpt"}));
  for (const auto& [step, path] : list_checkpoints(run)) EXPECT_TRUE(good_checkpoint(path, step));

  const auto [gen_header, gen_data] = read_safetensors(run + "/generator.safetensors");
  ASSERT_TRUE(gen_header.contains("__metadata__")) << gen_header.dump();
  EXPECT_EQ(gen_header.at("__metadata__").at("step"), "7");

  // generate: a PNG grid from the last checkpoint.
  const std::string ckpt = checkpoint_path(run, 7);
  const std::string png = tmp / "grid.png";
  Outcome g = run_generate(ckpt, png, {});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_EQ(g.err, "");
  EXPECT_NE(g.out.find(png), std::string::npos) << g.out;
  const auto [w, h] = png_size(png);
  EXPECT_GT(w, 0u) << png << " is not a PNG";
  EXPECT_EQ(w, h) << "16 samples make a 4 x 4 grid";
  EXPECT_EQ(w, 2u * (4 * (28 + 1) + 1)) << "scale 2, a 1-pixel border around every sample";
  const std::string unscaled = tmp / "unscaled.png";
  g = run_generate(ckpt, unscaled, {"--sample-scale", "1"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  EXPECT_EQ(png_size(unscaled), std::pair(w / 2, h / 2));
  EXPECT_TRUE(is_parse_error(run_generate(ckpt, unscaled, {"--sample-scale", "17"}),
                             {"--sample-scale"}));

  const std::string tall = tmp / "tall.png";
  g = run_generate(ckpt, tall, {"--columns", "3"});
  ASSERT_EQ(g.code(), 0) << g.describe();
  const auto [tw, th] = png_size(tall);
  EXPECT_GT(tw, 0u);
  EXPECT_LT(tw, th) << "16 samples in 3 columns make 6 rows";

  // export: the checkpoint's generator, the same tensors as the run's generator.safetensors.
  const std::string st = tmp / "exported.safetensors";
  const Outcome x = mnist_gan({"export", "--checkpoint", ckpt, "--out", st});
  ASSERT_EQ(x.code(), 0) << x.describe();
  EXPECT_EQ(x.err, "");
  const auto [exp_header, exp_data] = read_safetensors(st);
  EXPECT_EQ(exp_data, gen_data) << "export of the final checkpoint differs from the run's "
                                   "generator.safetensors";
  for (auto& [name, t] : gen_header.items())
    if (name != "__metadata__") EXPECT_EQ(exp_header.value(name, nlohmann::json()), t) << name;
}

TEST_F(MnistGanCli, TrainsFromARawIdxFile) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, /*gzip=*/false);
  const Outcome o = train(data, run, {"--steps", "2", "--sample-scale", "3"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  const auto cfg = nlohmann::json::parse(slurp(run + "/config.json"));
  EXPECT_EQ(fs::path(cfg.at("data").get<std::string>()).filename(), "train-images-idx3-ubyte");
  EXPECT_EQ(cfg.at("config").at("sample_scale"), 3);
  EXPECT_EQ(read_metrics(run + "/metrics.csv").steps, (std::vector<uint64_t>{2}));
  EXPECT_TRUE(good_checkpoint(checkpoint_path(run, 2), 2));
}

TEST_F(MnistGanCli, TrainsAWganWithMinibatchStddev) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  const Outcome o = train(data, run, {"--steps", "4", "--wgan", "--minibatch-stddev"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  const auto cfg = nlohmann::json::parse(slurp(run + "/config.json")).at("config");
  EXPECT_EQ(cfg.at("loss"), "wasserstein");
  EXPECT_EQ(cfg.at("optimizer_d").at("kind"), "rmsprop");
  EXPECT_EQ(cfg.at("d_steps"), 5);
  EXPECT_TRUE(has_layer(cfg.at("discriminator"), "minibatch_stddev")) << cfg.at("discriminator");
  const Metrics m = read_metrics(run + "/metrics.csv");
  EXPECT_EQ(m.steps, (std::vector<uint64_t>{2, 4}));
  EXPECT_TRUE(all_finite(m));
  for (const char* f : {"curves.png", "d_outputs.png"})
    EXPECT_GT(png_size(run + "/" + f).first, 0u) << f << " is not a PNG";
  EXPECT_TRUE(good_checkpoint(checkpoint_path(run, 4), 4));
}

// ---- 2. resume ----

TEST_F(MnistGanCli, ResumeContinuesExactlyWithoutDuplicateRows) {
  const std::string data = tmp / "data", whole = tmp / "whole", split = tmp / "split";
  make_data(data, true);
  ASSERT_EQ(train(data, whole, {"--steps", "10", "--checkpoint-every", "4"}).code(), 0);

  // A run that died after its step-6 metrics row but before the step-6 checkpoint became the
  // latest: the resume goes back to step 4 and must rewrite rows 6.. rather than repeat them.
  ASSERT_EQ(train(data, split, {"--steps", "6", "--checkpoint-every", "4"}).code(), 0);
  EXPECT_EQ(read_metrics(split + "/metrics.csv").steps, (std::vector<uint64_t>{2, 4, 6}));
  fs::remove(checkpoint_path(split, 6));

  const Outcome r = mnist_gan({"train", "--resume", split, "--steps", "10", "--device", "cpu"});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("steps 4 -> 10"), std::string::npos) << r.out;

  const Metrics a = read_metrics(whole + "/metrics.csv"), b = read_metrics(split + "/metrics.csv");
  EXPECT_TRUE(strictly_increasing(b.steps));
  EXPECT_EQ(b.steps, (std::vector<uint64_t>{2, 4, 6, 8, 10}));
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i)  // losses, D outputs, accuracy (not the timings)
    for (size_t c = 0; c < 6; ++c)
      EXPECT_EQ(a.rows[i][c], b.rows[i][c]) << "metrics row " << i << " column " << c;
  EXPECT_EQ(slurp(whole + "/generator.safetensors"), slurp(split + "/generator.safetensors"))
      << "a resumed run must continue exactly where it stopped";
  EXPECT_EQ(nlohmann::json::parse(slurp(split + "/config.json")).at("config").at("steps"), 10u);
  EXPECT_TRUE(good_checkpoint(checkpoint_path(split, 10), 10));

  // Resuming a finished run to its total rewrites its final outputs (the way forward for a run
  // stopped at its last step, issue 10 item 7) and changes nothing else; a smaller total is
  // refused, naming --steps and the step the run is at. (report.html is rewritten: it says when.)
  auto before = snapshot(split);
  before.erase("report.html");
  for (const auto& args : {std::vector<std::string>{"train", "--resume", split, "--steps", "10"},
                           std::vector<std::string>{"train", "--resume", split}}) {
    const Outcome again = mnist_gan(args);
    EXPECT_EQ(again.code(), 0) << again.describe();
    EXPECT_NE(again.out.find("already at its last step (10)"), std::string::npos) << again.out;
  }
  EXPECT_TRUE(is_error(mnist_gan({"train", "--resume", split, "--steps", "3"}),
                       {"--steps 3", "already at step 10"}));
  auto after = snapshot(split);
  EXPECT_EQ(after.erase("report.html"), 1u);
  EXPECT_TRUE(after == before) << "resuming a finished run changed the run directory";
}

TEST_F(MnistGanCli, ResumeOfADirectoryWithoutConfig) {
  const std::string dir = tmp / "not_a_run";
  fs::create_directories(dir + "/checkpoints");
  const Outcome o = mnist_gan({"train", "--resume", dir, "--steps", "4"});
  EXPECT_TRUE(is_error(o, {"--resume", dir, "config.json"}));
  EXPECT_EQ(names_in(dir), (std::set<std::string>{"checkpoints"}));

  const Outcome missing = mnist_gan({"train", "--resume", tmp / "nowhere"});
  EXPECT_TRUE(is_error(missing, {"--resume", "nowhere", "no such run directory"}));
  EXPECT_FALSE(fs::exists(tmp / "nowhere"));
}

TEST_F(MnistGanCli, ResumeWithACorruptCheckpoint) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  ASSERT_EQ(train(data, run, {"--steps", "6", "--checkpoint-every", "2"}).code(), 0);
  const std::string latest = checkpoint_path(run, 6);
  std::string b = slurp(latest);
  ASSERT_GT(b.size(), 1000u);
  for (size_t i = b.size() / 2; i < b.size() / 2 + 8; ++i) b[i] = char(b[i] ^ 0xff);
  spit(latest, b);
  const auto before = snapshot(run);
  const Outcome o = mnist_gan({"train", "--resume", run, "--steps", "10"});
  EXPECT_TRUE(is_error(o, {latest, "checksum"}));
  EXPECT_TRUE(snapshot(run) == before) << "a refused resume changed the run directory";
}

TEST_F(MnistGanCli, ResumeRefusesSettingsOtherThanStepsAndDevice) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  ASSERT_EQ(train(data, run, {"--steps", "4", "--checkpoint-every", "2"}).code(), 0);
  const auto before = snapshot(run);
  for (const auto& extra :
       {std::vector<std::string>{"--batch", "4"}, std::vector<std::string>{"--preset", "tf-mlp"},
        std::vector<std::string>{"--lr", "0.1"}, std::vector<std::string>{"--seed", "3"},
        std::vector<std::string>{"--sample-scale", "3"}}) {
    std::vector<std::string> args{"train", "--resume", run, "--steps", "8"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(is_error(mnist_gan(args), {"--resume", "--steps"})) << extra[0];
  }
  EXPECT_TRUE(is_error(mnist_gan({"train", "--resume", run, "--out", tmp / "other"}),
                       {"--resume", "--out"}));
  EXPECT_FALSE(fs::exists(tmp / "other"));
  EXPECT_TRUE(snapshot(run) == before) << "a refused resume changed the run directory";
}

TEST_F(MnistGanCli, GenerateAndExportWithAMissingCheckpoint) {
  const std::string ckpt = tmp / "missing.ckpt", png = tmp / "x.png", st = tmp / "x.safetensors";
  EXPECT_TRUE(is_error(
      mnist_gan({"generate", "--checkpoint", ckpt, "--n", "16", "--out", png, "--device", "cpu"}),
      {ckpt}));
  EXPECT_FALSE(fs::exists(png));
  EXPECT_TRUE(is_error(mnist_gan({"export", "--checkpoint", ckpt, "--out", st}), {ckpt}));
  EXPECT_FALSE(fs::exists(st));
  // Not a checkpoint at all.
  spit(ckpt, "{\"hello\": 1}");
  EXPECT_TRUE(
      is_error(mnist_gan({"generate", "--checkpoint", ckpt, "--out", png, "--device", "cpu"}),
               {ckpt, "not a gan checkpoint"}));
  EXPECT_FALSE(fs::exists(png));
  EXPECT_TRUE(is_parse_error(mnist_gan({"generate", "--out", png}), {"--checkpoint"}));
}

TEST_F(MnistGanCli, DeviceCudaWithoutAGpu) {
  if (cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device exists: --device cuda is valid here";
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  const Outcome o = mnist_gan({"train", "--preset", "tf-mlp", "--data", data, "--out", run,
                               "--steps", "4", "--batch", "8", "--device", "cuda"});
  EXPECT_TRUE(is_error(o, {"--device cuda", "no CUDA device"}));
  EXPECT_TRUE(nothing_looks_valid(run));
  // --device auto falls back to the CPU.
  const Outcome a = mnist_gan({"train", "--preset", "tf-mlp", "--data", data, "--out", run,
                               "--steps", "2", "--batch", "8", "--device", "auto"});
  ASSERT_EQ(a.code(), 0) << a.describe();
  EXPECT_NE(nlohmann::json::parse(slurp(run + "/config.json"))
                .at("device")
                .get<std::string>()
                .find("cpu"),
            std::string::npos);
  // generate too.
  const std::string png = tmp / "x.png";
  EXPECT_TRUE(is_error(mnist_gan({"generate", "--checkpoint", checkpoint_path(run, 2), "--out", png,
                                  "--device", "cuda"}),
                       {"--device cuda", "no CUDA device"}));
  EXPECT_FALSE(fs::exists(png));
  const std::string device_typo = tmp / "run2";
  EXPECT_TRUE(is_error(train(data, device_typo, {"--steps", "2", "--gemm", "fast"}), {"--gemm"}));
}

// The CUDA graph is on by default on a GPU only: --cuda-graph on the CPU is refused (nothing
// created), with --no-cuda-graph it is a parse error, --no-cuda-graph and the default run on the
// CPU with config.json saying "cuda_graph": false, and a resume may choose it (it changes how a
// step is launched, never its result).
TEST_F(MnistGanCli, CudaGraphFlags) {
  const std::string data = tmp / "data", run = tmp / "run", off = tmp / "off";
  make_data(data, true);
  EXPECT_TRUE(is_error(train(data, run, {"--steps", "2", "--cuda-graph"}),
                       {"--cuda-graph", "needs a CUDA device"}));
  EXPECT_FALSE(fs::exists(run));
  EXPECT_TRUE(is_parse_error(train(data, run, {"--steps", "2", "--cuda-graph", "--no-cuda-graph"}),
                             {"--cuda-graph", "--no-cuda-graph"}));
  EXPECT_FALSE(fs::exists(run));
  for (const auto& [dir, extra] : {std::pair{run, std::vector<std::string>{}},
                                   std::pair{off, std::vector<std::string>{"--no-cuda-graph"}}}) {
    std::vector<std::string> args{"--steps", "2", "--checkpoint-every", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Outcome o = train(data, dir, args);
    ASSERT_EQ(o.code(), 0) << o.describe();
    EXPECT_EQ(nlohmann::json::parse(slurp(dir + "/config.json")).at("cuda_graph"), false);
  }
  const Outcome r = mnist_gan({"train", "--resume", off, "--steps", "4", "--device", "cpu",
                               "--no-cuda-graph"});
  EXPECT_EQ(r.code(), 0) << r.describe();
  EXPECT_TRUE(is_error(
      mnist_gan({"train", "--resume", off, "--steps", "6", "--device", "cpu", "--cuda-graph"}),
      {"--cuda-graph", "needs a CUDA device"}));
}

TEST_F(MnistGanCli, InvalidSettingsNameTheirFlag) {
  const std::string data = tmp / "data";
  make_data(data, true);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--lr-g", "-1"}, "--lr-g"},
      {{"--lr-d", "0"}, "--lr-d"},
      {{"--label-smoothing", "0.7"}, "--label-smoothing"},
      {{"--beta1", "1"}, "--beta1"},
      {{"--keep-checkpoints", "0"}, "--keep-checkpoints"},
      {{"--checkpoint-every", "0"}, "--checkpoint-every"},
      {{"--sample-grid", "0"}, "--sample-grid"},
      {{"--sample-scale", "0"}, "--sample-scale"},
      {{"--sample-scale", "17"}, "--sample-scale"},
      {{"--d-steps", "0"}, "--d-steps"},
      {{"--noise", "gaussian"}, "--noise"},
      {{"--g-loss", "hinge"}, "--g-loss"},
  };
  int i = 0;
  for (const auto& [extra, flag] : cases) {
    const std::string run = tmp / ("run" + std::to_string(i++));
    std::vector<std::string> args{"--steps", "4"};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_TRUE(is_error(train(data, run, args), {flag})) << flag;
    EXPECT_TRUE(nothing_looks_valid(run)) << flag;
  }
}

TEST_F(MnistGanCli, BatchAndZDimOfZeroNameTheirFlag) {
  const std::string data = tmp / "data";
  make_data(data, true);
  const Outcome batch = train(data, tmp / "run_b", {"--steps", "4", "--batch", "0"});
  const Outcome zdim = train(data, tmp / "run_z", {"--steps", "4", "--z-dim", "0"});
  // Whatever the message, a refusal: exit 1, one line, nothing looking like a run.
  EXPECT_EQ(batch.code(), 1) << batch.describe();
  EXPECT_EQ(zdim.code(), 1) << zdim.describe();
  EXPECT_TRUE(nothing_looks_valid(tmp / "run_b"));
  EXPECT_TRUE(nothing_looks_valid(tmp / "run_z"));
  EXPECT_TRUE(is_error(batch, {"--batch"}));
  EXPECT_TRUE(is_error(zdim, {"--z-dim"}));
}

TEST_F(MnistGanCli, RefusedNewRunCreatesNoDirectory) {
  // Settings and data checked before anything is created: a refused run leaves no --out behind.
  const std::string data8 = tmp / "data8", data = tmp / "data";
  make_data(data8, false, 8, 8);
  make_data(data, true);
  const std::string wrong_size = tmp / "run_size", bad_flag = tmp / "run_flag";
  EXPECT_EQ(train(data8, wrong_size, {"--steps", "4"}).code(), 1);
  EXPECT_EQ(train(data, bad_flag, {"--steps", "4", "--lr-g", "-1"}).code(), 1);
  EXPECT_FALSE(fs::exists(wrong_size));
  EXPECT_FALSE(fs::exists(bad_flag));
}

// ---- 4. signals ----

// Starts a long run, stops it with `signo` once metrics.csv has a row, and checks the exit status
// 128 + signo, the checkpoint of the last completed step, and that --resume continues from it.
class MnistGanSignals : public MnistGanCli {
 protected:
  void stop_and_resume(int signo);
};

void MnistGanSignals::stop_and_resume(int signo) {
  const std::string data = tmp / "data", run_dir = tmp / "run";
  make_data(data, true);
  Child c(GAN_MNIST_GAN_BIN,
          {"train", "--preset", "tf-mlp", "--data", data, "--out", run_dir, "--batch", "8",
           "--device", "cpu", "--steps", "100000", "--log-every", "2", "--sample-every", "50000",
           "--checkpoint-every", "50000"},
          logs);
  ASSERT_TRUE(c.started());
  const auto deadline = Clock::now() + kDeadline;
  while (read_metrics(run_dir + "/metrics.csv").steps.empty()) {
    ASSERT_FALSE(c.poll()) << "the run ended before it was signalled: " << c.wait().describe();
    ASSERT_LT(Clock::now(), deadline) << "no metrics row within the deadline; killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(kill(c.pid(), signo), 0);
  const Outcome o = c.wait();
  ASSERT_FALSE(o.timed_out) << "the run did not stop on signal " << signo << "; killed";
  ASSERT_TRUE(WIFEXITED(o.status)) << o.describe();
  EXPECT_EQ(o.code(), 128 + signo) << o.describe();
  EXPECT_EQ(o.err, "");

  std::smatch m;
  const std::regex stopped("stopped by signal " + std::to_string(signo) +
                           " at step (\\d+); checkpoint: (\\S+)");
  ASSERT_TRUE(std::regex_search(o.out, m, stopped)) << o.out;
  const uint64_t step = std::stoull(m[1]);
  ASSERT_GT(step, 0u);
  ASSERT_LT(step, 100000u);
  EXPECT_EQ(m[2].str(), checkpoint_path(run_dir, step));
  ASSERT_FALSE(list_checkpoints(run_dir).empty());
  EXPECT_EQ(list_checkpoints(run_dir).back().first, step) << "no checkpoint of the last step";
  EXPECT_TRUE(good_checkpoint(checkpoint_path(run_dir, step), step));
  const Metrics before = read_metrics(run_dir + "/metrics.csv");
  EXPECT_TRUE(strictly_increasing(before.steps));
  EXPECT_LE(before.steps.back(), step);
  const auto [h, d] = read_safetensors(run_dir + "/generator.safetensors");
  EXPECT_EQ(h.value("__metadata__", nlohmann::json::object()).value("step", ""),
            std::to_string(step));
  // No temp file of an interrupted write left.
  for (const auto& f : names_in(run_dir + "/checkpoints"))
    EXPECT_TRUE(std::regex_match(f, std::regex("step_\\d{8}\\.ckpt"))) << f;

  const std::string target = std::to_string(step + 4);
  const Outcome r = mnist_gan({"train", "--resume", run_dir, "--steps", target});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_NE(r.out.find("steps " + std::to_string(step) + " -> " + target), std::string::npos)
      << r.out;
  const Metrics after = read_metrics(run_dir + "/metrics.csv");
  EXPECT_TRUE(strictly_increasing(after.steps));
  EXPECT_EQ(after.steps.back(), step + 4);
  EXPECT_TRUE(good_checkpoint(checkpoint_path(run_dir, step + 4), step + 4));
}

TEST_F(MnistGanSignals, SigintCheckpointsAndExits130) { stop_and_resume(SIGINT); }

TEST_F(MnistGanSignals, SigtermCheckpointsAndExits143) { stop_and_resume(SIGTERM); }

// ---- 5. non-finite ----

// The last good checkpoint named in the message (or "none") is the newest one left, and every
// checkpoint left loads with finite tensors; no generator.safetensors of a diverged run.
void expect_only_good_checkpoints(const std::string& run_dir, uint64_t bad_step) {
  for (const auto& [step, path] : list_checkpoints(run_dir)) {
    EXPECT_LT(step, bad_step) << path;
    EXPECT_TRUE(good_checkpoint(path, step));
  }
  for (const auto& f : names_in(run_dir + "/checkpoints"))
    EXPECT_TRUE(std::regex_match(f, std::regex("step_\\d{8}\\.ckpt"))) << f;
  EXPECT_FALSE(fs::exists(run_dir + "/generator.safetensors"));
}

TEST_F(MnistGanCli, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  // Adam with lr 1e18 makes the step-1 update so large that step 2's logits overflow.
  const std::string data = tmp / "data", run_dir = tmp / "run";
  make_data(data, true);
  const Outcome o =
      train(data, run_dir,
            {"--steps", "10", "--lr", "1e18", "--log-every", "1", "--checkpoint-every", "1"});
  ASSERT_TRUE(is_error(o, {"non-finite loss at step "}));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(o.err, m, std::regex("non-finite loss at step (\\d+)")));
  const uint64_t bad = std::stoull(m[1]);
  EXPECT_GE(bad, 2u) << "the setting should keep at least one good checkpoint";
  const auto ckpts = list_checkpoints(run_dir);
  ASSERT_FALSE(ckpts.empty());
  EXPECT_NE(o.err.find("last good checkpoint: " + ckpts.back().second), std::string::npos) << o.err;
  expect_only_good_checkpoints(run_dir, bad);

  // Diverging at once: no checkpoint at all, and the message says so.
  const std::string run2 = tmp / "run2";
  const Outcome at_once = train(data, run2, {"--steps", "10", "--lr", "1e30"});
  ASSERT_TRUE(is_error(at_once, {"non-finite loss at step 1", "none"}));
  EXPECT_TRUE(list_checkpoints(run2).empty());
  expect_only_good_checkpoints(run2, 1);
  // Resuming it starts it over from step 0 (it has no checkpoint), where it diverges again.
  const Outcome again = mnist_gan({"train", "--resume", run2, "--steps", "20"});
  EXPECT_TRUE(is_error(again, {"non-finite loss at step 1", "none"}));
  EXPECT_NE(again.out.find("has no checkpoint yet: starting it from step 0"), std::string::npos)
      << again.out;
}

TEST_F(MnistGanCli, NonFiniteParametersStopAndKeepTheLastGoodCheckpoint) {
  // lr 1e12: the losses stay finite (huge) but Adam's state overflows at step 2; the checkpoint
  // guard must refuse to write it.
  const std::string data = tmp / "data", run_dir = tmp / "run";
  make_data(data, true);
  const Outcome o =
      train(data, run_dir,
            {"--steps", "10", "--lr", "1e12", "--log-every", "1", "--checkpoint-every", "1"});
  ASSERT_TRUE(is_error(o, {"non-finite", "step "}));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(o.err, m, std::regex("step (\\d+)")));
  const uint64_t bad = std::stoull(m[1]);
  expect_only_good_checkpoints(run_dir, bad);
  const auto ckpts = list_checkpoints(run_dir);
  ASSERT_FALSE(ckpts.empty());
  EXPECT_NE(o.err.find("training stopped; last good checkpoint"), std::string::npos) << o.err;
  EXPECT_NE(o.err.find(ckpts.back().second), std::string::npos) << o.err;
}

}  // namespace
