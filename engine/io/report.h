// report.html: one self-contained page per run (no network, no scripts from elsewhere; it opens
// from the file system in any browser) that says what ran, how far it got, the latest and best
// numbers, the curves and the sample grids over time. The page is pure output: this file turns a
// RunReport into HTML text; the run (engine/train/run_outputs) gathers the facts and writes it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace gan {

struct ReportMetric {
  std::string name;    // "FD", "D loss"
  std::string latest;  // formatted value, "" when none yet
  std::string best;    // formatted value and where, "12.3 at step 4000"; "" when not ranked
};

struct ReportImage {
  uint64_t step = 0;
  std::string src;  // path relative to the run directory ("samples/step_000200.png")
};

struct RunReport {
  std::string title;  // the page's heading: "mnist_gan: runs/fashion"
  // running (the page reloads itself every refresh_s seconds), finished, stopped, failed.
  std::string state = "running";
  std::string state_detail;  // one line: "stopped by signal 2 at step 1200; resume with ..."
  int refresh_s = 10;
  uint64_t step = 0, total = 0;
  double it_per_s = 0;   // recent training speed; 0: not known yet
  double elapsed_s = 0;  // this process' wall time
  double eta_s = -1;     // < 0: unknown
  std::string updated;   // when the page was written, local time, for the reader
  // What ran: short facts shown at the top (preset, device, data, seed, G, D), in order.
  std::vector<std::pair<std::string, std::string>> facts;
  nlohmann::json settings;  // every setting (config.json's "config"): a collapsible table
  std::vector<ReportMetric> metrics;
  // Plots as inline <svg> markup (render_plot_svg), each under its own heading.
  std::vector<std::pair<std::string, std::string>> plots;
  std::vector<ReportImage> timeline;  // sample grids over training, by step
  std::string latest_image;           // the newest grid, shown large ("" when none)
  std::string latest_caption;
  // Files of the run worth opening, (relative path, what it is); listed when they exist.
  std::vector<std::pair<std::string, std::string>> files;
};

// The whole page. Every string is HTML-escaped; image and file paths are escaped and
// percent-encoded where a URL needs it. Settings are flattened into rows "optimizer_g.adam.lr".
std::string render_report_html(const RunReport& report);

// The evenly spaced subset of `images` (by position) of at most `max_count`, always keeping the
// first and the last; all of them when there are no more than max_count.
std::vector<ReportImage> spread_images(const std::vector<ReportImage>& images, size_t max_count);

// A duration for people: "42 s", "3 min 05 s", "2 h 07 min"; compact (a progress line): "0m42s",
// "3m05s", "2h07m". "?" for a negative, non-finite or longer than kMaxDurationSeconds one (an ETA
// at a near-zero speed).
inline constexpr double kMaxDurationSeconds = 1e7;
std::string format_duration(double seconds, bool compact = false);

}  // namespace gan
