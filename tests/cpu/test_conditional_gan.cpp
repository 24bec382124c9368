// Conditional GANs, PacGAN's packing and G's weight average at the trainer level: the config
// transforms, G's output depending on the label, a short run learning two classes apart, the EMA
// against a hand-computed sequence, and exact resume with both.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/core/ops.h"
#include "engine/train/gan_trainer.h"
#include "tensor_fixtures.h"
#include "trainer_fixtures.h"

using namespace gan;
using namespace gan::test;

namespace {

const ExecContext kCpu{};

// Two classes of side x side images: class 0 bright on top and dark below, class 1 the reverse,
// each pixel jittered by up to +-40 levels. Labels alternate at random.
struct TwoClassSet {
  ImageSet images;
  std::vector<uint8_t> labels;
};
TwoClassSet two_class_images(Rng& rng, uint32_t n, uint32_t side) {
  TwoClassSet s{{n, side, side, std::vector<uint8_t>(size_t(n) * side * side)}, {}};
  for (uint32_t i = 0; i < n; ++i) {
    const uint8_t label = uint8_t(rng.uniform_int(0, 1));
    s.labels.push_back(label);
    for (uint32_t p = 0; p < side * side; ++p) {
      const bool top = p < side * side / 2;
      const int base = (top == (label == 0)) ? 215 : 40;
      s.images.pixels[size_t(i) * side * side + p] = uint8_t(base + rng.uniform_int(-40, 40));
    }
  }
  return s;
}

// Top half's mean minus the bottom half's: > 0 looks like class 0, < 0 like class 1.
double top_minus_bottom(const float* img, int pixels) {
  double top = 0, bottom = 0;
  for (int p = 0; p < pixels; ++p) (p < pixels / 2 ? top : bottom) += img[p];
  return (top - bottom) / (pixels / 2);
}

TrainConfig tiny_conditional(int side, uint64_t seed, int classes) {
  TrainConfig c = tiny_config(side, seed);
  make_conditional(c, classes);
  return c;
}

}  // namespace

TEST(ConditionalGan, MakeConditionalWidensBothInputs) {
  TrainConfig mlp = make_preset("keras-mlp");
  make_conditional(mlp, 10);
  EXPECT_EQ(mlp.classes, 10);
  EXPECT_EQ(mlp.generator.input, 110);
  EXPECT_EQ(mlp.z_dim(), 100);
  EXPECT_EQ(mlp.discriminator.input, 794);
  EXPECT_EQ(mlp.label_planes(), 1);
  EXPECT_NO_THROW(validate_train_config(mlp, 784));
  EXPECT_TRUE(throws_with([&] { make_conditional(mlp, 10); }, {"--conditional", "already"}));

  // A convolutional D: ten constant planes after the image's channel.
  TrainConfig conv = make_preset("dcgan");
  make_conditional(conv, 10);
  EXPECT_EQ(conv.discriminator.input, 784 * 11);
  EXPECT_EQ(conv.discriminator.layers[0].units, 11);
  EXPECT_EQ(conv.label_planes(), 784);
  EXPECT_NO_THROW(validate_train_config(conv, 784));
  // Packed after conditioning: the samples (with their planes) stacked as channels.
  add_packing(conv, 2);
  EXPECT_EQ(conv.discriminator.layers[0].kind, LayerKind::Pack);
  EXPECT_EQ(conv.discriminator.layers[1].units, 22);
  EXPECT_EQ(conv.label_planes(), 784);
  EXPECT_NO_THROW(validate_train_config(conv, 784));
  EXPECT_TRUE(throws_with([&] { make_conditional(conv, 3); }, {"--conditional"}));

  const nlohmann::json j = train_config_to_json(conv);
  EXPECT_EQ(j.at("classes"), 10);
  EXPECT_EQ(train_config_to_json(train_config_from_json(j)), j);

  // The cgan preset is conditional from the start; its D reads the sample then the code.
  const TrainConfig cgan = make_preset("cgan");
  EXPECT_EQ(cgan.classes, 10);
  EXPECT_EQ(cgan.generator.input, 110);
  EXPECT_EQ(cgan.discriminator.input, 794);

  // A D whose input does not match sample + code is refused, naming both.
  TrainConfig bad = mlp;
  bad.discriminator.input = 784;
  EXPECT_TRUE(throws_with([&] { validate_train_config(bad, 784); }, {"discriminator", "794"}));
  bad = mlp;
  bad.generator.input = 10;  // no room for any noise
  EXPECT_TRUE(throws_with([&] { validate_train_config(bad, 784); }, {"--z-dim"}));
}

TEST(ConditionalGan, PackingIsCheckedAgainstTheBatch) {
  TrainConfig c = make_preset("keras-mlp");  // batch 32
  add_packing(c, 4);
  EXPECT_EQ(c.discriminator.layers[0].kind, LayerKind::Pack);
  EXPECT_EQ(c.discriminator.layers[0].units, 4);
  EXPECT_NO_THROW(validate_train_config(c, 784));
  TrainConfig three = make_preset("keras-mlp");
  add_packing(three, 3);
  EXPECT_TRUE(throws_with([&] { validate_train_config(three, 784); }, {"--batch", "32", "--pack"}));
  TrainConfig one = make_preset("keras-mlp");
  add_packing(one, 1);  // no pack layer at all
  EXPECT_EQ(train_config_to_json(one), train_config_to_json(make_preset("keras-mlp")));
  EXPECT_TRUE(throws_with([&] { add_packing(one, 0); }, {"--pack"}));
}

TEST(ConditionalGan, GeneratorOutputDependsOnTheLabel) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const TwoClassSet data = two_class_images(rng, 40, 4);
  const TrainConfig cfg = tiny_conditional(4, rng.bits(), 3);
  GanTrainer t(cfg, data.images, kCpu, &data.labels);
  t.init();
  for (int s = 0; s < 3; ++s) t.train_step();
  const uint64_t seed = rng.bits();
  const int n = 12;
  std::vector<std::vector<float>> by_label;
  for (int label = 0; label < 3; ++label)
    by_label.push_back(generate_images(kCpu, t.generator(), cfg.noise, n, seed, 3, label));
  // Same label, same noise: the same samples; another label: every sample changes.
  EXPECT_EQ(generate_images(kCpu, t.generator(), cfg.noise, n, seed, 3, 1), by_label[1]);
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b)
      for (int i = 0; i < n; ++i) {
        double diff = 0;
        for (int p = 0; p < 16; ++p)
          diff = std::max(diff, double(std::fabs(by_label[a][size_t(i) * 16 + p] -
                                                 by_label[b][size_t(i) * 16 + p])));
        EXPECT_GT(diff, 1e-4) << "labels " << a << " and " << b << ", sample " << i;
      }
  // label -1: sample i gets class i % classes.
  const std::vector<float> mixed = generate_images(kCpu, t.generator(), cfg.noise, n, seed, 3);
  for (int i = 0; i < n; ++i)
    for (int p = 0; p < 16; ++p)
      ASSERT_EQ(mixed[size_t(i) * 16 + p], by_label[size_t(i % 3)][size_t(i) * 16 + p]) << i;
  // The trainer's grid: one row of sample_grid per class, the noise shared down each column.
  EXPECT_EQ(t.sample_count(), 3 * cfg.sample_grid);
  EXPECT_EQ(t.sample_columns(), cfg.sample_grid);
  EXPECT_EQ(t.samples().size(), size_t(t.sample_count()) * 16);
}

TEST(ConditionalGan, RefusesMissingOrBadLabels) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TwoClassSet data = two_class_images(rng, 20, 4);
  const TrainConfig cfg = tiny_conditional(4, 1, 2);
  EXPECT_TRUE(throws_with([&] { GanTrainer t(cfg, data.images, kCpu); }, {"labels"}));
  std::vector<uint8_t> short_labels(data.labels.begin(), data.labels.end() - 1);
  EXPECT_TRUE(
      throws_with([&] { GanTrainer t(cfg, data.images, kCpu, &short_labels); }, {"19 labels"}));
  data.labels[7] = 2;
  EXPECT_TRUE(throws_with([&] { GanTrainer t(cfg, data.images, kCpu, &data.labels); },
                          {"label 2", "image 7", "[0, 2)"}));
}

// Statistical: after 2,000 steps each label's samples have the look of their class (top brighter
// than the bottom for class 0, the reverse for class 1) in at least 75 of 100 samples per class; a
// G that ignored its label would get about 50 (75 or more: p < 1e-6). Over 500 fresh seeds (1,000
// classes; measured 2026-11-27) the worst class had 87; at 600 steps half the seeds fell short.
TEST(ConditionalGan, ShortRunDrawsEachClassAsAsked) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const TwoClassSet data = two_class_images(rng, 400, 4);
  TrainConfig cfg = tiny_conditional(4, rng.bits(), 2);
  cfg.batch = 16;
  cfg.log_every = 100;
  GanTrainer t(cfg, data.images, kCpu, &data.labels);
  t.init();
  for (int s = 0; s < 2000; ++s) t.train_step();
  ASSERT_TRUE(t.parameters_finite());
  const int n = 100;
  for (int label = 0; label < 2; ++label) {
    const std::vector<float> x =
        generate_images(kCpu, t.generator(), cfg.noise, n, rng.bits(), 2, label);
    int right = 0;
    for (int i = 0; i < n; ++i) {
      const double d = top_minus_bottom(x.data() + size_t(i) * 16, 16);
      right += label == 0 ? d > 0 : d < 0;
    }
    EXPECT_GE(right, 75) << "class " << label << ": " << right << " of " << n << " look like it";
  }
}

TEST(GeneratorEma, FollowsTheHandComputedAverage) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 30, 4);
  TrainConfig cfg = tiny_config(4, rng.bits());
  cfg.ema = 0.75f;
  cfg.ema_start = 3;
  GanTrainer t(cfg, data, kCpu);
  t.init();
  std::vector<double> expected(t.generator().params().size());
  {
    const std::vector<float> p0 = t.generator().params().download();
    const std::vector<float> e0 = t.sampling_generator().params().download();
    ASSERT_EQ(e0, p0) << "the average starts at G's initial weights";
  }
  for (uint64_t step = 1; step <= 6; ++step) {
    t.train_step();
    const std::vector<float> p = t.generator().params().download();
    for (size_t i = 0; i < p.size(); ++i)
      expected[i] =
          step < cfg.ema_start ? double(p[i]) : double(p[i]) + 0.75 * (expected[i] - double(p[i]));
    const std::vector<float> e = t.sampling_generator().params().download();
    ASSERT_EQ(e.size(), p.size());
    size_t differ = 0;
    for (size_t i = 0; i < e.size(); ++i) {
      ASSERT_NEAR(e[i], expected[i], 1e-6 * std::max(1.0, std::fabs(expected[i])))
          << "step " << step << ", parameter " << i;
      differ += e[i] != p[i];
    }
    if (step < cfg.ema_start)
      EXPECT_EQ(differ, 0u) << "before --ema-start the average is a copy (step " << step << ")";
    else
      EXPECT_GT(differ, e.size() / 2) << "step " << step;
  }
  // The sampling generator runs with G's own running statistics.
  EXPECT_EQ(t.sampling_generator().state().download(), t.generator().state().download());
  EXPECT_EQ(&t.sampling_generator(), &t.sampling_generator());
  EXPECT_NE(&t.sampling_generator(), &t.generator());
  // The checkpoint keeps it; the generator's loaders find it under its own name.
  const Checkpoint ck = t.checkpoint({});
  const NamedTensor* avg = ck.find("g_ema.params");
  ASSERT_NE(avg, nullptr);
  EXPECT_EQ(avg->data, t.sampling_generator().params().download());
  EXPECT_STREQ(sampling_params_name(cfg), "g_ema.params");
  Model G("generator", cfg.generator, 4, DeviceKind::Cpu);
  load_model_weights(G, ck, "g", sampling_params_name(cfg));
  EXPECT_EQ(G.params().download(), avg->data);
}

TEST(GeneratorEma, ResumeWithConditioningAndTheAverageIsBitwise) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const TwoClassSet data = two_class_images(rng, 40, 4);
  TrainConfig cfg = tiny_conditional(4, rng.bits(), 2);
  cfg.ema = 0.9f;
  cfg.ema_start = 4;
  cfg.d_steps = 2;
  GanTrainer straight(cfg, data.images, kCpu, &data.labels);
  straight.init();
  for (int s = 0; s < 5; ++s) straight.train_step();
  const Checkpoint at5 = straight.checkpoint({});
  for (int s = 0; s < 5; ++s) straight.train_step();

  GanTrainer resumed(cfg, data.images, kCpu, &data.labels);
  resumed.restore(at5);
  for (int s = 0; s < 5; ++s) resumed.train_step();
  const Checkpoint a = straight.checkpoint({}), b = resumed.checkpoint({});
  ASSERT_NE(a.find("g_ema.params"), nullptr);
  EXPECT_TRUE(same_tensors(b.tensors, a.tensors));
  EXPECT_EQ(resumed.samples(), straight.samples());

  // A checkpoint without the average does not restore into a trainer that keeps one.
  TrainConfig plain = cfg;
  plain.ema = 0.0f;
  plain.ema_start = 0;
  GanTrainer no_ema(plain, data.images, kCpu, &data.labels);
  no_ema.init();
  EXPECT_TRUE(throws_with([&] { resumed.restore(no_ema.checkpoint({})); }, {"g_ema.params"}));
}

TEST(GeneratorEma, ConfigIsCheckedAndSurvivesJson) {
  TrainConfig c = make_preset("keras-mlp");
  c.ema = 0.999f;
  c.ema_start = 1000;
  const nlohmann::json j = train_config_to_json(c);
  EXPECT_EQ(train_config_from_json(j).ema, 0.999f);
  EXPECT_EQ(train_config_from_json(j).ema_start, 1000u);
  EXPECT_NO_THROW(validate_train_config(c, 784));
  for (float bad : {1.0f, -0.5f, 2.0f, std::nanf("")}) {
    c.ema = bad;
    EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784); }, {"--ema"})) << bad;
  }
  c.ema = 0.0f;
  EXPECT_TRUE(throws_with([&] { validate_train_config(c, 784); }, {"--ema-start", "--ema"}));
  c.ema_start = 0;
  EXPECT_NO_THROW(validate_train_config(c, 784));
}
