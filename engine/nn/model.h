// Models built from a declarative spec: a list of layers (dense, activation, batch norm, dropout,
// minibatch features, packing) with one flat block each for parameters, gradients, the optimizer's
// two state slots (Adam's m and v; SGD's momentum buffer; RMSprop's square average), and
// non-trained state (batch norm running statistics). A dense layer directly followed by an
// activation runs as one GEMM with the activation fused into its epilogue.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/array.h"
#include "engine/core/context.h"
#include "kernels/adam.h"
#include "kernels/batchnorm.h"
#include "kernels/common.h"
#include "kernels/conv.h"
#include "kernels/optimizers.h"

namespace gan {

// MinibatchStddev / MinibatchDistance: append one feature computed over the batch (B, F) ->
// (B, F + 1) (kernels/minibatch.h). Pack: PacGAN's packing, (B, F) -> (B / units, units * F), each
// group of `units` consecutive rows read as one row (a reshape: no copy); units = the batch makes
// D judge the whole minibatch as one vector (seed 2's minibatch D). B must be a multiple of units.
//
// Images: a row of C H W values is an image in NCHW order. Reshape (C, H, W) reads a flat row as
// one (no copy: PyTorch's nn.Unflatten(1, (C, H, W))), Flatten the reverse (nn.Flatten()). Conv /
// ConvTranspose (kernels/conv.h, units = output channels) and BatchNorm2d (per-channel statistics
// over the batch and the positions) take images; Dense, BatchNorm, MinibatchStddev/Distance and
// Pack take flat rows; activations and dropout take either.
enum class LayerKind : uint8_t {
  Dense,
  Act,
  BatchNorm,
  Dropout,
  MinibatchStddev,
  MinibatchDistance,
  Pack,
  Conv,
  ConvTranspose,
  BatchNorm2d,
  Reshape,
  Flatten
};

// A convolution's kernel, stride and padding. same: TensorFlow's 'same' (output ceil(H / stride)
// for Conv, H stride for ConvTranspose; the odd padding pixel at the bottom / right), else
// PyTorch's symmetric `padding` (ph, pw) and, for ConvTranspose, `output_padding` (oph, opw: extra
// rows / columns at the bottom / right, < the stride).
struct ConvSpec {
  int kh = 1, kw = 1, sh = 1, sw = 1;
  bool same = false;
  int ph = 0, pw = 0, oph = 0, opw = 0;

  static ConvSpec same_padding(int k, int stride) { return {k, k, stride, stride, true}; }
  static ConvSpec padded(int k, int stride, int pad, int output_pad = 0) {
    return {k, k, stride, stride, false, pad, pad, output_pad, output_pad};
  }
};

struct LayerSpec {
  LayerKind kind = LayerKind::Dense;
  int units = 0;         // Dense: output features; Pack: rows per group; Conv*: output channels;
                         // Reshape: channels
  bool bias = true;      // Dense, Conv*
  Activation act{};      // Act
  BatchNormConfig bn{};  // BatchNorm, BatchNorm2d
  float rate = 0.0f;     // Dropout: probability of dropping
  ConvSpec conv{};       // Conv*
  int height = 0, width = 0;  // Reshape

  static LayerSpec dense(int units, bool bias = true) { return {LayerKind::Dense, units, bias}; }
  static LayerSpec activation(Activation a) { return {LayerKind::Act, 0, true, a}; }
  static LayerSpec batchnorm(BatchNormConfig cfg) {
    return {LayerKind::BatchNorm, 0, true, {}, cfg};
  }
  static LayerSpec dropout(float rate) { return {LayerKind::Dropout, 0, true, {}, {}, rate}; }
  static LayerSpec minibatch_stddev() { return {LayerKind::MinibatchStddev}; }
  static LayerSpec minibatch_distance() { return {LayerKind::MinibatchDistance}; }
  static LayerSpec pack(int rows) { return {LayerKind::Pack, rows}; }
  static LayerSpec conv2d(int channels, ConvSpec c, bool bias = true) {
    return {LayerKind::Conv, channels, bias, {}, {}, 0.0f, c};
  }
  static LayerSpec conv_transpose2d(int channels, ConvSpec c, bool bias = true) {
    return {LayerKind::ConvTranspose, channels, bias, {}, {}, 0.0f, c};
  }
  static LayerSpec batchnorm2d(BatchNormConfig cfg) {
    return {LayerKind::BatchNorm2d, 0, true, {}, cfg};
  }
  static LayerSpec reshape(int c, int h, int w) {
    return {LayerKind::Reshape, c, true, {}, {}, 0.0f, {}, h, w};
  }
  static LayerSpec flatten() { return {LayerKind::Flatten}; }
};

struct ModelSpec {
  int input = 0;
  std::vector<LayerSpec> layers;
};

// Bounds that keep every size a model derives in range and every step finite in time: 65,536 is
// over 60 times the seeds' widest layer (1,024), 256 layers ten times their deepest model.
inline constexpr int kMaxLayerWidth = 1 << 16;  // noise size, inputs, dense units
inline constexpr int kMaxLayers = 256;
inline constexpr int kMaxPackRows = 1 << 20;    // rows grouped by the pack layers (<= the batch)
inline constexpr int64_t kMaxRowWidth = 1 << 24; // values in one row between layers
inline constexpr int kMaxKernel = 64;             // convolution kernel and stride sides

// What a layer reads or writes per row: `size` flat values, or an image (c, h, w) when spatial.
struct RowShape {
  int c = 0, h = 1, w = 1;
  bool spatial = false;
  int64_t size() const { return int64_t(c) * h * w; }
  std::string str() const;  // "784" or "64x14x14"
};

// Each layer's input and output shapes (and a convolution's geometry, B = 1) for a valid spec.
struct LayerShapes {
  RowShape in, out;
  ConvShape conv;
};
std::vector<LayerShapes> model_layer_shapes(const ModelSpec& spec);

// Throws std::invalid_argument naming `what` (e.g. "generator") and the offending layer, or the
// bound a size exceeds.
void validate_model_spec(const ModelSpec& spec, const std::string& what);
// "100 -> dense 256 -> leaky_relu(0.2) -> batchnorm -> ..."; convolutions with their output shape.
std::string describe_model_spec(const ModelSpec& spec);
// One line per layer: index, layer, output shape, parameter count; a total line at the end.
std::string describe_model_layers(const ModelSpec& spec);
nlohmann::json model_spec_to_json(const ModelSpec& spec);
ModelSpec model_spec_from_json(const nlohmann::json& j);  // throws on a malformed spec

// GlorotUniform: Keras' default (W ~ U(+-sqrt(6 / (in + out))), b = 0). TorchDefault: PyTorch's
// nn.Linear (W, b ~ U(+-1 / sqrt(in))).
enum class InitScheme : uint8_t { GlorotUniform, TorchDefault };
const char* init_scheme_name(InitScheme s);
InitScheme init_scheme_from_name(const std::string& name);  // throws on an unknown name

enum class OptimizerKind : uint8_t { Adam, Sgd, Rmsprop };
const char* optimizer_name(OptimizerKind k);
OptimizerKind optimizer_from_name(const std::string& name);  // throws on an unknown name

// One model's optimizer: the kind and its settings (the other kinds' settings are unused), and
// WGAN's weight clipping after every step (clip > 0: every parameter into [-clip, clip]).
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::Adam;
  AdamConfig adam;
  SgdConfig sgd;
  RmspropConfig rmsprop;
  float clip = 0.0f;
  float lr() const;
};

// One tensor of a model, as checkpoints and safetensors see it. Names follow PyTorch's
// nn.Sequential ("<layer index>.weight", ".bias", ".running_mean", ".running_var"), so a
// generator exported to safetensors loads into the equivalent PyTorch module.
struct TensorSlot {
  std::string name;
  std::vector<int64_t> shape;
  bool is_state;  // in state() (running statistics) rather than params()
  size_t offset, count;
};

// What a Model of `spec` for batches of up to max_batch rows holds, computed without allocating
// anything (so a size from a flag or a file can be checked against memory first). Valid specs only.
struct ModelFootprint {
  uint64_t params = 0, state = 0;  // floats in params() (and grads, Adam m and v) and state()
  uint64_t activations = 0;        // floats of the per-layer batch buffers
  int output = 0;                  // values per output row
  int pack = 1;                    // input rows per output row (product of Pack sizes)
  uint64_t bytes() const { return 4 * (4 * params + state + activations); }
};
ModelFootprint model_footprint(const ModelSpec& spec, int max_batch);

class Model {
 public:
  // Buffers sized for batches of up to max_batch rows, allocated once on `device`.
  Model(std::string name, const ModelSpec& spec, int max_batch, DeviceKind device);

  const std::string& name() const { return name_; }
  const ModelSpec& spec() const { return spec_; }
  int input_dim() const { return spec_.input; }
  int output_dim() const { return output_; }
  int max_batch() const { return max_batch_; }
  // Rows in: rows out for a batch of B rows (B / the product of Pack sizes).
  int pack_factor() const { return pack_factor_; }
  int output_rows(int B) const { return B / pack_factor_; }

  // Parameters from (seed, stream) on the host, identical on every device; zeroes Adam's state;
  // batch-norm gamma 1, beta 0, running mean 0, running variance 1.
  void init(InitScheme scheme, uint64_t seed, uint32_t stream);

  // y = model(x) for x: (B, input) in the model's memory; returns y: (B, output), model-owned.
  // Dropout draws are keyed by (seed, draw * 64 + layer index, *counter): give each call within one
  // step its own `draw` so the masks differ. Not training: batch norm uses running statistics,
  // dropout is the identity.
  const float* forward(const ExecContext& ctx, const float* x, int B, bool training, uint64_t seed,
                       uint32_t draw, const uint64_t* counter);
  // Backward of the latest forward (same x and B). dout: (B, output), overwritten. Parameter
  // gradients are written as `mode` says; returns dL/dx: (B, input) when need_dx, else nullptr.
  float* backward(const ExecContext& ctx, float* dout, GradMode mode, bool need_dx);
  // One Adam launch over the whole flat parameter block; t: the 1-based step in memory.
  // nonfinite: null, or the kNonfiniteFlags divergence flags in the model's memory (common.h),
  // set to 1 when a parameter / optimizer-state value the update writes is not finite.
  void adam_step(const ExecContext& ctx, const AdamConfig& cfg, const uint64_t* t,
                 float* nonfinite);
  // The configured optimizer's update over the whole block (and clipping when cfg.clip > 0), with
  // the same divergence flags: the check runs inside the update's own pass over the block.
  void optimizer_step(const ExecContext& ctx, const OptimizerConfig& cfg, const uint64_t* t,
                      float* nonfinite);

  Array<float>& params() { return params_; }
  Array<float>& grads() { return grads_; }
  Array<float>& adam_m() { return adam_m_; }
  Array<float>& adam_v() { return adam_v_; }
  Array<float>& state() { return state_; }
  const std::vector<TensorSlot>& tensors() const { return slots_; }
  // The latest forward's output of spec layer `spec_index`: (rows, width) in the model's memory
  // (an activation fused into the dense layer before it shares that layer's buffer). For features
  // from inside a model, e.g. a classifier's penultimate layer. Throws on an index out of range.
  const float* layer_output(int spec_index) const;
  // Values per row of that output.
  int layer_width(int spec_index) const;

 private:
  struct Layer {
    LayerSpec spec;
    int index = 0;  // position in the spec
    int in = 0, out = 0;
    int rows_div = 1;  // input rows per row of the model's input: product of earlier Pack sizes
    Activation fused{};  // Dense: the following activation layer, run in the GEMM epilogue
    size_t w = 0, b = 0, running = 0;
    ConvShape conv;  // Conv*: the geometry (B set per call)
    int channels = 0, positions = 1;  // BatchNorm2d: C and S = H W
    Array<float> y, dx, save_mean, save_inv_std;
    // What the latest forward used, for backward.
    const float* x = nullptr;
    int B = 0;
    bool training = false;
    uint64_t seed = 0;
    uint32_t stream = 0;
    const uint64_t* counter = nullptr;
  };

  std::string name_;
  ModelSpec spec_;
  int max_batch_ = 0, output_ = 0, pack_factor_ = 1;
  std::vector<Layer> layers_;
  Array<float> params_, grads_, adam_m_, adam_v_, state_;
  Array<float> conv_work_;  // the CUDA convolutions' scratch (empty on the CPU)
  std::vector<TensorSlot> slots_;
};

}  // namespace gan
