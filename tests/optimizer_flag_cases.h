// Cases for the optimizers' divergence flags (kernels/common.h), shared by the CPU tests and the
// GPU parity tests: fresh random inputs of N elements, one element (chosen at random) set to a
// value that drives the update non-finite, and which flags that must set. Plain C++: no CUDA.
#pragma once
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kernels/adam.h"
#include "kernels/optimizers.h"
#include "kernels/scalar.h"
#include "test_util.h"

namespace gan::test {

enum class FlagOp { Adam, SgdMomentum, Sgd, Rmsprop, Clip };

inline const char* flag_op_name(FlagOp op) {
  switch (op) {
    case FlagOp::Adam: return "adam";
    case FlagOp::SgdMomentum: return "sgd momentum";
    case FlagOp::Sgd: return "sgd";
    case FlagOp::Rmsprop: return "rmsprop";
    case FlagOp::Clip: return "clip";
  }
  return "?";
}

// The op's inputs: p, g and its state (Adam: m and v; SGD: buf in m; RMSprop: v).
struct FlagInputs {
  std::vector<float> p, g, m, v;
};

// One case: the learning rate, what goes in at the chosen element (unset: the random value), and
// the flags it must set ([kNonfiniteParams], [kNonfiniteState]).
struct FlagCase {
  std::string name;
  float lr;
  std::optional<float> p, g, m, v;
  bool want_params, want_state;
};

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kClip = 0.5f;
constexpr uint64_t kFlagStep = 3;  // the optimizers' step t (Adam's bias corrections, SGD's rate)

// Every op gets a finite case (no flag), NaN and inf gradients, and cases that set exactly one
// flag: a gradient whose square overflows the state (state only), a parameter pushed past
// FLT_MAX by a huge rate or coming in as NaN (parameters only), and state that is not written.
inline std::vector<FlagCase> flag_cases(FlagOp op) {
  const float lr = 1e-3f;
  switch (op) {
    case FlagOp::Adam:
      return {{"finite", lr, {}, {}, {}, {}, false, false},
              {"NaN gradient", lr, {}, kNan, {}, {}, true, true},
              // m = v = inf, p -= lr inf / inf = NaN.
              {"inf gradient", lr, {}, kInf, {}, {}, true, true},
              // (1 - beta2) g g = 1e19 * 1e22 overflows v; m = 1e21 stays finite and
              // p -= lr m_hat / sqrt(inf) = 0 leaves p finite.
              {"gradient whose square overflows v", lr, {}, 1e22f, {}, {}, false, true},
              // From m = v = 0 at t = 3 the update is 0.64 lr: 3.4e38 + 6.4e36 overflows p
              // alone (every other |update| is below 4 lr = 4e37).
              {"parameter pushed past FLT_MAX", 1e37f, 3.4e38f, -1.0f, 0.0f, 0.0f, true, false},
              // The L2 term g += wd p runs with wd = 0 too: 0 NaN makes m and v NaN as well.
              {"NaN parameter", lr, kNan, {}, {}, {}, true, true},
              {"NaN first moment", lr, {}, {}, kNan, {}, true, true}};
    case FlagOp::SgdMomentum:
      return {{"finite", lr, {}, {}, {}, {}, false, false},
              {"NaN gradient", lr, {}, kNan, {}, {}, true, true},
              {"inf gradient", lr, {}, kInf, {}, {}, true, true},
              // buf = 0.9 buf + 3e38 overflows; p -= lr buf: -inf.
              {"gradient that overflows the buffer", lr, {}, 3e38f, 3e38f, {}, true, true},
              {"parameter pushed past FLT_MAX", 1e38f, 3e38f, -1.0f, 0.0f, {}, true, false},
              {"NaN parameter", lr, kNan, {}, {}, {}, true, false}};
    case FlagOp::Sgd:
      return {{"finite", lr, {}, {}, {}, {}, false, false},
              {"NaN gradient", lr, {}, kNan, {}, {}, true, false},
              {"inf gradient", lr, {}, kInf, {}, {}, true, false},
              // Without momentum buf is not written, so a NaN already there sets nothing.
              {"NaN in the unused buffer", lr, {}, {}, kNan, {}, false, false},
              {"parameter pushed past FLT_MAX", 1e38f, 3e38f, -1.0f, {}, {}, true, false}};
    case FlagOp::Rmsprop:
      return {{"finite", lr, {}, {}, {}, {}, false, false},
              {"NaN gradient", lr, {}, kNan, {}, {}, true, true},
              {"inf gradient", lr, {}, kInf, {}, {}, true, true},
              // (1 - alpha) g g = 1e20 * 1e22 overflows v; p -= lr g / inf = 0.
              {"gradient whose square overflows v", lr, {}, 1e22f, {}, {}, false, true},
              {"NaN parameter", lr, kNan, {}, {}, {}, true, false},
              {"NaN state", lr, {}, {}, {}, kNan, true, true}};
    case FlagOp::Clip:
      return {{"finite", lr, {}, {}, {}, {}, false, false},
              // Clipping maps +-inf to +-c: nothing non-finite is written.
              {"inf parameter", lr, kInf, {}, {}, {}, false, false},
              {"-inf parameter", lr, -kInf, {}, {}, {}, false, false},
              {"NaN parameter", lr, kNan, {}, {}, {}, true, false}};
  }
  return {};
}

// Fresh inputs: p, g in [-1, 1], m in [-0.1, 0.1], v in [1e-4, 1e-2] (a second moment's range);
// p in [-1, 1] reaches past the clip bound.
inline FlagInputs flag_inputs(Rng& rng, size_t N) {
  return {rng.vec<float>(N), rng.vec<float>(N), rng.vec<float>(N, -0.1, 0.1),
          rng.vec<float>(N, 1e-4, 1e-2)};
}

inline void inject(const FlagCase& c, FlagInputs& in, size_t at) {
  if (c.p) in.p[at] = *c.p;
  if (c.g) in.g[at] = *c.g;
  if (c.m) in.m[at] = *c.m;
  if (c.v) in.v[at] = *c.v;
}

inline AdamConfig flag_adam(const FlagCase& c) {
  AdamConfig cfg;
  cfg.lr = c.lr;
  return cfg;
}
inline SgdConfig flag_sgd(const FlagCase& c, FlagOp op) {
  return {c.lr, op == FlagOp::SgdMomentum ? 0.9f : 0.0f};
}
inline RmspropConfig flag_rmsprop(const FlagCase& c) {
  RmspropConfig cfg;
  cfg.lr = c.lr;
  return cfg;
}

// The CPU reference op, in float, on `in` (updated in place) with the flags given.
inline void run_cpu_op(FlagOp op, const FlagCase& c, FlagInputs& in, float* flags) {
  const size_t N = in.p.size();
  const uint64_t t = kFlagStep;
  switch (op) {
    case FlagOp::Adam:
      cpu::adam_step<float>(flag_adam(c), in.p.data(), in.g.data(), in.m.data(), in.v.data(), N,
                            &t, flags);
      break;
    case FlagOp::SgdMomentum:
    case FlagOp::Sgd:
      cpu::sgd_step<float>(flag_sgd(c, op), in.p.data(), in.g.data(), in.m.data(), N, &t, flags);
      break;
    case FlagOp::Rmsprop:
      cpu::rmsprop_step<float>(flag_rmsprop(c), in.p.data(), in.g.data(), in.v.data(), N, flags);
      break;
    case FlagOp::Clip: cpu::clip_values<float>(in.p.data(), N, kClip, flags); break;
  }
}

// The ops as they were before the flags: the shared element update, element by element.
inline void run_unflagged_reference(FlagOp op, const FlagCase& c, FlagInputs& in) {
  const uint64_t t = kFlagStep;
  for (size_t i = 0; i < in.p.size(); ++i) switch (op) {
      case FlagOp::Adam: {
        const AdamConfig cfg = flag_adam(c);
        const float lr = staircase_lr<float>(cfg.lr, cfg.decay, cfg.decay_every, t);
        float step_size, v_scale;
        adam_step_factors<float>(lr, cfg.beta1, cfg.beta2, t, step_size, v_scale);
        adam_update<float>(in.p[i], in.g[i], in.m[i], in.v[i], lr, step_size, v_scale, cfg.beta1,
                           cfg.beta2, cfg.eps, cfg.weight_decay, cfg.decoupled);
        break;
      }
      case FlagOp::SgdMomentum:
      case FlagOp::Sgd: {
        const SgdConfig cfg = flag_sgd(c, op);
        sgd_update<float>(in.p[i], in.g[i], in.m[i],
                          staircase_lr<float>(cfg.lr, cfg.decay, cfg.decay_every, t),
                          cfg.momentum);
        break;
      }
      case FlagOp::Rmsprop: {
        const RmspropConfig cfg = flag_rmsprop(c);
        rmsprop_update<float>(in.p[i], in.g[i], in.v[i], cfg.lr, cfg.alpha, cfg.eps);
        break;
      }
      case FlagOp::Clip: in.p[i] = clip_value(in.p[i], kClip); break;
    }
}

// The flags as the outputs call for them, every element looked at: what the op writes is p, and
// its state (Adam: m and v; SGD with momentum: buf; RMSprop: v; SGD without momentum and
// clipping: none).
inline void flags_from_outputs(FlagOp op, const FlagInputs& out, bool& params, bool& state) {
  params = state = false;
  for (size_t i = 0; i < out.p.size(); ++i) {
    params |= !std::isfinite(out.p[i]);
    if (op == FlagOp::Adam) state |= !std::isfinite(out.m[i]) || !std::isfinite(out.v[i]);
    if (op == FlagOp::SgdMomentum) state |= !std::isfinite(out.m[i]);
    if (op == FlagOp::Rmsprop) state |= !std::isfinite(out.v[i]);
  }
}

}  // namespace gan::test
