// Convolution benchmark: forward and backward (dx, dW, db) of the DCGAN layers through the
// engine's float path on the CPU (kernels/cpu/conv_gemm.cpp, conv_taps.cpp) or, with --device
// cuda, the CUDA ops (kernels/cuda/conv.cu: im2col / col2im around cuBLAS or the tiled GEMM),
// milliseconds and GFLOP/s per row. Each shape is first verified at batch 2 against the float64
// direct reference (relative_error below tolerance), then warmed up and timed: the median of
// --repeats calls (the JSON rows also give the fastest call; CUDA: CUDA events, the median).
//
//   bench_conv [--device cpu|cuda] [--gemm cublas|tiled] [--batches 64,256] [--repeats 15]
//              [--filter TEXT] [--json PATH]
//
// GFLOP/s counts 2 flops per nominal multiply-add (zero padding included), backward twice the
// forward's (dx and dW), as benchmarks/peers/conv_bench_torch.py does for PyTorch: compare rows
// of the same shape and batch run on the same machine and thread count (OMP_NUM_THREADS).
// Exit status 1 when a shape fails verification.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/conv.h"

#if GAN_WITH_CUDA
#include "bench_util.h"
#include "engine/core/context.h"
#include "engine/core/device_buffer.h"
#endif

using namespace gan;

namespace {

struct Case {
  const char* name;
  bool transposed;
  ConvShape s;  // B is set per row
};

ConvShape geom(int IN, int H, int OUT, int OH, int k, int st, int pad) {
  ConvShape s;
  s.IN = IN, s.H = s.W = H, s.OUT = OUT, s.OH = s.OW = OH;
  s.KH = s.KW = k, s.SH = s.SW = st, s.PH = s.PW = pad;
  return s;
}

// The DCGAN's layers; PH = 2 is PyTorch's padding=2 (with output_padding=1 for the stride-2
// transposed ones), PH = 1 TensorFlow's asymmetric 'same'.
const Case kCases[] = {
    {"G convT 256->128 k5 s1 7->7", true, geom(256, 7, 128, 7, 5, 1, 2)},
    {"G convT 128->64 k5 s2 7->14", true, geom(128, 7, 64, 14, 5, 2, 2)},
    {"G convT 128->64 k5 s2 7->14 PH1", true, geom(128, 7, 64, 14, 5, 2, 1)},
    {"G convT 64->1 k5 s2 14->28", true, geom(64, 14, 1, 28, 5, 2, 2)},
    {"D conv 1->64 k5 s2 28->14", false, geom(1, 28, 64, 14, 5, 2, 2)},
    {"D conv 64->128 k5 s2 14->7", false, geom(64, 14, 128, 7, 5, 2, 2)},
};

std::vector<float> random_vec(std::mt19937_64& gen, size_t n) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

// max |got - ref| / max(1, max |ref|) (normwise; the floor keeps a sum that cancels to near zero,
// db of a 1-channel layer, from inflating the ratio); infinity for a non-finite element.
double relative_error(const std::vector<float>& got, const std::vector<double>& ref) {
  double diff = 0.0, scale = 1.0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - ref[i]));
    scale = std::max(scale, std::fabs(ref[i]));
    if (!std::isfinite(got[i])) diff = INFINITY;
  }
  return diff / scale;
}

// One layer's buffers and its calls through the float path or the float64 reference.
template <class T>
struct Layer {
  const Case& c;
  ConvShape s;
  std::vector<T> x, W, b, dy, y, dx, dW, db;
  Layer(const Case& cs, int B, std::mt19937_64& gen) : c(cs), s(cs.s) {
    s.B = B;
    auto fill = [&](std::vector<T>& v, size_t n) {
      const auto f = random_vec(gen, n);
      v.assign(f.begin(), f.end());
    };
    fill(x, s.x_size());
    fill(W, s.w_size());
    fill(b, s.OUT);
    fill(dy, s.y_size());
    y.assign(s.y_size(), T(NAN));
    dx.assign(s.x_size(), T(NAN));
    dW.assign(s.w_size(), T(NAN));
    db.assign(s.OUT, T(NAN));
  }
  void forward(bool direct) {
    if (c.transposed)
      (direct ? cpu::conv_transpose2d_forward_direct<T>
              : cpu::conv_transpose2d_forward<T>)(s, x.data(), W.data(), b.data(), y.data());
    else
      (direct ? cpu::conv2d_forward_direct<T> : cpu::conv2d_forward<T>)(s, x.data(), W.data(),
                                                                        b.data(), y.data());
  }
  void backward(bool direct) {
    auto f = c.transposed ? (direct ? cpu::conv_transpose2d_backward_direct<T>
                                    : cpu::conv_transpose2d_backward<T>)
                          : (direct ? cpu::conv2d_backward_direct<T> : cpu::conv2d_backward<T>);
    f(s, x.data(), W.data(), dy.data(), dx.data(), dW.data(), db.data(), GradMode::Overwrite);
  }
};

// The float path (run: fills f's outputs from its inputs) against the float64 reference at batch 2
// (same float inputs).
template <class Run>
double verify(const Case& c, std::mt19937_64& gen, Run&& run) {
  Layer<float> f(c, 2, gen);
  Layer<double> d(c, 2, gen);
  d.x.assign(f.x.begin(), f.x.end());
  d.W.assign(f.W.begin(), f.W.end());
  d.b.assign(f.b.begin(), f.b.end());
  d.dy.assign(f.dy.begin(), f.dy.end());
  run(f);
  d.forward(true), d.backward(true);
  return std::max({relative_error(f.y, d.y), relative_error(f.dx, d.dx), relative_error(f.dW, d.dW),
                   relative_error(f.db, d.db)});
}

#if GAN_WITH_CUDA
// The same layer on the GPU: device copies of a float Layer's inputs and outputs, the workspace.
struct CudaLayer {
  const Case& c;
  ConvShape s;
  cuda::GemmContext g;
  DeviceBuffer<float> x, W, b, dy, y, dx, dW, db, work;
  CudaLayer(const Layer<float>& l, const cuda::GemmContext& ctx)
      : c(l.c), s(l.s), g(ctx), x(l.x), W(l.W), b(l.b), dy(l.dy), y(l.y.size()), dx(l.x.size()),
        dW(l.W.size()), db(l.b.size()), work(cuda::conv_workspace_floats(l.s)) {
    for (DeviceBuffer<float>* p : {&y, &dx, &dW, &db}) p->poison();
  }
  void forward() {
    if (c.transposed)
      cuda::conv_transpose2d_forward(g, s, x.data(), W.data(), b.data(), y.data(), work.data());
    else
      cuda::conv2d_forward(g, s, x.data(), W.data(), b.data(), y.data(), work.data());
  }
  void backward() {
    auto f = c.transposed ? cuda::conv_transpose2d_backward : cuda::conv2d_backward;
    f(g, s, x.data(), W.data(), dy.data(), dx.data(), dW.data(), db.data(), GradMode::Overwrite,
      work.data());
  }
};
#endif

struct Timing {
  double median, min;
};

// Milliseconds per call: the median and the fastest of `repeats` calls after two warm-up calls
// (on shared cores the fastest is the better estimate of the op's own cost).
template <class F>
Timing time_ms(int repeats, F&& call) {
  for (int i = 0; i < 2; ++i) call();
  std::vector<double> ms(repeats);
  for (double& t : ms) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  return {ms[repeats / 2], ms[0]};
}

}  // namespace

static int bench_main(int argc, char** argv) {
  CLI::App app{"bench_conv: conv2d / conv_transpose2d forward and backward, ms and GFLOP/s"};
  std::string batches = "64,256", json_path, filter, device = "cpu", gemm = "cublas";
  int repeats = 15;
  app.add_option("--device", device, "cpu or cuda")->capture_default_str();
  app.add_option("--gemm", gemm, "CUDA GEMM back end: cublas or tiled")->capture_default_str();
  app.add_option("--batches", batches, "comma-separated batch sizes")->capture_default_str();
  app.add_option("--repeats", repeats, "timed calls per row (median)")->check(CLI::PositiveNumber);
  app.add_option("--filter", filter, "only the shapes whose name contains this");
  app.add_option("--json", json_path, "write the rows as JSON here");
  CLI11_PARSE(app, argc, argv);
  if (device != "cpu" && device != "cuda") {
    std::fprintf(stderr, "bench_conv: error: --device: expected cpu or cuda, got '%s'\n",
                 device.c_str());
    return 1;
  }
  const bool on_gpu = device == "cuda";
#if GAN_WITH_CUDA
  std::unique_ptr<ExecResources> exec;
  cuda::GemmContext g;
  if (on_gpu) {
    exec = std::make_unique<ExecResources>(DeviceKind::Cuda);
    g = exec->context().gemm();
    g.backend = gemm == "tiled" ? GemmBackend::Tiled : GemmBackend::Cublas;
    fmt::print("device: {}, GEMM {}\n", exec->description(), gemm_backend_name(g.backend));
  }
#else
  if (on_gpu) {
    std::fprintf(stderr, "bench_conv: error: --device cuda: this build has no CUDA (GAN_CUDA=OFF)\n");
    return 1;
  }
#endif

  std::mt19937_64 gen(std::random_device{}());
  // Float accumulation over up to IN KH KW = 6400 products (dW: B OH OW) of O(1) terms: observed
  // errors are ~1e-6 normwise; 1e-4 still fails any wrong or unwritten element.
  constexpr double kTol = 1e-4;
  bool ok = true;
  nlohmann::json rows = nlohmann::json::array();
  fmt::print("{:<34} {:>4} {:>9} {:>8} {:>9} {:>8}  {}\n", "shape", "B", "fwd ms", "GFLOP/s",
             "bwd ms", "GFLOP/s", "check (batch 2)");
  std::stringstream ss(batches);
  for (std::string item; std::getline(ss, item, ',');) {
    char* end = nullptr;
    const long B = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || B < 1 || B > 65536)
      throw std::invalid_argument("--batches: '" + item + "' is not a batch size in [1, 65536]");
    for (const Case& c : kCases) {
      if (std::string(c.name).find(filter) == std::string::npos) continue;
      double err = 0;
      Timing fwd{}, bwd{};
      Layer<float> l(c, int(B), gen);
      if (!on_gpu) {
        err = verify(c, gen, [](Layer<float>& f) { f.forward(false), f.backward(false); });
        fwd = time_ms(repeats, [&] { l.forward(false); });
        bwd = time_ms(repeats, [&] { l.backward(false); });
      }
#if GAN_WITH_CUDA
      if (on_gpu) {
        err = verify(c, gen, [&](Layer<float>& f) {
          CudaLayer d(f, g);
          d.forward(), d.backward();
          CUDA_CHECK(cudaStreamSynchronize(g.stream));
          f.y = d.y.download(), f.dx = d.dx.download(), f.dW = d.dW.download();
          f.db = d.db.download();
        });
        CudaLayer d(l, g);
        const double f_ms = bench::median_us(g.stream, repeats, [&] { d.forward(); }) / 1000;
        const double b_ms = bench::median_us(g.stream, repeats, [&] { d.backward(); }) / 1000;
        fwd = {f_ms, f_ms}, bwd = {b_ms, b_ms};
      }
#endif
      ok = ok && err <= kTol;
      const ConvShape& s = l.s;
      const double macs =
          double(B) * s.IN * s.OUT * s.KH * s.KW * (c.transposed ? s.H * s.W : s.OH * s.OW);
      const double fwd_gf = 2 * macs / (fwd.median * 1e6), bwd_gf = 4 * macs / (bwd.median * 1e6);
      fmt::print("{:<34} {:>4} {:>9.3f} {:>8.1f} {:>9.3f} {:>8.1f}  {:.1e} {}\n", c.name, B,
                 fwd.median, fwd_gf, bwd.median, bwd_gf, err, err <= kTol ? "PASS" : "FAIL");
      std::fflush(stdout);
      rows.push_back({{"shape", c.name},
                      {"batch", B},
                      {"fwd_ms", fwd.median},
                      {"bwd_ms", bwd.median},
                      {"fwd_min_ms", fwd.min},
                      {"bwd_min_ms", bwd.min},
                      {"fwd_gflops", fwd_gf},
                      {"bwd_gflops", bwd_gf},
                      {"rel_error", err}});
    }
  }
  if (!json_path.empty())
    std::ofstream(json_path) << nlohmann::json{{"device", device}, {"rows", rows}}.dump(1) << "\n";
  return ok ? 0 : 1;
}

// Every failure (no CUDA device, out of memory, a bad --batches entry) is one line and exit 1.
int main(int argc, char** argv) {
  try {
    return bench_main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_conv: error: %s\n", e.what());
    return 1;
  }
}
