// Evaluation-metric benchmark on the CPU: feature_stats + frechet_distance and precision_recall
// on n real and n fake random features of dimension dim (default 10,000 x 10,000 x 256, the size
// of one evaluation of 10k samples). Prints the median milliseconds of each over --reps runs.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "engine/eval/quality_metrics.h"
#include "kernels/random.h"

using namespace gan;

namespace {

template <class F>
double median_ms(int reps, F&& call) {
  std::vector<double> ms(reps);
  for (double& t : ms) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    t = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::nth_element(ms.begin(), ms.begin() + reps / 2, ms.end());
  return ms[reps / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluation-metric benchmark (CPU)"};
  int n = 10000, dim = 256, k = 3, reps = 3;
  app.add_option("--n", n, "points per set")->check(CLI::Range(4, 1 << 24));
  app.add_option("--dim", dim, "feature dimension")->check(CLI::Range(1, 1 << 16));
  app.add_option("--k", k, "k-NN radius")->check(CLI::Range(1, 64));
  app.add_option("--reps", reps, "timed repetitions (median reported)")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  try {
    // Real: standard normal; fake: normal shifted by 0.1 and scaled by 1.1, so the sets overlap
    // partly and the membership tests cannot all stop early.
    const uint64_t counter = 0;
    std::vector<float> real(size_t(n) * dim), fake(size_t(n) * dim);
    cpu::random_fill<float>(real.data(), real.size(), Distribution::Normal, 1, 0, &counter);
    cpu::random_fill<float>(fake.data(), fake.size(), Distribution::Normal, 2, 0, &counter);
    for (float& v : fake) v = 1.1f * v + 0.1f;

    double fd = 0.0;
    FeatureStats sr, sf;
    const double stats_ms = median_ms(reps, [&] {
      sr = feature_stats(real.data(), n, dim);
      sf = feature_stats(fake.data(), n, dim);
    });
    const double fd_ms = median_ms(reps, [&] { fd = frechet_distance(sr, sf); });
    PrecisionRecall pr;
    const double pr_ms = median_ms(reps, [&] {
      pr = precision_recall(real.data(), n, fake.data(), n, dim, k);
    });
    fmt::print("eval_bench: n = {} real + {} fake, dim = {}, k = {}, median of {} reps\n", n, n,
               dim, k, reps);
    fmt::print("  feature_stats (both sets)  {:9.1f} ms\n", stats_ms);
    fmt::print("  frechet_distance           {:9.1f} ms   FD = {:.4f}\n", fd_ms, fd);
    fmt::print("  precision_recall           {:9.1f} ms   precision = {:.4f}, recall = {:.4f}\n",
               pr_ms, pr.precision, pr.recall);
    fmt::print("  total                      {:9.1f} ms\n", stats_ms + fd_ms + pr_ms);
  } catch (const std::exception& e) {
    fmt::print(stderr, "eval_bench: {}\n", e.what());
    return 1;
  }
  return 0;
}
