// toy_gan: the seed tutorials' toy experiments (1D Gaussians, the parabola, the 8-Gaussian ring and
// the 25-Gaussian grid) on the CPU or a CUDA GPU, with the same trainer, run directory and GAN
// variants as mnist_gan; writes pictures and numbers (toy_metrics.csv, result.json).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>

#include "engine/io/atomic_file.h"
#include "engine/io/json_fields.h"
#include "engine/train/toy_experiments.h"
#include "engine/train/training_run.h"
#include "train_flags.h"

using namespace gan;

namespace {

// A resumed run rebuilds its experiment from config.json: the experiment's name and target.
ToyExperiment experiment_of_run(const std::string& run_dir) {
  const std::string path = run_dir + "/config.json";
  if (!std::filesystem::is_directory(run_dir))
    throw std::runtime_error("--resume " + run_dir + ": no such run directory");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(path + ": not valid JSON (" + e.what() + ")");
  } catch (const std::exception& e) {
    throw std::runtime_error("--resume " + run_dir + ": " + e.what() + " (not a run directory?)");
  }
  try {
    const nlohmann::json& toy = json_member(j, "toy");
    ToyExperiment e = make_toy_experiment(json_string(toy, "experiment"));
    e.target = toy_target_from_json(json_member(toy, "target"));
    e.eval_samples = int(json_int(toy, "eval_samples", 1, kMaxEvalSamples));
    e.config = train_config_from_json(json_member(j, "config"));
    return e;
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what() + " (not a toy_gan run directory?)");
  }
}

void list_experiments() {
  for (const std::string& name : toy_experiment_names()) {
    const ToyExperiment e = make_toy_experiment(name);
    const TrainConfig& c = e.config;
    std::printf("%s: %s\n  target %s; %d training points\n  G: %s\n  D: %s\n", name.c_str(),
                e.summary.c_str(), e.target.describe().c_str(), e.target.n_points,
                describe_model_spec(c.generator).c_str(),
                describe_model_spec(c.discriminator).c_str());
    std::printf("  noise %s, batch %d, %llu steps, optimizer %s (lr %g), loss %s\n",
                distribution_name(c.noise), c.batch, (unsigned long long)c.steps,
                optimizer_name(c.opt_g.kind), c.opt_g.lr(), gan_loss_name(c.loss));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "toy_gan: the seed tutorials' toy GAN experiments (1D Gaussians, the parabola, Gaussian "
      "mixtures) with pictures and metrics, on the CPU or a CUDA GPU"};
  app.require_subcommand(1);

  CLI::App* train = app.add_subcommand("train", "run an experiment (new run, or --resume one)");
  std::string experiment, out_dir, resume_dir, device = "auto";
  app::Overrides ov;
  std::string names;
  for (const auto& n : toy_experiment_names()) names += " " + n;
  train->add_option("--experiment", experiment, "one of:" + names);
  train->add_option("--out", out_dir, "run directory to create, e.g. runs/ring");
  train->add_option("--resume", resume_dir,
                    "continue the run in this directory from its latest checkpoint");
  train->add_option("--device", device, "auto (GPU when one exists), cuda or cpu")
      ->capture_default_str();
  app::GraphFlags graph;
  graph.add_to(train);
  ov.add_to(train);

  CLI::App* list = app.add_subcommand("list", "list the experiments and their settings");

  if (const int status = app::parse_command_line(app, argc, argv, "toy_gan"); status >= 0)
    return status;

  try {
    if (list->parsed()) {
      list_experiments();
      return 0;
    }
    RunRequest req;
    ToyExperiment e;
    if (!resume_dir.empty()) {
      req = app::resume_request(resume_dir, out_dir, ov, !experiment.empty());
      e = experiment_of_run(resume_dir);
    } else {
      if (experiment.empty())
        throw std::invalid_argument("--experiment: required for a new run (one of:" + names + ")");
      if (out_dir.empty()) throw std::invalid_argument("--out: a run directory is required");
      e = make_toy_experiment(experiment);
      ov.apply(e.config);
      req.config = e.config;
      req.run_dir = out_dir;
    }
    req.points = make_toy_run(e, stdout);
    req.device = device_choice_from_name(device);
    req.cuda_graph = graph.choice();
    return app::run_stoppable(req, [&](const RunResult& r) {
      std::printf(
          "done: %llu steps in %.1f s; pictures in %s/samples and %s/final.png, numbers in "
          "%s/result.json\n",
          (unsigned long long)r.step, r.seconds, req.run_dir.c_str(), req.run_dir.c_str(),
          req.run_dir.c_str());
    });
  } catch (const std::exception& ex) {
    return app::report_error("toy_gan", ex);
  }
}
