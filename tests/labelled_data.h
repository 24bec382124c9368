// Small labelled MNIST-format data sets for the classifier and evaluation tests: ten classes, each a
// fixed random pattern of bright pixels over a dim noisy background, so a classifier can learn them
// in a few hundred steps and any two classes differ in about half their pixels.
#pragma once
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/data/idx.h"

namespace gan::test {

struct LabelledSet {
  ImageSet images;
  std::vector<uint8_t> labels;
};

// `count` images of rows x cols; class prototypes come from `pattern_seed` (shared by the train
// and test splits of one data set), pixel noise and labels from `seed`.
inline LabelledSet pattern_images(uint32_t count, uint32_t rows, uint32_t cols, uint64_t seed,
                                  uint64_t pattern_seed = 7) {
  const size_t D = size_t(rows) * cols;
  std::mt19937_64 pattern_gen(pattern_seed), gen(seed);
  std::vector<uint8_t> on(10 * D);
  for (auto& b : on) b = uint8_t(pattern_gen() & 1);
  LabelledSet s;
  s.images.count = count;
  s.images.rows = rows;
  s.images.cols = cols;
  s.images.pixels.resize(size_t(count) * D);
  s.labels.resize(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t c = uint8_t(gen() % 10);
    s.labels[i] = c;
    for (size_t j = 0; j < D; ++j)
      s.images.pixels[i * D + j] = uint8_t((on[c * D + j] ? 170 : 0) + gen() % 80);
  }
  return s;
}

// An MNIST-format directory with train-* and t10k-* images and labels (gzip), of n_train and
// n_test images; labels can be left out to make a data set without them.
inline void make_labelled_data(const std::string& dir, uint32_t n_train, uint32_t n_test,
                               uint32_t rows = 28, uint32_t cols = 28, bool with_labels = true,
                               uint64_t pattern_seed = 7) {
  std::filesystem::create_directories(dir);
  const LabelledSet train = pattern_images(n_train, rows, cols, 101, pattern_seed);
  const LabelledSet test = pattern_images(n_test, rows, cols, 202, pattern_seed);
  write_idx_images(dir + "/train-images-idx3-ubyte.gz", train.images, true);
  write_idx_images(dir + "/t10k-images-idx3-ubyte.gz", test.images, true);
  if (!with_labels) return;
  write_idx_labels(dir + "/train-labels-idx1-ubyte.gz", train.labels, true);
  write_idx_labels(dir + "/t10k-labels-idx1-ubyte.gz", test.labels, true);
}

}  // namespace gan::test
