// A small demonstration of the engine's ops on the CPU reference path: an MLP classifier
// (dense -> LeakyReLU -> BatchNorm -> dense -> LeakyReLU -> dropout -> dense -> logit), trained
// with BCE-with-logits and Adam to tell points inside a circle from points outside. Every op family
// takes part: random fills draw the data, dense layers run through GEMM, Adam updates one flat
// parameter buffer. The GAN trainer (mnist_gan) builds on the same ops.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <vector>

#include "engine/core/device.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batchnorm.h"
#include "kernels/bce.h"
#include "kernels/dense.h"
#include "kernels/dropout.h"
#include "kernels/random.h"

using namespace gan;

namespace {

constexpr int kIn = 2, kHidden = 32;
const Activation kLeaky = Activation::leaky_relu(0.2f);
const float kDropout = 0.1f;

// One flat block for parameters and one for gradients (and Adam's m, v): layers hold offsets.
struct Params {
  size_t W1, b1, gamma, beta, W2, b2, W3, b3, total;
  Params() {
    size_t o = 0;
    auto take = [&o](size_t n) {
      size_t at = o;
      o += n;
      return at;
    };
    W1 = take(kHidden * kIn), b1 = take(kHidden), gamma = take(kHidden), beta = take(kHidden);
    W2 = take(kHidden * kHidden), b2 = take(kHidden), W3 = take(kHidden), b3 = take(1);
    total = o;
  }
};

struct Batch {
  std::vector<float> x, label;
};

// Points uniform in [-1, 1]^2; label 1 inside the circle of area 1/2 (radius sqrt(2 / pi)).
Batch make_batch(int B, uint64_t seed, uint32_t stream, uint64_t counter) {
  Batch b{std::vector<float>(size_t(B) * kIn), std::vector<float>(B)};
  cpu::random_fill<float>(b.x.data(), b.x.size(), Distribution::UniformSym, seed, stream, &counter);
  const float r2 = 2.0f / 3.14159265f;
  for (int i = 0; i < B; ++i)
    b.label[i] = b.x[2 * i] * b.x[2 * i] + b.x[2 * i + 1] * b.x[2 * i + 1] < r2 ? 1.0f : 0.0f;
  return b;
}

struct Mlp {
  Params at;
  std::vector<float> p, g, m, v, running_mean, running_var;
  std::vector<float> h1, a1, mean, inv_std, bn, h2, a2, d2, logit, dlogit, dd2, dbn, da1;
  BatchNormConfig bn_cfg = BatchNormConfig::torch(0.1f);
  int B;

  Mlp(int batch, uint64_t seed) : B(batch) {
    p.resize(at.total);
    g.resize(at.total);
    m.assign(at.total, 0.0f);
    v.assign(at.total, 0.0f);
    running_mean.assign(kHidden, 0.0f);
    running_var.assign(kHidden, 1.0f);
    // He-style init from the engine's own generator: normal * sqrt(2 / fan_in).
    const uint64_t zero = 0;
    cpu::random_fill<float>(p.data(), at.total, Distribution::Normal, seed, 100, &zero);
    auto scale = [&](size_t off, size_t n, float s) {
      for (size_t i = 0; i < n; ++i) p[off + i] *= s;
    };
    scale(at.W1, kHidden * kIn, std::sqrt(2.0f / kIn));
    scale(at.W2, kHidden * kHidden, std::sqrt(2.0f / kHidden));
    scale(at.W3, kHidden, std::sqrt(1.0f / kHidden));
    for (size_t off : {at.b1, at.beta, at.b2}) scale(off, kHidden, 0.0f);
    scale(at.b3, 1, 0.0f);
    for (int i = 0; i < kHidden; ++i) p[at.gamma + i] = 1.0f;
    for (auto* buf : {&h1, &a1, &bn, &h2, &a2, &d2, &dd2, &dbn, &da1})
      buf->resize(size_t(B) * kHidden);
    mean.resize(kHidden);
    inv_std.resize(kHidden);
    logit.resize(B);
    dlogit.resize(B);
  }

  // training: batch statistics and dropout draws keyed by (seed, step).
  const std::vector<float>& forward(const std::vector<float>& x, bool training, uint64_t seed,
                                    const uint64_t* step) {
    const float* P = p.data();
    cpu::dense_forward<float>(x.data(), P + at.W1, P + at.b1, h1.data(), B, kIn, kHidden);
    cpu::activation_forward<float>(kLeaky, h1.data(), a1.data(), a1.size());
    if (training)
      cpu::batchnorm_forward_train<float>(bn_cfg, a1.data(), bn.data(), B, kHidden, P + at.gamma,
                                          P + at.beta, mean.data(), inv_std.data(),
                                          running_mean.data(), running_var.data());
    else
      cpu::batchnorm_forward_eval<float>(bn_cfg, a1.data(), bn.data(), B, kHidden, P + at.gamma,
                                         P + at.beta, running_mean.data(), running_var.data());
    cpu::dense_forward<float>(bn.data(), P + at.W2, P + at.b2, a2.data(), B, kHidden, kHidden,
                              kLeaky);
    cpu::dropout_forward<float>(a2.data(), d2.data(), d2.size(), kDropout, training, seed, 7, step);
    cpu::dense_forward<float>(d2.data(), P + at.W3, P + at.b3, logit.data(), B, kHidden, 1);
    return logit;
  }

  BceStats<float> train_step(const Batch& batch, const AdamConfig& adam, uint64_t seed,
                             uint64_t* step) {
    cpu::counter_add(step, 1);
    forward(batch.x, true, seed, step);
    BceStats<float> st{};
    cpu::bce_with_logits<float>(logit.data(), batch.label.data(), B, 1.0f, dlogit.data(), &st);
    const float* P = p.data();
    float* G = g.data();
    cpu::dense_backward<float>(d2.data(), P + at.W3, dlogit.data(), dd2.data(), G + at.W3,
                               G + at.b3, B, kHidden, 1, GradMode::Overwrite);
    cpu::dropout_backward<float>(dd2.data(), dd2.data(), dd2.size(), kDropout, seed, 7, step);
    cpu::activation_backward<float>(kLeaky, a2.data(), dd2.data(), dd2.data(), dd2.size());
    cpu::dense_backward<float>(bn.data(), P + at.W2, dd2.data(), dbn.data(), G + at.W2, G + at.b2,
                               B, kHidden, kHidden, GradMode::Overwrite);
    cpu::batchnorm_backward<float>(a1.data(), dbn.data(), da1.data(), B, kHidden, P + at.gamma,
                                   mean.data(), inv_std.data(), G + at.gamma, G + at.beta,
                                   GradMode::Overwrite);
    cpu::activation_backward<float>(kLeaky, a1.data(), da1.data(), da1.data(), da1.size());
    cpu::dense_backward<float>(batch.x.data(), P + at.W1, da1.data(), nullptr, G + at.W1, G + at.b1,
                               B, kIn, kHidden, GradMode::Overwrite);
    cpu::adam_step<float>(adam, p.data(), g.data(), m.data(), v.data(), at.total, step, nullptr);
    return st;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"engine_demo: trains a small MLP classifier with the engine's CPU reference ops"};
  int steps = 400, batch = 128, log_every = 50;
  uint64_t seed = 1;
  float lr = 0.01f;
  app.add_option("--steps", steps, "training steps")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "batch size (>= 2: batch norm needs a batch)")
      ->check(CLI::Range(2, 1 << 20));
  app.add_option("--lr", lr, "Adam learning rate")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of every random draw");
  app.add_option("--log-every", log_every, "steps between progress lines")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  std::string why;
  const int gpus = cuda_device_count(&why);
  fmt::print("engine_demo: CPU reference ops ({}; {})\n",
             built_with_cuda() ? "built with CUDA" : "built without CUDA",
             gpus > 0 ? cuda_device_description(0) : why);

  Mlp net(batch, seed);
  AdamConfig adam;
  adam.lr = lr;
  uint64_t step = 0;
  for (int s = 1; s <= steps; ++s) {
    const Batch b = make_batch(batch, seed, 1, uint64_t(s));
    const BceStats<float> st = net.train_step(b, adam, seed, &step);
    if (!std::isfinite(st.loss)) {
      fmt::print(stderr, "engine_demo: non-finite loss at step {}\n", s);
      return 1;
    }
    if (s % log_every == 0 || s == steps)
      fmt::print("step {:5d}  loss {:.4f}  accuracy {:5.1f}%\n", s, st.loss, 100 * st.accuracy);
  }

  // Held-out points, eval mode: running statistics, no dropout.
  const int test_n = batch;
  double correct = 0;
  const int rounds = 20;
  for (int r = 0; r < rounds; ++r) {
    const Batch t = make_batch(test_n, seed, 2, uint64_t(r));
    const auto& logits = net.forward(t.x, false, seed, &step);
    for (int i = 0; i < test_n; ++i) correct += (logits[i] > 0) == (t.label[i] > 0.5f);
  }
  const double acc = correct / (double(test_n) * rounds);
  fmt::print("held-out accuracy over {} points: {:.1f}% (chance: 50%)\n", test_n * rounds,
             100 * acc);
  return 0;
}
