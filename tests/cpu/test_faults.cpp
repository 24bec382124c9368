// Fault trials through the real mnist_gan binary, bounded in number and time: SIGKILL at random
// moments of a run that saves a checkpoint every step (so many kills land inside a save), and
// SIGTERM / SIGINT at random steps. After every fault each checkpoint left must load (no torn
// file), the run must continue with --resume (or start over when it had none), and the finished
// run must be bitwise the uninterrupted one.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cli_harness.h"
#include "engine/io/atomic_file.h"
#include "engine/train/checkpoint.h"
#include "mnist_gan_cli.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace gan;
using namespace gan::test;

namespace {

constexpr int kSteps = 30;
constexpr int kTrials = 15;

class Faults : public MnistGanCli {
 protected:
  void SetUp() override {
    MnistGanCli::SetUp();
    data_ = tmp / "data";
    make_data(data_, true);
    const auto t0 = Clock::now();
    const Outcome ref = mnist_gan(run_args(tmp / "reference", false));
    ASSERT_EQ(ref.code(), 0) << ref.describe();
    reference_seconds_ = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  // A new run into `dir`, or its --resume: checkpoint every step, keep 3.
  std::vector<std::string> run_args(const std::string& dir, bool resume) const {
    if (resume) return {"train", "--resume", dir};
    return {"train",   "--preset",           "tf-mlp", "--data",         data_, "--out",
            dir,       "--batch",            "8",      "--device",       "cpu", "--steps",
            std::to_string(kSteps), "--checkpoint-every", "1", "--keep-checkpoints", "3",
            "--log-every", "1",     "--sample-every", "10", "--seed", "5"};
  }

  // The command that continues `dir` whatever state a fault left it in: a run killed before its
  // config.json exists is started anew, any other is resumed.
  std::vector<std::string> continue_args(const std::string& dir) const {
    return run_args(dir, fs::exists(dir + "/config.json"));
  }

  // Every checkpoint file left loads with its own step and finite tensors; returns how many
  // temp files of interrupted saves are there (removed by the next start).
  int check_checkpoints(const std::string& dir) {
    int temps = 0;
    if (!fs::exists(dir + "/checkpoints")) return 0;
    for (const auto& [step, path] : list_checkpoints(dir))
      EXPECT_TRUE(good_checkpoint(path, step)) << "a torn checkpoint after a fault: " << path;
    for (const auto& name : names_in(dir + "/checkpoints")) temps += is_atomic_write_temp_name(name);
    return temps;
  }

  // The finished run equals the uninterrupted one, bit for bit.
  void expect_same_as_reference(const std::string& dir) {
    const std::string ref = tmp / "reference";
    EXPECT_EQ(slurp(dir + "/generator.safetensors"), slurp(ref + "/generator.safetensors"));
    EXPECT_EQ(slurp(checkpoint_path(dir, kSteps)), slurp(checkpoint_path(ref, kSteps)));
    const Metrics m = read_metrics(dir + "/metrics.csv");
    EXPECT_TRUE(strictly_increasing(m.steps));
    ASSERT_FALSE(m.steps.empty());
    EXPECT_EQ(m.steps.back(), uint64_t(kSteps));
  }

  std::string data_;
  double reference_seconds_ = 0;
};

TEST_F(Faults, KillsDuringSavesNeverTearACheckpoint) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const std::string dir = tmp / "run";
  int kills = 0, mid_save = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    Child c(GAN_MNIST_GAN_BIN, continue_args(dir), logs);
    ASSERT_TRUE(c.started());
    // Anywhere in the run: start-up, steps, saves, the final outputs. A trial lasts 1/kTrials of
    // a whole run on average, so most trials end in a kill.
    const double delay = rng.uniform(0.0, 2.0 / kTrials) * reference_seconds_;
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    if (c.poll()) {  // it finished first
      const Outcome o = c.wait();
      ASSERT_EQ(o.code(), 0) << o.describe();
      break;
    }
    kill(c.pid(), SIGKILL);
    const Outcome o = c.wait();
    ASSERT_TRUE(WIFSIGNALED(o.status) || o.code() == 0) << o.describe();
    ++kills;
    mid_save += check_checkpoints(dir) > 0;
  }
  const Outcome last = mnist_gan(continue_args(dir));
  ASSERT_EQ(last.code(), 0) << last.describe();
  EXPECT_EQ(check_checkpoints(dir), 0) << "temp files of killed saves must be removed";
  expect_same_as_reference(dir);
  std::printf("%d kills, %d inside a save (temp file left); a whole run takes %.2f s\n", kills,
              mid_save, reference_seconds_);
  RecordProperty("kills", kills);
  RecordProperty("kills_inside_a_save", mid_save);
}

TEST_F(Faults, SignalsAtRandomStepsStopCleanlyAndResumeExactly) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const std::string dir = tmp / "run";
  int stops = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const int signo = rng.uniform_int(0, 1) ? SIGTERM : SIGINT;
    Child c(GAN_MNIST_GAN_BIN, continue_args(dir), logs);
    ASSERT_TRUE(c.started());
    const double delay = rng.uniform(0.0, 2.0 / kTrials) * reference_seconds_;
    std::this_thread::sleep_for(std::chrono::duration<double>(delay));
    if (!c.poll()) kill(c.pid(), signo);
    const Outcome o = c.wait();
    ASSERT_FALSE(o.timed_out) << "no stop within the deadline after signal " << signo;
    // Finished (0), stopped by the signal (exit 128 + signo, with a checkpoint of its step), or
    // signalled before its handler was installed (start-up only: ended by the signal itself,
    // which a shell reports as the same 128 + signo).
    if (WIFSIGNALED(o.status)) {
      EXPECT_EQ(WTERMSIG(o.status), signo) << o.describe();
      continue;
    }
    ASSERT_TRUE(WIFEXITED(o.status)) << o.describe();
    if (o.code() == 0) break;
    EXPECT_EQ(o.code(), 128 + signo) << o.describe();
    EXPECT_EQ(o.err, "") << o.describe();
    ++stops;
    EXPECT_EQ(check_checkpoints(dir), 0);
  }
  const Outcome last = mnist_gan(continue_args(dir));
  ASSERT_EQ(last.code(), 0) << last.describe();
  expect_same_as_reference(dir);
  std::printf("%d stops by a signal; a whole run takes %.2f s\n", stops, reference_seconds_);
  RecordProperty("stops", stops);
}

}  // namespace
