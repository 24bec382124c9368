// Issue 10's findings, one test each, through the real mnist_gan binary: every field a checkpoint or
// config.json carries checked before use, bounds on sizes and counts named in the error, memory
// checked before allocating, only regular files read, parse errors as one line with exit 1, runs
// that can always be continued, leftovers of killed saves removed, no silent coercion.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "engine/train/checkpoint.h"
#include "mnist_gan_cli.h"

namespace fs = std::filesystem;
using namespace gan;
using namespace gan::test;

namespace {

class Hardening : public MnistGanCli {
 protected:
  // A finished 4-step run with a checkpoint at every step; returns its directory.
  std::string finished_run(const std::string& name = "run") {
    data_ = tmp / "data";
    if (!fs::exists(data_)) make_data(data_, true);
    const std::string run = tmp / name;
    const Outcome o = train(data_, run, {"--steps", "4", "--checkpoint-every", "1",
                                         "--keep-checkpoints", "10", "--seed", "3"});
    EXPECT_EQ(o.code(), 0) << o.describe();
    return run;
  }

  // A copy of `ckpt` with `edit` applied to it, saved with a fresh checksum (a "valid" file).
  template <class Edit>
  std::string edited_checkpoint(const std::string& ckpt, const std::string& name, Edit edit) {
    Checkpoint c = load_checkpoint(ckpt);
    edit(c);
    const std::string path = tmp / name;
    save_checkpoint(path, c);
    return path;
  }

  // config.json of `run` with `edit` applied.
  template <class Edit>
  void edit_config(const std::string& run, Edit edit) {
    nlohmann::json j = nlohmann::json::parse(slurp(run + "/config.json"));
    edit(j);
    spit(run + "/config.json", j.dump(2));
  }

  std::string data_;
};

// ---- 1. a checkpoint's fields checked against each other ----

TEST_F(Hardening, GenerateRefusesImageSizesThatDisagreeWithTheGenerator) {
  // Before: image_cols 100000 read past the samples (SIGSEGV), image_rows 56 drew a garbled PNG
  // from memory after them.
  const std::string ckpt = checkpoint_path(finished_run(), 4);
  for (const auto& [rows, cols] : std::vector<std::pair<nlohmann::json, nlohmann::json>>{
           {28, 100000}, {56, 28}, {28, 27}, {0, 28}, {-1, 28}, {28.5, 28}, {"28", 28},
           {28, 4294967324ull}}) {
    const std::string bad = edited_checkpoint(ckpt, "bad.ckpt", [&](Checkpoint& c) {
      c.meta["image_rows"] = rows;
      c.meta["image_cols"] = cols;
    });
    const std::string png = tmp / "grid.png";
    const Outcome o = run_generate(bad, png, {});
    EXPECT_TRUE(is_error(o, {bad})) << rows << "x" << cols;
    EXPECT_FALSE(fs::exists(png)) << rows << "x" << cols;
  }
  // The true size still works.
  EXPECT_EQ(run_generate(ckpt, tmp / "ok.png", {}).code(), 0);
}

// ---- 4 and 5. sizes and counts bounded; memory checked before allocating ----

TEST_F(Hardening, SizesAndCountsBeyondTheirBoundsAreRefusedNamingTheBound) {
  data_ = tmp / "data";
  make_data(data_, true);
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"--d-steps", "2147483647"}, {"--d-steps", "1000"}},
      {{"--z-dim", "1000000"}, {"--z-dim", "65536"}},
      {{"--z-dim", "2147483647"}, {"--z-dim", "65536"}},
      {{"--batch", "5000000"}, {"--batch", "1048576"}},
      {{"--steps", "18446744073709551615"}, {"--steps", "1000000000000"}},
      {{"--log-every", "2000000"}, {"--log-every", "1000000"}},
      {{"--keep-checkpoints", "100000"}, {"--keep-checkpoints", "1000"}},
  };
  for (const auto& [flags, parts] : cases) {
    const std::string run = tmp / "run";
    const Outcome o = train(data_, run, flags);
    EXPECT_TRUE(is_error(o, parts)) << flags[0] << " " << flags[1];
    EXPECT_LT(o.err.size(), 200u) << "a one-line message, not a 309-digit bound: " << o.err;
    EXPECT_FALSE(fs::exists(run)) << flags[0] << ": a refused run leaves no directory";
  }
}

TEST_F(Hardening, ConfigJsonCountsBeyondTheirBoundsAreRefusedNamingTheFile) {
  const std::string run = finished_run();
  // Killed before its first checkpoint: only config.json says what the run is.
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"d_steps", 2147483647}, {"batch", 5000000}, {"batch", 0}, {"steps", 0},
           {"log_every", -1}, {"sample_grid", 1000}, {"sample_scale", 17}}) {
    const auto saved = slurp(run + "/config.json");
    edit_config(run, [&](nlohmann::json& j) { j["config"][key] = value; });
    const Outcome o = mnist_gan({"train", "--resume", run, "--steps", "8"});
    EXPECT_TRUE(is_error(o, {run + "/config.json", key})) << key << " = " << value;
    EXPECT_EQ(o.err.find("--"), std::string::npos)
        << "the value came from config.json, not a flag: " << o.err;
    spit(run + "/config.json", saved);
  }
  // A layer too wide for memory arithmetic, in the file.
  edit_config(run, [](nlohmann::json& j) {
    j["config"]["generator"]["layers"][0]["units"] = 1000000;
  });
  EXPECT_TRUE(is_error(mnist_gan({"train", "--resume", run, "--steps", "8"}),
                       {"config.json", "generator", "units", "65536"}));
}

TEST_F(Hardening, GenerateChecksTheCheckpointsSizesBeforeAllocating) {
  // A checkpoint whose config claims a 60000-unit layer but holds the small model's tensors: the
  // sizes are compared (from the config, nothing allocated) before a model is built, so the
  // message names the tensor and the file, not an allocation.
  const std::string ckpt = checkpoint_path(finished_run(), 4);
  const std::string big = edited_checkpoint(ckpt, "big.ckpt", [](Checkpoint& c) {
    c.meta["config"]["generator"]["layers"][0]["units"] = 60000;
  });
  for (const std::string& cmd : {"generate", "export"}) {
    std::vector<std::string> args{cmd, "--checkpoint", big, "--out", tmp / "out"};
    if (cmd == "generate") args.insert(args.end(), {"--device", "cpu"});
    const Outcome o = mnist_gan(args);
    EXPECT_TRUE(is_error(o, {big, "g.params", "needs"})) << cmd;
    EXPECT_FALSE(fs::exists(tmp / "out")) << cmd;
  }
}

TEST_F(Hardening, ARunBeyondMemoryIsRefusedBeforeItsDirectoryExists) {
  data_ = tmp / "data";
  make_data(data_, true);
  ScopedEnv cap("GAN_HOST_MEMORY_LIMIT", "256M");
  const std::string run = tmp / "run";
  // keras-mlp at batch 100,000 needs several GiB for its activations.
  const Outcome o = train(data_, run, {"--preset", "keras-mlp", "--batch", "100000"});
  EXPECT_TRUE(is_error(o, {"--batch 100000", "host memory", "256.0 MiB available"}));
  EXPECT_FALSE(fs::exists(run));
}

TEST_F(Hardening, OnlyRegularFilesAreRead) {
  // Before: /dev/zero was read until memory ran out; a FIFO blocked open() forever.
  const std::string fifo = tmp / "fifo.ckpt";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  for (const std::string& path : {std::string("/dev/zero"), fifo, tmp.path.string()}) {
    const Outcome g = run_generate(path, tmp / "g.png", {});
    EXPECT_TRUE(is_error(g, {path, "not a regular file"})) << path;
    const Outcome e = mnist_gan({"export", "--checkpoint", path, "--out", tmp / "g.st"});
    EXPECT_TRUE(is_error(e, {path, "not a regular file"})) << path;
  }
  // A data directory whose image file is a FIFO.
  const std::string data = tmp / "fifo_data";
  fs::create_directories(data);
  ASSERT_EQ(mkfifo((data + "/train-images-idx3-ubyte").c_str(), 0600), 0);
  const Outcome t = train(data, tmp / "run", {"--steps", "2"});
  EXPECT_TRUE(is_error(t, {"train-images-idx3-ubyte", "not a regular file"}));
  EXPECT_FALSE(fs::exists(tmp / "run"));
}

// ---- 6. exit status and messages ----

TEST_F(Hardening, ParseErrorsAreOneLineWithExitOne) {
  data_ = tmp / "data";
  make_data(data_, true);
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases = {
      {{"train", "--data", data_, "--out", tmp / "r", "--learning-rate", "0.1"},
       {"--learning-rate"}},                                          // CLI11: 109
      {{"train", "--steps", "-1", "--out", tmp / "r"}, {"--steps"}},  // was a 309-digit bound
      {{"train", "--steps", "abc", "--out", tmp / "r"}, {"--steps", "abc"}},
      {{"generate", "--out", tmp / "g.png"}, {"--checkpoint"}},  // CLI11: 106, required
      {{"generate", "--checkpoint", "x", "--out", "y", "--n", "0"}, {"--n", "4096"}},
      {{"evaluate"}, {"evaluate"}},
      {{}, {"subcommand"}},
  };
  for (const auto& [args, parts] : cases) {
    const Outcome o = mnist_gan(args);
    EXPECT_TRUE(is_error(o, parts)) << (args.empty() ? "(no arguments)" : args.back());
    EXPECT_LT(o.err.size(), 300u) << o.err;
  }
  // --help is not an error.
  const Outcome help = mnist_gan({"train", "--help"});
  EXPECT_EQ(help.code(), 0) << help.describe();
  EXPECT_NE(help.out.find("--batch"), std::string::npos);
}

TEST_F(Hardening, ACheckpointsBadConfigIsBlamedOnTheCheckpoint) {
  // Before: "generator: layer 0 (dense): units must be >= 1", naming no file.
  const std::string ckpt = checkpoint_path(finished_run(), 4);
  const std::string bad = edited_checkpoint(ckpt, "bad.ckpt", [](Checkpoint& c) {
    c.meta["config"]["generator"]["layers"][0]["units"] = 0;
  });
  for (const std::string& cmd : {"generate", "export"}) {
    const Outcome o = mnist_gan({cmd, "--checkpoint", bad, "--out", tmp / "out"});
    EXPECT_TRUE(is_error(o, {bad, "units"})) << cmd;
  }
}

// ---- 7. a run can always be continued ----

TEST_F(Hardening, ARunKilledBeforeItsFirstCheckpointStartsOverOnResume) {
  const std::string reference = finished_run("reference");
  const std::string run = finished_run("run");
  // What a kill before the first checkpoint leaves: config.json, metrics, samples, no checkpoint.
  for (const auto& [step, path] : list_checkpoints(run)) fs::remove(path);
  fs::remove(run + "/generator.safetensors");
  // A new run into it is refused with the way forward ...
  const Outcome again = train(data_, run, {"--steps", "4", "--seed", "3"});
  EXPECT_TRUE(is_error(again, {"already holds a run", "--resume " + run, "step 0"}));
  // ... which works, and gives exactly the uninterrupted run.
  const Outcome r = mnist_gan({"train", "--resume", run});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_NE(r.out.find("has no checkpoint yet: starting it from step 0"), std::string::npos);
  EXPECT_EQ(slurp(run + "/generator.safetensors"), slurp(reference + "/generator.safetensors"));
  EXPECT_EQ(slurp(checkpoint_path(run, 4)), slurp(checkpoint_path(reference, 4)));
}

TEST_F(Hardening, ARunStoppedAtItsLastStepCanBeFinished) {
  const std::string run = finished_run();
  const std::string generator = slurp(run + "/generator.safetensors");
  // What a stop right after the last checkpoint leaves: no generator, no curves.
  for (const char* f : {"/generator.safetensors", "/curves.png", "/d_outputs.png"})
    fs::remove(run + f);
  const Outcome r = mnist_gan({"train", "--resume", run});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_NE(r.out.find("already at its last step (4)"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(run + "/generator.safetensors"), generator);
  EXPECT_TRUE(fs::exists(run + "/curves.png"));
  EXPECT_TRUE(fs::exists(run + "/d_outputs.png"));
}

TEST_F(Hardening, TwoProcessesNeverShareARunDirectory) {
  data_ = tmp / "data";
  make_data(data_, true);
  const std::string run = tmp / "run";
  Child first(GAN_MNIST_GAN_BIN,
              {"train", "--preset", "tf-mlp", "--data", data_, "--out", run, "--batch", "8",
               "--device", "cpu", "--steps", "1000000", "--log-every", "1"},
              logs);
  const auto deadline = Clock::now() + kDeadline;
  while (read_metrics(run + "/metrics.csv").steps.empty()) {
    ASSERT_FALSE(first.poll()) << first.wait().describe();
    ASSERT_LT(Clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(is_error(mnist_gan({"train", "--resume", run}),
                       {"--resume " + run, "another process is using this run directory"}));
  kill(first.pid(), SIGTERM);
  EXPECT_EQ(first.wait().code(), 128 + SIGTERM);
}

// ---- 8. leftovers of killed saves ----

TEST_F(Hardening, InterruptedSavesAreRemovedAtTheNextStart) {
  const std::string run = finished_run();
  const std::vector<std::string> leftovers = {run + "/checkpoints/.step_00000004.ckpt.tmpAb12Cd",
                                              run + "/.config.json.tmpXy34Zw",
                                              run + "/samples/.step_000004.png.tmp0a1b2c"};
  for (const auto& f : leftovers) spit(f, std::string(1000, 'x'));
  const std::string keep = run + "/checkpoints/notes.txt";  // not ours: untouched
  spit(keep, "mine");
  const Outcome r = mnist_gan({"train", "--resume", run, "--steps", "6"});
  ASSERT_EQ(r.code(), 0) << r.describe();
  for (const auto& f : leftovers) {
    EXPECT_FALSE(fs::exists(f)) << f;
    EXPECT_NE(r.out.find("removed " + f), std::string::npos) << r.out;
  }
  EXPECT_EQ(slurp(keep), "mine");
}

// ---- 9. no silent coercion ----

TEST_F(Hardening, FlagValuesAreNeverCoerced) {
  data_ = tmp / "data";
  make_data(data_, true);
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--seed", "18446744073709551616"}, "--seed"},  // was 2^64 - 1
      {{"--seed", "-1"}, "--seed"},
      {{"--batch", ""}, "--batch"},  // was ignored
      {{"--batch", "8.5"}, "--batch"},
      {{"--momentum", "nan"}, "--momentum"},  // was accepted beside Adam
      {{"--lr", "inf"}, "--lr"},
      {{"--lr", "1e39"}, "--lr"},  // beyond float
      {{"--beta1", ""}, "--beta1"},
      {{"--momentum", "1.5"}, "--momentum"},  // out of range even with Adam in use
  };
  for (const auto& [flags, name] : cases) {
    const std::string run = tmp / "run";
    const Outcome o = train(data_, run, flags);
    EXPECT_TRUE(is_error(o, {name})) << flags[0] << " '" << flags[1] << "'";
    EXPECT_FALSE(fs::exists(run));
  }
}

TEST_F(Hardening, ConfigJsonValuesAreNeverCoerced) {
  const std::string run = finished_run();
  const std::vector<std::pair<std::vector<std::string>, nlohmann::json>> cases = {
      {{"seed"}, 0.5},                  // was 0
      {{"seed"}, -1},                   // was 2^64 - 1
      {{"instance_noise_steps"}, -1},   // was 2^64 - 1
      {{"batch"}, 8.5},                 // was 8
      {{"batch"}, "8"},
      {{"adam_g", "weight_decay"}, -0.1},  // a negative weight decay passed
      {{"adam_d", "lr"}, 1e39},           // beyond float: inf
      {{"optimizer_g", "sgd", "momentum"}, 2.0},
      {{"label_smoothing"}, nullptr},
  };
  for (const auto& [keys, value] : cases) {
    const std::string saved = slurp(run + "/config.json");
    edit_config(run, [&](nlohmann::json& j) {
      nlohmann::json* at = &j["config"];
      for (const auto& k : keys) at = &(*at)[k];
      *at = value;
    });
    const Outcome o = mnist_gan({"train", "--resume", run, "--steps", "8"});
    EXPECT_TRUE(is_error(o, {run + "/config.json", keys.back()})) << keys.back() << " = " << value;
    spit(run + "/config.json", saved);
  }
}

TEST_F(Hardening, ACheckpointWithNonFiniteWeightsIsNeitherExportedNorDrawn) {
  const std::string ckpt = checkpoint_path(finished_run(), 4);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::infinity()}) {
    const std::string nan_ckpt = edited_checkpoint(ckpt, "nan.ckpt", [&](Checkpoint& c) {
      for (auto& t : c.tensors)
        if (t.name == "g.params") t.data[t.data.size() / 2] = bad;
    });
    const Outcome e = mnist_gan({"export", "--checkpoint", nan_ckpt, "--out", tmp / "g.st"});
    EXPECT_TRUE(is_error(e, {nan_ckpt, "g.params", "non-finite"}));
    EXPECT_FALSE(fs::exists(tmp / "g.st"));
    const Outcome g = run_generate(nan_ckpt, tmp / "g.png", {});
    EXPECT_TRUE(is_error(g, {nan_ckpt, "g.params", "non-finite"}));
  }
}

}  // namespace
