// GEMM benchmark: our tiled kernel against cuBLAS on the dense layers' shapes (forward, dW and dx
// at several batch sizes) and on squares. Each case is verified first (each backend against the
// other), then warmed up, then timed with CUDA events: the median of many samples.
//
//   bench_gemm [--json PATH] [--tf32] [--repeats N]
//
// --tf32 adds cuBLAS with TF32 tensor cores as a third row per case; --json writes one JSON line
// per row to PATH.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "benchmarks/bench_util.h"
#include "engine/core/device.h"
#include "engine/core/device_buffer.h"
#include "kernels/cuda/check.h"
#include "kernels/gemm.h"

namespace {

using gan::GemmBackend;
using gan::Trans;
using gan::bench::median_us;
using gan::bench::relative_error;

struct Case {
  std::string name;
  Trans ta, tb;
  int M, N, K;
};

// The generator 100-256-512-1024-784 and the discriminator 784-512-256-1, each layer's three
// GEMMs, at every batch size; then squares. Shapes that two layers share are measured once.
std::vector<Case> make_cases() {
  const int layers[][2] = {{100, 256}, {256, 512}, {512, 1024}, {1024, 784},
                           {784, 512}, {512, 256}, {256, 1}};
  std::vector<Case> cases;
  std::set<std::tuple<Trans, Trans, int, int, int>> seen;
  auto add = [&](std::string name, Trans ta, Trans tb, int M, int N, int K) {
    if (seen.insert({ta, tb, M, N, K}).second) cases.push_back({std::move(name), ta, tb, M, N, K});
  };
  for (int B : {32, 64, 128, 1024, 8192}) {
    for (const auto& layer : layers) {
      const int IN = layer[0], OUT = layer[1];
      add(fmt::format("fwd {}->{} B={}", IN, OUT, B), Trans::No, Trans::Yes, B, OUT, IN);
      add(fmt::format("dW  {}->{} B={}", IN, OUT, B), Trans::Yes, Trans::No, OUT, IN, B);
      add(fmt::format("dx  {}->{} B={}", IN, OUT, B), Trans::No, Trans::No, B, IN, OUT);
    }
  }
  for (int n : {1024, 2048, 4096}) add(fmt::format("square {}", n), Trans::No, Trans::No, n, n, n);
  return cases;
}

struct Variant {
  const char* name;
  GemmBackend backend;
  bool tf32;
  double tolerance;  // on relative_error against the float32 reference
};

int run(int argc, char** argv) {
  std::string json_path;
  bool with_tf32 = false;
  int samples = 25;
  CLI::App app{"bench_gemm: our tiled GEMM against cuBLAS at the presets' shapes"};
  app.add_option("--json", json_path, "write the rows as JSON here");
  app.add_flag("--tf32", with_tf32, "also time cuBLAS with TF32");
  app.add_option("--repeats", samples, "timed repeats per case (>= 20)")
      ->check(CLI::Range(20, 100000))
      ->capture_default_str();
  gan::bench::parse_and_require_gpu(app, argc, argv);

  // float32 rounding on uniform [-1, 1] inputs gives ~1e-6 normwise for K up to 8192; a wrong
  // element is O(1). TF32 keeps 10 mantissa bits: ~1e-3.
  std::vector<Variant> variants = {{"cublas", GemmBackend::Cublas, false, 1e-4},
                                   {"tiled", GemmBackend::Tiled, false, 1e-4}};
  if (with_tf32) variants.push_back({"cublas-tf32", GemmBackend::Cublas, true, 1e-2});

  std::FILE* json = nullptr;
  if (!json_path.empty() && !(json = std::fopen(json_path.c_str(), "w")))
    throw std::runtime_error("cannot open --json file '" + json_path + "' for writing");
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  CUDA_CHECK(cudaStreamCreate(&stream));
  CUBLAS_CHECK(cublasCreate(&cublas));
  const std::string device = gan::cuda_device_description(0);
  fmt::print("bench_gemm on {}; median of {} samples; vs cuBLAS = TFLOP/s / cuBLAS float32's\n",
             device, samples);
  fmt::print("{:<24} {:>2}{:>2} {:>5} {:>5} {:>5}  {:<11} {:>10} {:>8} {:>9} {:>9}\n", "case", "A",
             "B", "M", "N", "K", "backend", "us", "TFLOP/s", "vs cuBLAS", "rel err");

  std::mt19937 gen(1234);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  auto random_vec = [&](size_t n) {
    std::vector<float> v(n);
    for (float& x : v) x = uniform(gen);
    return v;
  };
  bool all_verified = true;
  for (const Case& c : make_cases()) {
    gan::DeviceBuffer<float> A(random_vec(size_t(c.M) * c.K)), B(random_vec(size_t(c.K) * c.N));
    gan::DeviceBuffer<float> C(size_t(c.M) * c.N);
    auto call = [&](const Variant& v) {
      const gan::cuda::GemmContext ctx{stream, cublas, v.backend, v.tf32};
      gan::cuda::gemm(ctx, c.ta, c.tb, c.M, c.N, c.K, 1.0f, A.data(), B.data(), 0.0f, C.data());
    };
    auto result = [&](const Variant& v) {
      C.poison();
      call(v);
      CUDA_CHECK(cudaStreamSynchronize(stream));
      return C.download();
    };
    // Every variant is checked against cuBLAS float32, and cuBLAS float32 against the tiled kernel.
    std::vector<std::vector<float>> outputs;
    for (const Variant& v : variants) outputs.push_back(result(v));
    const double flops = 2.0 * c.M * c.N * c.K;
    double cublas_tflops = 0.0;
    for (size_t i = 0; i < variants.size(); ++i) {
      const Variant& v = variants[i];
      const double err = relative_error(outputs[i], outputs[i == 0 ? 1 : 0]);
      const bool ok = err <= v.tolerance;
      all_verified = all_verified && ok;
      const double us = median_us(stream, samples, [&] { call(v); });
      const double tflops = flops / (us * 1e6);
      if (i == 0) cublas_tflops = tflops;
      const double ratio = tflops / cublas_tflops;
      fmt::print(
          "{:<24} {:>2}{:>2} {:>5} {:>5} {:>5}  {:<11} {:>10.1f} {:>8.2f} {:>9.2f} {:>9.1e}{}\n",
          c.name, c.ta == Trans::Yes ? "T" : "N", c.tb == Trans::Yes ? "T" : "N", c.M, c.N, c.K,
          v.name, us, tflops, ratio, err, ok ? "" : "  MISMATCH");
      if (json)
        fmt::print(json,
                   "{{\"device\": \"{}\", \"case\": \"{}\", \"ta\": \"{}\", \"tb\": \"{}\", "
                   "\"M\": {}, \"N\": {}, \"K\": {}, \"backend\": \"{}\", \"us\": {:.3f}, "
                   "\"tflops\": {:.4f}, \"vs_cublas\": {:.4f}, \"rel_err\": {}, "
                   "\"verified\": {}}}\n",
                   device, c.name, c.ta == Trans::Yes ? "T" : "N", c.tb == Trans::Yes ? "T" : "N",
                   c.M, c.N, c.K, v.name, us, tflops, ratio,
                   std::isfinite(err) ? fmt::format("{:.3e}", err) : "null", ok);
    }
    std::fflush(stdout);  // rows appear as cases finish, also when piped
  }
  CUBLAS_CHECK(cublasDestroy(cublas));
  CUDA_CHECK(cudaStreamDestroy(stream));
  if (json) std::fclose(json);
  if (!all_verified) throw std::runtime_error("some results disagreed beyond tolerance (MISMATCH)");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench_gemm: {}\n", e.what());
    return 1;
  }
}
