// Scores a generator's samples against a data set's real test images through a classifier of that
// data set: Fréchet distance of the penultimate features, classifier score, classes covered, KL of
// the class histogram to uniform, precision and recall (quality_metrics.h). A consumer of the
// engine: it reads a generator and a classifier and writes numbers, never part of a training step.
#pragma once
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/eval/classifier.h"
#include "engine/eval/quality_metrics.h"
#include "kernels/random.h"

namespace gan {

struct QualityScores {
  size_t n = 0;  // samples scored
  double fd = 0;
  double score = 0;  // classifier score (Inception-score formula)
  int covered = 0, classes = 0;
  double kl_uniform = 0;
  double precision = 0, recall = 0;
  // A conditional generator's samples (TF-GAN's mnist_cross_entropy idea): the share the
  // classifier puts in the class they were asked for, overall and per class; empty otherwise.
  std::vector<double> class_accuracy;
  double label_accuracy = 0;
};
nlohmann::json quality_scores_to_json(const QualityScores& s);

inline constexpr int kPrecisionRecallK = 3;
inline constexpr size_t kMinEvalSamples = 10;         // FD needs 2, precision/recall k + 1
inline constexpr size_t kMaxEvalSamples = 1'000'000;  // and the host memory they need
// Host bytes to score n samples of D values with a classifier of F features and C classes.
uint64_t evaluation_bytes(size_t n, size_t D, size_t F, size_t C);

class Evaluator {
 public:
  // The real reference is `test` (the data set's t10k split), embedded once here; `clf` must be
  // of the same data set (checked by the caller with Classifier::require_data).
  Evaluator(const ExecContext& ctx, std::unique_ptr<Classifier> clf, LabelledImages test);

  Classifier& classifier() { return *clf_; }
  size_t real_count() const { return n_real_; }

  // images: (n, D) host floats in [-1, 1], D the classifier's input. Against the whole test set.
  QualityScores score_images(const float* images, size_t n);
  // n samples of G in inference mode from noise (seed, counter 0), made in batches of a fixed
  // size whatever G's own batch size, so a checkpoint scores the same in a training run's
  // eval.csv and from 'mnist_gan evaluate'.
  // A conditional G (classes > 0) makes sample i of class i % classes, and the scores include
  // the classifier's accuracy on those labels.
  QualityScores score_generator(Model& G, Distribution noise, size_t n, uint64_t seed,
                                int classes = 0);
  // The real data against itself: FD, precision and recall of the test set's first half against
  // its second half (the best a generator can hope for at that sample size); score, coverage and
  // KL of the whole test set (the classifier score's ceiling).
  QualityScores real_vs_real();

 private:
  // score_images, keeping the classifier's probabilities (n, classes) in *probs.
  QualityScores score_images(const float* images, size_t n, std::vector<float>* probs);
  QualityScores score_embedded(const std::vector<float>& features, const std::vector<float>& probs,
                               size_t n);

  const ExecContext& ctx_;
  std::unique_ptr<Classifier> clf_;
  size_t n_real_ = 0;
  std::vector<float> real_features_, real_probs_;
  FeatureStats real_stats_;
  std::unique_ptr<Model> eval_g_;  // a batch-size-independent copy of the generator scored
};

// The classifier a command uses: `path` when given (checked against the data set), else the
// cached one for the data set (cached_classifier_path), trained and cached first when absent.
// Progress of a training goes to `progress`; train_cfg: how it trains one (tests make it cheap).
std::unique_ptr<Classifier> obtain_classifier(const ExecContext& ctx, const std::string& path,
                                              const std::string& data_dir, int max_batch,
                                              std::FILE* progress,
                                              const ClassifierTrainConfig& train_cfg = {});

// "metric  generated  real vs real" lines for a terminal.
std::string format_quality_table(const QualityScores& generated, const QualityScores& real);

}  // namespace gan
