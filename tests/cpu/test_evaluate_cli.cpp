// mnist_gan's sample-quality commands end to end on a small synthetic labelled data set:
// `classifier`, `evaluate` (a checkpoint or a file of samples), `train --eval-every` with eval.csv
// surviving a resume bitwise, and bad input refused with one line naming the file or flag.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/io/safetensors.h"
#include "engine/train/checkpoint.h"
#include "html_check.h"
#include "labelled_data.h"
#include "mnist_gan_cli.h"

using namespace gan;
using namespace gan::test;

namespace {

class EvaluateCli : public MnistGanCli {
 protected:
  void SetUp() override {
    MnistGanCli::SetUp();
    data = tmp / "data";
    make_labelled_data(data, 600, 200);
    classifier = tmp / "classifier.safetensors";
  }
  // A cheap classifier of `data` (100 steps of 32).
  void make_classifier() {
    const Outcome o = mnist_gan({"classifier", "--data", data, "--out", classifier, "--steps", "100",
                                 "--batch", "32", "--device", "cpu"});
    ASSERT_EQ(o.code(), 0) << o.describe();
  }
  Outcome evaluate(const std::vector<std::string>& extra) {
    std::vector<std::string> a{"evaluate", "--device", "cpu"};
    a.insert(a.end(), extra.begin(), extra.end());
    return mnist_gan(a);
  }
  std::string data, classifier;
};

}  // namespace

TEST_F(EvaluateCli, ClassifierThenEvaluateACheckpoint) {
  make_classifier();
  const std::string run = tmp / "run";
  ASSERT_EQ(train(data, run, {"--steps", "4"}).code(), 0);
  const std::string json = tmp / "scores.json";
  const Outcome o = evaluate({"--checkpoint", checkpoint_path(run, 4), "--classifier", classifier,
                              "--n", "100", "--json", json});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  for (const char* row : {"Frechet distance", "classifier score", "classes covered",
                          "KL to uniform", "precision (k=3)", "recall (k=3)", "real vs real"})
    EXPECT_NE(o.out.find(row), std::string::npos) << o.out;
  const nlohmann::json j = nlohmann::json::parse(slurp(json));
  for (const char* part : {"generated", "real_vs_real"}) {
    const nlohmann::json& s = j.at(part);
    for (const char* key : {"fd", "classifier_score", "kl_to_uniform", "precision", "recall"}) {
      const double v = s.at(key).get<double>();
      EXPECT_TRUE(std::isfinite(v) && v >= 0) << part << "." << key << " = " << v;
    }
    EXPECT_LE(s.at("precision").get<double>(), 1.0);
    EXPECT_LE(s.at("recall").get<double>(), 1.0);
    EXPECT_EQ(s.at("classes").get<int>(), 10);
  }
  EXPECT_EQ(j.at("generated").at("n").get<int>(), 100);
  EXPECT_EQ(j.at("real_vs_real").at("n").get<int>(), 100);  // halves of the 200 test images
  // The real halves are close; 4 steps of a GAN are not.
  EXPECT_GT(j.at("generated").at("fd").get<double>(), j.at("real_vs_real").at("fd").get<double>());
}

TEST_F(EvaluateCli, ScoresAFileOfSamples) {
  make_classifier();
  // The real test images as "samples": FD 0, precision and recall 1.
  const ImageSet test = read_idx_images(data + "/t10k-images-idx3-ubyte.gz");
  NamedTensor t{"samples", {int64_t(test.count), 784}, std::vector<float>(test.pixels.size())};
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = (test.pixels[i] - 127.5f) / 127.5f;
  const std::string file = tmp / "samples.safetensors", json = tmp / "s.json";
  write_safetensors(file, {t});
  const Outcome o = evaluate({"--samples", file, "--classifier", classifier, "--data", data,
                              "--json", json});
  ASSERT_EQ(o.code(), 0) << o.describe();
  const nlohmann::json g = nlohmann::json::parse(slurp(json)).at("generated");
  EXPECT_NEAR(g.at("fd").get<double>(), 0.0, 1e-6);
  EXPECT_EQ(g.at("precision").get<double>(), 1.0);
  EXPECT_EQ(g.at("recall").get<double>(), 1.0);

  // Values outside [-1, 1] (pixels 0..255 not scaled) and the wrong width are refused.
  t.data[5] = 200.0f;
  write_safetensors(file, {t});
  EXPECT_TRUE(is_error(evaluate({"--samples", file, "--classifier", classifier, "--data", data}),
                       {file, "outside [-1, 1]"}));
  NamedTensor narrow{"samples", {10, 100}, std::vector<float>(1000, 0.0f)};
  write_safetensors(file, {narrow});
  EXPECT_TRUE(is_error(evaluate({"--samples", file, "--classifier", classifier, "--data", data}),
                       {file, "expected (n, 784)"}));
}

// eval.csv of a run stopped and resumed equals the uninterrupted run's, byte for byte; its last
// row equals what `evaluate` says of the last checkpoint (same samples, same numbers).
TEST_F(EvaluateCli, EvalCsvSurvivesAResumeBitwise) {
  make_classifier();
  const std::string whole = tmp / "whole", split = tmp / "split";
  const std::vector<std::string> eval = {"--eval-every", "2", "--eval-n", "60", "--classifier",
                                         classifier, "--checkpoint-every", "2"};
  auto with = [&](std::vector<std::string> a) {
    a.insert(a.end(), eval.begin(), eval.end());
    return a;
  };
  const Outcome w = train(data, whole, with({"--steps", "6"}));
  ASSERT_EQ(w.code(), 0) << w.describe();
  EXPECT_NE(w.out.find("eval at step 6"), std::string::npos) << w.out;
  ASSERT_EQ(train(data, split, with({"--steps", "6"})).code(), 0);
  // A kill after the step-6 evaluation, before the step-6 checkpoint: the resume goes back to 4.
  fs::remove(checkpoint_path(split, 6));
  const Outcome r = mnist_gan({"train", "--resume", split});
  ASSERT_EQ(r.code(), 0) << r.describe();
  const std::string a = slurp(whole + "/eval.csv"), b = slurp(split + "/eval.csv");
  EXPECT_EQ(a, b);
  EXPECT_EQ(std::count(a.begin(), a.end(), '\n'), 4) << a;  // header, steps 2, 4, 6
  EXPECT_EQ(a.rfind("6,60,", std::string::npos) != std::string::npos, true) << a;
  EXPECT_TRUE(fs::exists(whole + "/eval_reference.json"));
  EXPECT_GT(png_size(whole + "/eval_fd.png").first, 0u);
  EXPECT_GT(png_size(whole + "/eval_pr.png").first, 0u);
  // The reports show the scores: both eval curves inline (after the losses and D outputs), the
  // best FD and the real-vs-real floor, the resumed run's too.
  for (const std::string& run : {whole, split}) {
    const std::string html = slurp(run + "/report.html");
    EXPECT_EQ(count_of(html, "<svg"), 4u) << run;
    for (const char* want : {"FD (lower is better)", "FD of real vs real (the floor)",
                             "Precision, recall, coverage", "classes covered"})
      EXPECT_NE(html.find(want), std::string::npos) << run << ": " << want;
  }

  const std::string json = tmp / "last.json";
  ASSERT_EQ(evaluate({"--checkpoint", checkpoint_path(whole, 6), "--classifier", classifier,
                      "--n", "60", "--json", json})
                .code(),
            0);
  const nlohmann::json g = nlohmann::json::parse(slurp(json)).at("generated");
  const std::string last = a.substr(a.rfind("\n6,") + 1);
  EXPECT_EQ(last.substr(0, last.find('\n')),
            fmt::format("6,60,{:.6f},{:.6f},{},{:.6f},{:.6f},{:.6f}", g.at("fd").get<double>(),
                        g.at("classifier_score").get<double>(),
                        g.at("classes_covered").get<int>(), g.at("kl_to_uniform").get<double>(),
                        g.at("precision").get<double>(), g.at("recall").get<double>()));
}

TEST_F(EvaluateCli, BadInputGetsOneLineNamingTheFileOrFlag) {
  make_classifier();
  const std::string run = tmp / "run";
  ASSERT_EQ(train(data, run, {"--steps", "2"}).code(), 0);
  const std::string ckpt = checkpoint_path(run, 2);

  // A corrupt classifier file.
  const std::string bad = tmp / "bad.safetensors";
  spit(bad, slurp(classifier).substr(0, 100));
  EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--classifier", bad}), {bad}));
  // A classifier of another data set.
  const std::string other = tmp / "other";
  make_labelled_data(other, 600, 200, 28, 28, true, 99);
  EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--classifier", classifier, "--data", other}),
                       {classifier, "another data set"}));
  // A generator file given as the classifier (the wrong kind of safetensors).
  EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--classifier",
                                 run + "/generator.safetensors"}),
                       {"generator.safetensors", "not a classifier"}));
  // A data set without labels.
  const std::string nolabels = tmp / "nolabels";
  make_labelled_data(nolabels, 600, 200, 28, 28, false);
  EXPECT_TRUE(is_error(mnist_gan({"classifier", "--data", nolabels, "--out", tmp / "c2",
                                  "--device", "cpu"}),
                       {nolabels, "labels"}));
  EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--data", nolabels}), {nolabels, "labels"}));
  // --n of 0, above the bound, or beyond the memory there is.
  EXPECT_TRUE(is_parse_error(evaluate({"--checkpoint", ckpt, "--n", "0"}), {"--n"}));
  EXPECT_TRUE(is_parse_error(evaluate({"--checkpoint", ckpt, "--n", "2000000"}), {"--n"}));
  {
    ScopedEnv cap("GAN_HOST_MEMORY_LIMIT", "64M");
    EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--classifier", classifier, "--n",
                                   "900000"}),
                         {"--n 900000", "memory"}));
  }
  EXPECT_TRUE(is_parse_error(train(data, tmp / "r2", {"--eval-n", "0"}), {"--eval-n"}));
  // Neither or both sources.
  EXPECT_TRUE(is_error(evaluate({"--classifier", classifier}), {"--checkpoint", "--samples"}));
  EXPECT_TRUE(is_error(evaluate({"--checkpoint", ckpt, "--samples", ckpt}),
                       {"--checkpoint", "--samples"}));
  // A missing classifier file for a training run: refused before the run directory exists.
  const std::string r3 = tmp / "r3";
  EXPECT_TRUE(is_error(train(data, r3, {"--eval-every", "2", "--classifier", tmp / "none.st"}),
                       {"none.st"}));
  EXPECT_FALSE(fs::exists(r3));
}

// A conditional run: eval.csv gains the label accuracy, `evaluate` prints and writes it per class
// (sample i asked for class i % 10: 10 of each class in 100 samples, so the overall figure is the
// mean of the ten), and the report still reads its eval.csv.
TEST_F(EvaluateCli, ConditionalRunsScoreTheLabelAccuracy) {
  make_classifier();
  const std::string run = tmp / "run";
  const Outcome t = train(data, run,
                          {"--conditional", "--steps", "4", "--eval-every", "2", "--eval-n", "60",
                           "--classifier", classifier, "--checkpoint-every", "2"});
  ASSERT_EQ(t.code(), 0) << t.describe();
  EXPECT_NE(t.out.find("label accuracy"), std::string::npos) << t.out;
  const std::string csv = slurp(run + "/eval.csv");
  const std::vector<std::string> lines = [&] {
    std::vector<std::string> out;
    std::istringstream in(csv);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
  }();
  ASSERT_EQ(lines.size(), 3u) << csv;
  EXPECT_EQ(split_csv(lines[0]).back(), "label_accuracy") << csv;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<std::string> row = split_csv(lines[i]);
    ASSERT_EQ(row.size(), split_csv(lines[0]).size()) << lines[i];
    const double a = std::stod(row.back());
    EXPECT_GE(a, 0.0);
    EXPECT_LE(a, 1.0);
  }
  const std::string report = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(report));
  EXPECT_NE(report.find("label accuracy"), std::string::npos);

  const std::string json = tmp / "scores.json";
  const Outcome o = evaluate({"--checkpoint", checkpoint_path(run, 4), "--classifier", classifier,
                              "--n", "100", "--json", json});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_NE(o.out.find("label accuracy"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("per class"), std::string::npos) << o.out;
  const nlohmann::json g = nlohmann::json::parse(slurp(json)).at("generated");
  const std::vector<double> per = g.at("class_accuracy").get<std::vector<double>>();
  ASSERT_EQ(per.size(), 10u) << g.dump();
  double mean = 0;
  for (double a : per) {
    EXPECT_NEAR(a * 10, std::round(a * 10), 1e-9) << "10 samples a class: " << g.dump();
    mean += a / 10;
  }
  EXPECT_NEAR(g.at("label_accuracy").get<double>(), mean, 1e-12) << g.dump();
  // An unconditional checkpoint has no label accuracy.
  const std::string plain = tmp / "plain";
  ASSERT_EQ(train(data, plain, {"--steps", "2"}).code(), 0);
  ASSERT_EQ(evaluate({"--checkpoint", checkpoint_path(plain, 2), "--classifier", classifier, "--n",
                      "100", "--json", json})
                .code(),
            0);
  EXPECT_FALSE(nlohmann::json::parse(slurp(json)).at("generated").contains("label_accuracy"));
}
