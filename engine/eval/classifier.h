// The evaluation classifier: an MLP trained by the engine's own ops on the labelled training split
// of an MNIST-format data set, whose penultimate features and softmax score a generator's samples
// (quality_metrics.h). Saved as safetensors with the identity of its data (content hashes of the
// four IDX files), so a classifier of one data set is never used to score another.
#pragma once
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/context.h"
#include "engine/data/idx.h"
#include "engine/nn/model.h"

namespace gan {

// One split of an MNIST-format directory: images, their labels and where they came from.
struct LabelledImages {
  ImageSet images;
  std::vector<uint8_t> labels;  // (images.count), each < the class count
  std::string images_path, labels_path;
};

// split: "train" or "t10k". Throws naming the file: a missing labels file ("a data set without
// labels"), a count that differs from the images', or a label >= classes.
LabelledImages read_labelled_split(const std::string& dir, const std::string& split, int classes);

// Content hashes (FNV-1a, 64 bits, of the decoded file: the dimensions, then the bytes), so the
// same data compressed or not has the same identity: "fnv1a64:<16 hex digits>".
std::string image_set_hash(const ImageSet& set);
std::string label_set_hash(const std::vector<uint8_t>& labels);

// Images first .. first + count - 1 of `set` as floats in [-1, 1] (as the trainer scales them):
// (count, rows * cols).
std::vector<float> unit_pixels(const ImageSet& set, size_t first, size_t count);

// Which data set a classifier belongs to.
struct DataIdentity {
  int rows = 0, cols = 0, classes = 0;
  std::string train_images, train_labels, test_images, test_labels;  // hashes
  bool operator==(const DataIdentity&) const = default;
};
DataIdentity data_identity(const LabelledImages& train, const LabelledImages& test, int classes);

inline constexpr int kMnistClasses = 10;

// input -> dense 512 -> relu -> dropout -> dense 256 -> relu -> dropout -> dense classes.
// Features: the second relu's output (256 values; dropout is the identity when evaluating).
inline constexpr int kClassifierFeatures = 256;
ModelSpec classifier_spec(int input, int classes, float dropout);
inline constexpr int kClassifierFeatureLayer = 4;  // spec index of that relu

struct ClassifierTrainConfig {
  int batch = 128;
  int steps = 6000;  // 12.8 epochs of Fashion-MNIST at batch 128
  float lr = 1e-3f;
  float lr_decay = 0.5f;  // staircase: the rate halves every decay_every steps
  uint64_t decay_every = 2000;
  float dropout = 0.3f;
  uint64_t seed = 1;
  int log_every = 500;
};

class Classifier {
 public:
  // A fresh (untrained) classifier for `identity`'s images, on ctx's device, evaluating batches of
  // up to max_batch rows.
  Classifier(const ExecContext& ctx, const DataIdentity& identity, float dropout, int max_batch);

  // Reads a classifier written by save. Throws one line naming the file: unreadable or corrupt
  // safetensors, not a classifier of this engine, tensors of the wrong names or shapes, a
  // non-finite weight.
  static std::unique_ptr<Classifier> load(const std::string& path, const ExecContext& ctx,
                                          int max_batch);
  // safetensors: the model's tensors under nn.Sequential names, and in the metadata the spec, the
  // data identity and the test accuracy.
  void save(const std::string& path);

  // Throws naming `path` (the classifier file) when it was not trained on `data`'s data set.
  void require_data(const DataIdentity& data, const std::string& path) const;

  const DataIdentity& identity() const { return identity_; }
  Model& model() { return model_; }
  int input_dim() const { return identity_.rows * identity_.cols; }
  int classes() const { return identity_.classes; }
  int feature_dim() const;
  double test_accuracy = 0;  // on the t10k split, recorded when trained
  uint64_t trained_steps = 0;

  // images: (n, input) host floats in [-1, 1] -> features (n, feature_dim) and probs (n, classes)
  // on the host; either output may be null. Eval mode (dropout off).
  void embed(const float* images, size_t n, float* features, float* probs);
  // Fraction of `data` classified correctly (argmax of the logits).
  double accuracy(const LabelledImages& data);

 private:
  const ExecContext& ctx_;
  DataIdentity identity_;
  float dropout_;
  Model model_;
  Array<float> x_, probs_;
  Array<uint64_t> counter_;  // the draw counter forward takes (in the model's memory)
};

// Trains a classifier on a labelled training split with the engine's ops (softmax cross-entropy,
// Adam) on ctx's device; reports its accuracy on the test split. Progress lines go to `progress`
// (null: quiet). The statistics come back once every cfg.log_every steps, never inside a step; a
// non-finite loss throws naming its step.
std::unique_ptr<Classifier> train_classifier(const ExecContext& ctx, const LabelledImages& train,
                                             const LabelledImages& test,
                                             const ClassifierTrainConfig& cfg, std::FILE* progress);
// The same on dir's "train" and "t10k" splits.
std::unique_ptr<Classifier> train_classifier(const ExecContext& ctx, const std::string& data_dir,
                                             const ClassifierTrainConfig& cfg, std::FILE* progress);

// Where the classifier of a data set is cached when none is given:
// $GAN_CACHE_DIR, else $XDG_CACHE_HOME/gan_engine, else $HOME/.cache/gan_engine, then
// classifier-<first 16 hex digits of the training images' hash>.safetensors.
std::string cached_classifier_path(const std::string& train_images_hash);

}  // namespace gan
