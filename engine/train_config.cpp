#include "engine/train_config.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

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
  a.lr = j.at("lr").get<float>();
  a.beta1 = j.at("beta1").get<float>();
  a.beta2 = j.at("beta2").get<float>();
  a.eps = j.at("eps").get<float>();
  a.weight_decay = j.at("weight_decay").get<float>();
  a.decoupled = j.at("decoupled").get<bool>();
  a.decay = j.value("decay", 1.0f);  // absent from configs written before the decay existed
  a.decay_every = j.value("decay_every", uint64_t(0));
  return a;
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
  o.kind = optimizer_from_name(j.at("kind").get<std::string>());
  const auto& sgd = j.at("sgd");
  o.sgd = {sgd.at("lr").get<float>(), sgd.at("momentum").get<float>(),
           sgd.at("decay").get<float>(), sgd.at("decay_every").get<uint64_t>()};
  const auto& rms = j.at("rmsprop");
  o.rmsprop = {rms.at("lr").get<float>(), rms.at("alpha").get<float>(),
               rms.at("eps").get<float>()};
  o.clip = j.at("clip").get<float>();
}

void validate_optimizer(const OptimizerConfig& o, const std::string& who) {
  switch (o.kind) {
    case OptimizerKind::Adam: break;  // validate_adam
    case OptimizerKind::Sgd:
      require(o.sgd.lr > 0.0f, fmt::format("--lr-{} (or --lr): must be > 0 (got {:g})", who, o.sgd.lr));
      require(o.sgd.momentum >= 0.0f && o.sgd.momentum < 1.0f,
              fmt::format("--momentum: must be in [0, 1) (got {:g})", o.sgd.momentum));
      require(o.sgd.decay > 0.0f && o.sgd.decay <= 1.0f,
              fmt::format("--lr-decay: must be in (0, 1] (got {:g})", o.sgd.decay));
      break;
    case OptimizerKind::Rmsprop:
      require(o.rmsprop.lr > 0.0f,
              fmt::format("--lr-{} (or --lr): must be > 0 (got {:g})", who, o.rmsprop.lr));
      require(o.rmsprop.alpha >= 0.0f && o.rmsprop.alpha < 1.0f,
              fmt::format("--rmsprop-alpha: must be in [0, 1) (got {:g})", o.rmsprop.alpha));
      require(o.rmsprop.eps > 0.0f, fmt::format("rmsprop eps must be > 0 (got {:g})", o.rmsprop.eps));
      break;
  }
  require(o.clip >= 0.0f && std::isfinite(o.clip),
          fmt::format("--clip: must be >= 0 (got {:g})", o.clip));
}

void validate_adam(const AdamConfig& a, const std::string& who) {
  require(a.lr > 0.0f, fmt::format("--lr-{} (or --lr): must be > 0 (got {:g})", who, a.lr));
  require(a.beta1 >= 0.0f && a.beta1 < 1.0f,
          fmt::format("--beta1: must be in [0, 1) (got {:g})", a.beta1));
  require(a.beta2 >= 0.0f && a.beta2 < 1.0f,
          fmt::format("--beta2: must be in [0, 1) (got {:g})", a.beta2));
  require(a.eps > 0.0f, fmt::format("adam eps must be > 0 (got {:g})", a.eps));
  require(a.decay > 0.0f && a.decay <= 1.0f,
          fmt::format("--lr-decay: must be in (0, 1] (got {:g})", a.decay));
}

bool has_batchnorm(const ModelSpec& s) {
  for (const LayerSpec& l : s.layers)
    if (l.kind == LayerKind::BatchNorm) return true;
  return false;
}

}  // namespace

std::vector<std::string> preset_names() { return {"keras-mlp", "tf-mlp", "torch-mlp"}; }

TrainConfig make_preset(const std::string& name) {
  if (name == "keras-mlp") return keras_mlp();
  if (name == "tf-mlp") return tf_mlp();
  if (name == "torch-mlp") return torch_mlp();
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("--preset: unknown preset '" + name + "' (known: " + known + ")");
}

void validate_train_config(const TrainConfig& c, int sample_size) {
  require(c.generator.input >= 1, fmt::format("--z-dim: must be >= 1 (got {})", c.generator.input));
  validate_model_spec(c.generator, "generator");
  validate_model_spec(c.discriminator, "discriminator");
  require(c.batch >= 1, fmt::format("--batch: must be >= 1 (got {})", c.batch));
  require(c.batch >= 2 || !has_batchnorm(c.generator),
          "--batch: batch norm needs a batch of at least 2");
  require(c.steps >= 1, "--steps: must be >= 1");
  require(c.d_steps >= 1, fmt::format("--d-steps: must be >= 1 (got {})", c.d_steps));
  require(c.label_smoothing >= 0.0f && c.label_smoothing < 0.5f,
          fmt::format("--label-smoothing: must be in [0, 0.5) (got {:g})", c.label_smoothing));
  // The statistics buffer holds log_every steps.
  require(c.log_every >= 1 && c.log_every <= 1000000,
          fmt::format("--log-every: must be in [1, 1000000] (got {})", c.log_every));
  require(c.sample_every >= 1, "--sample-every: must be >= 1");
  require(c.checkpoint_every >= 1, "--checkpoint-every: must be >= 1");
  require(c.keep_checkpoints >= 1, "--keep-checkpoints: must be >= 1");
  require(c.sample_grid >= 1 && c.sample_grid <= 32, "--sample-grid: must be in [1, 32]");
  validate_adam(c.opt_g.adam, "g");
  validate_adam(c.opt_d.adam, "d");
  validate_optimizer(c.opt_g, "g");
  validate_optimizer(c.opt_d, "d");
  require(c.instance_noise >= 0.0f && std::isfinite(c.instance_noise),
          fmt::format("--instance-noise: must be >= 0 (got {:g})", c.instance_noise));
  require(c.loss == GanLoss::Bce || c.label_smoothing == 0.0f,
          "--label-smoothing: needs the BCE loss (a WGAN critic has no labels)");
  require(!c.sort_real || sample_size == 1,
          fmt::format("--sort-real: needs 1D data (samples of 1 value, not {})", sample_size));
  require(!c.sort_real || c.batch <= 65536,
          fmt::format("--batch: sorted batches hold at most 65536 samples (got {})", c.batch));
  // G's output must be a data sample and D's input must take one; D must give one logit a row
  // (after its packing, if any).
  for (const LayerSpec& l : c.generator.layers)
    require(l.kind != LayerKind::Pack, "generator: a pack layer belongs in the discriminator");
  Model probe_g("generator", c.generator, 1, DeviceKind::Cpu);
  require(probe_g.output_dim() == sample_size,
          fmt::format("generator: outputs {} values, the data's samples have {}",
                      probe_g.output_dim(), sample_size));
  require(c.discriminator.input == sample_size,
          fmt::format("discriminator: takes {} inputs, the data's samples have {}",
                      c.discriminator.input, sample_size));
  int64_t pack = 1;
  for (const LayerSpec& l : c.discriminator.layers)
    if (l.kind == LayerKind::Pack) pack *= l.units;
  require(c.batch % pack == 0,
          fmt::format("--batch: {} is not a multiple of the discriminator's packing {}", c.batch,
                      pack));
  Model probe_d("discriminator", c.discriminator, int(pack), DeviceKind::Cpu);
  require(probe_d.output_dim() == 1,
          fmt::format("discriminator: outputs {} values, expected 1 logit", probe_d.output_dim()));
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
          {"sample_grid", c.sample_grid}};
}

TrainConfig train_config_from_json(const nlohmann::json& j) {
  try {
    TrainConfig c;
    c.preset = j.at("preset").get<std::string>();
    c.generator = model_spec_from_json(j.at("generator"));
    c.discriminator = model_spec_from_json(j.at("discriminator"));
    c.noise = distribution_from_name(j.at("noise").get<std::string>());
    c.init = init_scheme_from_name(j.at("init").get<std::string>());
    c.batch = j.at("batch").get<int>();
    c.steps = j.at("steps").get<uint64_t>();
    c.opt_g.adam = adam_from_json(j.at("adam_g"));
    c.opt_d.adam = adam_from_json(j.at("adam_d"));
    // Keys added with the toy experiments: a config written before them has the defaults.
    if (j.contains("optimizer_g")) optimizer_from_json(j.at("optimizer_g"), c.opt_g);
    if (j.contains("optimizer_d")) optimizer_from_json(j.at("optimizer_d"), c.opt_d);
    if (j.contains("loss")) c.loss = gan_loss_from_name(j.at("loss").get<std::string>());
    c.instance_noise = j.value("instance_noise", 0.0f);
    c.instance_noise_steps = j.value("instance_noise_steps", uint64_t(0));
    c.sort_real = j.value("sort_real", false);
    c.d_steps = j.at("d_steps").get<int>();
    c.g_loss = g_loss_from_name(j.at("g_loss").get<std::string>());
    c.d_update = d_update_from_name(j.at("d_update").get<std::string>());
    c.label_smoothing = j.at("label_smoothing").get<float>();
    c.d_step_generator_eval = j.at("d_step_generator_eval").get<bool>();
    c.seed = j.at("seed").get<uint64_t>();
    c.log_every = j.at("log_every").get<int>();
    c.sample_every = j.at("sample_every").get<int>();
    c.checkpoint_every = j.at("checkpoint_every").get<int>();
    c.keep_checkpoints = j.at("keep_checkpoints").get<int>();
    c.sample_grid = j.at("sample_grid").get<int>();
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("malformed training config: ") + e.what());
  }
}

}  // namespace gan
