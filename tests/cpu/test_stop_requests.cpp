// Stop requests reach the long loops (issue 10, item 4): a step of many D steps is abandoned
// between two of them when it would outlast the patience, D's pre-training stops at its next step,
// and through the binary a SIGTERM ends a run whose single step would take a minute within a
// second, saying what was abandoned and saving nothing from the half-done step.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "cli_harness.h"
#include "engine/train/gan_trainer.h"
#include "engine/train/toy_experiments.h"
#include "mnist_gan_cli.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

const ExecContext kCpu{};

// The gauss1d experiment with `d_steps` D steps per step, ready to train.
ToyExperiment gauss1d(uint64_t seed, int d_steps) {
  ToyExperiment e = make_toy_experiment("gauss1d");
  e.config.seed = seed;
  e.config.d_steps = d_steps;
  return e;
}

TEST(StopRequests, AStopBetweenDStepsAbandonsALongStep) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ToyExperiment e = gauss1d(rng.bits(), 7);
  GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
  t.init();
  std::atomic<int> stop{0};
  t.set_stop_request(&stop, /*patience=*/0.0);
  t.train_step();  // no request: the whole step
  EXPECT_EQ(t.step(), 1u);
  stop = SIGTERM;
  try {
    t.train_step();
    FAIL() << "a stop request with no patience must abandon the step";
  } catch (const StepAbandoned& a) {
    EXPECT_NE(std::string(a.what()).find("step 2 abandoned after D step 1 of 7"),
              std::string::npos)
        << a.what();
  }
  EXPECT_EQ(t.step(), 1u) << "an abandoned step is not counted";
  EXPECT_EQ(t.stop_requested(), SIGTERM);
}

TEST(StopRequests, AShortStepFinishesSoItCanBeCheckpointed) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const ToyExperiment e = gauss1d(rng.bits(), 7);
  GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
  t.init();
  std::atomic<int> stop{SIGINT};
  t.set_stop_request(&stop, /*patience=*/3600.0);
  t.train_step();
  t.train_step();
  EXPECT_EQ(t.step(), 2u);
}

TEST(StopRequests, DPretrainingStopsAtItsNextStep) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  ToyExperiment e = gauss1d(rng.bits(), 1);
  e.target.pretrain_steps = kMaxPretrainSteps;  // minutes of work if nothing looked at the stop
  GanTrainer t(e.config, toy_training_set(e.target, e.config.seed), kCpu);
  t.init();
  std::atomic<int> stop{SIGTERM};
  t.set_stop_request(&stop);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(pretrain_discriminator_on_pdf(t, e.target), StepAbandoned);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
}

class StopRequestsCli : public MnistGanCli {};

TEST_F(StopRequestsCli, SigtermEndsAMinuteLongStepWithinASecond) {
  // keras-mlp at batch 512 with 1,000 D steps: one step takes minutes on the CPU. Before: SIGTERM
  // waited for the whole step.
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  Child c(GAN_MNIST_GAN_BIN,
          {"train", "--preset", "keras-mlp", "--data", data, "--out", run, "--device", "cpu",
           "--batch", "512", "--d-steps", "1000", "--steps", "10"},
          logs);
  ASSERT_TRUE(c.started());
  const auto deadline = Clock::now() + kDeadline;
  while (c.out_so_far().find("steps 0 -> 10") == std::string::npos) {
    ASSERT_FALSE(c.poll()) << c.wait().describe();
    ASSERT_LT(Clock::now(), deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // inside step 1's D steps
  ASSERT_EQ(kill(c.pid(), SIGTERM), 0);
  const auto signalled = Clock::now();
  // A D step takes well under a second (a few under the sanitizers, hence the scale); the whole
  // step, minutes.
  const Outcome o = c.wait(time_scaled(std::chrono::seconds(10)));
  ASSERT_FALSE(o.timed_out) << "SIGTERM waited for the whole step";
  EXPECT_LT(Clock::now() - signalled, time_scaled(std::chrono::seconds(3))) << o.describe();
  EXPECT_EQ(o.code(), 128 + SIGTERM) << o.describe();
  EXPECT_NE(o.out.find("stopped by signal 15: step 1 abandoned after D step"), std::string::npos)
      << o.out;
  EXPECT_NE(o.out.find("nothing saved since the start (no checkpoint yet)"), std::string::npos)
      << o.out;
  EXPECT_TRUE(list_checkpoints(run).empty()) << "nothing may be saved from a half-done step";
  EXPECT_FALSE(fs::exists(run + "/generator.safetensors"));
}

}  // namespace
