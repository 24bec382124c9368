// What a run shows a person besides its numbers: labelled curves (PNG), report.html (rewritten as
// the run goes, so reloading it shows progress) and progress.gif (the sample grids over training).
// None of it can fail a run: a picture that cannot be drawn or written is said once, on the
// run's output, and skipped; the training goes on.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/eval/evaluator.h"
#include "engine/io/plot.h"
#include "engine/io/report.h"
#include "engine/train/gan_trainer.h"

namespace gan {

struct RunOutputsSetup {
  std::string run_dir;
  std::string title;                                       // report heading
  std::vector<std::pair<std::string, std::string>> facts;  // "what ran", in order
  nlohmann::json settings;                                 // every setting
  bool wasserstein = false;  // D is a critic: scores, not probabilities
  uint64_t total = 0;        // the step the run trains to
};

class RunOutputs {
 public:
  // say: prints one line on the run's output (the run keeps its progress line intact).
  RunOutputs(RunOutputsSetup setup, std::function<void(const std::string&)> say);

  // The state at the run's first step (0, or the checkpoint a resumed run continues from):
  // reads the rows metrics.csv and eval.csv kept up to `step` and the sample pictures on disk up
  // to it, so a resumed run's report continues the one before it.
  void start(uint64_t step);

  void set_eval_floor(double real_fd) { real_fd_ = real_fd; }  // FD of real vs real
  void add_stats(const StepStats& s);
  void add_eval(uint64_t step, const QualityScores& s, const QualityScores& real);
  void add_sample(uint64_t step);  // samples/step_NNNNNN.png has just been written

  // At a log, sample or evaluation interval: rewrites report.html, and with `pictures` (new grids
  // or scores) the curves' PNG files, unless they were written less than a second ago (a fast
  // run's intervals would spend its time on pictures); what was skipped goes into the next write.
  // it_per_s, eta_s: the progress line's (0 and -1: not known yet).
  void update(uint64_t step, double it_per_s, double eta_s, bool pictures);

  // The run's end (finished, stopped or failed): the curves, progress.gif and the last report,
  // with its state ("finished", "stopped", "failed") and one line of detail.
  void finish(uint64_t step, const std::string& state, const std::string& detail);

  // Runs `draw`; an exception is said once per `what` and swallowed. False when it threw.
  bool guarded(const std::string& what, const std::function<void()>& draw);

  // report.html's path once it has been written, else "".
  const std::string& report_path() const { return report_path_; }

 private:
  struct MetricsRow {
    uint64_t step;
    double d_loss, g_loss, d_real, d_fake;
  };
  struct EvalRow {
    uint64_t step;
    double fd, score, covered, classes, precision, recall;
    double label_accuracy = -1;  // conditional runs; -1: none
  };

  struct Plot {
    std::string file;  // the PNG beside the report
    PlotSpec spec;
    std::vector<Series> series;
  };

  RunReport build_report(uint64_t step, const std::string& state, const std::string& detail);
  void write_report(const RunReport& report);
  std::vector<Plot> curve_plots() const;
  void write_curve_pngs();
  void write_progress_gif();

  RunOutputsSetup setup_;
  std::function<void(const std::string&)> say_;
  std::set<std::string> said_;
  std::vector<MetricsRow> metrics_;
  std::vector<EvalRow> eval_;
  double real_fd_ = -1;  // FD of real vs real, the floor (< 0: no evaluation)
  std::vector<ReportImage> samples_;
  double it_per_s_ = 0, eta_s_ = -1;
  std::chrono::steady_clock::time_point started_, last_write_{};
  bool written_once_ = false;
  bool pictures_due_ = false;
  std::string report_path_;
};

}  // namespace gan
