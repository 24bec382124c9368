// Memory-bound op benchmark: every CUDA op but GEMM against the device-to-device copy bandwidth
// measured in the same run. Each case is first verified against the CPU reference in float64 on
// fresh random inputs (outputs poisoned first), then warmed up and timed with CUDA events: the
// median of many samples, each a loop of back-to-back calls (so small cases give the launch-bound
// microseconds per call).
//
//   bench_ops [--json PATH] [--quick] [--repeats N]
//
// Bytes are the fewest an op must move through device memory: each input read once, each output
// written once (the formula sits beside each case). Cases smaller than L2 rotate through several
// copies of their buffers so that repeated calls do not run from the cache; rows where even the
// rotation stays within 2x L2 (or whose resident data set does) are marked L2.
// Exit status 1 when there is no CUDA device or any case fails verification.
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "benchmarks/bench_util.h"
#include "engine/core/device.h"
#include "engine/core/device_buffer.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/batchnorm.h"
#include "kernels/bce.h"
#include "kernels/cuda/check.h"
#include "kernels/dropout.h"
#include "kernels/gather.h"
#include "kernels/random.h"

namespace {

using namespace gan;
using bench::relative_error;

// Fresh inputs from splitmix64 (fast enough for 2^28 values), seeded from std::random_device.
class HostRng {
 public:
  explicit HostRng(uint64_t seed) : s_(seed) {}
  uint64_t bits() {
    uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::vector<float> vec(size_t n, float lo = -1.0f, float hi = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = lo + (hi - lo) * (float(bits() >> 40) * (1.0f / 16777216.0f));
    return v;
  }

 private:
  uint64_t s_;
};

std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }

// `sets` copies of `host` end to end: copy k starts at element k * host.size().
template <class T>
DeviceBuffer<T> replicate(const std::vector<T>& host, int sets) {
  DeviceBuffer<T> buf(host.size() * size_t(sets));
  for (int k = 0; k < sets; ++k) buf.upload(host.data(), host.size(), size_t(k) * host.size());
  return buf;
}

double scalar_error(float got, double want) {
  return relative_error(std::vector<float>{got}, std::vector<double>{want});
}

std::string size_label(size_t n) {
  if (n >= 1024 && (n & (n - 1)) == 0) return fmt::format("N=2^{}", int(std::log2(double(n))));
  return fmt::format("N={}", n);
}

struct Row {
  std::string op, shape;
  double bytes, us, gbs, fraction, err, tol;
  bool verified, in_l2;
};

class Bench {
 public:
  Bench(cudaStream_t stream, int samples, double l2)
      : stream_(stream), samples_(samples), l2_(l2) {}

  // Copies of a case's buffers (footprint bytes each) to rotate through so that one pass over
  // them spans at least 4x L2; at most 64.
  int sets(double footprint) const {
    return int(std::clamp(std::ceil(4.0 * l2_ / footprint), 1.0, 64.0));
  }

  // The first `n` elements of `buf`, once the stream's work is done.
  template <class T>
  std::vector<T> fetch(const DeviceBuffer<T>& buf, size_t n) {
    CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<T> v(n);
    buf.download(v.data(), n);
    return v;
  }
  // relative_error of the first ref.size() elements of `buf` against `ref`.
  template <class T, class R>
  double error(const DeviceBuffer<T>& buf, const std::vector<R>& ref) {
    return relative_error(fetch(buf, ref.size()), ref);
  }

  // Times launch(k) with k cycling over [0, n_sets) and prints the row. footprint: the bytes the
  // calls span, all copies together; under 2x L2 the row is marked L2 (the cache may serve it).
  // The first row is the copy that later rows are compared with.
  template <class F>
  void row(std::string op, std::string shape, double bytes, int n_sets, double footprint,
           double err, double tol, F&& launch) {
    const double us = bench::median_us(stream_, samples_, [&, k = 0]() mutable {
      launch(k);
      k = (k + 1) % n_sets;
    });
    const double gbs = bytes / (us * 1e3);
    if (rows_.empty()) copy_gbs_ = gbs;
    Row r{std::move(op), std::move(shape),     bytes, us, gbs, gbs / copy_gbs_, err, tol,
          err <= tol,    footprint < 2.0 * l2_};
    fmt::print("{:<36} {:<14} {:>10.2f} {:>8.1f} {:>6.1f}% {:>9.1e}  {} (tol {:.0e}){}\n", r.op,
               r.shape, r.us, r.gbs, 100.0 * r.fraction, r.err, r.verified ? "PASS" : "FAIL", r.tol,
               r.in_l2 ? "  L2" : "");
    std::fflush(stdout);  // rows appear as cases finish, also when piped
    rows_.push_back(std::move(r));
  }

  cudaStream_t stream_;
  int samples_;
  double l2_, copy_gbs_ = 0.0;
  std::vector<Row> rows_;
};

// Tolerances on relative_error against float64. Element-wise float maths (a few ulp: tanhf,
// expf, Box-Muller's logf/sinf) lands near 1e-7; 1e-5 leaves a wide margin and still fails any
// wrong or unwritten element. Reductions in float get more: BCE's statistics sum up to 1024
// serial terms per thread (worst-case bound ~6e-5; the kernel's order simulated on the CPU gives
// ~1e-7), batch norm's sums run over up to 8192 rows (simulated: ~2e-7).
constexpr double kElemTol = 1e-5, kBceTol = 1e-4, kBatchNormTol = 2e-5;

void bench_copy(Bench& b, HostRng& rng) {
  // cudaMemcpyAsync device to device: reads and writes n floats, 8 n bytes. The reference.
  const size_t n = size_t(1) << 28;  // 1 GiB
  const auto host = rng.vec(n);
  DeviceBuffer<float> src(host), dst(n);
  dst.poison();
  auto launch = [&](int) {
    CUDA_CHECK(cudaMemcpyAsync(dst.data(), src.data(), n * sizeof(float), cudaMemcpyDeviceToDevice,
                               b.stream_));
  };
  launch(0);
  b.row("copy (cudaMemcpyAsync D2D)", "1 GiB", 8.0 * n, 1, 8.0 * n, b.error(dst, host), 0.0,
        launch);
}

void bench_adam(Bench& b, HostRng& rng, const std::vector<size_t>& sizes) {
  AdamConfig cfg;  // the GAN presets' settings
  cfg.lr = 2e-4f;
  cfg.beta1 = 0.5f;
  cfg.eps = 1e-7f;
  const uint64_t t = 10;
  DeviceBuffer<uint64_t> step(std::vector<uint64_t>{t});
  // With the divergence check on, as the trainer runs it (its flags: 8 bytes, not counted).
  DeviceBuffer<float> flags(kNonfiniteFlags);
  for (size_t N : sizes) {
    // adam_step: reads p, g, m, v and writes p, m, v: 28 N bytes (the step's 8 aside).
    // v away from 0 keeps the update O(lr). In place: an element left unwritten keeps its old p,
    // m and v, which differ from the reference's by far more than the tolerance.
    const auto p0 = rng.vec(N), g0 = rng.vec(N), m0 = rng.vec(N, -0.1f, 0.1f),
               v0 = rng.vec(N, 1e-4f, 1e-2f);
    const int S = b.sets(16.0 * N);
    DeviceBuffer<float> p = replicate(p0, S), g = replicate(g0, S), m = replicate(m0, S),
                        v = replicate(v0, S);
    auto launch = [&](int k) {
      const size_t o = size_t(k) * N;
      cuda::adam_step(cfg, p.data() + o, g.data() + o, m.data() + o, v.data() + o, N, step.data(),
                      flags.data(), b.stream_);
    };
    launch(0);
    auto p_ref = to_double(p0), m_ref = to_double(m0), v_ref = to_double(v0);
    cpu::adam_step<double>(cfg, p_ref.data(), to_double(g0).data(), m_ref.data(), v_ref.data(), N,
                           &t, nullptr);
    const double err = std::max({b.error(p, p_ref), b.error(m, m_ref), b.error(v, v_ref)});
    b.row("adam_step", size_label(N), 28.0 * N, S, S * 16.0 * N, err, kElemTol, launch);
  }
}

void bench_bce(Bench& b, HostRng& rng, const std::vector<size_t>& sizes) {
  for (size_t N : sizes) {
    // bce_with_logits: reads logits and targets, writes dlogits and the 12-byte stats: 12 N + 12.
    const auto logits = rng.vec(N, -4.0f, 4.0f);
    std::vector<float> targets(N);
    for (float& t : targets) t = float(rng.bits() & 1);
    const int S = b.sets(12.0 * N);
    DeviceBuffer<float> z = replicate(logits, S), t = replicate(targets, S), dz(N * S);
    DeviceBuffer<BceStats<float>> stats(static_cast<size_t>(S));
    dz.poison();
    stats.poison();
    auto launch = [&](int k) {
      const size_t o = size_t(k) * N;
      cuda::bce_with_logits(z.data() + o, t.data() + o, N, 1.0f, dz.data() + o, stats.data() + k,
                            b.stream_);
    };
    launch(0);
    std::vector<double> dz_ref(N);
    BceStats<double> ref{};
    cpu::bce_with_logits<double>(to_double(logits).data(), to_double(targets).data(), N, 1.0,
                                 dz_ref.data(), &ref);
    const BceStats<float> got = b.fetch(stats, 1)[0];
    const double err = std::max({b.error(dz, dz_ref), scalar_error(got.loss, ref.loss),
                                 scalar_error(got.mean_prob, ref.mean_prob),
                                 scalar_error(got.accuracy, ref.accuracy)});
    b.row("bce_with_logits", size_label(N), 12.0 * N + 12, S, S * 12.0 * N, err, kBceTol, launch);
  }
}

void bench_activation(Bench& b, HostRng& rng, const std::vector<size_t>& sizes) {
  for (const Activation act : {Activation::leaky_relu(0.2f), Activation::tanh()})
    for (size_t N : sizes) {
      const std::string name = act.kind == ActKind::Tanh ? "tanh" : "leaky_relu(0.2)";
      // activation_forward: reads x, writes y: 8 N bytes.
      // activation_backward: reads y and dy, writes dx: 12 N bytes.
      const auto x = rng.vec(N, -3.0f, 3.0f), y = rng.vec(N), dy = rng.vec(N);  // y: a valid output
      const int S = b.sets(12.0 * N);
      DeviceBuffer<float> x_d = replicate(x, S), y_d = replicate(y, S), dy_d = replicate(dy, S),
                          out(N * S);
      auto forward = [&](int k) {
        const size_t o = size_t(k) * N;
        cuda::activation_forward(act, x_d.data() + o, out.data() + o, N, b.stream_);
      };
      auto backward = [&](int k) {
        const size_t o = size_t(k) * N;
        cuda::activation_backward(act, y_d.data() + o, dy_d.data() + o, out.data() + o, N,
                                  b.stream_);
      };
      std::vector<double> ref(N);
      out.poison();
      forward(0);
      cpu::activation_forward<double>(act, to_double(x).data(), ref.data(), N);
      b.row("activation_forward " + name, size_label(N), 8.0 * N, S, S * 8.0 * N, b.error(out, ref),
            kElemTol, forward);
      out.poison();
      backward(0);
      cpu::activation_backward<double>(act, to_double(y).data(), to_double(dy).data(), ref.data(),
                                       N);
      b.row("activation_backward " + name, size_label(N), 12.0 * N, S, S * 12.0 * N,
            b.error(out, ref), kElemTol, backward);
    }
}

void bench_batchnorm(Bench& b, HostRng& rng, const std::vector<std::pair<int, int>>& shapes) {
  const BatchNormConfig cfg = BatchNormConfig::keras(0.8f);
  for (const auto& shape : shapes) {
    const int B = shape.first, F = shape.second;
    const size_t N = size_t(B) * F;
    const std::string label = fmt::format("B={} F={}", B, F);
    // x with a per-feature offset and spread, so the mean and the two-pass variance matter.
    const auto offset = rng.vec(F, -3.0f, 3.0f), spread = rng.vec(F, 0.5f, 2.0f);
    std::vector<float> x = rng.vec(N);
    for (size_t i = 0; i < N; ++i) x[i] = offset[i % F] + spread[i % F] * x[i];
    const auto gamma = rng.vec(F, 0.5f, 1.5f), beta = rng.vec(F, -0.5f, 0.5f), rm = rng.vec(F),
               rv = rng.vec(F, 0.5f, 1.5f), dy = rng.vec(N);
    const auto xd = to_double(x), gd = to_double(gamma);
    const int S = b.sets(12.0 * N);
    DeviceBuffer<float> x_d = replicate(x, S), dy_d = replicate(dy, S), out(N * S),
                        g_d = replicate(gamma, S), b_d = replicate(beta, S),
                        rm_d = replicate(rm, S), rv_d = replicate(rv, S), mean_d(size_t(F) * S),
                        inv_d(size_t(F) * S), dg_d(size_t(F) * S), db_d(size_t(F) * S);

    // batchnorm_forward_train: reads x (B F) and gamma, beta, running_mean, running_var (F);
    // writes y (B F) and save_mean, save_inv_std, running_mean, running_var (F): 8 B F + 32 F.
    auto forward = [&](int k) {
      const size_t o = size_t(k) * N, f = size_t(k) * F;
      cuda::batchnorm_forward_train(cfg, x_d.data() + o, out.data() + o, B, F, g_d.data() + f,
                                    b_d.data() + f, mean_d.data() + f, inv_d.data() + f,
                                    rm_d.data() + f, rv_d.data() + f, b.stream_);
    };
    out.poison();
    mean_d.poison();
    inv_d.poison();
    forward(0);
    std::vector<double> y(N), mean(F), inv(F), rm_ref = to_double(rm), rv_ref = to_double(rv);
    cpu::batchnorm_forward_train<double>(cfg, xd.data(), y.data(), B, F, gd.data(),
                                         to_double(beta).data(), mean.data(), inv.data(),
                                         rm_ref.data(), rv_ref.data());
    double err = std::max({b.error(out, y), b.error(mean_d, mean), b.error(inv_d, inv),
                           b.error(rm_d, rm_ref), b.error(rv_d, rv_ref)});
    b.row("batchnorm_forward_train", label, 8.0 * N + 32.0 * F, S, S * 8.0 * N, err, kBatchNormTol,
          forward);

    // batchnorm_backward (Overwrite): reads x, dy (B F) and gamma, save_mean, save_inv_std (F);
    // writes dx (B F) and dgamma, dbeta (F): 12 B F + 20 F bytes. Its saved statistics are the
    // forward's (set 0's, in every copy); the reference takes the same floats.
    const auto mean_f = b.fetch(mean_d, F), inv_f = b.fetch(inv_d, F);
    mean_d = replicate(mean_f, S);
    inv_d = replicate(inv_f, S);
    auto backward = [&](int k) {
      const size_t o = size_t(k) * N, f = size_t(k) * F;
      cuda::batchnorm_backward(x_d.data() + o, dy_d.data() + o, out.data() + o, B, F,
                               g_d.data() + f, mean_d.data() + f, inv_d.data() + f, dg_d.data() + f,
                               db_d.data() + f, GradMode::Overwrite, b.stream_);
    };
    out.poison();
    dg_d.poison();
    db_d.poison();
    backward(0);
    std::vector<double> dx(N), dg(F), db(F);
    cpu::batchnorm_backward<double>(xd.data(), to_double(dy).data(), dx.data(), B, F, gd.data(),
                                    to_double(mean_f).data(), to_double(inv_f).data(), dg.data(),
                                    db.data(), GradMode::Overwrite);
    err = std::max({b.error(out, dx), b.error(dg_d, dg), b.error(db_d, db)});
    b.row("batchnorm_backward", label, 12.0 * N + 20.0 * F, S, S * 12.0 * N, err, kBatchNormTol,
          backward);
  }
}

void bench_random(Bench& b, HostRng& rng, const std::vector<size_t>& sizes) {
  const uint64_t seed = rng.bits(), counter = rng.bits() >> 24;
  const uint32_t stream_id = 3;
  const float p = 0.3f;
  DeviceBuffer<uint64_t> counter_d(std::vector<uint64_t>{counter});
  for (size_t N : sizes) {
    // dropout_forward (training): reads x, writes y: 8 N bytes (the mask is drawn, never stored;
    // the counter's 8 bytes aside).
    const auto x = rng.vec(N);
    const int S = b.sets(8.0 * N);
    DeviceBuffer<float> x_d = replicate(x, S), y_d(N * S);
    y_d.poison();
    auto launch = [&](int k) {
      cuda::dropout_forward(x_d.data() + size_t(k) * N, y_d.data() + size_t(k) * N, N, p, true,
                            seed, stream_id, counter_d.data(), b.stream_);
    };
    launch(0);
    std::vector<double> ref(N);
    cpu::dropout_forward<double>(to_double(x).data(), ref.data(), N, p, true, seed, stream_id,
                                 &counter);
    b.row("dropout_forward p=0.3", size_label(N), 8.0 * N, S, S * 8.0 * N, b.error(y_d, ref),
          kElemTol, launch);
  }
  for (Distribution dist : {Distribution::Normal, Distribution::UniformSym}) {
    // random_fill: writes out: 4 N bytes.
    const size_t N = size_t(1) << 24;
    const int S = b.sets(4.0 * N);
    DeviceBuffer<float> out(N * S);
    out.poison();
    auto launch = [&](int k) {
      cuda::random_fill(out.data() + size_t(k) * N, N, dist, seed, stream_id, counter_d.data(),
                        b.stream_);
    };
    launch(0);
    std::vector<double> ref(N);
    cpu::random_fill<double>(ref.data(), N, dist, seed, stream_id, &counter);
    b.row(std::string("random_fill ") + distribution_name(dist), size_label(N), 4.0 * N, S,
          S * 4.0 * N, b.error(out, ref), kElemTol, launch);
  }
}

void bench_sample_batch(Bench& b, HostRng& rng, const std::vector<int>& batches) {
  // A resident MNIST-sized set: 60000 images of 784 pixels (47 MB, about L2's size) that is not
  // rotated, so rows may come from the cache as they do in training: the rows are marked L2.
  const uint32_t n_images = 60000;
  const size_t D = 784;
  std::vector<uint8_t> images(n_images * D);
  for (uint8_t& px : images) px = uint8_t(rng.bits());
  const DeviceBuffer<uint8_t> images_d(images);
  const uint64_t seed = rng.bits();
  const uint32_t stream_id = 5;
  for (int B : batches) {
    // sample_batch: reads B rows of D uint8 pixels, writes (B, D) floats and B uint32 indices:
    // 5 B D + 4 B bytes (the counter's 8 aside). Each copy of the outputs has its own counter
    // value, so consecutive calls draw different rows.
    const size_t N = size_t(B) * D;
    const int S = b.sets(4.0 * N);
    std::vector<uint64_t> counters(S);
    for (uint64_t& c : counters) c = rng.bits() >> 24;
    DeviceBuffer<uint64_t> counters_d(counters);
    DeviceBuffer<float> out(N * S);
    DeviceBuffer<uint32_t> idx(size_t(B) * S);
    out.poison();
    idx.poison();
    auto launch = [&](int k) {
      cuda::sample_batch(images_d.data(), n_images, D, B, seed, stream_id, counters_d.data() + k,
                         out.data() + size_t(k) * N, idx.data() + size_t(k) * B, b.stream_);
    };
    launch(0);
    std::vector<double> ref(N);
    std::vector<uint32_t> idx_ref(B);
    cpu::sample_batch<double>(images.data(), n_images, D, B, seed, stream_id, &counters[0],
                              ref.data(), idx_ref.data());
    const double err = b.fetch(idx, B) == idx_ref ? b.error(out, ref) : INFINITY;
    b.row("sample_batch D=784 n=60000", fmt::format("B={}", B), 5.0 * N + 4.0 * B, S,
          double(images.size()), err, kElemTol, launch);
  }
}

std::string iso_date_utc() {
  const std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

int run(int argc, char** argv) {
  std::string json_path;
  bool quick = false;
  int samples = 50;
  CLI::App app{"bench_ops: memory-bound CUDA ops in GB/s against the measured copy bandwidth"};
  app.add_option("--json", json_path, "write the rows as JSON here");
  app.add_flag("--quick", quick, "a reduced set of cases");
  app.add_option("--repeats", samples, "timed repeats per case (>= 50)")
      ->check(CLI::Range(50, 100000))
      ->capture_default_str();
  bench::parse_and_require_gpu(app, argc, argv);
  std::ofstream json_file;
  if (!json_path.empty()) json_file.open(json_path);
  if (!json_path.empty() && !json_file)
    throw std::runtime_error("cannot open --json file '" + json_path + "' for writing");

  int l2 = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, 0));
  cudaStream_t stream = nullptr;
  CUDA_CHECK(cudaStreamCreate(&stream));
  const std::string device = cuda_device_description(0);
  const uint64_t seed = (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  HostRng rng(seed);
  fmt::print("bench_ops on {}; L2 {:.0f} MiB; median of {} samples; input seed {}{}\n", device,
             l2 / 1048576.0, samples, seed, quick ? "; --quick" : "");
  fmt::print(
      "GB/s = bytes moved (inputs read once, outputs written once) / time, GB = 1e9 B; "
      "% copy = GB/s / the copy's; err = max|got - ref| / max|ref| against float64\n");
  fmt::print("{:<36} {:<14} {:>10} {:>8} {:>7} {:>9}  {}\n", "op", "shape", "us", "GB/s", "% copy",
             "err", "check");

  Bench b(stream, samples, double(l2));
  const size_t big = quick ? size_t(1) << 24 : size_t(1) << 26;
  bench_copy(b, rng);
  bench_adam(b, rng,
             quick ? std::vector<size_t>{1u << 20, 1u << 24}
                   : std::vector<size_t>{1u << 20, 1u << 24, 1u << 27});
  bench_bce(b, rng,
            quick ? std::vector<size_t>{64, 8192} : std::vector<size_t>{64, 8192, 1u << 20});
  bench_activation(b, rng, {1u << 20, big});
  bench_batchnorm(b, rng,
                  quick ? std::vector<std::pair<int, int>>{{32, 1024}, {8192, 1024}}
                        : std::vector<std::pair<int, int>>{
                              {32, 1024}, {1024, 1024}, {8192, 1024}, {8192, 256}});
  bench_random(b, rng, {1u << 20, big});
  bench_sample_batch(b, rng, quick ? std::vector<int>{64, 8192} : std::vector<int>{64, 1024, 8192});
  CUDA_CHECK(cudaStreamDestroy(stream));

  std::vector<std::string> failed;
  nlohmann::json rows = nlohmann::json::array();
  for (const Row& r : b.rows_) {
    if (!r.verified) failed.push_back(r.op + " " + r.shape);
    rows.push_back({{"op", r.op},
                    {"shape", r.shape},
                    {"us", r.us},
                    {"gbs", r.gbs},
                    {"fraction_of_copy", r.fraction},
                    {"verified", r.verified},
                    {"bytes", r.bytes},
                    {"rel_err", r.err},
                    {"tolerance", r.tol},
                    {"l2_resident", r.in_l2}});
  }
  if (json_file.is_open()) {
    const nlohmann::json doc = {{"device", device},        {"date", iso_date_utc()},
                                {"copy_gbs", b.copy_gbs_}, {"samples", samples},
                                {"l2_bytes", l2},          {"quick", quick},
                                {"input_seed", seed},      {"rows", rows}};
    json_file << doc.dump(2) << "\n";
    if (!json_file.flush())
      throw std::runtime_error("cannot write --json file '" + json_path + "'");
  }
  if (!failed.empty()) {
    std::string list;
    for (const std::string& f : failed) list += (list.empty() ? "" : ", ") + f;
    throw std::runtime_error(
        fmt::format("{} of {} cases FAILED verification: {}", failed.size(), b.rows_.size(), list));
  }
  fmt::print("all {} cases PASS verification\n", b.rows_.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_ops: {}\n", e.what());
    return 1;
  }
}
