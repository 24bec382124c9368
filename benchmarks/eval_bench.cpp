// Evaluation benchmark. Without --checkpoint: the metrics alone on the CPU, feature_stats +
// frechet_distance and precision_recall on n real and n fake random features of dimension dim
// (default 10,000 x 10,000 x 256, the size of one evaluation of 10k samples). With --checkpoint and
// --classifier: a whole evaluation as `mnist_gan evaluate` and `train --eval-every` run it (the
// one-off set-up, then scoring n samples of the generator: generating, classifying, the metrics),
// on --device. Prints the median milliseconds of each over --reps runs.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <memory>
#include <vector>

#include "engine/train/checkpoint.h"
#include "engine/eval/evaluator.h"
#include "engine/train/gan_trainer.h"
#include "engine/train/train_config.h"
#include "engine/train/training_run.h"
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

// A whole evaluation of n samples of the checkpoint's generator, phase by phase and as one call.
int bench_whole(const std::string& ckpt_path, const std::string& classifier, std::string data_dir,
                const std::string& device, int n, int reps) {
  const Checkpoint ck = load_checkpoint(ckpt_path);
  const TrainConfig cfg = train_config_from_json(ck.meta.at("config"));
  if (data_dir.empty())
    data_dir = std::filesystem::path(ck.meta.at("data").get<std::string>()).parent_path().string();
  ExecResources exec(resolve_device(device_choice_from_name(device)));
  const ExecContext& ctx = exec.context();
  Model G("generator", cfg.generator, 500, ctx.kind);
  load_model_weights(G, ck, "g");

  std::unique_ptr<Evaluator> ev;
  const double setup_ms = median_ms(1, [&] {
    ev = std::make_unique<Evaluator>(ctx, Classifier::load(classifier, ctx, 1024),
                                     read_labelled_split(data_dir, "t10k", kMnistClasses));
  });
  Classifier& clf = ev->classifier();
  const size_t F = size_t(clf.feature_dim()), C = size_t(clf.classes());
  std::vector<float> images, features(size_t(n) * F), probs(size_t(n) * C);
  const double gen_ms = median_ms(reps, [&] { images = generate_images(ctx, G, cfg.noise, n, 1); });
  const double embed_ms =
      median_ms(reps, [&] { clf.embed(images.data(), size_t(n), features.data(), probs.data()); });
  QualityScores s;
  const double whole_ms =
      median_ms(reps, [&] { s = ev->score_generator(G, cfg.noise, size_t(n), 1); });
  fmt::print("eval_bench: scoring {} samples of {} ({}), median of {} reps\n", n, ckpt_path,
             exec.description(), reps);
  fmt::print("  set-up (classifier, {} real images embedded)  {:9.1f} ms, once\n",
             ev->real_count(), setup_ms);
  fmt::print("  generate {} samples                         {:9.1f} ms\n", n, gen_ms);
  fmt::print("  classify them (features + softmax)            {:9.1f} ms\n", embed_ms);
  fmt::print("  score_generator, all of it                    {:9.1f} ms   FD {:.3f}, score {:.3f}, "
             "precision {:.3f}, recall {:.3f}\n",
             whole_ms, s.fd, s.score, s.precision, s.recall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Evaluation benchmark: the metrics alone, or a whole evaluation (--checkpoint)"};
  int n = 10000, dim = 256, k = 3, reps = 3;
  app.add_option("--n", n, "points per set")->check(CLI::Range(4, 1 << 24));
  app.add_option("--dim", dim, "feature dimension")->check(CLI::Range(1, 1 << 16));
  app.add_option("--k", k, "k-NN radius")->check(CLI::Range(1, 64));
  app.add_option("--reps", reps, "timed repetitions (median reported)")->check(CLI::Range(1, 100));
  std::string checkpoint, classifier, data_dir, device = "cpu";
  app.add_option("--checkpoint", checkpoint, "time a whole evaluation of this generator");
  app.add_option("--classifier", classifier, "classifier file (with --checkpoint)");
  app.add_option("--data", data_dir, "real images (default: the checkpoint's data set)");
  app.add_option("--device", device, "cpu, cuda or auto (with --checkpoint)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (app.count("--checkpoint") && checkpoint.empty())
      throw std::invalid_argument("--checkpoint: no file given");
    if (checkpoint.empty() && device != "cpu")
      throw std::invalid_argument("--device " + device +
                                  ": only with --checkpoint (the metrics alone run on the CPU)");
    if (!checkpoint.empty()) {
      if (classifier.empty()) throw std::invalid_argument("--checkpoint needs --classifier");
      return bench_whole(checkpoint, classifier, data_dir, device, n, reps);
    }
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
