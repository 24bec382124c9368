#include "engine/train_config.h"

#include <fmt/format.h>

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
  c.adam_g.lr = c.adam_d.lr = 2e-4f;
  c.adam_g.beta1 = c.adam_d.beta1 = 0.5f;
  c.adam_g.eps = c.adam_d.eps = 1e-7f;  // Keras' epsilon
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
  c.adam_g.eps = c.adam_d.eps = 1e-7f;
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
  c.adam_g.lr = c.adam_d.lr = 0.002f;
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
          {"decoupled", a.decoupled}};
}

AdamConfig adam_from_json(const nlohmann::json& j) {
  AdamConfig a;
  a.lr = j.at("lr").get<float>();
  a.beta1 = j.at("beta1").get<float>();
  a.beta2 = j.at("beta2").get<float>();
  a.eps = j.at("eps").get<float>();
  a.weight_decay = j.at("weight_decay").get<float>();
  a.decoupled = j.at("decoupled").get<bool>();
  return a;
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

void validate_adam(const AdamConfig& a, const std::string& who) {
  require(a.lr > 0.0f, fmt::format("--lr-{} (or --lr): must be > 0 (got {:g})", who, a.lr));
  require(a.beta1 >= 0.0f && a.beta1 < 1.0f,
          fmt::format("--beta1: must be in [0, 1) (got {:g})", a.beta1));
  require(a.beta2 >= 0.0f && a.beta2 < 1.0f,
          fmt::format("--beta2: must be in [0, 1) (got {:g})", a.beta2));
  require(a.eps > 0.0f, fmt::format("adam eps must be > 0 (got {:g})", a.eps));
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

void validate_train_config(const TrainConfig& c, int image_size) {
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
  validate_adam(c.adam_g, "g");
  validate_adam(c.adam_d, "d");
  // G's output must be an image and D's input must take one; D must give one logit.
  Model probe_shapes("generator", c.generator, 1, DeviceKind::Cpu);
  require(probe_shapes.output_dim() == image_size,
          fmt::format("generator: outputs {} values, the data's images have {} pixels",
                      probe_shapes.output_dim(), image_size));
  require(c.discriminator.input == image_size,
          fmt::format("discriminator: takes {} inputs, the data's images have {} pixels",
                      c.discriminator.input, image_size));
  Model probe_d("discriminator", c.discriminator, 1, DeviceKind::Cpu);
  require(probe_d.output_dim() == 1,
          fmt::format("discriminator: outputs {} values, expected 1 logit", probe_d.output_dim()));
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
  for (Distribution d : {Distribution::Normal, Distribution::UniformSym, Distribution::Uniform01})
    if (s == distribution_name(d)) return d;
  throw std::invalid_argument("--noise: expected normal or uniform, got '" + s + "'");
}

nlohmann::json train_config_to_json(const TrainConfig& c) {
  return {{"preset", c.preset},
          {"generator", model_spec_to_json(c.generator)},
          {"discriminator", model_spec_to_json(c.discriminator)},
          {"noise", distribution_name(c.noise)},
          {"init", init_scheme_name(c.init)},
          {"batch", c.batch},
          {"steps", c.steps},
          {"adam_g", adam_to_json(c.adam_g)},
          {"adam_d", adam_to_json(c.adam_d)},
          {"d_steps", c.d_steps},
          {"g_loss", g_loss_name(c.g_loss)},
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
    c.adam_g = adam_from_json(j.at("adam_g"));
    c.adam_d = adam_from_json(j.at("adam_d"));
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
