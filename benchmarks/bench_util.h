// Helpers the CUDA benchmarks share: event timing (median of many samples) and the normwise error
// a result is verified with.
#pragma once
#include <cuda_runtime_api.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/core/device.h"
#include "kernels/cuda/check.h"

namespace gan::bench {

// Owns the two events of a timing; destroyed even when a check throws.
struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  EventPair() {
    CUDA_CHECK(cudaEventCreate(&start));
    CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~EventPair() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

// Median microseconds per call. Each sample times enough back-to-back calls (~200 us of work) that
// launch gaps and event resolution do not dominate small cases.
template <class F>
double median_us(cudaStream_t stream, int samples, F&& call) {
  EventPair ev;
  for (int i = 0; i < 3; ++i) call();  // warm-up: module load, first-launch and heuristic costs
  CUDA_CHECK(cudaEventRecord(ev.start, stream));
  for (int i = 0; i < 3; ++i) call();
  CUDA_CHECK(cudaEventRecord(ev.stop, stream));
  CUDA_CHECK(cudaEventSynchronize(ev.stop));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
  const int inner = std::clamp(int(200.0 / std::max(1e-3, 1000.0 * ms / 3)), 1, 200);

  std::vector<double> us(samples);
  for (double& t : us) {
    CUDA_CHECK(cudaEventRecord(ev.start, stream));
    for (int i = 0; i < inner; ++i) call();
    CUDA_CHECK(cudaEventRecord(ev.stop, stream));
    CUDA_CHECK(cudaEventSynchronize(ev.stop));
    CUDA_CHECK(cudaEventElapsedTime(&ms, ev.start, ev.stop));
    t = 1000.0 * ms / inner;
  }
  std::nth_element(us.begin(), us.begin() + samples / 2, us.end());
  return us[samples / 2];
}

// max |got - ref| / max |ref|: normwise, so one wrong element of a large output still shows; a NaN
// or infinity in `got` (an unwritten, poisoned element) gives infinity.
template <class A, class B>
double relative_error(const std::vector<A>& got, const std::vector<B>& ref) {
  if (got.size() != ref.size()) return INFINITY;
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, std::fabs(double(got[i]) - double(ref[i])));
    scale = std::max(scale, std::fabs(double(ref[i])));
    if (!std::isfinite(double(got[i]))) diff = INFINITY;
  }
  return scale > 0.0 ? diff / scale : diff;
}

// Parses the command line (--help and errors exit as CLI11 does), then requires a CUDA device:
// throws the reason there is none.
inline void parse_and_require_gpu(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  std::string why;
  if (cuda_device_count(&why) == 0) throw std::runtime_error(why);
}

}  // namespace gan::bench
