#include "engine/eval/evaluator.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "engine/core/memory_limits.h"
#include "engine/train/gan_trainer.h"

namespace gan {

namespace {
// Generator batches when scoring: fixed, so the noise (one stream per batch) and hence the scores
// depend only on the weights and the seed.
constexpr int kEvalGeneratorBatch = 500;
}  // namespace

nlohmann::json quality_scores_to_json(const QualityScores& s) {
  nlohmann::json j = {{"n", s.n},
                      {"fd", s.fd},
                      {"classifier_score", s.score},
                      {"classes_covered", s.covered},
                      {"classes", s.classes},
                      {"kl_to_uniform", s.kl_uniform},
                      {"precision", s.precision},
                      {"recall", s.recall}};
  if (!s.class_accuracy.empty()) {
    j["label_accuracy"] = s.label_accuracy;
    j["class_accuracy"] = s.class_accuracy;
  }
  return j;
}

uint64_t evaluation_bytes(size_t n, size_t D, size_t F, size_t C) {
  // The samples, their features and probabilities, and the real set's the same again (10,000 of
  // them at most in the MNIST sets; counted at n's size to stay on the safe side).
  return 4 * uint64_t(n) * (D + 2 * (F + C));
}

Evaluator::Evaluator(const ExecContext& ctx, std::unique_ptr<Classifier> clf, LabelledImages test)
    : ctx_(ctx), clf_(std::move(clf)) {
  const size_t D = size_t(clf_->input_dim());
  if (test.images.image_size() != D)
    throw std::runtime_error(fmt::format("{}: images of {} pixels, the classifier takes {}",
                                         test.images_path, test.images.image_size(), D));
  n_real_ = test.images.count;
  if (n_real_ < 2 * kMinEvalSamples)
    throw std::runtime_error(fmt::format("{}: {} test images, at least {} are needed to score "
                                         "against",
                                         test.images_path, n_real_, 2 * kMinEvalSamples));
  const std::vector<float> x = unit_pixels(test.images, 0, n_real_);
  real_features_.resize(n_real_ * size_t(clf_->feature_dim()));
  real_probs_.resize(n_real_ * size_t(clf_->classes()));
  clf_->embed(x.data(), n_real_, real_features_.data(), real_probs_.data());
  real_stats_ = feature_stats(real_features_.data(), n_real_, clf_->feature_dim());
}

namespace {
// The scores of one comparison: FD and precision/recall between two feature sets, the classifier
// score and coverage of `probs` (n_probs rows of C).
QualityScores combine(size_t n, double fd, const PrecisionRecall& pr, const float* probs,
                      size_t n_probs, int C) {
  QualityScores s;
  s.n = n;
  s.fd = fd;
  s.score = classifier_score(probs, n_probs, C);
  const ClassCoverage cov = class_coverage(probs, n_probs, C);
  s.covered = cov.covered;
  s.classes = C;
  s.kl_uniform = cov.kl_to_uniform;
  s.precision = pr.precision;
  s.recall = pr.recall;
  return s;
}
}  // namespace

QualityScores Evaluator::score_embedded(const std::vector<float>& features,
                                        const std::vector<float>& probs, size_t n) {
  const int F = clf_->feature_dim();
  return combine(n, frechet_distance(feature_stats(features.data(), n, F), real_stats_),
                 precision_recall(real_features_.data(), n_real_, features.data(), n, F,
                                  kPrecisionRecallK),
                 probs.data(), n, clf_->classes());
}

QualityScores Evaluator::score_images(const float* images, size_t n) {
  std::vector<float> probs;
  return score_images(images, n, &probs);
}

QualityScores Evaluator::score_images(const float* images, size_t n, std::vector<float>* probs) {
  if (n < kMinEvalSamples)
    throw std::invalid_argument(
        fmt::format("{} samples to score, at least {} are needed", n, kMinEvalSamples));
  std::vector<float> features(n * size_t(clf_->feature_dim()));
  probs->resize(n * size_t(clf_->classes()));
  clf_->embed(images, n, features.data(), probs->data());
  return score_embedded(features, *probs, n);
}

QualityScores Evaluator::score_generator(Model& G, Distribution noise, size_t n, uint64_t seed,
                                         int classes) {
  if (G.output_dim() != clf_->input_dim())
    throw std::invalid_argument(fmt::format("the generator makes {} values a sample, the "
                                            "classifier takes {}",
                                            G.output_dim(), clf_->input_dim()));
  if (n < kMinEvalSamples || n > kMaxEvalSamples)
    throw std::invalid_argument(fmt::format("{} samples to score: must be in [{}, {}]", n,
                                            kMinEvalSamples, kMaxEvalSamples));
  if (!eval_g_ || model_spec_to_json(eval_g_->spec()) != model_spec_to_json(G.spec()))
    eval_g_ = std::make_unique<Model>("generator (scored)", G.spec(), kEvalGeneratorBatch, ctx_.kind);
  ctx_.synchronize();
  eval_g_->params().upload(G.params().download());
  eval_g_->state().upload(G.state().download());
  const std::vector<float> images = generate_images(ctx_, *eval_g_, noise, int(n), seed, classes);
  std::vector<float> probs;
  QualityScores s = score_images(images.data(), n, &probs);
  if (classes == 0) return s;
  // Sample i was asked for class i % classes: is that the classifier's top class?
  const int C = clf_->classes();
  std::vector<size_t> hits(static_cast<size_t>(classes)), asked(hits.size());
  for (size_t i = 0; i < n; ++i) {
    const float* p = probs.data() + i * size_t(C);
    const size_t top = size_t(std::max_element(p, p + C) - p);
    const size_t label = i % size_t(classes);
    ++asked[label];
    hits[label] += top == label;
  }
  size_t total = 0;
  for (int c = 0; c < classes; ++c) {
    s.class_accuracy.push_back(asked[c] ? double(hits[c]) / double(asked[c]) : 0.0);
    total += hits[c];
  }
  s.label_accuracy = double(total) / double(n);
  return s;
}

QualityScores Evaluator::real_vs_real() {
  const int F = clf_->feature_dim();
  const size_t half = n_real_ / 2;
  const float* a = real_features_.data();
  const float* b = real_features_.data() + half * size_t(F);
  return combine(half, frechet_distance(feature_stats(a, half, F), feature_stats(b, half, F)),
                 precision_recall(a, half, b, half, F, kPrecisionRecallK), real_probs_.data(),
                 n_real_, clf_->classes());
}

std::unique_ptr<Classifier> obtain_classifier(const ExecContext& ctx, const std::string& path,
                                              const std::string& data_dir, int max_batch,
                                              std::FILE* progress,
                                              const ClassifierTrainConfig& train_cfg) {
  const LabelledImages train = read_labelled_split(data_dir, "train", kMnistClasses);
  const LabelledImages test = read_labelled_split(data_dir, "t10k", kMnistClasses);
  const DataIdentity id = data_identity(train, test, kMnistClasses);
  std::string file = path;
  if (file.empty()) {
    file = cached_classifier_path(id.train_images);
    if (!std::filesystem::exists(file)) {
      if (progress)
        std::fprintf(progress, "no classifier cached for %s: training one (once) into %s\n",
                     data_dir.c_str(), file.c_str());
      auto clf = train_classifier(ctx, train, test, train_cfg, progress);
      std::error_code ec;
      std::filesystem::create_directories(std::filesystem::path(file).parent_path(), ec);
      if (ec)
        throw std::runtime_error(fmt::format("{}: cannot create the classifier cache ({})",
                                             std::filesystem::path(file).parent_path().string(),
                                             ec.message()));
      clf->save(file);
    }
  }
  auto clf = Classifier::load(file, ctx, max_batch);
  clf->require_data(id, file);
  return clf;
}

std::string format_quality_table(const QualityScores& g, const QualityScores& r) {
  std::string t = fmt::format("{:<22} {:>12} {:>14}\n", "metric",
                              fmt::format("generated", g.n), "real vs real");
  t += fmt::format("{:<22} {:>12} {:>14}\n", "samples", g.n, fmt::format("{} + {}", r.n, r.n));
  t += fmt::format("{:<22} {:>12.3f} {:>14.3f}   (lower is better; real: the floor)\n",
                   "Frechet distance", g.fd, r.fd);
  t += fmt::format("{:<22} {:>12.3f} {:>14.3f}   (higher is better; real: the ceiling)\n",
                   "classifier score", g.score, r.score);
  t += fmt::format("{:<22} {:>12} {:>14}   (classes with at least 1% of the samples)\n",
                   "classes covered", fmt::format("{}/{}", g.covered, g.classes),
                   fmt::format("{}/{}", r.covered, r.classes));
  t += fmt::format("{:<22} {:>12.4f} {:>14.4f}   (of the class histogram; 0: uniform)\n",
                   "KL to uniform", g.kl_uniform, r.kl_uniform);
  t += fmt::format("{:<22} {:>12.3f} {:>14.3f}   (samples on the real manifold)\n",
                   "precision (k=3)", g.precision, r.precision);
  t += fmt::format("{:<22} {:>12.3f} {:>14.3f}   (real images on the samples' manifold)\n",
                   "recall (k=3)", g.recall, r.recall);
  if (!g.class_accuracy.empty()) {
    t += fmt::format("{:<22} {:>12.3f} {:>14}   (samples classified as the label asked for)\n",
                     "label accuracy", g.label_accuracy, "");
    std::string per;
    for (size_t c = 0; c < g.class_accuracy.size(); ++c)
      per += fmt::format("{}{}: {:.2f}", c ? ", " : "", c, g.class_accuracy[c]);
    t += fmt::format("{:<22} {}\n", "  per class", per);
  }
  return t;
}

}  // namespace gan
