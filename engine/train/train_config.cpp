#include "engine/train/train_config.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "engine/io/json_fields.h"

namespace gan {

namespace {

// The models of the seed tutorials (../shared/SEEDS.md), as layer lists.
TrainConfig keras_mlp() {
  // Section 1: G 100-256-512-1024-784, LeakyReLU(0.2) then BatchNorm(momentum 0.8) after each
  // hidden layer, tanh; D 784-512-256-1 with LeakyReLU(0.2); Adam(2e-4, 0.5); batch 32; normal
  // noise; D trained separately on the real and the fake batch; 30,000 iterations.
  TrainConfig c;
  c.preset = "keras-mlp";
  const Activation leaky = Activation::leaky_relu(0.2f);
  const BatchNormConfig bn = BatchNormConfig::keras(0.8f);
  c.generator.input = 100;
  for (int units : {256, 512, 1024})
    for (LayerSpec l :
         {LayerSpec::dense(units), LayerSpec::activation(leaky), LayerSpec::batchnorm(bn)})
      c.generator.layers.push_back(l);
  c.generator.layers.push_back(LayerSpec::dense(784));
  c.generator.layers.push_back(LayerSpec::activation(Activation::tanh()));
  c.discriminator.input = 784;
  for (int units : {512, 256})
    for (LayerSpec l : {LayerSpec::dense(units), LayerSpec::activation(leaky)})
      c.discriminator.layers.push_back(l);
  c.discriminator.layers.push_back(
      LayerSpec::dense(1));  // logit; the seed's sigmoid is in the loss
  c.noise = Distribution::Normal;
  c.init = InitScheme::GlorotUniform;
  c.batch = 32;
  c.steps = 30000;
  c.opt_g.adam.lr = c.opt_d.adam.lr = 2e-4f;
  c.opt_g.adam.beta1 = c.opt_d.adam.beta1 = 0.5f;
  c.opt_g.adam.eps = c.opt_d.adam.eps = 1e-7f;  // Keras' epsilon
  c.d_update = DUpdate::Separate;
  c.d_step_generator_eval = true;
  c.log_every = 100;
  c.sample_every = 200;
  c.sample_grid = 5;
  return c;
}

TrainConfig tf_mlp() {
  // Section 4's exercise: z 20 ~ U(-1, 1); G 20-100 (no bias)-784 with LeakyReLU and tanh;
  // D 784-100-1 with LeakyReLU and dropout 0.5; BCE with logits; Adam defaults; batch 64.
  TrainConfig c;
  c.preset = "tf-mlp";
  const Activation leaky = Activation::leaky_relu(0.2f);  // tf.nn.leaky_relu's default alpha
  c.generator.input = 20;
  c.generator.layers = {LayerSpec::dense(100, false), LayerSpec::activation(leaky),
                        LayerSpec::dense(784), LayerSpec::activation(Activation::tanh())};
  c.discriminator.input = 784;
  c.discriminator.layers = {LayerSpec::dense(100), LayerSpec::activation(leaky),
                            LayerSpec::dropout(0.5f), LayerSpec::dense(1)};
  c.noise = Distribution::UniformSym;
  c.init = InitScheme::GlorotUniform;
  c.batch = 64;
  c.steps = 100 * (60000 / 64);  // 100 epochs of 60,000 images
  c.opt_g.adam.eps = c.opt_d.adam.eps = 1e-7f;
  c.d_update = DUpdate::Joint;
  c.log_every = 100;
  c.sample_every = 60000 / 64;  // once an epoch
  c.sample_grid = 4;
  return c;
}

TrainConfig torch_mlp() {
  // Section 5: G 100-32-64-128-784, D 784-128-64-32-1, LeakyReLU(0.2) and dropout 0.3 after each
  // hidden layer, tanh, BCE with logits, Adam 0.002, uniform(-1, 1) noise, batch 64, 20 epochs.
  TrainConfig c;
  c.preset = "torch-mlp";
  const Activation leaky = Activation::leaky_relu(0.2f);
  c.generator.input = 100;
  for (int units : {32, 64, 128})
    for (LayerSpec l :
         {LayerSpec::dense(units), LayerSpec::activation(leaky), LayerSpec::dropout(0.3f)})
      c.generator.layers.push_back(l);
  c.generator.layers.push_back(LayerSpec::dense(784));
  c.generator.layers.push_back(LayerSpec::activation(Activation::tanh()));
  c.discriminator.input = 784;
  for (int units : {128, 64, 32})
    for (LayerSpec l :
         {LayerSpec::dense(units), LayerSpec::activation(leaky), LayerSpec::dropout(0.3f)})
      c.discriminator.layers.push_back(l);
  c.discriminator.layers.push_back(LayerSpec::dense(1));
  c.noise = Distribution::UniformSym;
  c.init = InitScheme::TorchDefault;
  c.batch = 64;
  c.steps = 20 * (60000 / 64);
  c.opt_g.adam.lr = c.opt_d.adam.lr = 0.002f;
  c.d_update = DUpdate::Joint;
  c.log_every = 100;
  c.sample_every = 60000 / 64;
  c.sample_grid = 4;
  return c;
}

TrainConfig dcgan() {
  // TensorFlow's DCGAN tutorial. G: z 100 -> Dense 7x7x256 (no bias) -> BN -> LeakyReLU ->
  // reshape -> ConvTranspose 128 (5x5, stride 1) -> BN -> LeakyReLU -> ConvTranspose 64 (5x5,
  // stride 2) -> BN -> LeakyReLU -> ConvTranspose 1 (5x5, stride 2) -> tanh, all 'same', no bias.
  // D: Conv 64 (5x5, stride 2) -> LeakyReLU -> Dropout 0.3 -> Conv 128 (5x5, stride 2) ->
  // LeakyReLU -> Dropout 0.3 -> Flatten -> Dense 1 (logit). Keras defaults: LeakyReLU 0.3, BN
  // momentum 0.99 and eps 1e-3, Glorot uniform, Adam 1e-4 (beta1 0.9, eps 1e-7); batch 256, one
  // joint D update, normal noise, 50 epochs of 60,000 images. The reshape is channels-first (the
  // tutorial's is channels-last): a relabelling of the dense units, which are trained from scratch.
  TrainConfig c;
  c.preset = "dcgan";
  const Activation leaky = Activation::leaky_relu(0.3f);
  const BatchNormConfig bn = BatchNormConfig::keras(0.99f, 1e-3f);
  c.generator.input = 100;
  c.generator.layers = {LayerSpec::dense(7 * 7 * 256, false),
                        LayerSpec::batchnorm(bn),
                        LayerSpec::activation(leaky),
                        LayerSpec::reshape(256, 7, 7),
                        LayerSpec::conv_transpose2d(128, ConvSpec::same_padding(5, 1), false),
                        LayerSpec::batchnorm2d(bn),
                        LayerSpec::activation(leaky),
                        LayerSpec::conv_transpose2d(64, ConvSpec::same_padding(5, 2), false),
                        LayerSpec::batchnorm2d(bn),
                        LayerSpec::activation(leaky),
                        LayerSpec::conv_transpose2d(1, ConvSpec::same_padding(5, 2), false),
                        LayerSpec::activation(Activation::tanh())};
  c.discriminator.input = 784;
  c.discriminator.layers = {LayerSpec::reshape(1, 28, 28),
                            LayerSpec::conv2d(64, ConvSpec::same_padding(5, 2)),
                            LayerSpec::activation(leaky),
                            LayerSpec::dropout(0.3f),
                            LayerSpec::conv2d(128, ConvSpec::same_padding(5, 2)),
                            LayerSpec::activation(leaky),
                            LayerSpec::dropout(0.3f),
                            LayerSpec::flatten(),
                            LayerSpec::dense(1)};
  c.noise = Distribution::Normal;
  c.init = InitScheme::GlorotUniform;
  c.batch = 256;
  c.steps = 50 * ((60000 + 255) / 256);  // 50 epochs; the tutorial keeps the last partial batch
  c.opt_g.adam.lr = c.opt_d.adam.lr = 1e-4f;
  c.opt_g.adam.eps = c.opt_d.adam.eps = 1e-7f;
  c.d_update = DUpdate::Joint;
  c.log_every = 50;
  c.sample_every = (60000 + 255) / 256;  // once an epoch
  c.sample_grid = 4;
  return c;
}

TrainConfig cgan() {
  // PyTorch-GAN's cgan.py (eriklindernoren/PyTorch-GAN, implementations/cgan): G z 100 + label ->
  // 128 -> 256 -> 512 -> 1024 -> 784, LeakyReLU(0.2) after each hidden layer with
  // BatchNorm1d(out, 0.8) before it from the second on (0.8 lands in eps, as that code passes it
  // positionally; momentum 0.1), tanh; D 784 + label -> 512 -> 512 -> 512 -> 1 with LeakyReLU(0.2)
  // and Dropout(0.4) in the second and third; Adam 2e-4, betas (0.5, 0.999); batch 64; normal
  // noise. Its labels go through nn.Embedding(10, 10) before the concatenation; here the one-hot
  // code goes straight in, which is the same family of models (an embedding followed by a linear
  // layer is one linear map of the one-hot code). Its loss is least squares; here BCE with logits,
  // as in Mirza and Osindero's paper. 200 epochs there; 30 here (28,110 steps) by default.
  TrainConfig c;
  c.preset = "cgan";
  const Activation leaky = Activation::leaky_relu(0.2f);
  const BatchNormConfig bn = BatchNormConfig::torch(0.1f, 0.8f);
  c.generator.input = 100;
  c.generator.layers = {LayerSpec::dense(128), LayerSpec::activation(leaky)};
  for (int units : {256, 512, 1024})
    for (LayerSpec l :
         {LayerSpec::dense(units), LayerSpec::batchnorm(bn), LayerSpec::activation(leaky)})
      c.generator.layers.push_back(l);
  c.generator.layers.push_back(LayerSpec::dense(784));
  c.generator.layers.push_back(LayerSpec::activation(Activation::tanh()));
  c.discriminator.input = 784;
  // Dropout after the activation, not before it as there: the same function (LeakyReLU commutes
  // with scaling by 0 or 1 / (1 - p)), and the dense layer's epilogue can then run the activation.
  c.discriminator.layers = {
      LayerSpec::dense(512),        LayerSpec::activation(leaky), LayerSpec::dense(512),
      LayerSpec::activation(leaky), LayerSpec::dropout(0.4f),     LayerSpec::dense(512),
      LayerSpec::activation(leaky), LayerSpec::dropout(0.4f),     LayerSpec::dense(1)};
  c.noise = Distribution::Normal;
  c.init = InitScheme::TorchDefault;
  c.batch = 64;
  c.steps = 30 * (60000 / 64);
  c.opt_g.adam.lr = c.opt_d.adam.lr = 2e-4f;
  c.opt_g.adam.beta1 = c.opt_d.adam.beta1 = 0.5f;
  c.d_update = DUpdate::Joint;
  c.log_every = 100;
  c.sample_every = 60000 / 64;
  c.sample_grid = 10;
  make_conditional(c, 10);
  return c;
}

// A D that reads images: its first layer after any pack layers is a reshape; else nullptr.
const LayerSpec* image_reshape(const ModelSpec& d) {
  for (const LayerSpec& l : d.layers) {
    if (l.kind == LayerKind::Pack) continue;
    return l.kind == LayerKind::Reshape ? &l : nullptr;
  }
  return nullptr;
}

nlohmann::json adam_to_json(const AdamConfig& a) {
  return {{"lr", a.lr},
          {"beta1", a.beta1},
          {"beta2", a.beta2},
          {"eps", a.eps},
          {"weight_decay", a.weight_decay},
          {"decoupled", a.decoupled},
          {"decay", a.decay},
          {"decay_every", a.decay_every}};
}

AdamConfig adam_from_json(const nlohmann::json& j) {
  AdamConfig a;
  a.lr = json_float(j, "lr");
  a.beta1 = json_float(j, "beta1");
  a.beta2 = json_float(j, "beta2");
  a.eps = json_float(j, "eps");
  a.weight_decay = json_float(j, "weight_decay");
  a.decoupled = json_bool(j, "decoupled");
  // Absent from configs written before the decay existed.
  if (j.contains("decay")) a.decay = json_float(j, "decay");
  if (j.contains("decay_every")) a.decay_every = json_u64(j, "decay_every", 0, kMaxSteps);
  return a;
}

// Parses the block j[key], naming the key path in any error.
template <class F>
auto parse_block(const nlohmann::json& j, const std::string& key, F parse) {
  try {
    return parse(json_member(j, key));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(key + "." + e.what());
  }
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

nlohmann::json optimizer_to_json(const OptimizerConfig& o) {
  return {{"kind", optimizer_name(o.kind)},
          {"sgd",
           {{"lr", o.sgd.lr},
            {"momentum", o.sgd.momentum},
            {"decay", o.sgd.decay},
            {"decay_every", o.sgd.decay_every}}},
          {"rmsprop", {{"lr", o.rmsprop.lr}, {"alpha", o.rmsprop.alpha}, {"eps", o.rmsprop.eps}}},
          {"clip", o.clip}};
}

// Fills the non-Adam part of `o` (Adam has its own key, older configs have nothing else).
void optimizer_from_json(const nlohmann::json& j, OptimizerConfig& o) {
  o.kind = optimizer_from_name(json_string(j, "kind"));
  o.sgd = parse_block(j, "sgd", [](const nlohmann::json& sgd) {
    return SgdConfig{json_float(sgd, "lr"), json_float(sgd, "momentum"), json_float(sgd, "decay"),
                     json_u64(sgd, "decay_every", 0, kMaxSteps)};
  });
  o.rmsprop = parse_block(j, "rmsprop", [](const nlohmann::json& rms) {
    return RmspropConfig{json_float(rms, "lr"), json_float(rms, "alpha"), json_float(rms, "eps")};
  });
  o.clip = json_float(j, "clip");
}

// A setting's name where its value came from: its flag, or its config.json key in `source`.
struct SettingName {
  std::string source;
  std::string operator()(const std::string& flag, const std::string& key) const {
    return source.empty() ? flag : fmt::format("{}: config.{}", source, key);
  }
};

// Every field of every optimizer is checked, the kind in use or not: config.json records them all,
// and a NaN momentum beside Adam is as wrong as one beside SGD.
void validate_optimizer(const OptimizerConfig& o, const std::string& who, const SettingName& n) {
  const std::string opt = "optimizer_" + who;
  const std::string lr_flag = "--lr-" + who + " (or --lr)";
  require(o.sgd.lr > 0.0f && std::isfinite(o.sgd.lr),
          fmt::format("{}: must be > 0 (got {:g})", n(lr_flag, opt + ".sgd.lr"), o.sgd.lr));
  require(o.sgd.momentum >= 0.0f && o.sgd.momentum < 1.0f,
          fmt::format("{}: must be in [0, 1) (got {:g})", n("--momentum", opt + ".sgd.momentum"),
                      o.sgd.momentum));
  require(o.sgd.decay > 0.0f && o.sgd.decay <= 1.0f,
          fmt::format("{}: must be in (0, 1] (got {:g})", n("--lr-decay", opt + ".sgd.decay"),
                      o.sgd.decay));
  require(o.sgd.decay_every <= kMaxSteps,
          fmt::format("{}: must be at most {} (got {})", n("--lr-decay-every", opt + ".sgd.decay_every"),
                      kMaxSteps, o.sgd.decay_every));
  require(o.rmsprop.lr > 0.0f && std::isfinite(o.rmsprop.lr),
          fmt::format("{}: must be > 0 (got {:g})", n(lr_flag, opt + ".rmsprop.lr"), o.rmsprop.lr));
  require(o.rmsprop.alpha >= 0.0f && o.rmsprop.alpha < 1.0f,
          fmt::format("{}: must be in [0, 1) (got {:g})", n("RMSprop alpha", opt + ".rmsprop.alpha"),
                      o.rmsprop.alpha));
  require(o.rmsprop.eps > 0.0f && std::isfinite(o.rmsprop.eps),
          fmt::format("{}: must be > 0 (got {:g})", n("RMSprop eps", opt + ".rmsprop.eps"),
                      o.rmsprop.eps));
  require(o.clip >= 0.0f && std::isfinite(o.clip),
          fmt::format("{}: must be finite and >= 0 (got {:g})", n("--clip", opt + ".clip"), o.clip));
}

void validate_adam(const AdamConfig& a, const std::string& who, const SettingName& n) {
  const std::string key = "adam_" + who;
  require(a.lr > 0.0f && std::isfinite(a.lr),
          fmt::format("{}: must be > 0 (got {:g})", n("--lr-" + who + " (or --lr)", key + ".lr"),
                      a.lr));
  require(a.beta1 >= 0.0f && a.beta1 < 1.0f,
          fmt::format("{}: must be in [0, 1) (got {:g})", n("--beta1", key + ".beta1"), a.beta1));
  require(a.beta2 >= 0.0f && a.beta2 < 1.0f,
          fmt::format("{}: must be in [0, 1) (got {:g})", n("--beta2", key + ".beta2"), a.beta2));
  require(a.eps > 0.0f && std::isfinite(a.eps),
          fmt::format("{}: must be > 0 (got {:g})", n("Adam eps", key + ".eps"), a.eps));
  require(a.weight_decay >= 0.0f && std::isfinite(a.weight_decay),
          fmt::format("{}: must be finite and >= 0 (got {:g})",
                      n("Adam weight decay", key + ".weight_decay"), a.weight_decay));
  require(a.decay > 0.0f && a.decay <= 1.0f,
          fmt::format("{}: must be in (0, 1] (got {:g})", n("--lr-decay", key + ".decay"), a.decay));
  require(a.decay_every <= kMaxSteps,
          fmt::format("{}: must be at most {} (got {})", n("--lr-decay-every", key + ".decay_every"),
                      kMaxSteps, a.decay_every));
}

bool has_batchnorm(const ModelSpec& s) {
  for (const LayerSpec& l : s.layers)
    if (l.kind == LayerKind::BatchNorm) return true;
  return false;
}

}  // namespace

std::vector<std::string> preset_names() {
  return {"keras-mlp", "tf-mlp", "torch-mlp", "dcgan", "cgan"};
}

int TrainConfig::label_planes() const {
  const LayerSpec* r = image_reshape(discriminator);
  return r ? r->height * r->width : 1;
}

void make_conditional(TrainConfig& c, int classes) {
  if (classes < 1 || classes > kMaxClasses)
    throw std::invalid_argument(
        fmt::format("--conditional: {} classes, expected 1 to {}", classes, kMaxClasses));
  if (c.classes > 0)
    throw std::invalid_argument(
        fmt::format("--conditional: the {} preset is conditional already", c.preset));
  for (const LayerSpec& l : c.discriminator.layers)
    if (l.kind == LayerKind::Pack)
      throw std::invalid_argument(
          "--conditional: the discriminator packs samples already (condition before packing)");
  c.classes = classes;
  c.generator.input += classes;
  if (!c.discriminator.layers.empty() && c.discriminator.layers[0].kind == LayerKind::Reshape) {
    LayerSpec& r = c.discriminator.layers[0];
    r.units += classes;
    c.discriminator.input += classes * r.height * r.width;
  } else {
    c.discriminator.input += classes;
  }
}

void add_packing(TrainConfig& c, int m) {
  if (m < 1 || m > kMaxPackRows)
    throw std::invalid_argument(
        fmt::format("--pack: must be in [1, {}] (got {})", kMaxPackRows, m));
  if (m == 1) return;
  auto& layers = c.discriminator.layers;
  if (!layers.empty() && layers[0].kind == LayerKind::Reshape) layers[0].units *= m;
  layers.insert(layers.begin(), LayerSpec::pack(m));
}

TrainConfig make_preset(const std::string& name) {
  if (name == "keras-mlp") return keras_mlp();
  if (name == "tf-mlp") return tf_mlp();
  if (name == "torch-mlp") return torch_mlp();
  if (name == "dcgan") return dcgan();
  if (name == "cgan") return cgan();
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + known + ")");
}

void validate_train_config(const TrainConfig& c, int sample_size, const std::string& source) {
  const SettingName n{source};
  // Model specs first: their messages name the model and layer (and the file, if any).
  const std::string at = source.empty() ? "" : source + ": ";
  require(c.classes >= 0 && c.classes <= kMaxClasses,
          fmt::format("{}: must be in [0, {}] (got {})", n("--conditional", "classes"), kMaxClasses,
                      c.classes));
  require(c.generator.input >= 1 + c.classes && c.generator.input <= kMaxLayerWidth,
          fmt::format("{}: must be in [{}, {}] (got {})", n("--z-dim", "generator.input"),
                      1 + c.classes, kMaxLayerWidth, c.generator.input));
  require(c.ema == 0.0f || (c.ema > 0.0f && c.ema < 1.0f),
          fmt::format("{}: must be in (0, 1), or 0 for none (got {:g})", n("--ema", "ema"), c.ema));
  require(c.ema > 0.0f || c.ema_start == 0,
          fmt::format("{}: needs --ema", n("--ema-start", "ema_start")));
  require(c.ema_start <= kMaxSteps,
          fmt::format("{}: must be at most {} (got {})", n("--ema-start", "ema_start"), kMaxSteps,
                      c.ema_start));
  try {
    validate_model_spec(c.generator, "generator");
    validate_model_spec(c.discriminator, "discriminator");
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(at + e.what());
  }
  require(c.batch >= 1 && c.batch <= kMaxBatch,
          fmt::format("{}: must be in [1, {}] (got {})", n("--batch", "batch"), kMaxBatch, c.batch));
  require(c.batch >= 2 || !has_batchnorm(c.generator),
          fmt::format("{}: batch norm needs a batch of at least 2", n("--batch", "batch")));
  require(c.steps >= 1 && c.steps <= kMaxSteps,
          fmt::format("{}: must be in [1, {}] (got {})", n("--steps", "steps"), kMaxSteps, c.steps));
  require(c.d_steps >= 1 && c.d_steps <= kMaxDSteps,
          fmt::format("{}: must be in [1, {}] (got {})", n("--d-steps", "d_steps"), kMaxDSteps,
                      c.d_steps));
  require(c.label_smoothing >= 0.0f && c.label_smoothing < 0.5f,
          fmt::format("{}: must be in [0, 0.5) (got {:g})",
                      n("--label-smoothing", "label_smoothing"), c.label_smoothing));
  require(c.log_every >= 1 && c.log_every <= kMaxLogEvery,
          fmt::format("{}: must be in [1, {}] (got {})", n("--log-every", "log_every"),
                      kMaxLogEvery, c.log_every));
  require(c.sample_every >= 1, fmt::format("{}: must be >= 1 (got {})",
                                           n("--sample-every", "sample_every"), c.sample_every));
  require(c.checkpoint_every >= 1,
          fmt::format("{}: must be >= 1 (got {})", n("--checkpoint-every", "checkpoint_every"),
                      c.checkpoint_every));
  require(c.keep_checkpoints >= 1 && c.keep_checkpoints <= kMaxKeepCheckpoints,
          fmt::format("{}: must be in [1, {}] (got {})", n("--keep-checkpoints", "keep_checkpoints"),
                      kMaxKeepCheckpoints, c.keep_checkpoints));
  require(c.sample_grid >= 1 && c.sample_grid <= kMaxSampleGrid,
          fmt::format("{}: must be in [1, {}] (got {})", n("--sample-grid", "sample_grid"),
                      kMaxSampleGrid, c.sample_grid));
  require(c.sample_scale >= 1 && c.sample_scale <= kMaxSampleScale,
          fmt::format("{}: must be in [1, {}] (got {})", n("--sample-scale", "sample_scale"),
                      kMaxSampleScale, c.sample_scale));
  require(c.eval_every >= 0, fmt::format("{}: must be >= 0 (got {})",
                                         n("--eval-every", "eval_every"), c.eval_every));
  require(c.eval_samples >= 10 && c.eval_samples <= kMaxEvalSamplesInRun,
          fmt::format("{}: must be in [10, {}] (got {})", n("--eval-n", "eval_samples"),
                      kMaxEvalSamplesInRun, c.eval_samples));
  validate_adam(c.opt_g.adam, "g", n);
  validate_adam(c.opt_d.adam, "d", n);
  validate_optimizer(c.opt_g, "g", n);
  validate_optimizer(c.opt_d, "d", n);
  require(c.instance_noise >= 0.0f && std::isfinite(c.instance_noise),
          fmt::format("{}: must be finite and >= 0 (got {:g})",
                      n("--instance-noise", "instance_noise"), c.instance_noise));
  require(c.instance_noise_steps <= kMaxSteps,
          fmt::format("{}: must be at most {} (got {})",
                      n("--instance-noise-steps", "instance_noise_steps"), kMaxSteps,
                      c.instance_noise_steps));
  require(c.loss == GanLoss::Bce || c.label_smoothing == 0.0f,
          fmt::format("{}: needs the BCE loss (a WGAN critic has no labels)",
                      n("--label-smoothing", "label_smoothing")));
  require(!c.sort_real || sample_size == 1,
          fmt::format("{}: needs 1D data (samples of 1 value, not {})", n("--sort-real", "sort_real"),
                      sample_size));
  require(!c.sort_real || c.batch <= 65536,
          fmt::format("{}: sorted batches hold at most 65536 samples (got {})",
                      n("--batch", "batch"), c.batch));
  // G's output must be a data sample and D's input must take one; D must give one logit a row
  // (after its packing, if any).
  for (const LayerSpec& l : c.generator.layers)
    require(l.kind != LayerKind::Pack, at + "generator: a pack layer belongs in the discriminator");
  // Shapes from the specs alone: nothing is allocated for a model that may not fit.
  const ModelFootprint g = model_footprint(c.generator, 1);
  require(g.output == sample_size,
          fmt::format("{}generator: outputs {} values, the data's samples have {}", at, g.output,
                      sample_size));
  const int64_t code = int64_t(c.classes) * c.label_planes();
  require(c.discriminator.input == sample_size + code,
          c.classes == 0
              ? fmt::format("{}discriminator: takes {} inputs, the data's samples have {}", at,
                            c.discriminator.input, sample_size)
              : fmt::format("{}discriminator: takes {} inputs, a sample ({}) and its label's "
                            "code ({}) make {}",
                            at, c.discriminator.input, sample_size, code, sample_size + code));
  int64_t pack = 1;
  for (const LayerSpec& l : c.discriminator.layers)
    if (l.kind == LayerKind::Pack) pack *= l.units;
  require(pack <= c.batch && c.batch % pack == 0,
          fmt::format("{}: {} is not a multiple of the discriminator's packing {} ({})",
                      n("--batch", "batch"), c.batch, pack, n("--pack", "discriminator")));
  const ModelFootprint d = model_footprint(c.discriminator, int(pack));
  require(d.output == 1,
          fmt::format("{}discriminator: outputs {} values, expected 1 logit", at, d.output));
}

std::string generator_input_note(const TrainConfig& c) {
  if (c.classes == 0) return fmt::format("z: {} values, {}", c.z_dim(), distribution_name(c.noise));
  return fmt::format(
      "z ({} values, {}) then the class as a one-hot code of {} values (value "
      "{} + label is 1, the others 0)",
      c.z_dim(), distribution_name(c.noise), c.classes, c.z_dim());
}

std::string generator_weights_note(const TrainConfig& c) {
  if (c.ema == 0.0f) return "G's trained weights";
  bool batchnorm = false;
  for (const LayerSpec& l : c.generator.layers)
    batchnorm = batchnorm || l.kind == LayerKind::BatchNorm || l.kind == LayerKind::BatchNorm2d;
  return fmt::format("an average of G's weights (EMA, decay {:g}, from step {}){}", c.ema,
                     c.ema_start, batchnorm ? " with G's running statistics" : "");
}

const char* gan_loss_name(GanLoss l) { return l == GanLoss::Bce ? "bce" : "wasserstein"; }
GanLoss gan_loss_from_name(const std::string& s) {
  if (s == "bce") return GanLoss::Bce;
  if (s == "wasserstein") return GanLoss::Wasserstein;
  throw std::invalid_argument("--loss: expected bce or wasserstein, got '" + s + "'");
}
const char* g_loss_name(GLoss g) { return g == GLoss::NonSaturating ? "nonsaturating" : "minimax"; }
GLoss g_loss_from_name(const std::string& s) {
  if (s == "nonsaturating") return GLoss::NonSaturating;
  if (s == "minimax") return GLoss::Minimax;
  throw std::invalid_argument("--g-loss: expected nonsaturating or minimax, got '" + s + "'");
}
const char* d_update_name(DUpdate d) { return d == DUpdate::Separate ? "separate" : "joint"; }
DUpdate d_update_from_name(const std::string& s) {
  if (s == "separate") return DUpdate::Separate;
  if (s == "joint") return DUpdate::Joint;
  throw std::invalid_argument("--d-update: expected separate or joint, got '" + s + "'");
}
Distribution distribution_from_name(const std::string& s) {
  for (Distribution d : {Distribution::Normal, Distribution::UniformSym, Distribution::Uniform01,
                         Distribution::Stratified01})
    if (s == distribution_name(d)) return d;
  std::string known;
  for (Distribution d : {Distribution::Normal, Distribution::UniformSym, Distribution::Uniform01,
                         Distribution::Stratified01})
    known += std::string(known.empty() ? "" : ", ") + distribution_name(d);
  throw std::invalid_argument("--noise: expected one of " + known + ", got '" + s + "'");
}

nlohmann::json train_config_to_json(const TrainConfig& c) {
  return {{"preset", c.preset},
          {"generator", model_spec_to_json(c.generator)},
          {"discriminator", model_spec_to_json(c.discriminator)},
          {"noise", distribution_name(c.noise)},
          {"init", init_scheme_name(c.init)},
          {"batch", c.batch},
          {"steps", c.steps},
          {"adam_g", adam_to_json(c.opt_g.adam)},
          {"adam_d", adam_to_json(c.opt_d.adam)},
          {"optimizer_g", optimizer_to_json(c.opt_g)},
          {"optimizer_d", optimizer_to_json(c.opt_d)},
          {"d_steps", c.d_steps},
          {"loss", gan_loss_name(c.loss)},
          {"g_loss", g_loss_name(c.g_loss)},
          {"instance_noise", c.instance_noise},
          {"instance_noise_steps", c.instance_noise_steps},
          {"sort_real", c.sort_real},
          {"d_update", d_update_name(c.d_update)},
          {"label_smoothing", c.label_smoothing},
          {"d_step_generator_eval", c.d_step_generator_eval},
          {"seed", c.seed},
          {"log_every", c.log_every},
          {"sample_every", c.sample_every},
          {"checkpoint_every", c.checkpoint_every},
          {"keep_checkpoints", c.keep_checkpoints},
          {"sample_grid", c.sample_grid},
          {"sample_scale", c.sample_scale},
          {"eval_every", c.eval_every},
          {"eval_samples", c.eval_samples},
          {"eval_classifier", c.eval_classifier},
          {"classes", c.classes},
          {"ema", c.ema},
          {"ema_start", c.ema_start}};
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
  // Strict fields (json_fields.h): a count of 0.5 or -1 is refused, never truncated or wrapped;
  // ranges are checked by validate_train_config.
  try {
    TrainConfig c;
    c.preset = json_string(j, "preset");
    c.generator = parse_block(j, "generator", model_spec_from_json);
    c.discriminator = parse_block(j, "discriminator", model_spec_from_json);
    c.noise = distribution_from_name(json_string(j, "noise"));
    c.init = init_scheme_from_name(json_string(j, "init"));
    c.batch = int(json_int(j, "batch", 1, kMaxBatch));
    c.steps = json_u64(j, "steps", 1, kMaxSteps);
    c.opt_g.adam = parse_block(j, "adam_g", adam_from_json);
    c.opt_d.adam = parse_block(j, "adam_d", adam_from_json);
    // Keys added with the toy experiments: a config written before them has the defaults.
    if (j.contains("optimizer_g"))
      parse_block(j, "optimizer_g", [&](const nlohmann::json& o) { optimizer_from_json(o, c.opt_g); return 0; });
    if (j.contains("optimizer_d"))
      parse_block(j, "optimizer_d", [&](const nlohmann::json& o) { optimizer_from_json(o, c.opt_d); return 0; });
    if (j.contains("loss")) c.loss = gan_loss_from_name(json_string(j, "loss"));
    if (j.contains("instance_noise")) c.instance_noise = json_float(j, "instance_noise");
    if (j.contains("instance_noise_steps"))
      c.instance_noise_steps = json_u64(j, "instance_noise_steps", 0, kMaxSteps);
    if (j.contains("sort_real")) c.sort_real = json_bool(j, "sort_real");
    c.d_steps = int(json_int(j, "d_steps", 1, kMaxDSteps));
    c.g_loss = g_loss_from_name(json_string(j, "g_loss"));
    c.d_update = d_update_from_name(json_string(j, "d_update"));
    c.label_smoothing = json_float(j, "label_smoothing");
    c.d_step_generator_eval = json_bool(j, "d_step_generator_eval");
    c.seed = json_u64(j, "seed");
    c.log_every = int(json_int(j, "log_every", 1, kMaxLogEvery));
    c.sample_every = int(json_int(j, "sample_every", 1, INT32_MAX));
    c.checkpoint_every = int(json_int(j, "checkpoint_every", 1, INT32_MAX));
    c.keep_checkpoints = int(json_int(j, "keep_checkpoints", 1, kMaxKeepCheckpoints));
    c.sample_grid = int(json_int(j, "sample_grid", 1, kMaxSampleGrid));
    // Key added with --sample-scale: a config written before it gets 2, the scale runs drew at.
    if (j.contains("sample_scale"))
      c.sample_scale = int(json_int(j, "sample_scale", 1, kMaxSampleScale));
    // Keys added with the evaluation: a config written before them has evaluation off.
    if (j.contains("eval_every")) c.eval_every = int(json_int(j, "eval_every", 0, INT32_MAX));
    if (j.contains("eval_samples"))
      c.eval_samples = int(json_int(j, "eval_samples", 10, kMaxEvalSamplesInRun));
    if (j.contains("eval_classifier")) c.eval_classifier = json_string(j, "eval_classifier");
    // Keys added with conditioning and the weight average: older configs have neither.
    if (j.contains("classes")) c.classes = int(json_int(j, "classes", 0, kMaxClasses));
    if (j.contains("ema")) c.ema = json_float(j, "ema");
    if (j.contains("ema_start")) c.ema_start = json_u64(j, "ema_start", 0, kMaxSteps);
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("malformed training config: ") + e.what());
  }
}

}  // namespace gan
