#include "engine/train/run_outputs.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "engine/eval/classifier.h"
#include "engine/io/atomic_file.h"
#include "engine/io/font.h"
#include "engine/io/gif.h"
#include "engine/io/plot.h"
#include "engine/io/png.h"

namespace fs = std::filesystem;

namespace gan {

namespace {

constexpr size_t kTimelineImages = 48;   // thumbnails in the report
constexpr size_t kGifFrames = 60;        // frames in progress.gif
constexpr double kLossSmoothing = 0.6;   // TensorBoard's default weight
constexpr double kReportInterval = 1.0;  // seconds between unforced rewrites of report.html

struct CsvTable {
  std::vector<std::string> header;
  std::vector<std::vector<double>> rows;
};

// A CSV file with a header: its column names, and the first `columns` numbers (0: one per header
// name) of each row whose step (column 0) is at most `max_step`; rows with fewer are skipped.
CsvTable read_csv(const std::string& path, size_t columns, uint64_t max_step) {
  CsvTable t;
  std::istringstream in(read_file(path));
  std::string line;
  std::getline(in, line);
  t.header.emplace_back();
  for (char c : line) {
    if (c == ',')
      t.header.emplace_back();
    else if (c != '\r')
      t.header.back() += c;
  }
  if (columns == 0) columns = t.header.size();
  while (std::getline(in, line)) {
    std::vector<double> v;
    const char* p = line.c_str();
    while (v.size() < columns) {
      char* end = nullptr;
      const double x = std::strtod(p, &end);
      if (end == p) break;
      v.push_back(x);
      p = *end == ',' ? end + 1 : end;
    }
    if (v.size() == columns && v[0] >= 0 && v[0] <= double(max_step))
      t.rows.push_back(std::move(v));
  }
  return t;
}

std::string local_time_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return text;
}

std::string sample_name(uint64_t step) { return fmt::format("samples/step_{:06d}.png", step); }

// A number for the metrics table: 4 significant digits, integers as integers.
std::string metric_text(double v) {
  if (!std::isfinite(v)) return "n/a";
  if (v == std::floor(v) && std::fabs(v) < 1e9) return fmt::format("{:.0f}", v);
  return fmt::format("{:.4g}", v);
}

// Which way a toy metric improves, by its name: -1 lower, +1 higher, 0 not ranked.
int toy_metric_direction(const std::string& name) {
  for (const char* lower : {"kl", "wasserstein", "residual"})
    if (name.find(lower) != std::string::npos) return -1;
  for (const char* higher : {"modes", "fraction", "quality"})
    if (name.find(higher) != std::string::npos) return 1;
  return 0;
}

// A frame of progress.gif: the grid under a black band that names its step (white text, so a
// greyscale grid keeps an exact 256-grey palette).
RgbImage captioned_frame(const RgbImage& grid, const std::string& caption, const Font& font) {
  const int px = std::clamp(grid.width / 18, 12, 28);
  const int band = font.line_height(px) + 8;
  RgbImage frame{grid.width, grid.height + band, {}};
  frame.rgb.assign(size_t(frame.width) * size_t(frame.height) * 3, 0);
  std::copy(grid.rgb.begin(), grid.rgb.end(), frame.rgb.begin() + size_t(band) * grid.width * 3);
  draw_text(frame, font, caption, px, frame.width / 2, 4, Rgb{255, 255, 255}, TextAlign::Center);
  return frame;
}

}  // namespace

RunOutputs::RunOutputs(RunOutputsSetup setup, std::function<void(const std::string&)> say)
    : setup_(std::move(setup)), say_(std::move(say)), started_(std::chrono::steady_clock::now()) {}

bool RunOutputs::guarded(const std::string& what, const std::function<void()>& draw) {
  try {
    draw();
    return true;
  } catch (const std::exception& e) {
    if (said_.insert(what).second)
      say_(fmt::format("pictures: {} not written ({}); training goes on without it (said once)",
                       what, e.what()));
    return false;
  }
}

void RunOutputs::start(uint64_t step) {
  const Font& font = Font::standard();
  if (!font.problem().empty() && said_.insert("font").second) say_("pictures: " + font.problem());
  const std::string& dir = setup_.run_dir;
  guarded("the report's history (metrics.csv)", [&] {
    if (!fs::exists(dir + "/metrics.csv")) return;
    for (const std::vector<double>& v : read_csv(dir + "/metrics.csv", 5, step).rows)
      metrics_.push_back({uint64_t(v[0]), v[1], v[2], v[3], v[4]});
  });
  guarded("the report's history (eval.csv)", [&] {
    if (!fs::exists(dir + "/eval.csv")) return;
    // step, n, fd, classifier_score, classes_covered, kl_to_uniform, precision, recall and, in
    // a conditional run, label_accuracy
    const CsvTable t = read_csv(dir + "/eval.csv", 0, step);
    const bool labels = t.header.size() == 9 && t.header.back() == "label_accuracy";
    for (const std::vector<double>& v : t.rows)
      eval_.push_back({uint64_t(v[0]), v[2], v[3], v[4], double(kMnistClasses), v[6], v[7],
                       labels ? v[8] : -1.0});
  });
  guarded("the report's history (samples/)", [&] {
    std::error_code ec;
    for (const fs::directory_entry& e : fs::directory_iterator(dir + "/samples", ec)) {
      const std::string name = e.path().filename().string();
      unsigned long long s = 0;
      char tail[8] = {};
      // step_NNNNNN.png, up to this run's step: a resumed run redraws those after it.
      if (std::sscanf(name.c_str(), "step_%llu.%4s", &s, tail) == 2 && std::string(tail) == "png" &&
          s <= step)
        samples_.push_back({uint64_t(s), sample_name(s)});
    }
    std::sort(samples_.begin(), samples_.end(),
              [](const ReportImage& a, const ReportImage& b) { return a.step < b.step; });
  });
}

void RunOutputs::add_stats(const StepStats& s) {
  metrics_.push_back({s.last_step, s.d_loss, s.g_loss, s.d_real, s.d_fake});
}

void RunOutputs::add_eval(uint64_t step, const QualityScores& s, const QualityScores& real) {
  eval_.push_back({step, s.fd, s.score, double(s.covered), double(s.classes), s.precision, s.recall,
                   s.class_accuracy.empty() ? -1.0 : s.label_accuracy});
  real_fd_ = real.fd;
}

void RunOutputs::add_sample(uint64_t step) {
  while (!samples_.empty() && samples_.back().step >= step) samples_.pop_back();
  samples_.push_back({step, sample_name(step)});
}

RunReport RunOutputs::build_report(uint64_t step, const std::string& state,
                                   const std::string& detail) {
  RunReport r;
  r.title = setup_.title;
  r.state = state;
  r.state_detail = detail;
  r.step = step;
  r.total = setup_.total;
  r.it_per_s = it_per_s_;
  r.eta_s = eta_s_;
  r.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  r.updated = local_time_now();
  r.facts = setup_.facts;
  r.settings = setup_.settings;

  if (!metrics_.empty()) {
    const MetricsRow& last = metrics_.back();
    const std::string at = fmt::format(" (step {})", last.step);
    r.metrics.push_back(
        {setup_.wasserstein ? "critic loss" : "D loss", metric_text(last.d_loss) + at, ""});
    r.metrics.push_back({"G loss", metric_text(last.g_loss), ""});
    r.metrics.push_back(
        {setup_.wasserstein ? "mean critic score, real" : "D(x)", metric_text(last.d_real), ""});
    r.metrics.push_back({setup_.wasserstein ? "mean critic score, generated" : "D(G(z))",
                         metric_text(last.d_fake), ""});
  }
  if (!eval_.empty()) {
    // Each metric's best row: FD lowest, the others highest.
    auto best = [&](double EvalRow::*field, bool lower) {
      const EvalRow* b = &eval_.front();
      for (const EvalRow& e : eval_)
        if (lower ? e.*field < b->*field : e.*field > b->*field) b = &e;
      return fmt::format("{} at step {}", metric_text(b->*field), b->step);
    };
    const EvalRow& last = eval_.back();
    const std::string at = fmt::format(" (step {})", last.step);
    r.metrics.push_back(
        {"FD (lower is better)", metric_text(last.fd) + at, best(&EvalRow::fd, true)});
    if (real_fd_ >= 0)
      r.metrics.push_back({"FD of real vs real (the floor)", metric_text(real_fd_), ""});
    r.metrics.push_back(
        {"classifier score", metric_text(last.score), best(&EvalRow::score, false)});
    r.metrics.push_back(
        {"classes covered", metric_text(last.covered), best(&EvalRow::covered, false)});
    r.metrics.push_back(
        {"precision", metric_text(last.precision), best(&EvalRow::precision, false)});
    r.metrics.push_back({"recall", metric_text(last.recall), best(&EvalRow::recall, false)});
    if (last.label_accuracy >= 0)
      r.metrics.push_back({"label accuracy (the class asked for)", metric_text(last.label_accuracy),
                           best(&EvalRow::label_accuracy, false)});
  }
  std::vector<Plot> plots = curve_plots();
  const std::string toy_csv = setup_.run_dir + "/toy_metrics.csv";
  if (fs::exists(toy_csv)) {
    const auto [header, rows] = read_csv(toy_csv, 0, step);
    for (size_t c = 1; c < header.size() && !rows.empty(); ++c) {
      const int dir = toy_metric_direction(header[c]);
      std::string best;
      if (dir != 0) {
        const std::vector<double>* b = &rows.front();
        for (const std::vector<double>& v : rows)
          if (dir < 0 ? v[c] < (*b)[c] : v[c] > (*b)[c]) b = &v;
        best = fmt::format("{} at step {}", metric_text((*b)[c]), uint64_t((*b)[0]));
      }
      r.metrics.push_back(
          {header[c],
           fmt::format("{} (step {})", metric_text(rows.back()[c]), uint64_t(rows.back()[0])),
           best});
      if (rows.size() < 2) continue;
      Series series{header[c], {}, {}, 30, 70, 200};
      for (const std::vector<double>& v : rows) {
        series.x.push_back(v[0]);
        series.y.push_back(v[c]);
      }
      const char* direction = dir < 0 ? " (lower is better)" : dir > 0 ? " (higher is better)" : "";
      plots.push_back({"", PlotSpec{header[c] + direction, "step", header[c]}, {series}});
    }
  }
  for (const Plot& p : plots) {
    try {
      r.plots.emplace_back(p.spec.title, render_plot_svg(p.spec, p.series));
    } catch (const std::exception& e) {
      if (said_.insert("svg " + p.spec.title).second)
        say_(
            fmt::format("pictures: the report's plot '{}' not drawn ({})", p.spec.title, e.what()));
    }
  }
  r.timeline = spread_images(samples_, kTimelineImages);
  if (!samples_.empty()) {
    r.latest_image = samples_.back().src;
    r.latest_caption = fmt::format("step {} of {}", samples_.back().step, setup_.total);
  }
  for (const auto& [file, what] : std::vector<std::pair<std::string, std::string>>{
           {"progress.gif", "the sample grids over training"},
           {"final.png", "the final picture"},
           {"result.json", "the final numbers"},
           {"config.json", "every setting, the seed, the version, the device"},
           {"metrics.csv", "losses and D outputs by step"},
           {"eval.csv", "sample quality by step"},
           {"toy_metrics.csv", "the toy experiment's numbers by step"},
           {"curves.png", "the losses"},
           {"d_outputs.png", "D's outputs"},
           {"eval_fd.png", "the Frechet distance"},
           {"eval_pr.png", "precision and recall"},
           {"generator.safetensors", "the generator (loads into PyTorch)"}})
    if (fs::exists(fs::path(setup_.run_dir) / file)) r.files.emplace_back(file, what);
  return r;
}

void RunOutputs::write_report(const RunReport& report) {
  const std::string path = setup_.run_dir + "/report.html";
  write_file_atomic(path, render_report_html(report));
  report_path_ = path;
}

void RunOutputs::update(uint64_t step, double it_per_s, double eta_s, bool pictures) {
  it_per_s_ = it_per_s;
  eta_s_ = eta_s;
  pictures_due_ = pictures_due_ || pictures;
  const auto now = std::chrono::steady_clock::now();
  if (written_once_ && std::chrono::duration<double>(now - last_write_).count() < kReportInterval)
    return;
  if (pictures_due_) write_curve_pngs();
  pictures_due_ = false;
  last_write_ = now;
  written_once_ = true;
  guarded("report.html", [&] { write_report(build_report(step, "running", "")); });
}

void RunOutputs::finish(uint64_t step, const std::string& state, const std::string& detail) {
  write_curve_pngs();
  guarded("progress.gif", [&] { write_progress_gif(); });
  guarded("report.html", [&] { write_report(build_report(step, state, detail)); });
}

std::vector<RunOutputs::Plot> RunOutputs::curve_plots() const {
  std::vector<Plot> plots;
  if (metrics_.size() >= 2) {  // one row draws no curve
    const bool w = setup_.wasserstein;
    Series d_loss{w ? "critic loss" : "D loss", {}, {}, 200, 30, 30};
    Series g_loss{"G loss", {}, {}, 30, 60, 200};
    Series d_real{w ? "score, real" : "D(x), real", {}, {}, 30, 150, 60};
    Series d_fake{w ? "score, generated" : "D(G(z)), generated", {}, {}, 230, 130, 20};
    for (const MetricsRow& m : metrics_) {
      for (Series* s : {&d_loss, &g_loss, &d_real, &d_fake}) s->x.push_back(double(m.step));
      d_loss.y.push_back(m.d_loss);
      g_loss.y.push_back(m.g_loss);
      d_real.y.push_back(m.d_real);
      d_fake.y.push_back(m.d_fake);
    }
    d_loss.smooth = g_loss.smooth = kLossSmoothing;
    PlotSpec losses{"Losses (faint: raw, bold: smoothed)", "step",
                    w ? "loss (Wasserstein)" : "loss (BCE, nats)"};
    plots.push_back({"curves.png", losses, {d_loss, g_loss}});
    PlotSpec outputs{w ? "Critic scores" : "D's outputs", "step",
                     w ? "mean critic score" : "mean probability of real"};
    if (!w) {
      outputs.y_min = 0.0;
      outputs.y_max = 1.0;
    }
    plots.push_back({"d_outputs.png", outputs, {d_real, d_fake}});
  }
  if (eval_.size() >= 2) {
    Series fd{"FD of G's samples", {}, {}, 200, 30, 30};
    Series floor{"FD of real vs real", {}, {}, 150, 150, 150};
    Series precision{"precision", {}, {}, 30, 150, 60}, recall{"recall", {}, {}, 130, 50, 180};
    Series coverage{"classes covered (fraction)", {}, {}, 90, 90, 90};
    Series labels{"label accuracy", {}, {}, 220, 130, 20};
    for (const EvalRow& e : eval_) {
      for (Series* s : {&fd, &floor, &precision, &recall, &coverage})
        s->x.push_back(double(e.step));
      if (e.label_accuracy >= 0) {
        labels.x.push_back(double(e.step));
        labels.y.push_back(e.label_accuracy);
      }
      coverage.y.push_back(e.classes > 0 ? e.covered / e.classes : 0.0);
      fd.y.push_back(e.fd);
      floor.y.push_back(real_fd_);
      precision.y.push_back(e.precision);
      recall.y.push_back(e.recall);
    }
    PlotSpec fd_spec{"Fr\u00e9chet distance (lower is better)", "step", "FD (classifier features)"};
    fd_spec.y_min = 0;
    fd_spec.y_max = std::max(*std::max_element(fd.y.begin(), fd.y.end()), real_fd_) * 1.05;
    if (!(fd_spec.y_max > 0)) fd_spec.y_max = 0;  // all zero or NaN: the automatic range
    std::vector<Series> fd_series = {fd};
    if (real_fd_ >= 0) fd_series.insert(fd_series.begin(), floor);
    plots.push_back({"eval_fd.png", fd_spec, fd_series});
    PlotSpec pr_spec{labels.x.empty() ? "Precision, recall, coverage (higher is better)"
                                      : "Precision, recall, coverage, labels (higher is better)",
                     "step", "fraction"};
    pr_spec.y_min = 0;
    pr_spec.y_max = 1.05;  // a coverage of 1 stays clear of the frame
    std::vector<Series> pr_series = {precision, recall, coverage};
    if (!labels.x.empty()) pr_series.push_back(labels);
    plots.push_back({"eval_pr.png", pr_spec, pr_series});
  }
  return plots;
}

void RunOutputs::write_curve_pngs() {
  for (const Plot& p : curve_plots())
    if (!p.file.empty())
      guarded(p.file, [&] { write_plot_png(setup_.run_dir + "/" + p.file, p.spec, p.series); });
}

void RunOutputs::write_progress_gif() {
  const std::vector<ReportImage> chosen = spread_images(samples_, kGifFrames);
  if (chosen.empty()) return;
  const Font& font = Font::standard();
  std::vector<RgbImage> frames;
  int first_width = 0, first_height = 0;
  for (const ReportImage& im : chosen) {
    const std::string path = setup_.run_dir + "/" + im.src;
    const RgbImage grid = decode_png_rgb(read_file(path), path);
    // A grid of another size (a run directory edited by hand) would not animate with the rest.
    if (!frames.empty() && (grid.width != first_width || grid.height != first_height)) continue;
    first_width = grid.width;
    first_height = grid.height;
    frames.push_back(
        captioned_frame(grid, fmt::format("step {} / {}", im.step, setup_.total), font));
  }
  const int delay = std::clamp(int(600 / frames.size()), 10, 50);
  write_file_atomic(setup_.run_dir + "/progress.gif", encode_gif(frames, delay, 200));
}

}  // namespace gan
