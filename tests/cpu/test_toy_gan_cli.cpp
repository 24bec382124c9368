// toy_gan end to end: the binary run as a child process in a fresh temp dir (tests/cli_harness.h),
// checking `list`, what a run of each experiment writes (samples, toy_metrics.csv, result.json,
// final.png beside mnist_gan's run directory), exact resume, the one-line `toy_gan: error: ...`
// refusals and the GAN variants' flags. Every run is a few steps with a tiny batch on the CPU, so
// the whole file takes a few seconds.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "engine/train/checkpoint.h"

#ifndef GAN_TOY_GAN_BIN
#error "GAN_TOY_GAN_BIN (path of the toy_gan binary) must be defined by tests/CMakeLists.txt"
#endif

namespace fs = std::filesystem;
using namespace gan;
using namespace gan::test;

namespace {

const std::vector<std::string> kExperiments = {"gauss1d", "gauss1d-minibatch", "parabola", "ring",
                                               "grid"};

// toy_metrics.csv's header, whose columns after the step are also result.json's result numbers.
std::string toy_header(const std::string& experiment) {
  if (experiment == "parabola") return "step,median_residual";
  if (experiment == "ring" || experiment == "grid")
    return "step,modes_captured,high_quality_fraction,reverse_kl";
  return "step,mean,std,wasserstein1";
}

// The JSON in `path`; an empty object (and a test failure) when it is not valid JSON.
nlohmann::json read_json(const std::string& path) {
  nlohmann::json j = nlohmann::json::parse(slurp(path), nullptr, false);
  if (j.is_discarded()) {
    ADD_FAILURE() << path << " is not valid JSON: '" << slurp(path) << "'";
    return nlohmann::json::object();
  }
  return j;
}

class ToyGanCli : public CliTest {
 protected:
  ToyGanCli() : CliTest("toy_gan", GAN_TOY_GAN_BIN) {}

  Outcome toy_gan(const std::vector<std::string>& args) { return invoke(args); }

  // A new run of `experiment`: 4 steps of a batch of 8 on the CPU with seed 3, a metrics row, a
  // picture and a checkpoint every 2 steps; a flag in `extra` replaces its default.
  Outcome train(const std::string& experiment, const std::string& out,
                const std::vector<std::string>& extra = {}, Clock::duration limit = kDeadline) {
    return invoke(with_defaults({"train", "--experiment", experiment, "--out", out},
                                {{"--device", "cpu"},
                                 {"--steps", "4"},
                                 {"--batch", "8"},
                                 {"--seed", "3"},
                                 {"--log-every", "2"},
                                 {"--sample-every", "2"},
                                 {"--checkpoint-every", "2"}},
                                extra),
                  "", limit);
  }

  // train, which must succeed; returns the run's config.json "config".
  nlohmann::json train_ok(const std::string& experiment, const std::string& out,
                          const std::vector<std::string>& extra = {}) {
    const Outcome o = train(experiment, out, extra);
    EXPECT_EQ(o.code(), 0) << o.describe();
    EXPECT_EQ(o.err, "");
    return read_json(out + "/config.json").value("config", nlohmann::json::object());
  }
};

// A finished run of `experiment` with --sample-every 2 and --log-every 2 to `steps` (even):
// metrics.csv and toy_metrics.csv rows at every second step (toy_metrics.csv also at step 0) with
// finite numbers, a picture of each of those steps, and result.json of the last step.
void expect_finished_run(const std::string& run, const std::string& experiment, uint64_t steps) {
  SCOPED_TRACE(experiment + " run " + run);
  std::vector<uint64_t> logged, sampled{0};
  std::set<std::string> pictures{"step_000000.png"};
  for (uint64_t s = 2; s <= steps; s += 2) {
    logged.push_back(s);
    sampled.push_back(s);
    const std::string n = std::to_string(s);
    pictures.insert("step_" + std::string(6 - n.size(), '0') + n + ".png");
  }
  const Metrics m = read_metrics(run + "/metrics.csv");
  EXPECT_EQ(m.steps, logged);
  EXPECT_TRUE(all_finite(m));
  // reverse_kl is NaN when no sample lies near a mode (it has nothing to measure).
  const Metrics t = read_metrics(run + "/toy_metrics.csv");
  EXPECT_EQ(t.header, toy_header(experiment));
  EXPECT_EQ(t.steps, sampled);
  EXPECT_TRUE(all_finite(t, {"reverse_kl"}));
  EXPECT_EQ(names_in(run + "/samples"), pictures);
  for (const auto& f : names_in(run + "/samples"))
    EXPECT_GT(png_size(run + "/samples/" + f).first, 0u) << f << " is not a PNG";
  EXPECT_GT(png_size(run + "/final.png").first, 0u) << "final.png is not a PNG";

  const nlohmann::json r = read_json(run + "/result.json");
  EXPECT_EQ(r.value("experiment", ""), experiment);
  EXPECT_EQ(r.value("device", ""), "cpu");
  const nlohmann::json result = r.value("result", nlohmann::json::object());
  EXPECT_EQ(result.value("step", uint64_t(0)), steps) << result.dump();
  const std::vector<std::string> numbers = split_csv(toy_header(experiment));
  for (size_t c = 1; c < numbers.size(); ++c) {
    const nlohmann::json v = result.value(numbers[c], nlohmann::json());
    if (numbers[c] == "reverse_kl" && v.is_null()) continue;  // NaN is written as null
    EXPECT_TRUE(v.is_number() && std::isfinite(v.get<double>()))
        << numbers[c] << " = " << v.dump() << " in " << result.dump();
  }
}

// ---- 1. list and the happy path ----

TEST_F(ToyGanCli, ListNamesEveryExperiment) {
  const Outcome o = toy_gan({"list"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  for (const auto& name : kExperiments)
    EXPECT_TRUE(std::regex_search(o.out, std::regex("(^|\n)" + name + ": "))) << name << "\n"
                                                                              << o.out;
}

TEST_F(ToyGanCli, ParabolaWritesACompleteRunDirectory) {
  const std::string run = tmp / "run";
  const Outcome o = train("parabola", run, {"--steps", "6"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  EXPECT_NE(o.out.find("done: 6 steps"), std::string::npos) << o.out;

  // Exactly these entries: no temp file of an atomic write left behind.
  EXPECT_EQ(names_in(run),
            (std::set<std::string>{"checkpoints", "config.json", "curves.png", "d_outputs.png",
                                   "final.png", "generator.safetensors", "metrics.csv",
                                   "progress.gif", "report.html", "result.json", "samples",
                                   "toy_metrics.csv"}));
  expect_finished_run(run, "parabola", 6);
  EXPECT_EQ(read_metrics(run + "/toy_metrics.csv").steps, (std::vector<uint64_t>{0, 2, 4, 6}));
  EXPECT_EQ(names_in(run + "/samples"),
            (std::set<std::string>{"step_000000.png", "step_000002.png", "step_000004.png",
                                   "step_000006.png"}));

  const nlohmann::json result = read_json(run + "/result.json");
  EXPECT_EQ(result.at("experiment"), "parabola");
  EXPECT_EQ(result.at("result").at("step"), 6u);
  EXPECT_TRUE(std::isfinite(result.at("result").at("median_residual").get<double>()));
  EXPECT_EQ(result.at("settings").at("steps"), 6u);
  EXPECT_EQ(result.at("settings").at("seed"), 3u);
  EXPECT_EQ(result.at("target").at("kind"), "parabola");

  const nlohmann::json cfg = read_json(run + "/config.json");
  EXPECT_EQ(cfg.at("config").at("batch"), 8);
  EXPECT_EQ(cfg.at("config").at("seed"), 3u);
  EXPECT_NE(cfg.at("device").get<std::string>().find("cpu"), std::string::npos) << cfg.dump();
  ASSERT_TRUE(cfg.contains("toy")) << cfg.dump();
  const nlohmann::json& toy = cfg.at("toy");
  EXPECT_EQ(toy.at("experiment"), "parabola");
  EXPECT_FALSE(toy.at("summary").get<std::string>().empty());
  EXPECT_EQ(toy.at("target").at("kind"), "parabola");
  EXPECT_GT(toy.at("eval_samples").get<int>(), 0);

  for (const char* f : {"curves.png", "d_outputs.png"})
    EXPECT_GT(png_size(run + "/" + f).first, 0u) << f << " is not a PNG";
  // The experiments keep 2 checkpoints.
  EXPECT_EQ(checkpoint_steps(run), (std::vector<uint64_t>{4, 6}));
  for (const auto& [step, path] : list_checkpoints(run)) EXPECT_TRUE(good_checkpoint(path, step));
  const auto [header, data] = read_safetensors(run + "/generator.safetensors");
  EXPECT_EQ(header.value("__metadata__", nlohmann::json::object()).value("step", ""), "6");
}

TEST_F(ToyGanCli, EveryOtherExperimentRuns) {
  for (const std::string experiment : {"gauss1d", "gauss1d-minibatch", "ring", "grid"}) {
    const std::string run = tmp / experiment;
    // gauss1d-minibatch's D judges packs of 100 samples: its batch is a multiple of 100.
    const Outcome o =
        train(experiment, run,
              experiment == "gauss1d-minibatch" ? std::vector<std::string>{"--batch", "100"}
                                                : std::vector<std::string>{});
    ASSERT_EQ(o.code(), 0) << experiment << ": " << o.describe();
    EXPECT_EQ(o.err, "");
    expect_finished_run(run, experiment, 4);
  }
  // Seed 2's D pre-training runs before gauss1d's first step.
  const nlohmann::json g = read_json(tmp / "gauss1d/result.json").at("result");
  for (const char* k : {"mean", "std", "wasserstein1"})
    EXPECT_TRUE(std::isfinite(g.at(k).get<double>())) << k << " in " << g.dump();
  EXPECT_EQ(read_json(tmp / "ring/result.json").at("result").at("modes"), 8);
  EXPECT_EQ(read_json(tmp / "grid/result.json").at("result").at("modes"), 25);
}

// ---- 2. resume ----

TEST_F(ToyGanCli, ResumeContinuesExactlyWithoutDuplicateRows) {
  // gauss1d: D pre-trained before a new run's first step (never again on resume), momentum SGD.
  const std::string whole = tmp / "whole", split = tmp / "split";
  ASSERT_EQ(train("gauss1d", whole, {"--steps", "8"}).code(), 0);
  const Outcome first = train("gauss1d", split, {"--steps", "4"});
  ASSERT_EQ(first.code(), 0) << first.describe();
  EXPECT_NE(first.out.find("D pre-trained"), std::string::npos) << first.out;

  const Outcome r = toy_gan({"train", "--resume", split, "--steps", "8", "--device", "cpu"});
  ASSERT_EQ(r.code(), 0) << r.describe();
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find("steps 4 -> 8"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("D pre-trained"), std::string::npos) << "a resumed run pre-trained D again";
  expect_finished_run(split, "gauss1d", 8);

  const Metrics a = read_metrics(whole + "/metrics.csv"), b = read_metrics(split + "/metrics.csv");
  EXPECT_TRUE(strictly_increasing(b.steps));
  EXPECT_EQ(b.steps, (std::vector<uint64_t>{2, 4, 6, 8}));
  ASSERT_EQ(a.rows.size(), b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i)  // losses, D outputs, accuracy (not the timings)
    for (size_t c = 0; c < 6; ++c)
      EXPECT_EQ(a.rows[i][c], b.rows[i][c]) << "metrics row " << i << " column " << c;
  EXPECT_EQ(slurp(split + "/toy_metrics.csv"), slurp(whole + "/toy_metrics.csv"));
  EXPECT_EQ(read_metrics(split + "/toy_metrics.csv").steps, (std::vector<uint64_t>{0, 2, 4, 6, 8}));

  // Bitwise the same as the uninterrupted run on the CPU.
  const nlohmann::json ra = read_json(whole + "/result.json"),
                       rb = read_json(split + "/result.json");
  EXPECT_EQ(rb.at("result").at("step"), 8u);
  EXPECT_EQ(ra.at("result").dump(), rb.at("result").dump());
  EXPECT_EQ(slurp(whole + "/generator.safetensors"), slurp(split + "/generator.safetensors"))
      << "a resumed run must continue exactly where it stopped";
  EXPECT_EQ(read_json(split + "/config.json").at("config").at("steps"), 8u);
  EXPECT_TRUE(good_checkpoint(checkpoint_path(split, 8), 8));
}

// ---- 3. refusals ----

TEST_F(ToyGanCli, UnknownExperimentListsTheKnownOnes) {
  const std::string run = tmp / "run";
  std::vector<std::string> parts{"--experiment", "'moons'"};
  parts.insert(parts.end(), kExperiments.begin(), kExperiments.end());
  EXPECT_TRUE(is_error(train("moons", run), parts));
  EXPECT_FALSE(fs::exists(run)) << "a refused run created its directory";
}

TEST_F(ToyGanCli, NewRunNeedsExperimentAndOut) {
  const std::string run = tmp / "run";
  EXPECT_TRUE(is_error(toy_gan({"train", "--out", run, "--device", "cpu"}), {"--experiment"}));
  EXPECT_FALSE(fs::exists(run));
  EXPECT_TRUE(is_error(toy_gan({"train", "--experiment", "ring", "--device", "cpu"}), {"--out"}));
  // No subcommand.
  EXPECT_TRUE(is_parse_error(toy_gan({}), {"subcommand"}));
}

TEST_F(ToyGanCli, ResumeRefusesNewRunSettings) {
  const std::string run = tmp / "run";
  ASSERT_EQ(train("parabola", run, {"--steps", "2"}).code(), 0);
  const auto before = snapshot(run);
  EXPECT_TRUE(is_error(toy_gan({"train", "--resume", run, "--experiment", "ring", "--steps", "4"}),
                       {"--resume", "--steps"}));
  EXPECT_TRUE(is_error(toy_gan({"train", "--resume", run, "--batch", "4", "--steps", "4"}),
                       {"--resume", "--steps"}));
  EXPECT_TRUE(
      is_error(toy_gan({"train", "--resume", run, "--out", tmp / "other"}), {"--resume", "--out"}));
  EXPECT_FALSE(fs::exists(tmp / "other"));
  EXPECT_TRUE(snapshot(run) == before) << "a refused resume changed the run directory";
}

TEST_F(ToyGanCli, ResumeOfADirectoryWithoutConfig) {
  const std::string dir = tmp / "not_a_run";
  fs::create_directories(dir + "/checkpoints");
  EXPECT_TRUE(is_error(toy_gan({"train", "--resume", dir, "--steps", "4"}),
                       {"--resume", dir, "config.json"}));
  EXPECT_EQ(names_in(dir), (std::set<std::string>{"checkpoints"}));
  EXPECT_TRUE(is_error(toy_gan({"train", "--resume", tmp / "nowhere"}),
                       {"--resume", "nowhere", "no such run directory"}));
  EXPECT_FALSE(fs::exists(tmp / "nowhere"));
}

TEST_F(ToyGanCli, OutHoldingARunIsRefusedAndUntouched) {
  const std::string run = tmp / "run";
  ASSERT_EQ(train("parabola", run, {"--steps", "2"}).code(), 0);
  const auto before = snapshot(run);
  EXPECT_TRUE(
      is_error(train("ring", run, {"--seed", "9"}), {"--out", run, "config.json", "--resume"}));
  EXPECT_TRUE(snapshot(run) == before) << "the refused run changed the old run's files";
}

TEST_F(ToyGanCli, InvalidSettingsNameTheirFlag) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--batch", "0"}, "--batch"},
      {{"--noise", "bogus"}, "--noise"},
      {{"--optimizer", "bogus"}, "--optimizer"},
      {{"--loss", "bogus"}, "--loss"},
      {{"--clip", "-1"}, "--clip"},
      {{"--instance-noise", "-1"}, "--instance-noise"},
      {{"--init", "bogus"}, "--init"},
      {{"--g-loss", "hinge"}, "--g-loss"},
      {{"--d-steps", "0"}, "--d-steps"},
      {{"--z-dim", "0"}, "--z-dim"},
      {{"--lr", "-1"}, "--lr"},
      {{"--optimizer", "sgd", "--momentum", "1.5"}, "--momentum"},
      {{"--optimizer", "sgd", "--lr-decay", "0"}, "--lr-decay"},
      {{"--device", "tpu"}, "--device"},
      {{"--cuda-graph"}, "--cuda-graph"},  // on the CPU
  };
  int i = 0;
  for (const auto& [extra, flag] : cases) {
    const std::string run = tmp / ("run" + std::to_string(i++));
    EXPECT_TRUE(is_error(train("parabola", run, extra), {flag})) << flag;
    EXPECT_FALSE(fs::exists(run)) << flag << ": a refused run created its directory";
  }
  // gauss1d-minibatch's D packs 100 samples: a batch of 8 is not a multiple.
  EXPECT_TRUE(is_error(train("gauss1d-minibatch", tmp / "packed"), {"--batch", "100"}));
  EXPECT_FALSE(fs::exists(tmp / "packed"));
}

TEST_F(ToyGanCli, NegativeCountsAreRefused) {
  // Counts are unsigned: "-1" must be refused (by the parser or the app), naming the flag, rather
  // than wrapped to 2^64 - 1. --steps -1 would otherwise train for ever: 5 s is ample to refuse.
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--instance-noise-steps", "-1"}, "--instance-noise-steps"},
      {{"--optimizer", "sgd", "--lr-decay-every", "-1"}, "--lr-decay-every"},
      {{"--steps", "-1"}, "--steps"},
  };
  int i = 0;
  for (const auto& [extra, flag] : cases) {
    const std::string run = tmp / ("run" + std::to_string(i++));
    const Outcome o = train("parabola", run, extra, std::chrono::seconds(5));
    EXPECT_FALSE(o.timed_out) << flag << " -1 was accepted: the run was still training after 5 s";
    EXPECT_TRUE(is_parse_error(o, {flag})) << flag;
    EXPECT_TRUE(nothing_looks_valid(run)) << flag;
  }
}

// ---- 4. the GAN variants ----

TEST_F(ToyGanCli, RingWithWgan) {
  const std::string run = tmp / "run";
  const nlohmann::json c = train_ok("ring", run, {"--wgan"});
  EXPECT_EQ(c.at("loss"), "wasserstein");
  EXPECT_EQ(c.at("optimizer_d").at("kind"), "rmsprop");
  EXPECT_EQ(c.at("optimizer_g").at("kind"), "rmsprop");
  EXPECT_FLOAT_EQ(c.at("optimizer_d").at("clip").get<float>(), 0.01f);
  EXPECT_EQ(c.at("d_steps"), 5);
  expect_finished_run(run, "ring", 4);
}

TEST_F(ToyGanCli, RingWithMinibatchStddev) {
  const std::string run = tmp / "run";
  const nlohmann::json c = train_ok("ring", run, {"--minibatch-stddev"});
  EXPECT_TRUE(has_layer(c.at("discriminator"), "minibatch_stddev")) << c.at("discriminator");
  expect_finished_run(run, "ring", 4);
}

TEST_F(ToyGanCli, RingWithAnnealedInstanceNoise) {
  const std::string run = tmp / "run";
  const nlohmann::json c =
      train_ok("ring", run, {"--instance-noise", "0.1", "--instance-noise-steps", "4"});
  EXPECT_FLOAT_EQ(c.at("instance_noise").get<float>(), 0.1f);
  EXPECT_EQ(c.at("instance_noise_steps"), 4u);
  expect_finished_run(run, "ring", 4);
}

TEST_F(ToyGanCli, RingWithMomentumSgdAndStaircaseDecay) {
  const std::string run = tmp / "run";
  const nlohmann::json c = train_ok(
      "ring", run,
      {"--optimizer", "sgd", "--momentum", "0.9", "--lr-decay", "0.5", "--lr-decay-every", "2"});
  for (const char* o : {"optimizer_g", "optimizer_d"}) {
    EXPECT_EQ(c.at(o).at("kind"), "sgd") << o;
    EXPECT_FLOAT_EQ(c.at(o).at("sgd").at("momentum").get<float>(), 0.9f) << o;
    EXPECT_FLOAT_EQ(c.at(o).at("sgd").at("decay").get<float>(), 0.5f) << o;
    EXPECT_EQ(c.at(o).at("sgd").at("decay_every"), 2u) << o;
  }
  expect_finished_run(run, "ring", 4);
}

}  // namespace
