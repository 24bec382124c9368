#include "engine/nn/model.h"

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <tuple>

#include "engine/io/json_fields.h"
#include "engine/core/memory_limits.h"
#include "engine/core/ops.h"
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
    case LayerKind::Conv: return "conv";
    case LayerKind::ConvTranspose: return "conv_transpose";
    case LayerKind::BatchNorm2d: return "batchnorm2d";
    case LayerKind::Reshape: return "reshape";
    case LayerKind::Flatten: return "flatten";
  }
  return "?";
}

LayerKind kind_from_name(const std::string& s) {
  for (LayerKind k : {LayerKind::Dense, LayerKind::Act, LayerKind::BatchNorm, LayerKind::Dropout,
                      LayerKind::MinibatchStddev, LayerKind::MinibatchDistance, LayerKind::Pack,
                      LayerKind::Conv, LayerKind::ConvTranspose, LayerKind::BatchNorm2d,
                      LayerKind::Reshape, LayerKind::Flatten})
    if (s == kind_name(k)) return k;
  throw std::invalid_argument("unknown layer kind '" + s + "'");
}

ActKind act_kind_from_name(const std::string& s) {
  for (ActKind k : {ActKind::Identity, ActKind::ReLU, ActKind::LeakyReLU, ActKind::Tanh,
                    ActKind::Sigmoid, ActKind::ELU})
    if (s == activation_name(k)) return k;
  throw std::invalid_argument("unknown activation '" + s + "'");
}

// [a, b] with both whole numbers in [lo, hi].
std::pair<int, int> json_pair(const nlohmann::json& j, const std::string& key, int lo, int hi) {
  const nlohmann::json& v = json_member(j, key);
  if (!v.is_array() || v.size() != 2)
    throw std::invalid_argument(key + ": expected [height, width]");
  return {int(json_value_u64(v[0], key + "[0]", uint64_t(lo), uint64_t(hi))),
          int(json_value_u64(v[1], key + "[1]", uint64_t(lo), uint64_t(hi)))};
}

std::string describe_activation(Activation a) {
  if (a.kind == ActKind::LeakyReLU || a.kind == ActKind::ELU)
    return fmt::format("{}({:g})", activation_name(a.kind), a.param);
  return activation_name(a.kind);
}

bool is_conv(LayerKind k) { return k == LayerKind::Conv || k == LayerKind::ConvTranspose; }

std::string describe_conv(const ConvSpec& c) {
  std::string s = c.kh == c.kw ? fmt::format("k{}", c.kh) : fmt::format("k{}x{}", c.kh, c.kw);
  s += c.sh == c.sw ? fmt::format(" s{}", c.sh) : fmt::format(" s{}x{}", c.sh, c.sw);
  if (c.same) return s + " same";
  s += c.ph == c.pw ? fmt::format(" p{}", c.ph) : fmt::format(" p{}x{}", c.ph, c.pw);
  if (c.oph || c.opw)
    s += c.oph == c.opw ? fmt::format(" op{}", c.oph) : fmt::format(" op{}x{}", c.oph, c.opw);
  return s;
}

// One side of a convolution's geometry: input size n -> output size, and the padding before the
// first position. Throws naming `at` and the side when the kernel does not fit.
struct Side {
  int out = 0, pad = 0;
};
Side conv_side(bool transpose, const ConvSpec& c, bool rows, int n, const std::string& at) {
  const int k = rows ? c.kh : c.kw, s = rows ? c.sh : c.sw;
  const int p = rows ? c.ph : c.pw, op = rows ? c.oph : c.opw;
  const char* side = rows ? "height" : "width";
  int64_t out = 0;
  int pad = p;
  if (c.same) {
    // TensorFlow: the padding is what the forward convolution from the larger size needs.
    out = transpose ? int64_t(n) * s : (int64_t(n) + s - 1) / s;
    const int64_t big = transpose ? out : n, small = transpose ? n : out;
    const int64_t total = std::max<int64_t>((small - 1) * s + k - big, 0);
    pad = int(total / 2);
  } else if (!transpose) {
    if (n + 2 * int64_t(p) < k)
      throw std::invalid_argument(
          fmt::format("{}: the kernel's {} {} is larger than the padded input's {} ({} + 2 x {})",
                      at, side, k, n + 2 * int64_t(p), n, p));
    out = (n + 2 * int64_t(p) - k) / s + 1;
  } else {
    out = (int64_t(n) - 1) * s - 2 * int64_t(p) + k + op;
    if (out < 1)
      throw std::invalid_argument(fmt::format(
          "{}: the output {} would be {} ((input {} - 1) x stride {} - 2 x padding {} + kernel {} "
          "+ output_padding {})",
          at, side, out, n, s, p, k, op));
  }
  if (out > kMaxLayerWidth)
    throw std::invalid_argument(
        fmt::format("{}: an output {} of {}, at most {} is supported", at, side, out,
                    kMaxLayerWidth));
  return {int(out), pad};
}

void check_conv_spec(const LayerSpec& l, const std::string& at) {
  const ConvSpec& c = l.conv;
  if (l.units < 1 || l.units > kMaxLayerWidth)
    throw std::invalid_argument(
        fmt::format("{}: channels must be in [1, {}] (got {})", at, kMaxLayerWidth, l.units));
  for (auto [v, name] : {std::pair{c.kh, "kernel height"}, {c.kw, "kernel width"},
                         {c.sh, "stride height"}, {c.sw, "stride width"}})
    if (v < 1 || v > kMaxKernel)
      throw std::invalid_argument(fmt::format("{}: {} must be in [1, {}] (got {})", at, name,
                                              kMaxKernel, v));
  if (c.same) return;
  // PyTorch's own limits, so every spec here is an nn.Conv2d / nn.ConvTranspose2d as well.
  for (auto [v, k, name] :
       {std::tuple{c.ph, c.kh, "padding height"}, {c.pw, c.kw, "padding width"}})
    if (v < 0 || v > k / 2)
      throw std::invalid_argument(fmt::format("{}: {} must be in [0, kernel / 2 = {}] (got {})",
                                              at, name, k / 2, v));
  for (auto [v, st, name] :
       {std::tuple{c.oph, c.sh, "output_padding height"}, {c.opw, c.sw, "output_padding width"}})
    if (v < 0 || (v > 0 && (l.kind != LayerKind::ConvTranspose || v >= st)))
      throw std::invalid_argument(
          l.kind == LayerKind::ConvTranspose
              ? fmt::format("{}: {} must be in [0, stride) = [0, {}) (got {})", at, name, st, v)
              : fmt::format("{}: output_padding is for conv_transpose layers only", at));
}

// Walks the spec, checking every layer and the shapes between them; returns each layer's shapes.
std::vector<LayerShapes> checked_shapes(const ModelSpec& spec, const std::string& what) {
  if (spec.input < 1 || spec.input > kMaxLayerWidth)
    throw std::invalid_argument(fmt::format("{}: input size must be in [1, {}] (got {})", what,
                                            kMaxLayerWidth, spec.input));
  if (spec.layers.empty()) throw std::invalid_argument(what + ": no layers");
  if (spec.layers.size() > size_t(kMaxLayers))
    throw std::invalid_argument(fmt::format("{}: {} layers, at most {} are supported", what,
                                            spec.layers.size(), kMaxLayers));
  std::vector<LayerShapes> shapes;
  // Widths and the packing product stay small enough for int sizes and 64-bit byte counts.
  RowShape shape{spec.input};
  int64_t pack = 1;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string at = fmt::format("{}: layer {} ({})", what, i, kind_name(l.kind));
    LayerShapes ls{shape, shape, {}};
    const bool wants_image = is_conv(l.kind) || l.kind == LayerKind::BatchNorm2d ||
                             l.kind == LayerKind::Flatten;
    const bool wants_flat = l.kind == LayerKind::Dense || l.kind == LayerKind::BatchNorm ||
                            l.kind == LayerKind::MinibatchStddev ||
                            l.kind == LayerKind::MinibatchDistance || l.kind == LayerKind::Pack ||
                            l.kind == LayerKind::Reshape;
    if (wants_image && !shape.spatial)
      throw std::invalid_argument(
          fmt::format("{}: needs images (C x H x W), its input is {} flat values: add a reshape "
                      "layer before it",
                      at, shape.size()));
    if (wants_flat && shape.spatial)
      throw std::invalid_argument(fmt::format(
          "{}: needs flat rows, its input is {} images: add a flatten layer before it", at,
          shape.str()));
    int64_t width = shape.size();
    if (l.kind == LayerKind::Dense) width = l.units;
    if (l.kind == LayerKind::MinibatchStddev || l.kind == LayerKind::MinibatchDistance) ++width;
    if (l.kind == LayerKind::Pack && l.units >= 1 && l.units <= kMaxPackRows) {
      width *= l.units;
      pack *= l.units;
      if (pack > kMaxPackRows)
        throw std::invalid_argument(fmt::format("{}: the pack layers group more than {} rows", at,
                                                kMaxPackRows));
    }
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
      case LayerKind::BatchNorm2d:
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
      case LayerKind::Conv:
      case LayerKind::ConvTranspose: {
        check_conv_spec(l, at);
        const bool t = l.kind == LayerKind::ConvTranspose;
        const Side hs = conv_side(t, l.conv, true, shape.h, at);
        const Side ws = conv_side(t, l.conv, false, shape.w, at);
        ls.out = {l.units, hs.out, ws.out, true};
        ls.conv = {1,        shape.c,   shape.h,   shape.w,   l.units, hs.out, ws.out,
                   l.conv.kh, l.conv.kw, l.conv.sh, l.conv.sw, hs.pad,  ws.pad};
        width = ls.out.size();
        break;
      }
      case LayerKind::Reshape: {
        for (auto [v, name] : {std::pair{l.units, "channels"}, {l.height, "height"},
                               {l.width, "width"}})
          if (v < 1 || v > kMaxLayerWidth)
            throw std::invalid_argument(
                fmt::format("{}: {} must be in [1, {}] (got {})", at, name, kMaxLayerWidth, v));
        const RowShape to{l.units, l.height, l.width, true};
        if (to.size() != shape.size())
          throw std::invalid_argument(fmt::format("{}: {} values do not reshape to {} ({} values)",
                                                  at, shape.size(), to.str(), to.size()));
        ls.out = to;
        break;
      }
      case LayerKind::Flatten: break;
    }
    if (width > kMaxRowWidth)
      throw std::invalid_argument(
          fmt::format("{}: rows of {} values, at most {} are supported", at, width, kMaxRowWidth));
    if (!ls.out.spatial || l.kind == LayerKind::Flatten) ls.out = RowShape{int(width)};
    shapes.push_back(ls);
    shape = ls.out;
  }
  return shapes;
}

}  // namespace

std::string RowShape::str() const {
  return spatial ? fmt::format("{}x{}x{}", c, h, w) : std::to_string(size());
}

void validate_model_spec(const ModelSpec& spec, const std::string& what) {
  checked_shapes(spec, what);
}

std::vector<LayerShapes> model_layer_shapes(const ModelSpec& spec) {
  return checked_shapes(spec, "model");
}

namespace {

std::string describe_layer(const LayerSpec& l) {
  switch (l.kind) {
    case LayerKind::Dense: return fmt::format("dense {}{}", l.units, l.bias ? "" : " (no bias)");
    case LayerKind::Act: return describe_activation(l.act);
    case LayerKind::BatchNorm:
    case LayerKind::BatchNorm2d:
      return fmt::format("{}(keep {:g}, eps {:g})", kind_name(l.kind), l.bn.running_keep, l.bn.eps);
    case LayerKind::Dropout: return fmt::format("dropout({:g})", l.rate);
    case LayerKind::MinibatchStddev: return "minibatch_stddev";
    case LayerKind::MinibatchDistance: return "minibatch_distance";
    case LayerKind::Pack: return fmt::format("pack({})", l.units);
    case LayerKind::Conv:
    case LayerKind::ConvTranspose:
      return fmt::format("{} {} {}{}", kind_name(l.kind), l.units, describe_conv(l.conv),
                         l.bias ? "" : " (no bias)");
    case LayerKind::Reshape: return fmt::format("reshape {}x{}x{}", l.units, l.height, l.width);
    case LayerKind::Flatten: return "flatten";
  }
  return "?";
}

// The shapes of a valid spec; empty for an invalid one (descriptions also name invalid specs).
std::vector<LayerShapes> shapes_if_valid(const ModelSpec& spec) {
  try {
    return checked_shapes(spec, "model");
  } catch (const std::invalid_argument&) {
    return {};
  }
}

}  // namespace

std::string describe_model_spec(const ModelSpec& spec) {
  const std::vector<LayerShapes> shapes = shapes_if_valid(spec);
  std::string s = std::to_string(spec.input);
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    s += " -> " + describe_layer(l);
    if (is_conv(l.kind) && i < shapes.size()) s += " [" + shapes[i].out.str() + "]";
  }
  return s;
}

std::string describe_model_layers(const ModelSpec& spec) {
  const std::vector<LayerShapes> shapes = checked_shapes(spec, "model");
  const ModelFootprint f = model_footprint(spec, 1);
  size_t width = 5;  // the longest layer description sets the column
  for (const LayerSpec& l : spec.layers) width = std::max(width, describe_layer(l).size());
  const auto row = [&](const std::string& index, const std::string& what,
                       const std::string& shape, const std::string& params) {
    return fmt::format("{:>5}  {:<{}}  {:>12}  {:>10}\n", index, what, width, shape, params);
  };
  std::string s = row("layer", "", "output", "params");
  s += row("", "input", RowShape{spec.input}.str(), "");
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const LayerShapes& ls = shapes[i];
    uint64_t params = 0;
    if (l.kind == LayerKind::Dense)
      params = uint64_t(l.units) * uint64_t(ls.in.size()) + (l.bias ? l.units : 0);
    if (is_conv(l.kind)) params = uint64_t(ls.conv.w_size()) + (l.bias ? uint64_t(l.units) : 0);
    if (l.kind == LayerKind::BatchNorm || l.kind == LayerKind::BatchNorm2d)
      params = 2 * uint64_t(ls.out.spatial ? ls.out.c : ls.out.size());
    s += row(std::to_string(i), describe_layer(l), ls.out.str(),
             params ? std::to_string(params) : "");
  }
  s += row("", "total", "", std::to_string(f.params));
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
      case LayerKind::BatchNorm2d:
        j["eps"] = l.bn.eps, j["running_keep"] = l.bn.running_keep,
        j["unbiased_running_var"] = l.bn.unbiased_running_var;
        break;
      case LayerKind::Dropout: j["rate"] = l.rate; break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance:
      case LayerKind::Flatten: break;
      case LayerKind::Pack: j["units"] = l.units; break;
      case LayerKind::Conv:
      case LayerKind::ConvTranspose:
        j["units"] = l.units, j["bias"] = l.bias;
        j["kernel"] = {l.conv.kh, l.conv.kw};
        j["stride"] = {l.conv.sh, l.conv.sw};
        if (l.conv.same)
          j["padding"] = "same";
        else
          j["padding"] = {l.conv.ph, l.conv.pw};
        if (l.kind == LayerKind::ConvTranspose) j["output_padding"] = {l.conv.oph, l.conv.opw};
        break;
      case LayerKind::Reshape: j["shape"] = {l.units, l.height, l.width}; break;
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
          case LayerKind::BatchNorm2d:
            l.bn = {json_float(lj, "eps"), json_float(lj, "running_keep"),
                    json_bool(lj, "unbiased_running_var")};
            break;
          case LayerKind::Dropout: l.rate = json_float(lj, "rate"); break;
          case LayerKind::MinibatchStddev:
          case LayerKind::MinibatchDistance:
          case LayerKind::Flatten: break;
          case LayerKind::Pack: l.units = int(json_int(lj, "units", 1, kMaxPackRows)); break;
          case LayerKind::Conv:
          case LayerKind::ConvTranspose: {
            l.units = int(json_int(lj, "units", 1, kMaxLayerWidth));
            l.bias = json_bool(lj, "bias");
            std::tie(l.conv.kh, l.conv.kw) = json_pair(lj, "kernel", 1, kMaxKernel);
            std::tie(l.conv.sh, l.conv.sw) = json_pair(lj, "stride", 1, kMaxKernel);
            const nlohmann::json& pad = json_member(lj, "padding");
            l.conv.same = pad.is_string();
            if (l.conv.same && pad.get<std::string>() != "same")
              throw std::invalid_argument("padding: expected \"same\" or [height, width]");
            if (!l.conv.same)
              std::tie(l.conv.ph, l.conv.pw) = json_pair(lj, "padding", 0, kMaxKernel);
            if (l.kind == LayerKind::ConvTranspose)
              std::tie(l.conv.oph, l.conv.opw) = json_pair(lj, "output_padding", 0, kMaxKernel);
            break;
          }
          case LayerKind::Reshape: {
            const nlohmann::json& shape = json_member(lj, "shape");
            if (!shape.is_array() || shape.size() != 3)
              throw std::invalid_argument("shape: expected [channels, height, width]");
            l.units = int(json_value_u64(shape[0], "shape[0]", 1, kMaxLayerWidth));
            l.height = int(json_value_u64(shape[1], "shape[1]", 1, kMaxLayerWidth));
            l.width = int(json_value_u64(shape[2], "shape[2]", 1, kMaxLayerWidth));
            break;
          }
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
  const std::vector<LayerShapes> shapes = checked_shapes(spec, "model");
  uint64_t rows = uint64_t(std::max(max_batch, 1));
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    const uint64_t width = uint64_t(shapes[i].in.size());
    uint64_t out = uint64_t(shapes[i].out.size());
    bool view = false;  // output shares the input's memory
    switch (s.kind) {
      case LayerKind::Dense:
        f.params += out * width + (s.bias ? out : 0);
        f.activations += rows * width;  // dx
        if (i + 1 < spec.layers.size() && spec.layers[i + 1].kind == LayerKind::Act) ++i;
        break;
      case LayerKind::Conv:
      case LayerKind::ConvTranspose:
        f.params += uint64_t(shapes[i].conv.w_size()) + (s.bias ? uint64_t(s.units) : 0);
        f.activations += rows * width;  // dx
        break;
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance: f.activations += rows * width; break;
      case LayerKind::Pack:
        rows /= uint64_t(s.units);
        f.pack *= s.units;
        view = true;
        break;
      case LayerKind::Reshape:
      case LayerKind::Flatten: view = true; break;
      case LayerKind::BatchNorm:
      case LayerKind::BatchNorm2d: {
        const uint64_t c = s.kind == LayerKind::BatchNorm2d ? uint64_t(shapes[i].in.c) : width;
        f.params += 2 * c;
        f.state += 2 * c;
        f.activations += 2 * c;
        break;
      }
      default: break;
    }
    if (!view) f.activations += rows * out;  // y
  }
  f.output = int(std::min<uint64_t>(uint64_t(shapes.back().out.size()), INT32_MAX));
  return f;
}

Model::Model(std::string name, const ModelSpec& spec, int max_batch, DeviceKind device)
    : name_(std::move(name)), spec_(spec), max_batch_(max_batch) {
  const std::vector<LayerShapes> shapes = checked_shapes(spec, name_);  // validates the spec
  if (max_batch < 1) throw std::invalid_argument(name_ + ": batch size must be >= 1");
  const ModelFootprint planned = model_footprint(spec, max_batch);
  if (device == DeviceKind::Cpu)
    require_host_memory(planned.bytes(), fmt::format("{} ({})", name_, describe_model_spec(spec)));
  size_t n_params = 0, n_state = 0, n_work = 0;
  int width = spec.input, rows_div = 1;
  for (size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& s = spec.layers[i];
    const size_t B = size_t(max_batch / rows_div);  // rows reaching this layer, at most
    Layer L;
    L.spec = s;
    L.index = int(i);
    L.in = width;
    L.out = int(shapes[i].out.size());
    L.rows_div = rows_div;
    const std::string prefix = std::to_string(i);
    bool view = false;
    // Weight (shape), then bias (out) when the layer has one: PyTorch's parameter order.
    const auto add_weights = [&](std::vector<int64_t> shape, size_t count, int n_bias) {
      L.w = n_params;
      slots_.push_back({prefix + ".weight", std::move(shape), false, n_params, count});
      n_params += count;
      if (n_bias > 0) {
        L.b = n_params;
        slots_.push_back({prefix + ".bias", {n_bias}, false, n_params, size_t(n_bias)});
        n_params += size_t(n_bias);
      }
    };
    switch (s.kind) {
      case LayerKind::Dense:
        add_weights({L.out, L.in}, size_t(L.out) * L.in, s.bias ? L.out : 0);
        // Fuse a directly following activation into this layer's GEMM epilogue.
        if (i + 1 < spec.layers.size() && spec.layers[i + 1].kind == LayerKind::Act) {
          L.fused = spec.layers[i + 1].act;
          ++i;
        }
        L.dx = Array<float>(device, B * L.in);
        break;
      case LayerKind::Conv:
      case LayerKind::ConvTranspose: {
        L.conv = shapes[i].conv;
        const ConvShape& c = L.conv;
        const std::vector<int64_t> shape =
            s.kind == LayerKind::Conv ? std::vector<int64_t>{c.OUT, c.IN, c.KH, c.KW}
                                      : std::vector<int64_t>{c.IN, c.OUT, c.KH, c.KW};
        add_weights(shape, c.w_size(), s.bias ? c.OUT : 0);
        L.dx = Array<float>(device, B * L.in);
        ConvShape at_max = c;
        at_max.B = int(B);
        n_work = std::max(n_work, ops::conv_workspace_floats(device, at_max));
        break;
      }
      case LayerKind::MinibatchStddev:
      case LayerKind::MinibatchDistance: L.dx = Array<float>(device, B * L.in); break;
      case LayerKind::Pack:
        rows_div *= s.units;
        if (max_batch % rows_div != 0)
          throw std::invalid_argument(
              fmt::format("{}: layer {} (pack {}): the batch of {} rows is not a multiple of {}",
                          name_, i, s.units, max_batch, rows_div));
        view = true;
        break;
      case LayerKind::Reshape:
      case LayerKind::Flatten: view = true; break;
      case LayerKind::BatchNorm:
      case LayerKind::BatchNorm2d: {
        L.channels = s.kind == LayerKind::BatchNorm2d ? shapes[i].in.c : L.out;
        L.positions = s.kind == LayerKind::BatchNorm2d ? shapes[i].in.h * shapes[i].in.w : 1;
        const int C = L.channels;
        add_weights({C}, size_t(C), C);
        L.running = n_state;
        slots_.push_back({prefix + ".running_mean", {C}, true, n_state, size_t(C)});
        slots_.push_back({prefix + ".running_var", {C}, true, n_state + C, size_t(C)});
        n_state += 2 * size_t(C);
        L.save_mean = Array<float>(device, C);
        L.save_inv_std = Array<float>(device, C);
        break;
      }
      default: break;
    }
    if (!view) L.y = Array<float>(device, B * L.out);  // views read their input's memory
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
  conv_work_ = Array<float>(device, n_work);
}

void Model::init(InitScheme scheme, uint64_t seed, uint32_t stream) {
  std::vector<float> p(params_.size()), st(state_.size());
  const uint64_t counter = 0;
  for (const Layer& L : layers_) {
    const LayerKind kind = L.spec.kind;
    if (kind == LayerKind::Dense || kind == LayerKind::Conv || kind == LayerKind::ConvTranspose) {
      // Glorot: U(+-sqrt(6 / (fan_in + fan_out))) with the receptive field in both fans, as
      // Keras. PyTorch: U(+-1 / sqrt(fan_in)) for weight and bias, fan_in = weight.size(1) x the
      // receptive field, which for ConvTranspose2d's (IN, OUT, KH, KW) is OUT KH KW.
      const bool dense = kind == LayerKind::Dense;
      const ConvShape& c = L.conv;
      const size_t nw = dense ? size_t(L.out) * L.in : c.w_size();
      const int n_bias = dense ? L.out : c.OUT;
      const float field = dense ? 1.0f : float(c.KH * c.KW);
      const float fan_in = dense ? float(L.in) : field * float(c.IN);
      const float fan_out = dense ? float(L.out) : field * float(c.OUT);
      const float torch_fan_in =
          kind == LayerKind::ConvTranspose ? field * float(c.OUT) : fan_in;
      const float limit = scheme == InitScheme::GlorotUniform
                              ? std::sqrt(6.0f / (fan_in + fan_out))
                              : 1.0f / std::sqrt(torch_fan_in);
      // Weights and bias draw from their own streams, so a layer's init does not depend on others.
      cpu::random_fill<float>(p.data() + L.w, nw, Distribution::UniformSym, seed,
                              stream + 2 * uint32_t(L.index), &counter);
      for (size_t k = 0; k < nw; ++k) p[L.w + k] *= limit;
      if (L.spec.bias) {
        if (scheme == InitScheme::TorchDefault) {
          cpu::random_fill<float>(p.data() + L.b, size_t(n_bias), Distribution::UniformSym, seed,
                                  stream + 2 * uint32_t(L.index) + 1, &counter);
          for (int k = 0; k < n_bias; ++k) p[L.b + k] *= limit;
        }  // Glorot: zero bias, as Keras.
      }
    } else if (kind == LayerKind::BatchNorm || kind == LayerKind::BatchNorm2d) {
      for (int k = 0; k < L.channels; ++k) {
        p[L.w + k] = 1.0f;
        p[L.b + k] = 0.0f;
        st[L.running + k] = 0.0f;
        st[L.running + L.channels + k] = 1.0f;
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
      case LayerKind::BatchNorm2d: {
        const int C = L.channels, HW = L.positions;
        if (training)
          ops::batchnorm2d_forward_train(ctx, L.spec.bn, x, y, rows, C, HW, P + L.w, P + L.b,
                                         L.save_mean.data(), L.save_inv_std.data(), S + L.running,
                                         S + L.running + C);
        else
          ops::batchnorm2d_forward_eval(ctx, L.spec.bn, x, y, rows, C, HW, P + L.w, P + L.b,
                                        S + L.running, S + L.running + C);
        break;
      }
      case LayerKind::Conv:
      case LayerKind::ConvTranspose: {
        ConvShape c = L.conv;
        c.B = rows;
        const float* b = L.spec.bias ? P + L.b : nullptr;
        if (L.spec.kind == LayerKind::Conv)
          ops::conv2d_forward(ctx, c, x, P + L.w, b, y, conv_work_.data());
        else
          ops::conv_transpose2d_forward(ctx, c, x, P + L.w, b, y, conv_work_.data());
        break;
      }
      case LayerKind::Dropout:
        ops::dropout_forward(ctx, x, y, n, L.spec.rate, training, seed, L.stream, counter);
        break;
      case LayerKind::MinibatchStddev: ops::minibatch_stddev_forward(ctx, x, y, rows, L.in); break;
      case LayerKind::MinibatchDistance:
        ops::minibatch_distance_forward(ctx, x, y, rows, L.in);
        break;
      case LayerKind::Pack:
      case LayerKind::Reshape:
      case LayerKind::Flatten: y = const_cast<float*>(x); break;  // the same memory, read anew
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
  const bool view = L.spec.kind == LayerKind::Pack || L.spec.kind == LayerKind::Reshape ||
                    L.spec.kind == LayerKind::Flatten;
  return view ? L.x : L.y.data();
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
        float* dx = (i > 0 || need_dx) ? L.dx.data() : nullptr;
        ops::dense_act_backward(ctx, L.fused, L.y.data(), g, L.x, P + L.w, dx, G + L.w,
                                L.spec.bias ? G + L.b : nullptr, L.B, L.in, L.out, mode);
        g = dx;
        break;
      }
      case LayerKind::Act: ops::activation_backward(ctx, L.spec.act, L.y.data(), g, g, n); break;
      case LayerKind::BatchNorm:
      case LayerKind::BatchNorm2d:
        ops::batchnorm2d_backward(ctx, L.x, g, g, L.B, L.channels, L.positions, P + L.w,
                                  L.save_mean.data(), L.save_inv_std.data(), G + L.w, G + L.b,
                                  mode);
        break;
      case LayerKind::Conv:
      case LayerKind::ConvTranspose: {
        ConvShape c = L.conv;
        c.B = L.B;
        float* dx = (i > 0 || need_dx) ? L.dx.data() : nullptr;
        float* db = L.spec.bias ? G + L.b : nullptr;
        if (L.spec.kind == LayerKind::Conv)
          ops::conv2d_backward(ctx, c, L.x, P + L.w, g, dx, G + L.w, db, mode, conv_work_.data());
        else
          ops::conv_transpose2d_backward(ctx, c, L.x, P + L.w, g, dx, G + L.w, db, mode,
                                         conv_work_.data());
        g = dx;
        break;
      }
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
      case LayerKind::Pack:
      case LayerKind::Reshape:
      case LayerKind::Flatten: break;  // views: the gradient's memory is already laid out
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
