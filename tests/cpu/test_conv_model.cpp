// Convolutional models: layer specs (shapes, validation, JSON, descriptions), the dcgan preset,
// a Model's conv wiring against finite differences and against the reference ops, and a small
// conv GAN trained by the real trainer (moves, stays finite, resumes bitwise).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "engine/io/atomic_file.h"
#include "engine/train/gan_trainer.h"
#include "engine/nn/model.h"
#include "engine/io/safetensors.h"
#include "engine/train/train_config.h"
#include "kernels/activation.h"
#include "kernels/batchnorm.h"
#include "kernels/conv.h"
#include "kernels/dense.h"
#include "model_gradcheck.h"
#include "tensor_fixtures.h"
#include "trainer_fixtures.h"

using namespace gan;
using namespace gan::test;

namespace {

const ExecContext kCpu{};

// G: z 4 -> dense 2x4x4 -> batchnorm -> leaky -> reshape -> conv_transpose 3 (k3, s2, same:
// 8x8) -> batchnorm2d -> leaky -> conv_transpose 1 (k3, s1, p1) -> tanh: 8 x 8 images.
// D: reshape 1x8x8 -> conv 4 (k3, s2, same: 4x4) -> leaky -> dropout -> flatten -> dense 1.
TrainConfig tiny_conv_config(uint64_t seed) {
  TrainConfig c = tiny_config(8, seed);
  c.preset = "tiny-conv";
  const Activation leaky = Activation::leaky_relu(0.2f);
  c.generator.layers = {LayerSpec::dense(32),
                        LayerSpec::batchnorm(BatchNormConfig::keras(0.8f)),
                        LayerSpec::activation(leaky),
                        LayerSpec::reshape(2, 4, 4),
                        LayerSpec::conv_transpose2d(3, ConvSpec::same_padding(3, 2), false),
                        LayerSpec::batchnorm2d(BatchNormConfig::keras(0.8f)),
                        LayerSpec::activation(leaky),
                        LayerSpec::conv_transpose2d(1, ConvSpec::padded(3, 1, 1)),
                        LayerSpec::activation(Activation::tanh())};
  c.discriminator.layers = {LayerSpec::reshape(1, 8, 8),
                            LayerSpec::conv2d(4, ConvSpec::same_padding(3, 2)),
                            LayerSpec::activation(leaky),
                            LayerSpec::dropout(0.25f),
                            LayerSpec::flatten(),
                            LayerSpec::dense(1)};
  c.d_update = DUpdate::Joint;
  return c;
}

}  // namespace

TEST(ConvModel, ShapesFollowPyTorchAndTensorFlow) {
  const TrainConfig d = make_preset("dcgan");
  const std::vector<LayerShapes> g = model_layer_shapes(d.generator);
  // dense, bn, leaky, reshape, convT, bn2d, leaky, convT, bn2d, leaky, convT, tanh
  ASSERT_EQ(g.size(), 12u);
  EXPECT_EQ(g[3].out.str(), "256x7x7");
  EXPECT_EQ(g[4].out.str(), "128x7x7");
  EXPECT_EQ(g[4].conv.PH, 2);  // 'same', stride 1, kernel 5: two on each side
  EXPECT_EQ(g[7].out.str(), "64x14x14");
  EXPECT_EQ(g[7].conv.PH, 1);  // TensorFlow puts the odd padding pixel at the bottom
  EXPECT_EQ(g[10].out.str(), "1x28x28");
  EXPECT_EQ(model_footprint(d.generator, 1).output, 784);
  const std::vector<LayerShapes> dd = model_layer_shapes(d.discriminator);
  EXPECT_EQ(dd[1].out.str(), "64x14x14");
  EXPECT_EQ(dd[1].conv.PH, 1);
  EXPECT_EQ(dd[4].out.str(), "128x7x7");
  EXPECT_EQ(dd[7].out.str(), "6272");
  // Parameter counts of the TensorFlow tutorial's model.summary(): G 2,305,472 trainable and
  // 25,472 non-trainable (batch-norm moving statistics), D 212,865.
  EXPECT_EQ(model_footprint(d.generator, 1).params, 2305472u);
  EXPECT_EQ(model_footprint(d.generator, 1).state, 25472u);
  EXPECT_EQ(model_footprint(d.discriminator, 1).params, 212865u);

  // PyTorch's sizes: Conv2d floor((H + 2p - k) / s) + 1, ConvTranspose2d (H - 1) s - 2p + k + op.
  const auto out_of = [](LayerSpec l, int c, int h, int w) {
    const ModelSpec spec{c * h * w, {LayerSpec::reshape(c, h, w), l}};
    return model_layer_shapes(spec)[1].out.str();
  };
  EXPECT_EQ(out_of(LayerSpec::conv2d(5, ConvSpec::padded(4, 2, 1)), 3, 9, 8), "5x4x4");
  EXPECT_EQ(out_of(LayerSpec::conv2d(5, ConvSpec::padded(3, 3, 0)), 3, 10, 7), "5x3x2");
  EXPECT_EQ(out_of(LayerSpec::conv_transpose2d(2, ConvSpec::padded(4, 2, 1)), 3, 7, 5), "2x14x10");
  EXPECT_EQ(out_of(LayerSpec::conv_transpose2d(2, ConvSpec::padded(5, 2, 2, 1)), 3, 7, 7),
            "2x14x14");
  EXPECT_EQ(out_of(LayerSpec::conv2d(1, ConvSpec::same_padding(5, 2)), 1, 7, 9), "1x4x5");
  ConvSpec rect{3, 1, 2, 1, false, 1, 0, 0, 0};  // 3x1 kernel, stride 2x1, padding 1x0
  EXPECT_EQ(out_of(LayerSpec::conv2d(2, rect), 1, 6, 5), "2x3x5");
}

TEST(ConvModel, BadSpecsAreRefusedNamingTheLayer) {
  const auto refuses = [](const ModelSpec& spec, std::vector<std::string> words) {
    return throws_with([&] { validate_model_spec(spec, "generator"); }, words);
  };
  const LayerSpec r = LayerSpec::reshape(2, 3, 3);
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(4, ConvSpec::padded(5, 1, 0))}},
                      {"generator: layer 1 (conv)", "kernel's height 5", "padded input's 3"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(4, ConvSpec::padded(3, 1, 2))}},
                      {"layer 1 (conv)", "padding height", "kernel / 2 = 1"}));
  EXPECT_TRUE(refuses({18, {LayerSpec::conv2d(4, ConvSpec::padded(3, 1, 1))}},
                      {"layer 0 (conv)", "needs images", "18 flat values", "reshape"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::dense(3)}},
                      {"layer 1 (dense)", "needs flat rows", "2x3x3", "flatten"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::batchnorm(BatchNormConfig::torch())}},
                      {"layer 1 (batchnorm)", "needs flat rows"}));
  EXPECT_TRUE(refuses({18, {LayerSpec::batchnorm2d(BatchNormConfig::torch())}},
                      {"layer 0 (batchnorm2d)", "needs images"}));
  EXPECT_TRUE(refuses({18, {LayerSpec::flatten()}}, {"layer 0 (flatten)", "needs images"}));
  EXPECT_TRUE(refuses({18, {LayerSpec::dense(20), LayerSpec::reshape(3, 3, 3)}},
                      {"layer 1 (reshape)", "20 values do not reshape to 3x3x3 (27 values)"}));
  EXPECT_TRUE(refuses({18, {LayerSpec::reshape(0, 3, 6)}}, {"layer 0 (reshape)", "channels"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv_transpose2d(1, ConvSpec::padded(3, 2, 1, 2))}},
                      {"layer 1 (conv_transpose)", "output_padding height", "[0, 2)"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(1, ConvSpec::padded(3, 2, 1, 1))}},
                      {"layer 1 (conv)", "output_padding is for conv_transpose"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(1, ConvSpec::padded(3, 0, 1))}},
                      {"layer 1 (conv)", "stride height must be in [1, 64]"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(0, ConvSpec::padded(3, 1, 1))}},
                      {"layer 1 (conv)", "channels must be in"}));
  EXPECT_TRUE(refuses({18, {r, LayerSpec::conv2d(2, ConvSpec::padded(65, 1, 1))}},
                      {"layer 1 (conv)", "kernel height must be in [1, 64]"}));
  // A channel count that disagrees with the data: G's images are not the data's samples.
  TrainConfig c = tiny_conv_config(1);
  c.generator.layers[7].units = 2;  // 2x8x8 images
  EXPECT_TRUE(throws_with([&] { validate_train_config(c, 64); },
                          {"generator: outputs 128 values", "samples have 64"}));
  // The same refusals for a spec read back from a file.
  nlohmann::json j = model_spec_to_json(c.discriminator);
  j["layers"][1]["padding"] = "valid";
  EXPECT_TRUE(throws_with([&] { model_spec_from_json(j); }, {"layers[1].", "padding", "same"}));
  j = model_spec_to_json(c.discriminator);
  j["layers"][1]["kernel"] = {3};
  EXPECT_TRUE(throws_with([&] { model_spec_from_json(j); }, {"layers[1].kernel", "[height, width]"}));
  j = model_spec_to_json(c.discriminator);
  j["layers"][0]["shape"] = {1, 8, -8};
  EXPECT_TRUE(throws_with([&] { model_spec_from_json(j); }, {"layers[0].", "shape[2]"}));
}

TEST(ConvModel, SpecsSurviveJsonAndDescribeThemselves) {
  const TrainConfig c = make_preset("dcgan");
  for (const ModelSpec* m : {&c.generator, &c.discriminator}) {
    const nlohmann::json j = model_spec_to_json(*m);
    EXPECT_EQ(model_spec_to_json(model_spec_from_json(j)), j);
  }
  ModelSpec explicit_pad{27, {LayerSpec::reshape(3, 3, 3),
                              LayerSpec::conv_transpose2d(2, {3, 2, 2, 1, false, 1, 0, 1, 0}),
                              LayerSpec::flatten()}};
  const nlohmann::json j = model_spec_to_json(explicit_pad);
  EXPECT_EQ(model_spec_to_json(model_spec_from_json(j)), j);
  EXPECT_EQ(describe_model_spec(explicit_pad),
            "27 -> reshape 3x3x3 -> conv_transpose 2 k3x2 s2x1 p1x0 op1x0 [2x6x4] -> flatten");
  EXPECT_EQ(describe_model_spec(c.discriminator),
            "784 -> reshape 1x28x28 -> conv 64 k5 s2 same [64x14x14] -> leaky_relu(0.3) -> "
            "dropout(0.3) -> conv 128 k5 s2 same [128x7x7] -> leaky_relu(0.3) -> dropout(0.3) -> "
            "flatten -> dense 1");
  const std::string table = describe_model_layers(c.generator);
  for (const char* want : {"conv_transpose 64 k5 s2 same (no bias)", "64x14x14", "204800",
                           "1x28x28", "2305472"})
    EXPECT_NE(table.find(want), std::string::npos) << want << " in\n" << table;
}

// Conv, transposed conv (both paddings, a non-square kernel), batchnorm2d and the views, wired
// through the Model: every parameter and input gradient against finite differences.
TEST(ConvModel, GradientsMatchFiniteDifferences) {
  const Activation tanh = Activation::tanh();
  expect_model_gradients_match_finite_differences(
      {40,
       {LayerSpec::reshape(2, 5, 4), LayerSpec::conv2d(3, ConvSpec::padded(3, 1, 1)),
        LayerSpec::activation(tanh), LayerSpec::batchnorm2d(BatchNormConfig::torch()),
        LayerSpec::conv_transpose2d(2, ConvSpec::padded(3, 2, 1, 1)),
        LayerSpec::activation(tanh), LayerSpec::flatten(), LayerSpec::dense(2)}},
      3);
  expect_model_gradients_match_finite_differences(
      {6,
       {LayerSpec::dense(18), LayerSpec::activation(tanh), LayerSpec::reshape(2, 3, 3),
        LayerSpec::conv_transpose2d(2, ConvSpec::same_padding(4, 2)),
        LayerSpec::batchnorm2d(BatchNormConfig::keras()), LayerSpec::activation(tanh),
        LayerSpec::conv2d(1, {3, 2, 2, 1, true}), LayerSpec::flatten()}},
      2);
}

// The Model's forward equals the reference ops composed by hand in float64 (layer offsets,
// geometry and batch-norm statistics per channel all as the contracts say).
TEST(ConvModel, ForwardMatchesTheReferenceOps) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int B = 3;
  const ModelSpec spec{18,
                       {LayerSpec::reshape(2, 3, 3),
                        LayerSpec::conv_transpose2d(3, ConvSpec::same_padding(5, 2), false),
                        LayerSpec::batchnorm2d(BatchNormConfig::keras(0.9f)),
                        LayerSpec::conv2d(2, ConvSpec::same_padding(3, 2)), LayerSpec::flatten()}};
  Model m("probe", spec, B, DeviceKind::Cpu);
  m.init(InitScheme::TorchDefault, rng.bits(), 0);
  const std::vector<float> x = rng.vec<float>(size_t(B) * 18);
  const uint64_t counter = 0;
  const float* y = m.forward(kCpu, x.data(), B, true, 1, 0, &counter);
  const std::vector<float> got(y, y + size_t(B) * m.output_dim());
  ASSERT_EQ(m.output_dim(), 2 * 3 * 3);

  const std::vector<LayerShapes> sh = model_layer_shapes(spec);
  const std::vector<float> pf = m.params().download();
  const std::vector<double> p(pf.begin(), pf.end());
  ConvShape t = sh[1].conv, c = sh[3].conv;
  t.B = c.B = B;
  EXPECT_EQ(t.OH, 6);
  EXPECT_EQ(t.PH, 1);  // the conv from 6 to 3 it is the adjoint of pads (3 - 1) 2 + 5 - 6 = 3: 1 on top
  const std::vector<double> x64(x.begin(), x.end());
  std::vector<double> a(t.y_size()), bn(a.size()), mean(3), inv(3), out(c.y_size());
  cpu::conv_transpose2d_forward_direct<double>(t, x64.data(), p.data(), nullptr, a.data());
  const size_t w1 = t.w_size();
  cpu::batchnorm2d_forward_train<double>(BatchNormConfig::keras(0.9f), a.data(), bn.data(), B, 3,
                                         36, p.data() + w1, p.data() + w1 + 3, mean.data(),
                                         inv.data(), nullptr, nullptr);
  cpu::conv2d_forward_direct<double>(c, bn.data(), p.data() + w1 + 6, p.data() + w1 + 6 +
                                     c.w_size(), out.data());
  EXPECT_TRUE(all_close("model forward", std::vector<double>(got.begin(), got.end()), out, 1e-4,
                        1e-4));
}

// Statistical: like Trainer.ShortRunStaysFiniteAndMovesTheGenerator, with conv layers.
TEST(ConvModel, ShortGanRunStaysFiniteAndMovesTheGenerator) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 50, 8);
  GanTrainer t(tiny_conv_config(rng.bits()), data, kCpu);
  t.init();
  const std::vector<float> before = t.samples();
  for (int s = 0; s < 20; ++s) t.train_step();
  t.request_stats();
  const StepStats st = t.collect_stats();
  EXPECT_EQ(st.first_nonfinite_step, 0u);
  for (double v : {st.d_loss, st.g_loss, st.d_real, st.d_fake}) EXPECT_TRUE(std::isfinite(v));
  const std::vector<float> after = t.samples();
  ASSERT_EQ(after.size(), before.size());
  double moved = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    ASSERT_TRUE(std::isfinite(after[i]));
    ASSERT_LE(std::fabs(after[i]), 1.0f);
    moved += std::fabs(after[i] - before[i]);
  }
  EXPECT_GT(moved / after.size(), 1e-3) << "20 Adam steps at lr 1e-3 must change the samples";
}

TEST(ConvModel, ResumeIsBitwiseIdenticalToAnUninterruptedRun) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ImageSet data = synthetic_images(rng, 40, 8);
  const TrainConfig cfg = tiny_conv_config(rng.bits());
  GanTrainer straight(cfg, data, kCpu);
  straight.init();
  for (int s = 0; s < 5; ++s) straight.train_step();
  const Checkpoint at5 = straight.checkpoint({});
  for (int s = 0; s < 4; ++s) straight.train_step();
  GanTrainer resumed(cfg, data, kCpu);
  resumed.restore(at5);
  for (int s = 0; s < 4; ++s) resumed.train_step();
  const Checkpoint a = straight.checkpoint({}), b = resumed.checkpoint({});
  EXPECT_TRUE(same_tensors(b.tensors, a.tensors));
  EXPECT_EQ(b.counters, a.counters);
  EXPECT_EQ(a.counters.at("step"), 9u);
}

// PyTorch's names and layouts, so nn.Sequential(...).load_state_dict(strict=True) takes them.
TEST(ConvModel, TensorsUsePyTorchNamesAndShapes) {
  Model g("generator", make_preset("dcgan").generator, 1, DeviceKind::Cpu);
  std::vector<std::string> names;
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorSlot& s : g.tensors()) names.push_back(s.name), shapes.push_back(s.shape);
  const std::vector<std::string> want = {
      "0.weight",      "1.weight",       "1.bias",        "1.running_mean", "1.running_var",
      "4.weight",      "5.weight",       "5.bias",        "5.running_mean", "5.running_var",
      "7.weight",      "8.weight",       "8.bias",        "8.running_mean", "8.running_var",
      "10.weight"};
  EXPECT_EQ(names, want);
  EXPECT_EQ(shapes[5], (std::vector<int64_t>{256, 128, 5, 5}));  // ConvTranspose2d: (IN, OUT, ...)
  EXPECT_EQ(shapes[10], (std::vector<int64_t>{128, 64, 5, 5}));
  EXPECT_EQ(shapes[15], (std::vector<int64_t>{64, 1, 5, 5}));
  EXPECT_EQ(shapes[6], (std::vector<int64_t>{128}));
  Model d("discriminator", make_preset("dcgan").discriminator, 1, DeviceKind::Cpu);
  EXPECT_EQ(d.tensors()[0].name, "1.weight");
  EXPECT_EQ(d.tensors()[0].shape, (std::vector<int64_t>{64, 1, 5, 5}));  // Conv2d: (OUT, IN, ...)
  EXPECT_EQ(d.tensors()[1].name, "1.bias");
}

// Glorot counts the receptive field in both fans; PyTorch's ConvTranspose2d takes its fan-in
// from weight dimension 1 (OUT): every weight inside its bound, and the bound nearly reached.
TEST(ConvModel, InitBoundsFollowKerasAndPyTorch) {
  const ModelSpec spec{48, {LayerSpec::reshape(3, 4, 4),
                            LayerSpec::conv2d(8, ConvSpec::padded(3, 1, 1)),
                            LayerSpec::conv_transpose2d(6, ConvSpec::padded(4, 2, 1))}};
  for (InitScheme scheme : {InitScheme::GlorotUniform, InitScheme::TorchDefault}) {
    SCOPED_TRACE(init_scheme_name(scheme));
    Model m("probe", spec, 1, DeviceKind::Cpu);
    m.init(scheme, 7, 0);
    const std::vector<float> p = m.params().download();
    const bool glorot = scheme == InitScheme::GlorotUniform;
    const double conv_limit = glorot ? std::sqrt(6.0 / (9 * 3 + 9 * 8)) : 1.0 / std::sqrt(9 * 3);
    const double convt_limit = glorot ? std::sqrt(6.0 / (16 * 8 + 16 * 6)) : 1.0 / std::sqrt(16 * 6);
    for (const TensorSlot& s : m.tensors()) {
      const double limit = s.name[0] == '1' ? conv_limit : convt_limit;
      double max_abs = 0;
      for (size_t k = 0; k < s.count; ++k) max_abs = std::max(max_abs, double(std::fabs(p[s.offset + k])));
      if (s.name.ends_with(".bias") && glorot) {
        EXPECT_EQ(max_abs, 0.0) << s.name;  // Keras: zero bias
        continue;
      }
      EXPECT_LE(max_abs, limit * (1 + 1e-6)) << s.name;
      EXPECT_GT(max_abs, limit * (s.count > 100 ? 0.9 : 0.3)) << s.name;
    }
  }
}

// The real PyTorch: scripts/torch_model.py builds nn.Sequential from the spec, loads the tensors
// with strict=True and must reproduce the engine's eval-mode output (TensorFlow 'same' included).
TEST(ConvModel, ExportsLoadIntoPyTorchStrictlyAndAgree) {
  const char* env = std::getenv("GAN_TORCH_PYTHON");
  const std::string python = env && *env ? env : "python3";
  if (std::system((python + " -c 'import torch, safetensors, numpy' >/dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << python << " cannot import torch, safetensors and numpy (set GAN_TORCH_PYTHON "
                 << "to an interpreter that can)";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const TrainConfig dc = make_preset("dcgan");
  const ModelSpec mixed{
      60,
      {LayerSpec::reshape(3, 4, 5), LayerSpec::conv2d(4, {3, 2, 2, 1, false, 1, 1}),
       LayerSpec::batchnorm2d(BatchNormConfig::torch()), LayerSpec::activation(Activation::elu()),
       LayerSpec::conv_transpose2d(2, {4, 3, 2, 3, false, 1, 1, 1, 2}),
       LayerSpec::conv_transpose2d(3, {3, 5, 2, 2, true}, false),
       LayerSpec::conv2d(2, {5, 3, 3, 2, true}), LayerSpec::flatten(),
       LayerSpec::batchnorm(BatchNormConfig::keras()), LayerSpec::dense(3)}};
  int n = 0;
  for (const ModelSpec* spec : {&dc.generator, &dc.discriminator, &mixed}) {
    SCOPED_TRACE(describe_model_spec(*spec));
    const int B = 3;
    Model m("probe", *spec, B, DeviceKind::Cpu);
    m.init(InitScheme::TorchDefault, rng.bits(), 0);
    // Batch-norm affine and running statistics away from their initial 1, 0, 0, 1.
    std::vector<float> p = m.params().download(), st = m.state().download();
    for (float& v : p) v += 0.05f * float(rng.uniform(-1, 1));
    for (size_t k = 0; k < st.size(); ++k) st[k] = float(rng.uniform(0.2, 1.5));
    m.params().upload(p);
    m.state().upload(st);
    const std::vector<float> x = rng.vec<float>(size_t(B) * spec->input);
    const uint64_t counter = 0;
    const float* y = m.forward(kCpu, x.data(), B, false, 1, 0, &counter);
    const size_t ny = size_t(B) * m.output_dim();
    const std::filesystem::path d = dir.path / std::to_string(n++);
    std::filesystem::create_directories(d);
    write_file_atomic((d / "spec.json").string(), model_spec_to_json(*spec).dump());
    write_safetensors((d / "weights.safetensors").string(), model_named_tensors(m));
    write_file_atomic((d / "x.bin").string(),
                      std::string(reinterpret_cast<const char*>(x.data()), x.size() * 4));
    write_file_atomic((d / "y.bin").string(), std::string(reinterpret_cast<const char*>(y), ny * 4));
    const std::string cmd = python + " " GAN_SOURCE_DIR "/scripts/torch_model.py --check " +
                            d.string() + " > " + (d / "log").string() + " 2>&1";
    EXPECT_EQ(std::system(cmd.c_str()), 0) << read_file((d / "log").string());
  }
}
