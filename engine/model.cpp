#include "engine/model.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>

#include "engine/json_fields.h"
#include "engine/memory_limits.h"
#include "engine/ops.h"
#include "kernels/random.h"

namespace gan {

namespace {

const char* kind_name(LayerKind k) {
  switch (k) {
    case LayerKind::Dense: return "dense";
    case LayerKind::Act: return "activation";
    case LayerKind::BatchNorm: return "batchnorm";
    case LayerKind::Dropout: return "dropout";
    case LayerKind::MinibatchStddev: return "minibatch_stddev";
    case LayerKind::MinibatchDistance: return "minibatch_distance";
    case LayerKind::Pack: return "pack";
  }
  return "?";
}

LayerKind kind_from_name(const std::string& s) {
  for (LayerKind k : {LayerKind::Dense, LayerKind::Act, LayerKind::BatchNorm, LayerKind::Dropout,
                      LayerKind::MinibatchStddev, LayerKind::MinibatchDistance, LayerKind::Pack})
    if (s == kind_name(k)) return k;
  throw std::invalid_argument("unknown layer kind '" + s + "'");
}

ActKind act_kind_from_name(const std::string& s) {
  for (ActKind k : {ActKind::Identity, ActKind::ReLU, ActKind::LeakyReLU, ActKind::Tanh,
                    ActKind::Sigmoid, ActKind::ELU})
    if (s == activation_name(k)) return k;
  throw std::invalid_argument("unknown activation '" + s + "'");
}

std::string describe_activation(Activation a) {
  if (a.kind == ActKind::LeakyReLU || a.kind == ActKind::ELU)
    return fmt::format("{}({:g})", activation_name(a.kind), a.param);
  return activation_name(a.kind);
}

}  // namespace

void validate_model_spec(const ModelSpec& spec, const std::string& what) {
  if (spec.input < 1 || spec.input > kMaxLayerWidth)
    throw std::invalid_argument(fmt::format("{}: input size must be in [1, {}] (got {})", what,
                                            kMaxLayerWidth, spec.input));
  if (spec.layers.empty()) throw std::invalid_argument(what + ": no layers");
  if (spec.layers.size() > size_t(kMaxLayers))
    throw std::invalid_argument(fmt::format("{}: {} layers, at most {} are supported", what,
                                            spec.layers.size(), kMaxLayers));
  // Widths and the packing product stay small enough for int sizes and 64-bit byte counts.
  int64_t width = spec.input, pack = 1;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string at = fmt::format("{}: layer {} ({})", what, i, kind_name(l.kind));
    if (l.kind == LayerKind::Dense) width = l.units;
    if (l.kind == LayerKind::MinibatchStddev || l.kind == LayerKind::MinibatchDistance) ++width;
    if (l.kind == LayerKind::Pack && l.units >= 1 && l.units <= kMaxPackRows) {
      width *= l.units;
      pack *= l.units;
      if (pack > kMaxPackRows)
        throw std::invalid_argument(fmt::format("{}: the pack layers group more than {} rows", at,
                                                kMaxPackRows));
    }
    if (width > kMaxRowWidth)
      throw std::invalid_argument(
          fmt::format("{}: rows of {} values, at most {} are supported", at, width, kMaxRowWidth));
    switch (l.kind) {
      case LayerKind::Dense:
        if (l.units < 1 || l.units > kMaxLayerWidth)
          throw std::invalid_argument(
              fmt::format("{}: units must be in [1, {}] (got {})", at, kMaxLayerWidth, l.units));
        break;
      case LayerKind::Act:
        if (l.act.kind == ActKind::LeakyReLU && !(l.act.param >= 0.0f && std::isfinite(l.act.param)))
          throw std::invalid_argument(at + ": leaky_relu slope must be finite and >= 0");
        if (l.act.kind == ActKind::ELU && !(l.act.param > 0.0f && std::isfinite(l.act.param)))
          throw std::invalid_argument(at + ": elu alpha must be finite and > 0");
        break;
      case LayerKind::BatchNorm:
        if (!(l.bn.eps > 0.0f && std::isfinite(l.bn.eps)))
          throw std::invalid_argument(at + ": eps must be finite and > 0");
        if (!(l.bn.running_keep >= 0.0f && l.bn.running_keep <= 1.0f))
          throw std::invalid_argument(at + ": running_keep must be in [0, 1]");
        break;
      case LayerKind::Dropout:
        if (!(l.rate >= 0.0f && l.rate < 1.0f))
          throw std::invalid_argument(at + ": rate must be in [0, 1)");
        break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance: break;
      case LayerKind::Pack:
        if (l.units < 1 || l.units > kMaxPackRows)
          throw std::invalid_argument(fmt::format("{}: rows per group must be in [1, {}] (got {})",
                                                  at, kMaxPackRows, l.units));
        break;
    }
  }
}

std::string describe_model_spec(const ModelSpec& spec) {
  std::string s = std::to_string(spec.input);
  for (const LayerSpec& l : spec.layers) {
    switch (l.kind) {
      case LayerKind::Dense:
        s += fmt::format(" -> dense {}{}", l.units, l.bias ? "" : " (no bias)");
        break;
      case LayerKind::Act: s += " -> " + describe_activation(l.act); break;
      case LayerKind::BatchNorm:
        s += fmt::format(" -> batchnorm(keep {:g}, eps {:g})", l.bn.running_keep, l.bn.eps);
        break;
      case LayerKind::Dropout: s += fmt::format(" -> dropout({:g})", l.rate); break;
      case LayerKind::MinibatchStddev: s += " -> minibatch_stddev"; break;
      case LayerKind::MinibatchDistance: s += " -> minibatch_distance"; break;
      case LayerKind::Pack: s += fmt::format(" -> pack({})", l.units); break;
    }
  }
  return s;
}

nlohmann::json model_spec_to_json(const ModelSpec& spec) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSpec& l : spec.layers) {
    nlohmann::json j = {{"kind", kind_name(l.kind)}};
    switch (l.kind) {
      case LayerKind::Dense: j["units"] = l.units, j["bias"] = l.bias; break;
      case LayerKind::Act:
        j["activation"] = activation_name(l.act.kind), j["param"] = l.act.param;
        break;
      case LayerKind::BatchNorm:
        j["eps"] = l.bn.eps, j["running_keep"] = l.bn.running_keep,
        j["unbiased_running_var"] = l.bn.unbiased_running_var;
        break;
      case LayerKind::Dropout: j["rate"] = l.rate; break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance: break;
      case LayerKind::Pack: j["units"] = l.units; break;
    }
    layers.push_back(j);
  }
  return {{"input", spec.input}, {"layers", layers}};
}

ModelSpec model_spec_from_json(const nlohmann::json& j) {
  // Strict fields: a hand-edited 0.5 or -1 is refused, not truncated or wrapped.
  try {
    ModelSpec spec;
    spec.input = int(json_int(j, "input", 1, kMaxLayerWidth));
    const nlohmann::json& layers = json_member(j, "layers");
    if (!layers.is_array()) throw std::invalid_argument("layers: expected an array");
    if (layers.size() > size_t(kMaxLayers))
      throw std::invalid_argument(fmt::format("layers: at most {}", kMaxLayers));
    for (size_t i = 0; i < layers.size(); ++i) {
      const nlohmann::json& lj = layers[i];
      const std::string at = fmt::format("layers[{}].", i);
      try {
        LayerSpec l;
        l.kind = kind_from_name(json_string(lj, "kind"));
        switch (l.kind) {
          case LayerKind::Dense:
            l.units = int(json_int(lj, "units", 1, kMaxLayerWidth));
            l.bias = json_bool(lj, "bias");
            break;
          case LayerKind::Act:
            l.act = {act_kind_from_name(json_string(lj, "activation")), json_float(lj, "param")};
            break;
          case LayerKind::BatchNorm:
            l.bn = {json_float(lj, "eps"), json_float(lj, "running_keep"),
                    json_bool(lj, "unbiased_running_var")};
            break;
          case LayerKind::Dropout: l.rate = json_float(lj, "rate"); break;
          case LayerKind::MinibatchStddev:
          case LayerKind::MinibatchDistance: break;
          case LayerKind::Pack: l.units = int(json_int(lj, "units", 1, kMaxPackRows)); break;
        }
        spec.layers.push_back(l);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(at + e.what());
      }
    }
    return spec;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("malformed model spec: ") + e.what());
  }
}

const char* init_scheme_name(InitScheme s) {
  return s == InitScheme::GlorotUniform ? "glorot_uniform" : "torch_default";
}

InitScheme init_scheme_from_name(const std::string& name) {
  if (name == "glorot_uniform") return InitScheme::GlorotUniform;
  if (name == "torch_default") return InitScheme::TorchDefault;
  throw std::invalid_argument("--init: unknown init scheme '" + name +
                              "' (expected glorot_uniform or torch_default)");
}

// Mirrors the constructor's layout below (the constructor checks that the two agree).
ModelFootprint model_footprint(const ModelSpec& spec, int max_batch) {
  ModelFootprint f;
  uint64_t width = uint64_t(spec.input), rows = uint64_t(std::max(max_batch, 1));
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    uint64_t out = width;
    switch (s.kind) {
      case LayerKind::Dense:
        out = uint64_t(s.units);
        f.params += out * width + (s.bias ? out : 0);
        f.activations += rows * width;  // dx
        if (i + 1 < spec.layers.size() && spec.layers[i + 1].kind == LayerKind::Act) ++i;
        break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance:
        out = width + 1;
        f.activations += rows * width;
        break;
      case LayerKind::Pack:
        out = width * uint64_t(s.units);
        rows /= uint64_t(s.units);
        break;
      case LayerKind::BatchNorm:
        f.params += 2 * width;
        f.state += 2 * width;
        f.activations += 2 * width;
        break;
      default: break;
    }
    if (s.kind != LayerKind::Pack) f.activations += rows * out;  // y
    if (s.kind == LayerKind::Pack) f.pack *= s.units;
    width = out;
  }
  f.output = int(std::min<uint64_t>(width, INT32_MAX));
  return f;
}

Model::Model(std::string name, const ModelSpec& spec, int max_batch, DeviceKind device)
    : name_(std::move(name)), spec_(spec), max_batch_(max_batch) {
  validate_model_spec(spec, name_);
  if (max_batch < 1) throw std::invalid_argument(name_ + ": batch size must be >= 1");
  const ModelFootprint planned = model_footprint(spec, max_batch);
  if (device == DeviceKind::Cpu)
    require_host_memory(planned.bytes(), fmt::format("{} ({})", name_, describe_model_spec(spec)));
  size_t n_params = 0, n_state = 0;
  int width = spec.input, rows_div = 1;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    const size_t B = size_t(max_batch / rows_div);  // rows reaching this layer, at most
    Layer L;
    L.spec = s;
    L.index = int(i);
    L.in = width;
    L.rows_div = rows_div;
    const std::string prefix = std::to_string(i);
    if (s.kind == LayerKind::Dense) {
      L.out = s.units;
      L.w = n_params;
      slots_.push_back({prefix + ".weight", {L.out, L.in}, false, n_params, size_t(L.out) * L.in});
      n_params += size_t(L.out) * L.in;
      if (s.bias) {
        L.b = n_params;
        slots_.push_back({prefix + ".bias", {L.out}, false, n_params, size_t(L.out)});
        n_params += L.out;
      }
      // Fuse a directly following activation into this layer's GEMM epilogue.
      if (i + 1 < spec.layers.size() && spec.layers[i + 1].kind == LayerKind::Act) {
        L.fused = spec.layers[i + 1].act;
        ++i;
      }
      L.dx = Array<float>(device, B * L.in);
    } else if (s.kind == LayerKind::MinibatchStddev || s.kind == LayerKind::MinibatchDistance) {
      L.out = L.in + 1;
      L.dx = Array<float>(device, B * L.in);
    } else if (s.kind == LayerKind::Pack) {
      L.out = L.in * s.units;
      rows_div *= s.units;
      if (max_batch % rows_div != 0)
        throw std::invalid_argument(
            fmt::format("{}: layer {} (pack {}): the batch of {} rows is not a multiple of {}",
                        name_, i, s.units, max_batch, rows_div));
    } else {
      L.out = L.in;
      if (s.kind == LayerKind::BatchNorm) {
        L.w = n_params;
        slots_.push_back({prefix + ".weight", {L.out}, false, n_params, size_t(L.out)});
        L.b = n_params + L.out;
        slots_.push_back({prefix + ".bias", {L.out}, false, n_params + L.out, size_t(L.out)});
        n_params += 2 * size_t(L.out);
        L.running = n_state;
        slots_.push_back({prefix + ".running_mean", {L.out}, true, n_state, size_t(L.out)});
        slots_.push_back({prefix + ".running_var", {L.out}, true, n_state + L.out, size_t(L.out)});
        n_state += 2 * size_t(L.out);
        L.save_mean = Array<float>(device, L.out);
        L.save_inv_std = Array<float>(device, L.out);
      }
    }
    if (s.kind != LayerKind::Pack) L.y = Array<float>(device, B * L.out);  // Pack: a view
    width = L.out;
    layers_.push_back(std::move(L));
  }
  output_ = width;
  pack_factor_ = rows_div;
  if (planned.params != n_params || planned.state != n_state)
    throw std::logic_error(name_ + ": model_footprint disagrees with the model's layout");
  params_ = Array<float>(device, n_params);
  grads_ = Array<float>(device, n_params);
  adam_m_ = Array<float>(device, n_params);
  adam_v_ = Array<float>(device, n_params);
  state_ = Array<float>(device, n_state);
}

void Model::init(InitScheme scheme, uint64_t seed, uint32_t stream) {
  std::vector<float> p(params_.size()), st(state_.size());
  const uint64_t counter = 0;
  for (const Layer& L : layers_) {
    if (L.spec.kind == LayerKind::Dense) {
      const float limit = scheme == InitScheme::GlorotUniform
                              ? std::sqrt(6.0f / float(L.in + L.out))
                              : 1.0f / std::sqrt(float(L.in));
      const size_t nw = size_t(L.out) * L.in;
      // Weights and bias draw from their own streams, so a layer's init does not depend on others.
      cpu::random_fill<float>(p.data() + L.w, nw, Distribution::UniformSym, seed,
                              stream + 2 * uint32_t(L.index), &counter);
      for (size_t k = 0; k < nw; ++k) p[L.w + k] *= limit;
      if (L.spec.bias) {
        if (scheme == InitScheme::TorchDefault) {
          cpu::random_fill<float>(p.data() + L.b, L.out, Distribution::UniformSym, seed,
                                  stream + 2 * uint32_t(L.index) + 1, &counter);
          for (int k = 0; k < L.out; ++k) p[L.b + k] *= limit;
        }  // Glorot: zero bias, as Keras.
      }
    } else if (L.spec.kind == LayerKind::BatchNorm) {
      for (int k = 0; k < L.out; ++k) {
        p[L.w + k] = 1.0f;
        p[L.b + k] = 0.0f;
        st[L.running + k] = 0.0f;
        st[L.running + L.out + k] = 1.0f;
      }
    }
  }
  params_.upload(p);
  state_.upload(st);
  grads_.zero();
  adam_m_.zero();
  adam_v_.zero();
}

const float* Model::forward(const ExecContext& ctx, const float* x, int B, bool training,
                            uint64_t seed, uint32_t draw, const uint64_t* counter) {
  if (B < 1 || B > max_batch_)
    throw std::invalid_argument(
        fmt::format("{}: batch of {} rows, buffers sized for 1..{}", name_, B, max_batch_));
  if (B % pack_factor_ != 0)
    throw std::invalid_argument(fmt::format("{}: batch of {} rows is not a multiple of the packing {}",
                                            name_, B, pack_factor_));
  float* P = params_.data();
  float* S = state_.data();
  for (Layer& L : layers_) {
    L.x = x;
    L.B = B / L.rows_div;
    L.training = training;
    L.seed = seed;
    L.stream = draw * 64u + uint32_t(L.index);
    L.counter = counter;
    const int rows = L.B;
    float* y = L.y.data();
    const size_t n = size_t(rows) * L.out;
    switch (L.spec.kind) {
      case LayerKind::Dense:
        ops::dense_forward(ctx, x, P + L.w, L.spec.bias ? P + L.b : nullptr, y, rows, L.in, L.out,
                           L.fused);
        break;
      case LayerKind::Act: ops::activation_forward(ctx, L.spec.act, x, y, n); break;
      case LayerKind::BatchNorm:
        if (training)
          ops::batchnorm_forward_train(ctx, L.spec.bn, x, y, rows, L.out, P + L.w, P + L.b,
                                       L.save_mean.data(), L.save_inv_std.data(), S + L.running,
                                       S + L.running + L.out);
        else
          ops::batchnorm_forward_eval(ctx, L.spec.bn, x, y, rows, L.out, P + L.w, P + L.b,
                                      S + L.running, S + L.running + L.out);
        break;
      case LayerKind::Dropout:
        ops::dropout_forward(ctx, x, y, n, L.spec.rate, training, seed, L.stream, counter);
        break;
      case LayerKind::MinibatchStddev: ops::minibatch_stddev_forward(ctx, x, y, rows, L.in); break;
      case LayerKind::MinibatchDistance:
        ops::minibatch_distance_forward(ctx, x, y, rows, L.in);
        break;
      case LayerKind::Pack: y = const_cast<float*>(x); break;  // the same memory, read wider
    }
    x = y;
  }
  return x;
}

namespace {
// The layer whose buffer holds spec layer i's output: itself, or the dense layer that an
// activation at i is fused into (fused activations have no layer of their own).
template <class Layers>
auto& layer_holding(Layers& layers, const ModelSpec& spec, int i, const std::string& name) {
  for (auto& L : layers)
    if (L.index == i) return L;
  for (auto& L : layers)
    if (L.index + 1 == i && L.spec.kind == LayerKind::Dense &&
        spec.layers[size_t(i)].kind == LayerKind::Act)
      return L;
  throw std::invalid_argument(fmt::format("{}: no layer {}", name, i));
}
}  // namespace

const float* Model::layer_output(int spec_index) const {
  const auto& L = layer_holding(layers_, spec_, spec_index, name_);
  return L.spec.kind == LayerKind::Pack ? L.x : L.y.data();
}

int Model::layer_width(int spec_index) const {
  return layer_holding(layers_, spec_, spec_index, name_).out;
}

// Reverse order; element-wise layers work in place on the running gradient g (their contracts
// allow dx == dy), dense layers write dx into their own buffer.
float* Model::backward(const ExecContext& ctx, float* dout, GradMode mode, bool need_dx) {
  const float* P = params_.data();
  float* G = grads_.data();
  float* g = dout;
  for (size_t i = layers_.size(); i-- > 0;) {
    Layer& L = layers_[i];
    const size_t n = size_t(L.B) * L.out;
    switch (L.spec.kind) {
      case LayerKind::Dense: {
        if (L.fused.kind != ActKind::Identity)
          ops::activation_backward(ctx, L.fused, L.y.data(), g, g, n);
        float* dx = (i > 0 || need_dx) ? L.dx.data() : nullptr;
        ops::dense_backward(ctx, L.x, P + L.w, g, dx, G + L.w, L.spec.bias ? G + L.b : nullptr, L.B,
                            L.in, L.out, mode);
        g = dx;
        break;
      }
      case LayerKind::Act: ops::activation_backward(ctx, L.spec.act, L.y.data(), g, g, n); break;
      case LayerKind::BatchNorm:
        ops::batchnorm_backward(ctx, L.x, g, g, L.B, L.out, P + L.w, L.save_mean.data(),
                                L.save_inv_std.data(), G + L.w, G + L.b, mode);
        break;
      case LayerKind::Dropout:
        ops::dropout_backward(ctx, g, g, n, L.spec.rate, L.seed, L.stream, L.counter);
        break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance:
        if (i == 0 && !need_dx) break;
        if (L.spec.kind == LayerKind::MinibatchStddev)
          ops::minibatch_stddev_backward(ctx, L.x, g, L.dx.data(), L.B, L.in);
        else
          ops::minibatch_distance_backward(ctx, L.x, g, L.dx.data(), L.B, L.in);
        g = L.dx.data();
        break;
      case LayerKind::Pack: break;  // a reshape: the gradient's memory is already laid out
    }
  }
  return need_dx ? g : nullptr;
}

void Model::adam_step(const ExecContext& ctx, const AdamConfig& cfg, const uint64_t* t,
                      float* nonfinite) {
  ops::adam_step(ctx, cfg, params_.data(), grads_.data(), adam_m_.data(), adam_v_.data(),
                 params_.size(), t, nonfinite);
}

void Model::optimizer_step(const ExecContext& ctx, const OptimizerConfig& cfg, const uint64_t* t,
                           float* nonfinite) {
  const size_t n = params_.size();
  switch (cfg.kind) {
    case OptimizerKind::Adam: adam_step(ctx, cfg.adam, t, nonfinite); break;
    case OptimizerKind::Sgd:
      ops::sgd_step(ctx, cfg.sgd, params_.data(), grads_.data(), adam_m_.data(), n, t, nonfinite);
      break;
    case OptimizerKind::Rmsprop:
      ops::rmsprop_step(ctx, cfg.rmsprop, params_.data(), grads_.data(), adam_v_.data(), n,
                        nonfinite);
      break;
  }
  // An update that wrote +-inf has flagged it already; clipping (which maps +-inf to +-c) can
  // only add a NaN it passed through, flagged above as well. Its own check keeps the op's
  // contract whole at the cost of one predicate per element.
  if (cfg.clip > 0.0f) ops::clip_values(ctx, params_.data(), n, cfg.clip, nonfinite);
}

const char* optimizer_name(OptimizerKind k) {
  switch (k) {
    case OptimizerKind::Adam: return "adam";
    case OptimizerKind::Sgd: return "sgd";
    case OptimizerKind::Rmsprop: return "rmsprop";
  }
  return "?";
}

OptimizerKind optimizer_from_name(const std::string& name) {
  for (OptimizerKind k : {OptimizerKind::Adam, OptimizerKind::Sgd, OptimizerKind::Rmsprop})
    if (name == optimizer_name(k)) return k;
  throw std::invalid_argument("--optimizer: unknown optimizer '" + name +
                              "' (expected adam, sgd or rmsprop)");
}

float OptimizerConfig::lr() const {
  switch (kind) {
    case OptimizerKind::Adam: return adam.lr;
    case OptimizerKind::Sgd: return sgd.lr;
    case OptimizerKind::Rmsprop: return rmsprop.lr;
  }
  return 0.0f;
}

}  // namespace gan
