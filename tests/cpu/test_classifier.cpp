// The evaluation classifier and the evaluator on small synthetic labelled data sets: training
// reaches a stated accuracy, files round-trip and bad ones are refused, features are the
// penultimate layer, and scores behave at their known extremes.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "cli_harness.h"
#include "engine/eval/evaluator.h"
#include "engine/train/gan_trainer.h"
#include "engine/io/safetensors.h"
#include "labelled_data.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

// The classifier's parameters as bit patterns (bitwise comparison, NaN-proof).
std::vector<uint32_t> param_bits(Classifier& c) {
  const std::vector<float> p = c.model().params().download();
  std::vector<uint32_t> bits(p.size());
  std::memcpy(bits.data(), p.data(), p.size() * sizeof(float));
  return bits;
}

ClassifierTrainConfig cheap_config(uint64_t seed) {
  ClassifierTrainConfig c;
  c.batch = 64;
  c.steps = 300;
  c.decay_every = 0;
  c.seed = seed;
  c.log_every = 100;
  return c;
}

class ClassifierTest : public ::testing::Test {
 protected:
  ClassifierTest() : tmp("gan_classifier"), exec(DeviceKind::Cpu) {}
  void SetUp() override {
    data = (tmp.path / "data").string();
    make_labelled_data(data, 2000, 500, 12, 12);
  }
  std::unique_ptr<Classifier> trained(uint64_t seed = 1) {
    return train_classifier(exec.context(), data, cheap_config(seed), nullptr);
  }
  Scratch tmp;
  ExecResources exec;
  std::string data;
};

}  // namespace

// Ten well separated classes: 300 steps of batch 64 (9.6 epochs of 2,000 images) must classify
// at least 95% of the 500 test images. The same run with the labels' gradient sign flipped (a
// broken softmax gradient) stays near chance, which this bound also catches.
TEST_F(ClassifierTest, LearnsSyntheticClassesToStatedAccuracy) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const auto clf = trained(rng.bits());
  EXPECT_GE(clf->test_accuracy, 0.95);
  EXPECT_EQ(clf->trained_steps, 300u);
  EXPECT_EQ(clf->feature_dim(), 256);
  EXPECT_EQ(clf->classes(), 10);
  // The reported accuracy is the one accuracy() measures on the test split.
  const LabelledImages test = read_labelled_split(data, "t10k", kMnistClasses);
  EXPECT_DOUBLE_EQ(clf->accuracy(test), clf->test_accuracy);
}

TEST_F(ClassifierTest, FeaturesAreThePenultimateLayerAndProbabilitiesItsSoftmax) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const auto clf = trained(rng.bits());
  const int n = 37, D = clf->input_dim(), F = clf->feature_dim(), C = clf->classes();
  const std::vector<float> x = rng.vec<float>(size_t(n) * D, -1, 1);
  std::vector<float> feat(size_t(n) * F), probs(size_t(n) * C);
  clf->embed(x.data(), n, feat.data(), probs.data());
  // By hand in double from the weights (nn.Sequential layout: 0 dense, 3 dense, 6 dense).
  const std::vector<NamedTensor> t = model_named_tensors(clf->model());
  const auto find = [&](const std::string& name) -> const std::vector<float>& {
    for (const NamedTensor& nt : t)
      if (nt.name == name) return nt.data;
    throw std::runtime_error("no " + name);
  };
  const auto dense = [](const std::vector<double>& in, const std::vector<float>& W,
                        const std::vector<float>& b, bool relu) {
    const size_t OUT = b.size(), IN = in.size();
    std::vector<double> out(OUT);
    for (size_t o = 0; o < OUT; ++o) {
      double s = b[o];
      for (size_t i = 0; i < IN; ++i) s += double(W[o * IN + i]) * in[i];
      out[o] = relu ? std::max(s, 0.0) : s;
    }
    return out;
  };
  for (int r = 0; r < n; ++r) {
    std::vector<double> in(x.begin() + size_t(r) * D, x.begin() + size_t(r + 1) * D);
    const auto h1 = dense(in, find("0.weight"), find("0.bias"), true);
    const auto h2 = dense(h1, find("3.weight"), find("3.bias"), true);
    const auto logits = dense(h2, find("6.weight"), find("6.bias"), false);
    for (int f = 0; f < F; ++f)
      ASSERT_NEAR(feat[size_t(r) * F + f], h2[f], 1e-4 * std::max(1.0, std::fabs(h2[f])))
          << "row " << r << " feature " << f;
    double mx = logits[0], sum = 0;
    for (double v : logits) mx = std::max(mx, v);
    for (double v : logits) sum += std::exp(v - mx);
    for (int c = 0; c < C; ++c)
      ASSERT_NEAR(probs[size_t(r) * C + c], std::exp(logits[c] - mx) / sum, 1e-5)
          << "row " << r << " class " << c;
  }
}

TEST_F(ClassifierTest, SaveAndLoadRoundTripBitwise) {
  auto clf = trained();
  const std::string file = (tmp.path / "c.safetensors").string();
  clf->save(file);
  const auto back = Classifier::load(file, exec.context(), 100);
  EXPECT_EQ(back->identity(), clf->identity());
  EXPECT_EQ(param_bits(*back), param_bits(*clf));
  EXPECT_NEAR(back->test_accuracy, clf->test_accuracy, 1e-6);
  EXPECT_EQ(back->trained_steps, clf->trained_steps);
  const LabelledImages test = read_labelled_split(data, "t10k", kMnistClasses);
  EXPECT_DOUBLE_EQ(back->accuracy(test), clf->accuracy(test));
}

TEST_F(ClassifierTest, LoadRefusesBadFilesNamingThem) {
  auto clf = trained();
  const std::string good = (tmp.path / "good.safetensors").string();
  clf->save(good);
  std::map<std::string, std::string> meta;
  const std::vector<NamedTensor> tensors = read_safetensors(good, &meta);
  const auto refused = [&](const std::string& path, const std::string& why) {
    try {
      Classifier::load(path, exec.context(), 10);
    } catch (const std::runtime_error& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find(path), std::string::npos) << m;
      EXPECT_NE(m.find(why), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
      return;
    }
    ADD_FAILURE() << path << " was accepted";
  };
  // Truncated.
  const std::string bytes = slurp(good);
  const std::string cut = (tmp.path / "cut.safetensors").string();
  spit(cut, bytes.substr(0, bytes.size() / 2));
  refused(cut, "cut.safetensors");
  // Not a classifier (e.g. a generator export).
  auto m2 = meta;
  m2.erase("format");
  const std::string gen = (tmp.path / "gen.safetensors").string();
  write_safetensors(gen, tensors, m2);
  refused(gen, "not a classifier");
  // A tensor of the wrong shape.
  auto t3 = tensors;
  for (auto& t : t3)
    if (t.name == "3.weight") {
      t.shape = {128, 1024};
    }
  const std::string shape = (tmp.path / "shape.safetensors").string();
  write_safetensors(shape, t3, meta);
  refused(shape, "'3.weight' has shape [128, 1024]");
  // A missing tensor.
  auto t4 = tensors;
  t4.pop_back();
  const std::string fewer = (tmp.path / "fewer.safetensors").string();
  write_safetensors(fewer, t4, meta);
  refused(fewer, "values, the classifier its metadata describes");
  // A non-finite weight.
  auto t5 = tensors;
  t5[0].data[3] = std::nanf("");
  const std::string nan = (tmp.path / "nan.safetensors").string();
  write_safetensors(nan, t5, meta);
  refused(nan, "non-finite");
  // Metadata out of range.
  auto m6 = meta;
  m6["rows"] = "-3";
  const std::string rows = (tmp.path / "rows.safetensors").string();
  write_safetensors(rows, tensors, m6);
  refused(rows, "'rows'");
}

TEST_F(ClassifierTest, RefusesTheDataOfAnotherDataSet) {
  auto clf = trained();
  const std::string other = (tmp.path / "other").string();
  make_labelled_data(other, 2000, 500, 12, 12, true, /*pattern_seed=*/8);
  const DataIdentity id =
      data_identity(read_labelled_split(other, "train", 10), read_labelled_split(other, "t10k", 10),
                    10);
  EXPECT_NO_THROW(clf->require_data(clf->identity(), "c.safetensors"));
  try {
    clf->require_data(id, "c.safetensors");
    ADD_FAILURE() << "another data set was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("c.safetensors: a classifier of another data set"),
              std::string::npos)
        << e.what();
  }
  // Same pixels, other test labels: still another data set.
  DataIdentity relabelled = clf->identity();
  relabelled.test_labels = "fnv1a64:0000000000000000";
  EXPECT_THROW(clf->require_data(relabelled, "c.safetensors"), std::runtime_error);
}

TEST_F(ClassifierTest, LabelledSplitsRefuseMissingOrBadLabels) {
  const std::string nolabels = (tmp.path / "nolabels").string();
  make_labelled_data(nolabels, 50, 20, 12, 12, /*with_labels=*/false);
  EXPECT_THROW(
      {
        try {
          read_labelled_split(nolabels, "train", 10);
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("no MNIST-format training labels"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      std::runtime_error);
  // Fewer labels than images; a label that is no class.
  write_idx_labels(nolabels + "/train-labels-idx1-ubyte", std::vector<uint8_t>(49, 1), false);
  EXPECT_THROW(read_labelled_split(nolabels, "train", 10), std::runtime_error);
  std::vector<uint8_t> bad(50, 2);
  bad[17] = 10;
  write_idx_labels(nolabels + "/train-labels-idx1-ubyte", bad, false);
  try {
    read_labelled_split(nolabels, "train", 10);
    ADD_FAILURE() << "label 10 accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("label 10 of image 17"), std::string::npos) << e.what();
  }
}

TEST_F(ClassifierTest, HashesDependOnContentNotCompression) {
  const LabelledImages a = read_labelled_split(data, "train", 10);
  const std::string raw = (tmp.path / "raw").string();
  fs::create_directories(raw);
  write_idx_images(raw + "/train-images-idx3-ubyte", a.images, false);
  EXPECT_EQ(image_set_hash(read_idx_images(raw + "/train-images-idx3-ubyte")),
            image_set_hash(a.images));
  ImageSet changed = a.images;
  changed.pixels[12345] ^= 1;
  EXPECT_NE(image_set_hash(changed), image_set_hash(a.images));
  std::vector<uint8_t> labels = a.labels;
  labels[3] = uint8_t((labels[3] + 1) % 10);
  EXPECT_NE(label_set_hash(labels), label_set_hash(a.labels));
}

// The real test set scored as if it were samples: FD 0, precision and recall 1, the score and
// coverage of the real set. Pure noise: far away and off the manifold.
TEST_F(ClassifierTest, EvaluatorScoresRealImagesAsTheRealSetAndNoiseAsFarOff) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  auto clf = trained(rng.bits());
  const LabelledImages test = read_labelled_split(data, "t10k", kMnistClasses);
  Evaluator ev(exec.context(), std::move(clf), test);
  const size_t n = test.images.count, D = test.images.image_size();
  std::vector<float> x(n * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (float(test.images.pixels[i]) - 127.5f) / 127.5f;
  const QualityScores same = ev.score_images(x.data(), n);
  const QualityScores real = ev.real_vs_real();
  EXPECT_NEAR(same.fd, 0.0, 1e-6);
  EXPECT_DOUBLE_EQ(same.precision, 1.0);
  EXPECT_DOUBLE_EQ(same.recall, 1.0);
  EXPECT_NEAR(same.score, real.score, 1e-9);
  EXPECT_EQ(same.covered, 10);
  EXPECT_GT(real.fd, 0.0);
  const std::vector<float> noise = rng.vec<float>(n * D, -1, 1);
  const QualityScores far = ev.score_images(noise.data(), n);
  EXPECT_GT(far.fd, 10 * real.fd);
  EXPECT_LT(far.precision, 0.05);
  EXPECT_THROW(ev.score_images(x.data(), kMinEvalSamples - 1), std::invalid_argument);
}

// Scores of a generator depend on its weights and the seed only, not on the batch size its model
// was built for, and repeat exactly.
TEST_F(ClassifierTest, GeneratorScoresRepeatAndIgnoreItsBatchSize) {
  auto clf = trained();
  Evaluator ev(exec.context(), std::move(clf), read_labelled_split(data, "t10k", kMnistClasses));
  ModelSpec g{20, {LayerSpec::dense(64), LayerSpec::activation(Activation::leaky_relu(0.2f)),
                   LayerSpec::batchnorm({}), LayerSpec::dense(144),
                   LayerSpec::activation(Activation::tanh())}};
  Model a("g", g, 7, DeviceKind::Cpu), b("g", g, 300, DeviceKind::Cpu);
  a.init(InitScheme::GlorotUniform, 5, 0);
  b.init(InitScheme::GlorotUniform, 5, 0);
  const QualityScores s1 = ev.score_generator(a, Distribution::Normal, 600, 3);
  const QualityScores s2 = ev.score_generator(b, Distribution::Normal, 600, 3);
  const QualityScores s3 = ev.score_generator(a, Distribution::Normal, 600, 4);
  EXPECT_EQ(s1.fd, s2.fd);
  EXPECT_EQ(s1.precision, s2.precision);
  EXPECT_EQ(s1.recall, s2.recall);
  EXPECT_EQ(s1.score, s2.score);
  EXPECT_NE(s1.fd, s3.fd);  // another seed, other samples
}

TEST_F(ClassifierTest, ObtainTrainsOnceIntoTheCacheThenLoads) {
  const std::string cache = (tmp.path / "cache").string();
  ASSERT_EQ(setenv("GAN_CACHE_DIR", cache.c_str(), 1), 0);
  const ClassifierTrainConfig cfg = cheap_config(1);
  auto first = obtain_classifier(exec.context(), "", data, 100, nullptr, cfg);
  const std::string file =
      cached_classifier_path(image_set_hash(read_labelled_split(data, "train", 10).images));
  EXPECT_EQ(fs::path(file).parent_path(), fs::path(cache));
  ASSERT_TRUE(fs::exists(file));
  const auto written = fs::last_write_time(file);
  auto second = obtain_classifier(exec.context(), "", data, 100, nullptr, cfg);
  EXPECT_EQ(fs::last_write_time(file), written);
  EXPECT_EQ(param_bits(*second), param_bits(*first));
  // A classifier of another data set given by path is refused.
  const std::string other = (tmp.path / "other").string();
  make_labelled_data(other, 300, 100, 12, 12, true, 9);
  EXPECT_THROW(obtain_classifier(exec.context(), file, other, 100, nullptr, cfg),
               std::runtime_error);
  unsetenv("GAN_CACHE_DIR");
}

// A diverging training stops with the step its loss first went non-finite, although the
// statistics are read back only once an interval.
TEST_F(ClassifierTest, DivergenceStopsNamingTheStep) {
  ClassifierTrainConfig cfg = cheap_config(1);
  cfg.lr = 1e30f;
  cfg.steps = 40;
  cfg.log_every = 16;
  try {
    train_classifier(exec.context(), data, cfg, nullptr);
    ADD_FAILURE() << "a learning rate of 1e30 trained without a non-finite loss";
  } catch (const std::runtime_error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("classifier training diverged"), std::string::npos) << m;
    // The first bad step, found by training step by step with the same settings.
    int first_bad = 0;
    for (int steps = 1; steps <= 40 && !first_bad; ++steps) {
      ClassifierTrainConfig one = cfg;
      one.steps = steps;
      one.log_every = 1;
      try {
        train_classifier(exec.context(), data, one, nullptr);
      } catch (const std::runtime_error&) {
        first_bad = steps;
      }
    }
    ASSERT_GT(first_bad, 0);
    EXPECT_NE(m.find(fmt::format("at step {}", first_bad)), std::string::npos) << m;
  }
}
