// The evaluation path on the GPU against the CPU reference: the classifier's training (a few steps
// from the same init and the same draws) and its features and probabilities, and the scores of a
// generator, agree to float rounding.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "engine/eval/evaluator.h"
#include "gpu_test.h"
#include "labelled_data.h"

namespace gan::test {
namespace {

class ClassifierParity : public GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    dir = (std::filesystem::temp_directory_path() /
           ("gan_classifier_parity_" + std::to_string(::getpid())))
              .string();
    make_labelled_data(dir, 512, 200, 12, 12);
  }
  void TearDown() override {
    if (!dir.empty()) std::filesystem::remove_all(dir);
    GpuTest::TearDown();
  }
  std::string dir;
};

// max |a - b| / max(1, max |a|), naming the first element beyond `tol`.
::testing::AssertionResult close(const std::vector<float>& a, const std::vector<float>& b,
                                 double tol, const char* what) {
  if (a.size() != b.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  double scale = 1.0;
  for (float v : a) scale = std::max(scale, double(std::fabs(v)));
  for (size_t i = 0; i < a.size(); ++i)
    if (!(std::fabs(double(a[i]) - double(b[i])) <= tol * scale))
      return ::testing::AssertionFailure()
             << what << "[" << i << "]: cpu " << a[i] << ", gpu " << b[i] << " (tol " << tol
             << " x " << scale << ")";
  return ::testing::AssertionSuccess();
}

TEST_F(ClassifierParity, TrainingStepsFeaturesAndProbabilitiesMatchTheCpu) {
  ExecResources gpu(DeviceKind::Cuda);
  const ExecContext cpu_ctx{};
  ClassifierTrainConfig cfg;
  cfg.batch = 32;
  cfg.steps = 3;  // few steps: Adam moves each weight by ~lr a step, so the paths stay together
  cfg.seed = rng_.bits();
  auto a = train_classifier(cpu_ctx, dir, cfg, nullptr);
  auto b = train_classifier(gpu.context(), dir, cfg, nullptr);
  // Parameters after 3 Adam steps: an element whose gradient is ~0 may step either way (2 lr a
  // step at most); everything else within float rounding of the GEMMs.
  const std::vector<float> pa = a->model().params().download(), pb = b->model().params().download();
  ASSERT_EQ(pa.size(), pb.size());
  size_t far = 0;
  for (size_t i = 0; i < pa.size(); ++i) {
    const double d = std::fabs(double(pa[i]) - double(pb[i]));
    ASSERT_LE(d, 6.0 * cfg.lr + 1e-5) << "parameter " << i;
    far += d > 1e-4;
  }
  EXPECT_LE(far, pa.size() / 100) << "more than 1% of the parameters differ by over 1e-4";

  // The same weights on both devices: features and probabilities within float rounding.
  b->model().params().upload(pa);
  const int n = 301;
  const std::vector<float> x = rng_.vec<float>(size_t(n) * a->input_dim(), -1, 1);
  std::vector<float> fa(size_t(n) * a->feature_dim()), fb(fa.size());
  std::vector<float> qa(size_t(n) * a->classes(), NAN), qb(qa.size(), NAN);
  a->embed(x.data(), n, fa.data(), qa.data());
  b->embed(x.data(), n, fb.data(), qb.data());
  EXPECT_TRUE(close(fa, fb, 1e-4, "features"));
  EXPECT_TRUE(close(qa, qb, 1e-5, "probabilities"));
}

TEST_F(ClassifierParity, GeneratorScoresMatchTheCpu) {
  ExecResources gpu(DeviceKind::Cuda);
  const ExecContext cpu_ctx{};
  ClassifierTrainConfig cfg;
  cfg.batch = 32;
  cfg.steps = 50;
  auto trained = train_classifier(cpu_ctx, dir, cfg, nullptr);
  const std::string file = dir + "/classifier.safetensors";
  trained->save(file);
  Evaluator on_cpu(cpu_ctx, Classifier::load(file, cpu_ctx, 256),
                   read_labelled_split(dir, "t10k", kMnistClasses));
  Evaluator on_gpu(gpu.context(), Classifier::load(file, gpu.context(), 256),
                   read_labelled_split(dir, "t10k", kMnistClasses));
  ModelSpec g{20, {LayerSpec::dense(64), LayerSpec::activation(Activation::leaky_relu(0.2f)),
                   LayerSpec::batchnorm({}), LayerSpec::dense(144),
                   LayerSpec::activation(Activation::tanh())}};
  Model ga("g", g, 64, DeviceKind::Cpu), gb("g", g, 64, DeviceKind::Cuda);
  ga.init(InitScheme::GlorotUniform, 5, 0);
  gb.init(InitScheme::GlorotUniform, 5, 0);
  const QualityScores sa = on_cpu.score_generator(ga, Distribution::Normal, 400, 3);
  const QualityScores sb = on_gpu.score_generator(gb, Distribution::Normal, 400, 3);
  // Same samples to float rounding; FD and the score are smooth in them. Precision and recall
  // count points inside radii: a point within rounding of a boundary may flip (1 of 400 = 0.0025).
  EXPECT_NEAR(sb.fd, sa.fd, 1e-3 * std::max(1.0, sa.fd));
  EXPECT_NEAR(sb.score, sa.score, 1e-4 * sa.score);
  EXPECT_EQ(sb.covered, sa.covered);
  EXPECT_NEAR(sb.precision, sa.precision, 0.0051);
  EXPECT_NEAR(sb.recall, sa.recall, 0.0051);
}

}  // namespace
}  // namespace gan::test
