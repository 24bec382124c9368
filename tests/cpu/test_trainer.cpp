// The GAN trainer on the CPU reference path: short runs stay finite and move the generator,
// resume is bitwise exact, checkpoints round-trip, stops on a signal and on divergence, the model
// wiring matches finite differences, the presets are consistent.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <thread>

#include "engine/core/cpu_threads.h"
#include "engine/core/ops.h"
#include "engine/io/atomic_file.h"
#include "engine/train/gan_trainer.h"
#include "engine/train/training_run.h"
#include "model_gradcheck.h"
#include "tensor_fixtures.h"
#include "trainer_fixtures.h"

using namespace gan;
using namespace gan::test;

namespace {

const ExecContext kCpu{};

std::vector<NamedTensor> snapshot(GanTrainer& t) { return t.checkpoint({}).tensors; }

}  // namespace

// Statistical: the generator moving by more than 1e-3 in 20 steps held in 20,000 of 20,000 fresh
// seeds (measured 2026-11-27), so a chance failure has P < 1.5e-4 (95% bound from the count).
TEST(Trainer, ShortRunStaysFiniteAndMovesTheGenerator) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 50, 4);
  GanTrainer t(tiny_config(4, rng.bits()), data, kCpu);
  t.init();
  const std::vector<float> before = t.samples();
  for (int interval = 0; interval < 4; ++interval) {
    for (int s = 0; s < 5; ++s) t.train_step();
    t.request_stats();
    const StepStats st = t.collect_stats();
    EXPECT_EQ(st.first_step, uint64_t(interval * 5 + 1));
    EXPECT_EQ(st.last_step, uint64_t(interval * 5 + 5));
    EXPECT_EQ(st.first_nonfinite_step, 0u);
    for (double v : {st.d_loss, st.g_loss, st.d_real, st.d_fake, st.d_accuracy})
      EXPECT_TRUE(std::isfinite(v));
    EXPECT_GT(st.d_loss, 0.0);
    EXPECT_GT(st.d_real, 0.0);
    EXPECT_LT(st.d_real, 1.0);
    EXPECT_GE(st.d_accuracy, 0.0);
    EXPECT_LE(st.d_accuracy, 1.0);
  }
  const std::vector<float> after = t.samples();
  ASSERT_EQ(after.size(), before.size());
  double moved = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_TRUE(std::isfinite(after[i]));
    ASSERT_LE(std::fabs(after[i]), 1.0f);  // tanh output
    moved += std::fabs(after[i] - before[i]);
  }
  EXPECT_GT(moved / after.size(), 1e-3) << "20 Adam steps at lr 1e-3 must change the samples";
  EXPECT_TRUE(t.parameters_finite());
}

// The first interval's ms/step counts from the first step, not from the trainer's construction:
// a pause of 400 ms before the first of four tiny steps (well under a millisecond each) must not
// show (it would add 100 ms a step).
TEST(Trainer, FirstIntervalIsTimedFromTheFirstStep) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 50, 4);
  GanTrainer t(tiny_config(4, rng.bits()), data, kCpu);
  t.init();
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  for (int s = 0; s < 4; ++s) t.train_step();
  t.request_stats();
  const StepStats st = t.collect_stats();
  EXPECT_GT(st.ms_per_step, 0.0);
  EXPECT_LT(st.ms_per_step, 50.0) << "the pause before the first step was counted";
}

TEST(Trainer, ResumeIsBitwiseIdenticalToAnUninterruptedRun) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 40, 4);
  for (DUpdate mode : {DUpdate::Separate, DUpdate::Joint}) {
    TrainConfig cfg = tiny_config(4, rng.bits());
    cfg.d_update = mode;
    cfg.d_steps = mode == DUpdate::Joint ? 2 : 1;
    GanTrainer straight(cfg, data, kCpu);
    straight.init();
    for (int s = 0; s < 7; ++s) straight.train_step();
    const Checkpoint at7 = straight.checkpoint({{"note", "step 7"}});
    for (int s = 0; s < 6; ++s) straight.train_step();

    GanTrainer resumed(cfg, data, kCpu);  // a fresh process, as far as the trainer can tell
    resumed.restore(at7);
    EXPECT_EQ(resumed.step(), 7u);
    for (int s = 0; s < 6; ++s) resumed.train_step();

    const Checkpoint a = straight.checkpoint({}), b = resumed.checkpoint({});
    EXPECT_TRUE(same_tensors(b.tensors, a.tensors)) << d_update_name(mode);
    EXPECT_EQ(b.counters, a.counters);
    EXPECT_EQ(a.counters.at("step"), 13u);
    // Adam's counters: G once a step; D twice a step either way here (separate: after the real
    // and after the fake batch; joint: once per D step, with d_steps = 2).
    EXPECT_EQ(a.counters.at("adam_t_g"), 13u);
    EXPECT_EQ(a.counters.at("adam_t_d"), 26u);
  }
}

TEST(Trainer, CheckpointFileRoundTripRestoresEverything) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const ImageSet data = synthetic_images(rng, 30, 4);
  const TrainConfig cfg = tiny_config(4, rng.bits());
  GanTrainer t(cfg, data, kCpu);
  t.init();
  for (int s = 0; s < 3; ++s) t.train_step();
  save_checkpoint(dir.file("a.ckpt"), t.checkpoint({{"step", 3}}));
  GanTrainer u(cfg, data, kCpu);
  u.init();
  u.restore(load_checkpoint(dir.file("a.ckpt")));
  EXPECT_TRUE(same_tensors(snapshot(u), snapshot(t)));
  // And they keep training identically.
  t.train_step();
  u.train_step();
  EXPECT_TRUE(same_tensors(snapshot(u), snapshot(t)));
}

TEST(Trainer, RestoreRejectsAMismatchedCheckpointAndChangesNothing) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 30, 4);
  GanTrainer small(tiny_config(4, 1), data, kCpu);
  small.init();
  const Checkpoint ck = small.checkpoint({});
  TrainConfig wider = tiny_config(4, 1);
  wider.generator.layers[0] = LayerSpec::dense(17);
  GanTrainer other(wider, data, kCpu);
  other.init();
  const std::vector<NamedTensor> before = snapshot(other);
  EXPECT_TRUE(throws_with([&] { other.restore(ck); }, {"g.params", "values"}));
  EXPECT_TRUE(same_tensors(snapshot(other), before));
  Checkpoint missing = ck;
  missing.tensors.erase(missing.tensors.begin());
  EXPECT_TRUE(throws_with([&] { small.restore(missing); }, {"no tensor 'g.params'"}));
  Checkpoint no_counter = ck;
  no_counter.counters.erase("adam_t_d");
  EXPECT_TRUE(throws_with([&] { small.restore(no_counter); }, {"no counter 'adam_t_d'"}));
}

// Statistical: lr 1e30 diverged within 25 steps in 20,000 of 20,000 fresh seeds (measured
// 2026-11-27): P(chance failure) < 1.5e-4 (95% bound from the count).
TEST(Trainer, DivergenceIsReportedWithItsStepAndNeverCheckpointed) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 30, 4);
  TrainConfig cfg = tiny_config(4, rng.bits());
  cfg.opt_g.adam.lr = cfg.opt_d.adam.lr = 1e30f;  // parameters overflow within a few steps
  GanTrainer t(cfg, data, kCpu);
  t.init();
  uint64_t bad = 0;
  for (int s = 0; s < 5 && !bad; ++s) {
    for (int k = 0; k < 5; ++k) t.train_step();
    t.request_stats();
    bad = t.collect_stats().first_nonfinite_step;
  }
  ASSERT_GT(bad, 0u) << "lr 1e30 should diverge";
  EXPECT_FALSE(t.parameters_finite());
  EXPECT_TRUE(throws_with([&] { t.checkpoint({}); }, {"non-finite", "not writing a checkpoint"}));
}

TEST(Trainer, RunStopsOnSignalWithACheckpoint) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  write_idx_images(dir.file("train-images-idx3-ubyte"), synthetic_images(rng, 30, 4), false);
  RunRequest req;
  req.config = tiny_config(4, rng.bits());
  req.config.steps = 1000;
  req.run_dir = dir.file("run");
  req.data_dir = dir.str();
  req.device = DeviceChoice::Cpu;
  std::FILE* sink = std::fopen("/dev/null", "w");
  req.out = sink;
  std::atomic<int> stop{SIGINT};  // already raised: the run finishes one step and stops
  req.stop = &stop;
  const RunResult r = run_training(req);
  EXPECT_EQ(r.stopped_by_signal, SIGINT);
  EXPECT_EQ(r.step, 1u);
  EXPECT_EQ(r.last_checkpoint, checkpoint_path(req.run_dir, 1));
  const Checkpoint ck = load_checkpoint(r.last_checkpoint);
  EXPECT_EQ(ck.counters.at("step"), 1u);

  // Resuming continues from there to the run's total, or to a new one.
  RunRequest again;
  again.resume = true;
  again.run_dir = req.run_dir;
  again.steps = 4;
  again.device = DeviceChoice::Cpu;
  again.out = sink;
  const RunResult r2 = run_training(again);
  EXPECT_EQ(r2.step, 4u);
  EXPECT_EQ(r2.stopped_by_signal, 0);
  // The run's curves, drawn from metrics.csv (rows at steps 1 and 4).
  for (const char* name : {"/curves.png", "/d_outputs.png"}) {
    const std::string png = read_file(req.run_dir + name);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << name;
  }
  std::fclose(sink);
}

TEST(Trainer, ModelGradientsMatchFiniteDifferences) {
  expect_model_gradients_match_finite_differences(
      {5,
       {LayerSpec::dense(6), LayerSpec::activation(Activation::tanh()),
        LayerSpec::batchnorm(BatchNormConfig::torch()), LayerSpec::dense(4, false),
        LayerSpec::activation(Activation::sigmoid()), LayerSpec::dense(3)}},
      7);
}

TEST(Trainer, MinibatchFeatureAndPackGradientsMatchFiniteDifferences) {
  // Minibatch features mix the rows, and a pack reads groups of rows as one: 6 rows of 3 ->
  // distance feature (6, 4) -> dense 5 -> pack 2 -> (3, 10) -> stddev feature (3, 11) -> dense 2.
  expect_model_gradients_match_finite_differences(
      {3,
       {LayerSpec::minibatch_distance(), LayerSpec::dense(5),
        LayerSpec::activation(Activation::tanh()), LayerSpec::pack(2),
        LayerSpec::minibatch_stddev(), LayerSpec::dense(2)}},
      6);
  // Features first and last: the input gradient comes straight from a feature layer.
  expect_model_gradients_match_finite_differences(
      {2, {LayerSpec::minibatch_stddev(), LayerSpec::dense(4), LayerSpec::minibatch_distance()}},
      5);
}

TEST(Trainer, PresetsAreValidAndSurviveJson) {
  for (const std::string& name : preset_names()) {
    SCOPED_TRACE(name);
    const TrainConfig c = make_preset(name);
    EXPECT_NO_THROW(validate_train_config(c, 784));
    const nlohmann::json j = train_config_to_json(c);
    EXPECT_EQ(train_config_to_json(train_config_from_json(j)), j);
    EXPECT_TRUE(throws_with([&] { validate_train_config(c, 64); }, {"generator", "samples have 64"}));
  }
  EXPECT_TRUE(throws_with([] { make_preset("nope"); }, {"--preset", "nope", "keras-mlp"}));
  TrainConfig c = make_preset("keras-mlp");
  c.batch = 0;
  EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784); }, {"--batch"}));
  c = make_preset("keras-mlp");
  c.label_smoothing = 0.7f;
  EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784); }, {"--label-smoothing"}));
  // The keras preset's generator, as the seed describes it.
  const TrainConfig k = make_preset("keras-mlp");
  EXPECT_EQ(describe_model_spec(k.generator),
            "100 -> dense 256 -> leaky_relu(0.2) -> batchnorm(keep 0.8, eps 0.001) -> dense 512 "
            "-> leaky_relu(0.2) -> batchnorm(keep 0.8, eps 0.001) -> dense 1024 -> leaky_relu(0.2) "
            "-> batchnorm(keep 0.8, eps 0.001) -> dense 784 -> tanh");
  EXPECT_EQ(describe_model_spec(k.discriminator),
            "784 -> dense 512 -> leaky_relu(0.2) -> dense 256 -> leaky_relu(0.2) -> dense 1");
}

TEST(Trainer, SampleScaleIsCheckedAndSurvivesJson) {
  TrainConfig c = make_preset("keras-mlp");
  EXPECT_EQ(c.sample_scale, 2);
  c.sample_scale = 7;
  nlohmann::json j = train_config_to_json(c);
  EXPECT_EQ(j.at("sample_scale"), 7);
  EXPECT_EQ(train_config_from_json(j).sample_scale, 7);
  // A config.json from before the setting existed: the scale those runs drew at.
  j.erase("sample_scale");
  EXPECT_EQ(train_config_from_json(j).sample_scale, 2);
  j["sample_scale"] = 17;
  EXPECT_TRUE(throws_with([&] { train_config_from_json(j); }, {"sample_scale"}));
  for (const int bad : {0, 17, -1}) {
    c.sample_scale = bad;
    EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784); },
                            {"--sample-scale", "[1, 16]", std::to_string(bad)}));
    EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784, "runs/a/config.json"); },
                            {"runs/a/config.json", "config.sample_scale"}));
  }
  for (const int good : {1, 16}) {
    c.sample_scale = good;
    EXPECT_NO_THROW(validate_train_config(c, 784));
  }
}

TEST(Trainer, StepInputsAreTheDrawsTheStepUses) {
  // D's losses of step 1 recomputed from step_inputs(1) with a twin trainer's untouched models
  // equal, bit for bit, the losses the step reported: same batch, same noise, same dropout draws.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 40, 4);
  TrainConfig cfg = tiny_config(4, rng.bits());
  cfg.d_update = DUpdate::Joint;  // D unchanged between its real and fake halves
  cfg.log_every = 1;
  GanTrainer t(cfg, data, kCpu), twin(cfg, data, kCpu);
  t.init();
  twin.init();
  const GanTrainer::StepInputs in = twin.step_inputs(1);
  t.train_step();
  t.request_stats();
  const StepStats st = t.collect_stats();

  const uint64_t step = 1;
  const int B = cfg.batch;
  auto bce = [&](const float* logits, float target) {
    const std::vector<float> targets(B, target);
    BceStats<float> s{};
    ops::bce_with_logits(kCpu, logits, targets.data(), B, 1.0f, nullptr, &s);
    return double(s.loss);
  };
  // Dropout draws 2 (D on real) and 1, 3 (G and D on fake) of the first D step.
  const float* real_logits =
      twin.discriminator().forward(kCpu, in.real.data(), B, true, cfg.seed, 2, &step);
  EXPECT_EQ(bce(real_logits, 1.0f), st.d_loss_real);
  const float* fake = twin.generator().forward(kCpu, in.z_d.data(), B, true, cfg.seed, 1, &step);
  const float* fake_logits = twin.discriminator().forward(kCpu, fake, B, true, cfg.seed, 3, &step);
  EXPECT_EQ(bce(fake_logits, 0.0f), st.d_loss_fake);
  EXPECT_EQ(in.z_g.size(), in.z_d.size());
  EXPECT_NE(in.z_g, in.z_d);
}

namespace {

// tiny_config on points of dimension 2 (G's output, D's input) instead of 4x4 images.
TrainConfig tiny_points_config(uint64_t seed) {
  TrainConfig c = tiny_config(4, seed);
  c.generator.layers[3] = LayerSpec::dense(2);
  c.discriminator.input = 2;
  return c;
}

// n random points in [-1, 1]^2, `nan_rows` of them (at random rows) NaN: a batch that draws one
// gives D a NaN loss.
PointSet points_with_nan_rows(Rng& rng, int n, int nan_rows) {
  PointSet p{2, rng.vec<float>(size_t(n) * 2)};
  for (int k = 0; k < nan_rows; ++k)
    p.values[size_t(rng.uniform_int(0, n - 1)) * 2] = std::numeric_limits<float>::quiet_NaN();
  return p;
}

// A run stepped by hand through the public API, with none of the trainer's own divergence
// checks: after every step its losses (from that step's statistics) and every value of every
// block of both models (parameters, optimizer state, batch-norm running statistics) are looked
// at. The first step where one is not finite, and what it was, named as the trainer names it
// ("loss" first, then D, then G); 0 when none is within `until`. Keeps the checkpoint of every
// good step that is a multiple of the config's checkpoint_every.
struct BadStep {
  uint64_t step = 0;
  std::string what;
};
BadStep first_bad_step_by_hand(GanTrainer& t, uint64_t until,
                               std::map<uint64_t, Checkpoint>& good) {
  auto finite = [](const Array<float>& a) {
    for (float v : a.download())
      if (!std::isfinite(v)) return false;
    return true;
  };
  while (t.step() < until) {
    t.train_step();
    t.request_stats();
    const StepStats st = t.collect_stats();
    std::string what;
    if (!(std::isfinite(st.d_loss) && std::isfinite(st.g_loss))) what = "loss";
    for (auto [name, m] : {std::pair{"D", &t.discriminator()}, std::pair{"G", &t.generator()}}) {
      if (!what.empty()) break;
      const bool params = !finite(m->params());
      const bool state = !finite(m->adam_m()) || !finite(m->adam_v());
      if (params || state)
        what = std::string(name) + " parameters" +
               (!state ? "" : params ? " (and Adam state)" : " (Adam state)");
      else if (!finite(m->state()))
        what = std::string(name) + " batch-norm running statistics";
    }
    if (!what.empty()) return {t.step(), what};
    if (t.step() % uint64_t(t.config().checkpoint_every) == 0) good[t.step()] = t.checkpoint({});
  }
  return {};
}

template <class Data>
BadStep first_bad_step_by_hand(const TrainConfig& cfg, const Data& data,
                               std::map<uint64_t, Checkpoint>& good) {
  GanTrainer t(cfg, data, kCpu);
  t.init();
  return first_bad_step_by_hand(t, cfg.steps, good);
}

// G's Adam state overflows in the first step at lr 1e6 (the issue's `--lr 1e6`): D's first update
// moves each of its weights by ~1e6, and G's gradient through D's four layers (a product of
// their weights) squares past FLT_MAX in v. (tiny_config's two-layer D does not: it saturates.)
TrainConfig diverging_config(uint64_t seed) {
  TrainConfig c = tiny_config(4, seed);
  const LayerSpec leaky = LayerSpec::activation(Activation::leaky_relu(0.2f));
  c.discriminator.layers = {LayerSpec::dense(128), leaky, LayerSpec::dense(128), leaky,
                            LayerSpec::dense(128), leaky, LayerSpec::dense(1)};
  c.opt_g.adam.lr = c.opt_d.adam.lr = 1e6f;
  return c;
}

std::vector<uint64_t> sample_steps(const std::string& run_dir) {
  std::vector<uint64_t> steps;
  for (const auto& e : std::filesystem::directory_iterator(run_dir + "/samples"))
    steps.push_back(std::stoull(e.path().stem().string().substr(5)));  // step_NNNNNN.png
  std::sort(steps.begin(), steps.end());
  return steps;
}

// metrics.csv's row steps.
std::vector<uint64_t> metric_steps(const std::string& run_dir) {
  std::vector<uint64_t> steps;
  std::istringstream in(read_file(run_dir + "/metrics.csv"));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line))
    if (!line.empty()) steps.push_back(std::stoull(line));
  return steps;
}

// run_training's NonFiniteError message, or "" when it did not throw one.
std::string divergence_message(const RunRequest& req) {
  try {
    run_training(req);
  } catch (const NonFiniteError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// The trainer's own check against the hand-stepped one: on the CPU diverged() turns true right
// after the first bad step, the statistics are then ready without a request and name that step
// and what went non-finite, and no checkpoint can be taken.
TEST(Trainer, DivergedAtTheFirstBadStepNamesWhatWentNonFinite) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet images = synthetic_images(rng, 30, 4);
  const PointSet points = points_with_nan_rows(rng, 100, 2);
  TrainConfig lr_cfg = diverging_config(rng.bits()), nan_cfg = tiny_points_config(rng.bits());
  lr_cfg.steps = nan_cfg.steps = 200;
  lr_cfg.log_every = nan_cfg.log_every = 100;
  auto check = [&](const TrainConfig& cfg, const auto& data, const std::string& kind) {
    std::map<uint64_t, Checkpoint> unused;
    const BadStep by_hand = first_bad_step_by_hand(cfg, data, unused);
    const uint64_t bad = by_hand.step;
    const std::string& what = by_hand.what;
    ASSERT_GT(bad, 0u) << kind << ": the set-up must diverge";
    EXPECT_NE(what.find(kind), std::string::npos) << what;
    GanTrainer t(cfg, data, kCpu);
    t.init();
    for (uint64_t s = 1; s < bad; ++s) {
      t.train_step();
      ASSERT_FALSE(t.diverged()) << what << " step " << s;
      ASSERT_FALSE(t.stats_ready());
    }
    t.train_step();
    EXPECT_TRUE(t.diverged()) << what;
    EXPECT_TRUE(t.stats_ready()) << what;
    const StepStats st = t.collect_stats();
    EXPECT_EQ(st.first_step, 1u);
    EXPECT_EQ(st.last_step, bad);
    EXPECT_EQ(st.first_nonfinite_step, bad) << what;
    EXPECT_EQ(st.nonfinite_what, what);
    EXPECT_TRUE(throws_with([&] { t.checkpoint({}); },
                            {"non-finite " + what, "at step " + std::to_string(bad),
                             "not writing a checkpoint"}));
  };
  check(lr_cfg, images, "parameters (");  // the Adam state of D or G, or of both
  check(nan_cfg, points, "loss");
}

// The issue's `--lr 1e6`: the run stops at the first bad step (step 1 or 2 here, where Adam's
// state overflows), not at the next checkpoint (1,000 steps later before the check was fused into
// the optimizers); no checkpoint, no metrics row, no sample from the bad step on.
TEST(Trainer, RunWithLr1e6StopsAtTheFirstBadStep) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const ImageSet data = synthetic_images(rng, 30, 4);
  write_idx_images(dir.file("train-images-idx3-ubyte"), data, false);
  RunRequest req;
  req.config = diverging_config(rng.bits());
  req.config.steps = 1000;
  req.config.log_every = 100;
  req.config.checkpoint_every = 1000;
  req.config.sample_every = 1;
  std::map<uint64_t, Checkpoint> unused;
  const BadStep bad = first_bad_step_by_hand(req.config, data, unused);
  ASSERT_GT(bad.step, 0u) << "lr 1e6 should diverge";
  ASSERT_LT(bad.step, 100u) << "lr 1e6 should diverge at once";
  req.run_dir = dir.file("run");
  req.data_dir = dir.str();
  req.device = DeviceChoice::Cpu;
  std::FILE* sink = std::fopen("/dev/null", "w");
  req.out = sink;
  const std::string msg = divergence_message(req);
  std::fclose(sink);
  EXPECT_EQ(msg, fmt::format("non-finite {} at step {}: training stopped; last good checkpoint: "
                             "none",
                             bad.what, bad.step));
  EXPECT_TRUE(list_checkpoints(req.run_dir).empty());
  std::vector<uint64_t> sampled(bad.step);  // 0 .. bad - 1
  for (uint64_t s = 0; s < bad.step; ++s) sampled[s] = s;
  EXPECT_EQ(sample_steps(req.run_dir), sampled);
  EXPECT_TRUE(metric_steps(req.run_dir).empty());
}

// Divergence mid-run, twice: a run whose learning rate is raised to 1e6 on resume (config.json
// edited between the two runs), and a run whose D loss goes NaN when a batch draws one of the
// NaN points. The first bad step is found by hand (above); the run must stop right there: the
// error names it, the newest checkpoint on disk is the last good one (bitwise the hand-stepped
// run's), none is newer, and no sample or metrics row exists for the bad step or later.
TEST(Trainer, RunStopsAtTheFirstBadStepAndKeepsTheLastGoodCheckpoint) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  std::FILE* sink = std::fopen("/dev/null", "w");
  auto expect_stopped_at = [&](const RunRequest& req, uint64_t bad, const std::string& what,
                               const std::map<uint64_t, Checkpoint>& good, uint64_t first_step) {
    const auto ckpts = list_checkpoints(req.run_dir);
    ASSERT_FALSE(ckpts.empty());
    const std::string msg = divergence_message(req);
    const auto after = list_checkpoints(req.run_dir);
    ASSERT_FALSE(after.empty());
    const uint64_t last_good = after.back().first;
    EXPECT_EQ(msg, fmt::format("non-finite {} at step {}: training stopped; last good checkpoint: {}",
                               what, bad, after.back().second));
    EXPECT_LT(last_good, bad);
    // The newest checkpoint is the last multiple of checkpoint_every before the bad step (or
    // the one resumed from), and holds exactly the hand-stepped run's state there.
    const uint64_t every = uint64_t(req.config.checkpoint_every);
    EXPECT_EQ(last_good, std::max(first_step, (bad - 1) / every * every));
    if (good.count(last_good))
      EXPECT_TRUE(same_tensors(load_checkpoint(after.back().second).tensors,
                               good.at(last_good).tensors));
    for (uint64_t s : sample_steps(req.run_dir)) EXPECT_LT(s, bad) << "sample";
    for (uint64_t s : metric_steps(req.run_dir)) EXPECT_LT(s, bad) << "metrics row";
  };

  {  // lr raised to 1e6 on resume
    TempDir dir(rng);
    const ImageSet data = synthetic_images(rng, 30, 4);
    write_idx_images(dir.file("train-images-idx3-ubyte"), data, false);
    RunRequest req;
    req.config = diverging_config(rng.bits());
    req.config.opt_g.adam.lr = req.config.opt_d.adam.lr = 1e-3f;
    req.config.steps = 5;
    req.config.log_every = 50;
    req.config.checkpoint_every = 4;
    req.config.sample_every = 1;
    req.run_dir = dir.file("run");
    req.data_dir = dir.str();
    req.device = DeviceChoice::Cpu;
    req.out = sink;
    ASSERT_EQ(run_training(req).step, 5u);
    const std::string config_path = req.run_dir + "/config.json";
    nlohmann::json j = nlohmann::json::parse(read_file(config_path));
    TrainConfig raised = train_config_from_json(j["config"]);
    raised.opt_g.adam.lr = raised.opt_d.adam.lr = 1e6f;
    raised.steps = 100;
    j["config"] = train_config_to_json(raised);
    write_file_atomic(config_path, j.dump(2));
    // By hand: from the step-5 checkpoint with the raised rate.
    GanTrainer t(raised, data, kCpu);
    t.restore(load_checkpoint(checkpoint_path(req.run_dir, 5)));
    std::map<uint64_t, Checkpoint> good = {{5, t.checkpoint({})}};
    const BadStep bad = first_bad_step_by_hand(t, raised.steps, good);
    ASSERT_GT(bad.step, 5u) << "lr 1e6 should diverge after resuming";
    RunRequest resume;
    resume.resume = true;
    resume.run_dir = req.run_dir;
    resume.config = raised;  // for expect_stopped_at's checkpoint_every; the run reads config.json
    resume.device = DeviceChoice::Cpu;
    resume.out = sink;
    expect_stopped_at(resume, bad.step, bad.what, good, 5);
  }
  {  // a NaN loss
    TempDir dir(rng);
    auto run = std::make_shared<PointRun>();
    run->data = points_with_nan_rows(rng, 100, 2);
    run->description = "points with NaN rows";
    RunRequest req;
    req.config = tiny_points_config(rng.bits());
    req.config.steps = 300;
    req.config.log_every = 100;
    req.config.checkpoint_every = 3;
    req.config.sample_every = 1;
    req.points = run;
    req.run_dir = dir.file("run");
    req.device = DeviceChoice::Cpu;
    req.out = sink;
    std::map<uint64_t, Checkpoint> good;
    const BadStep by_hand = first_bad_step_by_hand(req.config, run->data, good);
    const uint64_t bad = by_hand.step;
    ASSERT_GT(bad, 0u) << "a batch should draw a NaN point within 300 steps";
    ASSERT_EQ(by_hand.what, "loss");
    uint64_t last_sampled = 0;
    run->write_samples = [&](GanTrainer&, const std::string&, uint64_t step) {
      last_sampled = step;
    };
    // Points have no image grid: the hook records where the run got to instead.
    const std::string msg = divergence_message(req);
    EXPECT_EQ(msg, fmt::format("non-finite loss at step {}: training stopped; last good "
                               "checkpoint: {}",
                               bad,
                               bad > 3 ? checkpoint_path(req.run_dir, (bad - 1) / 3 * 3)
                                       : std::string("none")));
    EXPECT_EQ(last_sampled, bad - 1) << "the run went on past the bad step";
    const auto ckpts = list_checkpoints(req.run_dir);
    if (bad > 3) {
      ASSERT_FALSE(ckpts.empty());
      EXPECT_EQ(ckpts.back().first, (bad - 1) / 3 * 3);
      EXPECT_TRUE(same_tensors(load_checkpoint(ckpts.back().second).tensors,
                               good.at(ckpts.back().first).tensors));
    } else {
      EXPECT_TRUE(ckpts.empty());
    }
    for (uint64_t s : metric_steps(req.run_dir)) EXPECT_LT(s, bad) << "metrics row";
  }
  std::fclose(sink);
}

// The CPU kernels split their work so that no result depends on the thread count, which the
// adaptive count (engine/core/cpu_threads.h) relies on: a step may run on 2 threads and the next
// on 1 when another process takes a core. Every preset's first steps (dense, batch-norm, dropout
// and convolution kernels, Adam over the flat buffers, all past their threading thresholds) on 1
// thread and on 2 give the same bits in every tensor and counter.
TEST(Trainer, ThreadCountChangesNoBit) {
  if (cpu_threads_max() < 2) GTEST_SKIP() << "one CPU core here: nothing to compare";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 64, 28);
  const uint64_t seed = rng.bits();
  for (const char* preset : {"keras-mlp", "tf-mlp", "torch-mlp", "dcgan"}) {
    TrainConfig cfg = make_preset(preset);
    cfg.batch = std::string(preset) == "dcgan" ? 4 : 32;
    cfg.seed = seed;
    std::vector<Checkpoint> runs;
    for (int threads : {1, 2}) {
      set_cpu_threads(threads);
      ASSERT_EQ(cpu_threads(), threads);
      GanTrainer t(cfg, data, kCpu);
      t.init();
      for (int s = 0; s < 2; ++s) t.train_step();
      EXPECT_EQ(cpu_threads(), threads) << "a fixed count is kept";
      runs.push_back(t.checkpoint({}));
    }
    set_cpu_threads(0);
    EXPECT_TRUE(same_tensors(runs[1].tensors, runs[0].tensors)) << preset;
    EXPECT_EQ(runs[1].counters, runs[0].counters) << preset;
  }
}
