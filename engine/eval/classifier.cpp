#include "engine/eval/classifier.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/train/gan_trainer.h"
#include "engine/io/json_fields.h"
#include "engine/core/ops.h"
#include "engine/io/safetensors.h"
#include "kernels/scalar.h"

namespace gan {

namespace {

// Streams of the classifier's random draws, apart from the GAN trainer's.
constexpr uint32_t kStreamClassifierBatch = 0x80000800u;
constexpr const char* kFormat = "gan_engine classifier 1";

struct Fnv1a {
  uint64_t h = 0xcbf29ce484222325ull;
  void add(const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  }
  void add_u32(uint32_t v) {
    const uint8_t b[4] = {uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)};
    add(b, 4);
  }
  std::string str() const { return fmt::format("fnv1a64:{:016x}", h); }
};

}  // namespace

std::string image_set_hash(const ImageSet& set) {
  Fnv1a f;
  f.add_u32(set.count);
  f.add_u32(set.rows);
  f.add_u32(set.cols);
  f.add(set.pixels.data(), set.pixels.size());
  return f.str();
}

std::string label_set_hash(const std::vector<uint8_t>& labels) {
  Fnv1a f;
  f.add_u32(uint32_t(labels.size()));
  f.add(labels.data(), labels.size());
  return f.str();
}

std::vector<float> unit_pixels(const ImageSet& set, size_t first, size_t count) {
  const size_t D = set.image_size();
  std::vector<float> x(count * D);
  for (size_t i = 0; i < x.size(); ++i) x[i] = pixel_to_unit<float>(set.pixels[first * D + i]);
  return x;
}

LabelledImages read_labelled_split(const std::string& dir, const std::string& split, int classes) {
  LabelledImages d;
  d.images_path = find_mnist_file(dir, split + "-images");
  d.labels_path = find_mnist_file(dir, split + "-labels");
  d.images = read_idx_images(d.images_path);
  d.labels = read_idx_labels(d.labels_path);
  check_labels(d.labels, d.labels_path, d.images.count, d.images_path, classes);
  return d;
}

DataIdentity data_identity(const LabelledImages& train, const LabelledImages& test, int classes) {
  if (train.images.rows != test.images.rows || train.images.cols != test.images.cols)
    throw std::runtime_error(fmt::format("{}: images of {}x{}, but {} holds {}x{}",
                                         test.images_path, test.images.rows, test.images.cols,
                                         train.images_path, train.images.rows, train.images.cols));
  return {int(train.images.rows), int(train.images.cols), classes,
          image_set_hash(train.images), label_set_hash(train.labels),
          image_set_hash(test.images),  label_set_hash(test.labels)};
}

ModelSpec classifier_spec(int input, int classes, float dropout) {
  return {input,
          {LayerSpec::dense(512), LayerSpec::activation(Activation::relu()),
           LayerSpec::dropout(dropout), LayerSpec::dense(kClassifierFeatures),
           LayerSpec::activation(Activation::relu()), LayerSpec::dropout(dropout),
           LayerSpec::dense(classes)}};
}

Classifier::Classifier(const ExecContext& ctx, const DataIdentity& identity, float dropout,
                       int max_batch)
    : ctx_(ctx),
      identity_(identity),
      dropout_(dropout),
      model_("classifier", classifier_spec(identity.rows * identity.cols, identity.classes, dropout),
             max_batch, ctx.kind),
      x_(ctx.kind, size_t(max_batch) * identity.rows * identity.cols),
      probs_(ctx.kind, size_t(max_batch) * identity.classes),
      counter_(ctx.kind, 1) {}

int Classifier::feature_dim() const { return model_.layer_width(kClassifierFeatureLayer); }

void Classifier::embed(const float* images, size_t n, float* features, float* probs) {
  const size_t D = size_t(input_dim()), F = size_t(feature_dim()), C = size_t(classes());
  for (size_t done = 0; done < n;) {
    const int B = int(std::min<size_t>(n - done, size_t(model_.max_batch())));
    x_.upload(images + done * D, size_t(B) * D);
    // Not training: dropout is the identity, so the counter (0) draws nothing.
    const float* logits = model_.forward(ctx_, x_.data(), B, false, 0, 0, counter_.data());
    if (probs)
      ops::softmax_xent(ctx_, logits, nullptr, nullptr, B, int(C), 1.0f, probs_.data(), nullptr,
                        nullptr);
    ctx_.synchronize();
    if (features)
      detail::array_copy_out(ctx_.kind, features + done * F,
                             model_.layer_output(kClassifierFeatureLayer),
                             size_t(B) * F * sizeof(float));
    if (probs) probs_.download(probs + done * C, size_t(B) * C);
    done += size_t(B);
  }
}

double Classifier::accuracy(const LabelledImages& data) {
  const size_t n = data.images.count, D = data.images.image_size(), C = size_t(classes());
  if (D != size_t(input_dim()))
    throw std::runtime_error(fmt::format("{}: images of {} pixels, the classifier takes {}",
                                         data.images_path, D, input_dim()));
  size_t correct = 0;
  std::vector<float> p;
  constexpr size_t kChunk = 2048;
  for (size_t done = 0; done < n; done += kChunk) {
    const size_t m = std::min(kChunk, n - done);
    p.resize(m * C);
    embed(unit_pixels(data.images, done, m).data(), m, nullptr, p.data());
    for (size_t i = 0; i < m; ++i) {
      const float* row = p.data() + i * C;
      const size_t best = size_t(std::max_element(row, row + C) - row);
      correct += best == data.labels[done + i];
    }
  }
  return n ? double(correct) / double(n) : 0.0;
}

void Classifier::require_data(const DataIdentity& data, const std::string& path) const {
  if (identity_ == data) return;
  const std::string why =
      identity_.rows != data.rows || identity_.cols != data.cols
          ? fmt::format("it takes {}x{} images, the data set has {}x{}", identity_.rows,
                        identity_.cols, data.rows, data.cols)
      : identity_.classes != data.classes ? fmt::format("it has {} classes, the data set {}",
                                                        identity_.classes, data.classes)
      : identity_.train_images != data.train_images
          ? fmt::format("it was trained on other images (training images {}, the data set's {})",
                        identity_.train_images, data.train_images)
          : "the data set's labels or test split differ from the ones it was trained and tested "
            "on";
  throw std::runtime_error(path + ": a classifier of another data set: " + why +
                           "; train one for this data set with 'mnist_gan classifier'");
}

void Classifier::save(const std::string& path) {
  const DataIdentity& id = identity_;
  write_safetensors(path, model_named_tensors(model_),
                    {{"format", kFormat},
                     {"model", describe_model_spec(model_.spec())},
                     {"dropout", fmt::format("{}", dropout_)},
                     {"rows", std::to_string(id.rows)},
                     {"cols", std::to_string(id.cols)},
                     {"classes", std::to_string(id.classes)},
                     {"train_images", id.train_images},
                     {"train_labels", id.train_labels},
                     {"test_images", id.test_images},
                     {"test_labels", id.test_labels},
                     {"test_accuracy", fmt::format("{:.6f}", test_accuracy)},
                     {"steps", std::to_string(trained_steps)}});
}

std::unique_ptr<Classifier> Classifier::load(const std::string& path, const ExecContext& ctx,
                                             int max_batch) {
  std::map<std::string, std::string> meta;
  const std::vector<NamedTensor> tensors = read_safetensors(path, &meta);
  const auto field = [&](const std::string& key) -> const std::string& {
    const auto it = meta.find(key);
    if (it == meta.end())
      throw std::runtime_error(path + ": not a classifier of this engine (no '" + key +
                               "' in its metadata)");
    return it->second;
  };
  if (field("format") != kFormat)
    throw std::runtime_error(path + ": not a classifier of this engine (format '" +
                             field("format") + "', expected '" + kFormat + "')");
  const auto number = [&](const std::string& key, double lo, double hi) {
    const std::string& text = field(key);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size() || !(v >= lo && v <= hi))
      throw std::runtime_error(fmt::format("{}: metadata '{}' is '{}', expected a number in [{}, {}]",
                                           path, key, text, lo, hi));
    return v;
  };
  DataIdentity id;
  id.rows = int(number("rows", 1, 4096));
  id.cols = int(number("cols", 1, 4096));
  id.classes = int(number("classes", 2, 256));
  if (int64_t(id.rows) * id.cols > kMaxLayerWidth)
    throw std::runtime_error(fmt::format("{}: images of {}x{} are larger than the classifier takes",
                                         path, id.rows, id.cols));
  id.train_images = field("train_images");
  id.train_labels = field("train_labels");
  id.test_images = field("test_images");
  id.test_labels = field("test_labels");
  const float dropout = float(number("dropout", 0, 0.99));
  // The file must hold exactly the values such a classifier has before one is allocated.
  const ModelSpec spec = classifier_spec(id.rows * id.cols, id.classes, dropout);
  const ModelFootprint f = model_footprint(spec, 1);
  uint64_t held = 0;
  for (const NamedTensor& t : tensors) held += t.data.size();
  if (held != f.params + f.state)
    throw std::runtime_error(fmt::format("{}: {} values, the classifier its metadata describes ({}) "
                                         "has {}",
                                         path, held, describe_model_spec(spec), f.params + f.state));
  auto c = std::make_unique<Classifier>(ctx, id, dropout, max_batch);
  c->test_accuracy = number("test_accuracy", 0, 1);
  c->trained_steps = uint64_t(number("steps", 0, 1e15));

  // Every tensor the model has, by name and shape, and nothing else.
  Model& m = c->model();
  std::vector<float> params(m.params().size()), state(m.state().size());
  if (tensors.size() != m.tensors().size())
    throw std::runtime_error(fmt::format("{}: {} tensors, the classifier ({}) has {}", path,
                                         tensors.size(), describe_model_spec(m.spec()),
                                         m.tensors().size()));
  for (const TensorSlot& s : m.tensors()) {
    const auto t = std::find_if(tensors.begin(), tensors.end(),
                                [&](const NamedTensor& n) { return n.name == s.name; });
    if (t == tensors.end()) throw std::runtime_error(path + ": no tensor '" + s.name + "'");
    if (t->shape != s.shape)
      throw std::runtime_error(fmt::format("{}: tensor '{}' has shape [{}], the classifier needs [{}]",
                                           path, s.name, fmt::join(t->shape, ", "),
                                           fmt::join(s.shape, ", ")));
    for (size_t i = 0; i < t->data.size(); ++i)
      if (!std::isfinite(t->data[i]))
        throw std::runtime_error(
            fmt::format("{}: tensor '{}' holds a non-finite value (at {})", path, s.name, i));
    std::copy(t->data.begin(), t->data.end(), (s.is_state ? state : params).begin() + s.offset);
  }
  m.params().upload(params);
  m.state().upload(state);
  return c;
}

std::unique_ptr<Classifier> train_classifier(const ExecContext& ctx, const std::string& data_dir,
                                             const ClassifierTrainConfig& cfg, std::FILE* progress) {
  return train_classifier(ctx, read_labelled_split(data_dir, "train", kMnistClasses),
                          read_labelled_split(data_dir, "t10k", kMnistClasses), cfg, progress);
}

std::unique_ptr<Classifier> train_classifier(const ExecContext& ctx, const LabelledImages& train,
                                             const LabelledImages& test,
                                             const ClassifierTrainConfig& cfg, std::FILE* progress) {
  const auto start = std::chrono::steady_clock::now();
  const DataIdentity id = data_identity(train, test, kMnistClasses);
  auto clf = std::make_unique<Classifier>(ctx, id, cfg.dropout, std::max(cfg.batch, 1024));
  Model& m = clf->model();
  m.init(InitScheme::TorchDefault, cfg.seed, 0);

  const size_t D = train.images.image_size();
  const int B = cfg.batch, C = id.classes;
  Array<uint8_t> images(ctx.kind, train.images.pixels.size()), labels(ctx.kind, train.labels.size());
  images.upload(train.images.pixels);
  labels.upload(train.labels);
  Array<float> x(ctx.kind, size_t(B) * D), dlogits(ctx.kind, size_t(B) * C);
  Array<uint32_t> rows(ctx.kind, size_t(B));
  Array<uint64_t> counters(ctx.kind, 2);  // [0]: batch/dropout draws, [1]: Adam's t
  Array<float> stats(ctx.kind, 3);        // BceStats<float>: loss, mean p(label), accuracy
  // Each step's statistics go into a ring of log_every slots, read back once an interval: no host
  // round trip inside a step.
  const uint32_t n_slots = uint32_t(cfg.log_every);
  Array<float> slots(ctx.kind, size_t(n_slots) * 3);
  AdamConfig adam;
  adam.lr = cfg.lr;
  adam.decay = cfg.lr_decay;
  adam.decay_every = cfg.decay_every;

  if (progress)
    std::fprintf(progress, "training the classifier %s on %u images of %s (%s), %d steps of %d\n",
                 describe_model_spec(m.spec()).c_str(), train.images.count,
                 train.images_path.c_str(), ctx.is_cuda() ? "cuda" : "cpu", cfg.steps, B);
  for (int step = 1; step <= cfg.steps; ++step) {
    uint64_t* draw = counters.data();
    uint64_t* t = counters.data() + 1;
    ops::sample_batch(ctx, images.data(), train.images.count, D, B, cfg.seed,
                      kStreamClassifierBatch, draw, x.data(), rows.data());
    const float* logits = m.forward(ctx, x.data(), B, true, cfg.seed, 0, draw);
    ops::softmax_xent(ctx, logits, labels.data(), rows.data(), B, C, 1.0f, nullptr,
                      dlogits.data(), reinterpret_cast<BceStats<float>*>(stats.data()));
    m.backward(ctx, dlogits.data(), GradMode::Overwrite, false);
    ops::counter_add(ctx, t, 1);
    m.adam_step(ctx, adam, t, nullptr);
    ops::stats_to_slot(ctx, stats.data(), 3, slots.data(), n_slots, t);  // t == step
    ops::counter_add(ctx, draw, 1);
    if (step % cfg.log_every != 0 && step != cfg.steps) continue;
    // The interval's steps first..step sit in the ring's slots 0..step - first.
    const int first = step - (step - 1) % cfg.log_every;
    ctx.synchronize();
    const std::vector<float> s = slots.download();
    double loss_sum = 0, acc_sum = 0;
    for (int k = first; k <= step; ++k) {
      const float* row = s.data() + size_t((k - 1) % cfg.log_every) * 3;
      if (!std::isfinite(row[0]))
        throw std::runtime_error(fmt::format("classifier training diverged (loss {}) at step {}",
                                             row[0], k));
      loss_sum += row[0];
      acc_sum += row[2];
    }
    if (progress) {
      const int in_interval = step - first + 1;
      std::fprintf(progress, "  step %d/%d: loss %.4f, batch accuracy %.2f%%\n", step, cfg.steps,
                   loss_sum / in_interval, 100 * acc_sum / in_interval);
      std::fflush(progress);
    }
  }
  clf->trained_steps = uint64_t(cfg.steps);
  clf->test_accuracy = clf->accuracy(test);
  if (progress)
    std::fprintf(progress, "classifier: %.2f%% of the %u test images (t10k) right, %.1f s\n",
                 100 * clf->test_accuracy, test.images.count,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  return clf;
}

std::string cached_classifier_path(const std::string& train_images_hash) {
  std::filesystem::path dir;
  if (const char* d = std::getenv("GAN_CACHE_DIR"); d && *d) {
    dir = d;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::filesystem::path(x) / "gan_engine";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::filesystem::path(h) / ".cache" / "gan_engine";
  } else {
    throw std::runtime_error(
        "no cache directory for the classifier (set GAN_CACHE_DIR or HOME, or give --classifier)");
  }
  std::string tag = train_images_hash;
  if (const auto colon = tag.find(':'); colon != std::string::npos) tag = tag.substr(colon + 1);
  return (dir / ("classifier-" + tag.substr(0, 16) + ".safetensors")).string();
}

}  // namespace gan
