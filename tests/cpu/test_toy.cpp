// The toy experiments in process, on the CPU: the trainer on float points (batches are data rows,
// sorted 1D batches), WGAN's critic loss and clipping, instance noise annealed to exactly 0, the
// experiments' definitions and JSON, seed 2's D pre-training, and the CI-length runs that must
// reach their targets (the 1D Gaussian, the parabola).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/train/gan_trainer.h"
#include "engine/core/ops.h"
#include "engine/train/toy_experiments.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

const ExecContext kCpu{};

// n random rows of dim values in [-3, 3].
PointSet random_points(Rng& rng, int n, int dim) {
  return {dim, rng.vec<float>(size_t(n) * dim, -3.0, 3.0)};
}

// G: z 3 -> 8 tanh -> dim; D: dim -> 8 tanh -> 1.
TrainConfig tiny_point_config(int dim, uint64_t seed) {
  TrainConfig c;
  c.preset = "tiny-points";
  c.generator = {3, {LayerSpec::dense(8), LayerSpec::activation(Activation::tanh()),
                     LayerSpec::dense(dim)}};
  c.discriminator = {dim, {LayerSpec::dense(8), LayerSpec::activation(Activation::tanh()),
                           LayerSpec::dense(1)}};
  c.batch = 16;
  c.steps = 20;
  c.seed = seed;
  c.log_every = 1;
  c.sample_grid = 1;
  c.d_update = DUpdate::Joint;
  return c;
}

StepStats one_step(GanTrainer& t) {
  t.train_step();
  t.request_stats();
  return t.collect_stats();
}

}  // namespace

TEST(ToyTrainer, PointBatchesAreRowsOfTheDataSet) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PointSet data = random_points(rng, 37, 3);
  GanTrainer t(tiny_point_config(3, rng.bits()), data, kCpu);
  t.init();
  for (uint64_t step : {1u, 2u, 9u}) {
    const auto in = t.step_inputs(step);
    ASSERT_EQ(in.real.size(), size_t(16) * 3);
    for (size_t b = 0; b < 16; ++b) {
      bool found = false;
      for (size_t r = 0; r < data.count() && !found; ++r)
        found = std::equal(in.real.begin() + 3 * b, in.real.begin() + 3 * b + 3,
                           data.values.begin() + 3 * r);
      EXPECT_TRUE(found) << "step " << step << " row " << b << " is not a row of the data";
    }
  }
  // A short run on points stays finite.
  for (int s = 0; s < 10; ++s) EXPECT_EQ(one_step(t).first_nonfinite_step, 0u);
  EXPECT_TRUE(t.parameters_finite());
}

TEST(ToyTrainer, SortedRealBatchesAreTheSameDrawsSorted) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PointSet data = random_points(rng, 500, 1);
  TrainConfig cfg = tiny_point_config(1, rng.bits());
  GanTrainer plain(cfg, data, kCpu);
  cfg.sort_real = true;
  GanTrainer sorted(cfg, data, kCpu);
  for (uint64_t step : {1u, 5u}) {
    std::vector<float> want = plain.step_inputs(step).real;
    std::sort(want.begin(), want.end());
    EXPECT_EQ(sorted.step_inputs(step).real, want) << "step " << step;
  }
  // Sorting needs 1D samples.
  cfg = tiny_point_config(2, 1);
  cfg.sort_real = true;
  EXPECT_TRUE(throws_with([&] { validate_train_config(cfg, 2); }, {"--sort-real", "1D"}));
  cfg = tiny_point_config(1, 1);
  cfg.sort_real = true;
  cfg.batch = 65537;  // the GPU sort ranks within one batch of at most 65536
  EXPECT_TRUE(throws_with([&] { validate_train_config(cfg, 1); }, {"--batch", "65536"}));
}

TEST(ToyTrainer, WganClippingKeepsEveryCriticWeightInBounds) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PointSet data = random_points(rng, 200, 2);
  TrainConfig cfg = tiny_point_config(2, rng.bits());
  cfg.loss = GanLoss::Wasserstein;
  cfg.opt_g.kind = cfg.opt_d.kind = OptimizerKind::Rmsprop;
  cfg.opt_g.rmsprop.lr = cfg.opt_d.rmsprop.lr = 5e-3f;  // large, so the bound binds at once
  cfg.opt_d.clip = 0.01f;
  cfg.d_steps = 5;
  GanTrainer t(cfg, data, kCpu);
  t.init();
  // Glorot's initial weights reach far beyond 0.01: clipping has work from the first update.
  // Chance that none exceeds 0.1: the 16 first-layer weights are U(-0.77, 0.77), the 8 second-layer
  // ones U(-0.82, 0.82): 0.565^16 * 0.561^8 ~ 1e-6. (This test and the next never failed in
  // 20,000 fresh seeds.)
  const std::vector<float> initial = t.discriminator().params().download();
  EXPECT_GT(*std::max_element(initial.begin(), initial.end()), 0.1f);
  size_t at_bound = 0;
  for (int s = 1; s <= 8; ++s) {
    const StepStats st = one_step(t);
    // The critic's statistics: losses are signed means of its scores, no accuracy.
    EXPECT_DOUBLE_EQ(st.d_loss, st.d_loss_real + st.d_loss_fake) << "step " << s;
    EXPECT_NEAR(st.d_loss_real, -st.d_real, 1e-6) << "step " << s;
    EXPECT_NEAR(st.d_loss_fake, st.d_fake, 1e-6) << "step " << s;
    EXPECT_EQ(st.d_accuracy, 0.0);
    EXPECT_TRUE(std::isfinite(st.g_loss));
    for (float p : t.discriminator().params().download()) {
      ASSERT_LE(std::fabs(p), 0.01f) << "step " << s;
      at_bound += std::fabs(p) == 0.01f;
    }
  }
  EXPECT_GT(at_bound, 0u) << "the bound never bound: the test could not catch missing clipping";
  // G is not clipped.
  const std::vector<float> g = t.generator().params().download();
  EXPECT_GT(*std::max_element(g.begin(), g.end()), 0.01f);
  // A critic has no labels to smooth.
  cfg.label_smoothing = 0.1f;
  EXPECT_TRUE(throws_with([&] { validate_train_config(cfg, 2); }, {"--label-smoothing"}));
}

TEST(ToyTrainer, InstanceNoiseAnnealsToExactlyZero) {
  // With anneal over 1 step, sigma is sigma0 at step 1 and 0 from step 2: a noisy trainer given a
  // noiseless trainer's state after step 1 takes exactly the noiseless step 2.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PointSet data = random_points(rng, 100, 2);
  const TrainConfig quiet = tiny_point_config(2, rng.bits());
  TrainConfig noisy = quiet;
  noisy.instance_noise = 0.5f;
  noisy.instance_noise_steps = 1;
  GanTrainer a(quiet, data, kCpu), b(noisy, data, kCpu);
  a.init();
  b.init();
  const StepStats a1 = one_step(a), b1 = one_step(b);
  EXPECT_NE(a1.d_loss_real, b1.d_loss_real) << "instance noise did not reach D at step 1";
  b.restore(a.checkpoint({}));
  const StepStats a2 = one_step(a), b2 = one_step(b);
  EXPECT_EQ(a2.d_loss, b2.d_loss);
  EXPECT_EQ(a2.g_loss, b2.g_loss);
  EXPECT_EQ(a.generator().params().download(), b.generator().params().download());
  EXPECT_EQ(a.discriminator().params().download(), b.discriminator().params().download());
  noisy.instance_noise = -1.0f;
  EXPECT_TRUE(throws_with([&] { validate_train_config(noisy, 2); }, {"--instance-noise"}));
}

TEST(ToyTrainer, PackedDiscriminatorJudgesGroupsAndNeedsADivisibleBatch) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PointSet data = random_points(rng, 300, 1);
  TrainConfig cfg = tiny_point_config(1, rng.bits());
  cfg.discriminator = {1,
                       {LayerSpec::minibatch_distance(), LayerSpec::pack(cfg.batch),
                        LayerSpec::dense(8), LayerSpec::activation(Activation::tanh()),
                        LayerSpec::dense(1)}};
  GanTrainer t(cfg, data, kCpu);
  t.init();
  EXPECT_EQ(t.discriminator().output_rows(cfg.batch), 1);
  for (int s = 0; s < 5; ++s) {
    const StepStats st = one_step(t);
    EXPECT_EQ(st.first_nonfinite_step, 0u);
    // One logit per step: accuracy is 0 or 1 per half.
    EXPECT_TRUE(st.d_accuracy == 0.0 || st.d_accuracy == 0.5 || st.d_accuracy == 1.0);
  }
  cfg.batch = 15;
  EXPECT_TRUE(throws_with([&] { validate_train_config(cfg, 1); }, {"--batch", "15", "16"}));
  cfg = tiny_point_config(1, 1);
  cfg.generator.layers.push_back(LayerSpec::pack(2));
  EXPECT_TRUE(throws_with([&] { validate_train_config(cfg, 1); }, {"generator", "pack"}));
}

TEST(ToyExperiments, AllAreValidAndSurviveJson) {
  for (const std::string& name : toy_experiment_names()) {
    SCOPED_TRACE(name);
    const ToyExperiment e = make_toy_experiment(name);
    EXPECT_EQ(e.name, name);
    const int dim = e.target.kind == ToyTargetKind::Gaussian1D ? 1 : 2;
    EXPECT_NO_THROW(validate_train_config(e.config, dim));
    const nlohmann::json c = train_config_to_json(e.config);
    EXPECT_EQ(train_config_to_json(train_config_from_json(c)), c);
    const nlohmann::json t = toy_target_to_json(e.target);
    EXPECT_EQ(toy_target_to_json(toy_target_from_json(t)), t);
    const PointSet data = toy_training_set(e.target, 7);
    EXPECT_EQ(data.dim, dim);
    EXPECT_EQ(data.count(), size_t(e.target.n_points));
    EXPECT_EQ(toy_training_set(e.target, 7).values, data.values) << "not deterministic by seed";
  }
  EXPECT_TRUE(throws_with([] { make_toy_experiment("nope"); }, {"--experiment", "nope", "ring"}));
  // A config written before the toy settings existed reads back with their defaults.
  nlohmann::json old = train_config_to_json(make_preset("keras-mlp"));
  for (const char* key : {"optimizer_g", "optimizer_d", "loss", "instance_noise",
                          "instance_noise_steps", "sort_real"})
    old.erase(key);
  const TrainConfig back = train_config_from_json(old);
  EXPECT_EQ(back.loss, GanLoss::Bce);
  EXPECT_EQ(back.opt_d.kind, OptimizerKind::Adam);
  EXPECT_EQ(back.opt_d.clip, 0.0f);
  EXPECT_EQ(back.instance_noise, 0.0f);
  EXPECT_FALSE(back.sort_real);
}

TEST(ToyExperiments, PretrainingFitsDToTheTargetPdf) {
  // Seed 2: D's probability regressed on the N(-1, 1) pdf over [-5, 5]; its mean squared error on
  // a grid must fall clearly below the untrained D's: after / before < 0.8 (the seed's 1,000 steps
  // of SGD at 0.001 fit it only roughly). Over 1,000 fresh seeds the ratio had median 0.33, 99th
  // percentile 0.56 and maximum 0.59 (mean 0.34, sd 0.09): none failed, so one run fails with
  // q < 3.0e-3 (95% upper bound from 0 of 1,000; a normal fit puts 0.8 at 5.1 sd, q ~ 1e-7).
  // Three fresh seeds (0.1 s each) and the median ratio against 0.8: P(fail) <= 3 q^2 < 2.7e-5.
  // A D that does not learn (no update, wrong gradient sign) keeps the ratio at >= 1 every time.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  std::vector<double> ratios;
  std::string runs;
  for (int run = 0; run < 3; ++run) {
    ToyExperiment e = make_toy_experiment("gauss1d");
    e.config.seed = rng.bits();
    GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
    t.init();
    Model& D = t.discriminator();
    const uint64_t counter = 0;
    auto grid_mse = [&] {
      std::vector<float> x(200);
      double mse = 0;
      for (size_t i = 0; i < x.size(); ++i) x[i] = float(-5.0 + 10.0 * i / (x.size() - 1));
      const float* logits = D.forward(kCpu, x.data(), int(x.size()), false, 0, 0, &counter);
      for (size_t i = 0; i < x.size(); ++i) {
        const double d = 1.0 / (1.0 + std::exp(-double(logits[i])));
        const double u = double(x[i]) + 1.0;
        const double pdf = std::exp(-0.5 * u * u) / std::sqrt(2.0 * 3.14159265358979);
        mse += (d - pdf) * (d - pdf) / double(x.size());
      }
      return mse;
    };
    const double before = grid_mse();
    const double last = pretrain_discriminator_on_pdf(t, e.target);
    const double after = grid_mse();
    EXPECT_TRUE(std::isfinite(last));
    ratios.push_back(after / before);
    runs += " (before " + std::to_string(before) + ", after " + std::to_string(after) + ")";
    // The optimizer state starts over, as for a fresh D with copied weights.
    for (float v : D.adam_m().download()) ASSERT_EQ(v, 0.0f);
  }
  std::sort(ratios.begin(), ratios.end());
  EXPECT_LT(ratios[1], 0.8) << "median of 3 runs' MSE ratio after / before:" << runs;
}

TEST(ToyExperiments, Gaussian1DRunReachesTheTarget) {
  // Seed 2's N(-1, 1) from stratified uniform noise, with instance noise, Adam and staircase decay
  // (the gauss1d-instance-noise experiment, 8,000 steps, about 5 s a run): a run reaches the
  // target when G's mean is within 0.15 and its std within 25% of the target's, and W1 < 0.35.
  // Over 31 fresh seeds (24 earlier, 7 for this bound) none missed: mean off by <= 0.09, std
  // 0.91-1.02, W1 0.155-0.200 (the 7: mean -0.985 +- 0.022, std 0.964 +- 0.020, W1 0.171 +-
  // 0.016), so one run misses with q < 0.1 (95% upper bound from 0 of 31; the fitted spreads put
  // every bound >= 4 sd away, q ~ 1e-4). Up to 4 runs from fresh seeds, stopping at the first
  // that reaches the target: P(fail) = q^4 < 1e-4 (~1e-16 fitted); a passing test costs ~1 run.
  // An untrained or frozen G (mean ~ its bias, std far below 1) misses all 4.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  constexpr int kMaxRuns = 4;
  std::string runs;
  bool reached = false;
  for (int run = 0; run < kMaxRuns && !reached; ++run) {
    ToyExperiment e = make_toy_experiment("gauss1d-instance-noise");
    e.config.seed = rng.bits();
    GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
    t.init();
    pretrain_discriminator_on_pdf(t, e.target);
    for (uint64_t s = 0; s < e.config.steps; ++s) t.train_step();
    const ToyEvaluation ev = evaluate_toy(t, e);
    runs += "\n  run " + std::to_string(run + 1) + " (seed " + std::to_string(e.config.seed) +
            "): " + ev.describe(e.target);
    reached = std::fabs(ev.mean + 1.0) <= 0.15 && std::fabs(ev.std - 1.0) <= 0.25 &&
              ev.wasserstein1 < 0.35;
  }
  EXPECT_TRUE(reached) << "no run of " << kMaxRuns
                       << " reached mean -1 +- 0.15, std 1 +- 0.25, W1 < 0.35" << runs;
}

TEST(ToyExperiments, ParabolaRunLandsOnTheCurve) {
  // Seed 3's parabola with 3 D steps per G step and Adam's rate halved every 20,000 steps, 80,000
  // steps (about ten seconds a run): G lands on the curve when the median |y - x^2 - 5| of its
  // points falls below 1.0 (the untrained G's is about 5, its points near the origin; 0.3 is a G
  // lying on the curve; the seed's 160,000 steps reach 0.32 at seed 1).
  // The seed's own 10-10 D is weak, so a run can fall off the curve late. Over 41 fresh seeds the
  // final residual was bimodal: 37 landed (median 0.22, 90th percentile 0.42, max 0.74) and 4 fell
  // off (3.4, 3.9, 4.5, 4.6); one run misses 1.0 (or the old bound 2.5: the same 4) with
  // q = 4/41 = 0.10 (95% upper bound 0.23). A single run therefore failed by chance in ~10% of
  // fresh seeds (an outside tester saw 3 in 13). Now up to 6 runs from fresh seeds, stopping at
  // the first that lands: P(fail) = q^6 = 9e-7 (1.5e-4 at q's upper bound), and a passing test
  // costs 1 / (1 - q) ~ 1.1 runs on average. A trainer that cannot land G (G never updated, a
  // wrong gradient sign) fails all 6 runs.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  constexpr int kMaxRuns = 6;
  constexpr double kLanded = 1.0;
  std::string runs;
  bool landed = false;
  for (int run = 0; run < kMaxRuns && !landed; ++run) {
    ToyExperiment e = make_toy_experiment("parabola");
    e.config.seed = rng.bits();
    e.config.d_steps = 3;
    e.config.steps = 80000;
    for (OptimizerConfig* o : {&e.config.opt_g, &e.config.opt_d}) {
      o->adam.decay = 0.5f;
      o->adam.decay_every = 20000;
    }
    GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
    t.init();
    const double untrained = evaluate_toy(t, e).parabola_residual;
    EXPECT_GT(untrained, 3.0)
        << "the untrained G already lies near the curve: the bound says nothing";
    for (uint64_t s = 0; s < e.config.steps; ++s) t.train_step();
    const ToyEvaluation ev = evaluate_toy(t, e);
    runs += "\n  run " + std::to_string(run + 1) + " (seed " + std::to_string(e.config.seed) +
            "): untrained " + std::to_string(untrained) + ", " + ev.describe(e.target);
    landed = ev.parabola_residual < kLanded;
  }
  EXPECT_TRUE(landed) << "no run of " << kMaxRuns << " reached a median residual below " << kLanded
                      << runs;
}
