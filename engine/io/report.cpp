#include "engine/io/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "engine/io/markup.h"

namespace gan {

namespace {

// A relative file path as a URL: every byte outside the unreserved set and '/' percent-encoded
// (so a space or '#' in a run directory's file name cannot break the link).
std::string url_path(const std::string& path) {
  std::string out;
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
      out += char(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string json_scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump();
}

// Settings as (key, value) rows: nested objects joined by '.', arrays of scalars as one
// comma-separated value, arrays of objects (a model's layers) indexed.
void flatten(const nlohmann::json& j, const std::string& prefix,
             std::vector<std::pair<std::string, std::string>>& rows) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), prefix.empty() ? it.key() : prefix + "." + it.key(), rows);
    return;
  }
  if (j.is_array()) {
    const bool scalars =
        std::all_of(j.begin(), j.end(), [](const nlohmann::json& e) { return e.is_primitive(); });
    if (scalars) {
      std::string joined;
      for (const nlohmann::json& e : j)
        joined += (joined.empty() ? "" : ", ") + json_scalar_text(e);
      rows.emplace_back(prefix, joined.empty() ? "(none)" : joined);
      return;
    }
    for (size_t i = 0; i < j.size(); ++i) flatten(j[i], fmt::format("{}[{}]", prefix, i), rows);
    return;
  }
  rows.emplace_back(prefix, json_scalar_text(j));
}

constexpr const char* kStyle = R"(
:root { color-scheme: light; --ink: #1d2330; --muted: #5d6677; --line: #dde1e8; --accent: #2f5fd0; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", system-ui, -apple-system, "Segoe UI", Arial, sans-serif;
       color: var(--ink); background: #f5f6f8; margin: 0; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 24px 40px; }
h1 { font-size: 24px; margin: 0 0 6px; word-break: break-all; }
h2 { font-size: 18px; margin: 0 0 12px; }
section, header { background: #fff; border: 1px solid var(--line); border-radius: 8px;
                  padding: 16px 20px; margin: 0 0 16px; }
.state { font-size: 16px; margin: 4px 0; }
.badge { display: inline-block; padding: 1px 10px; border-radius: 10px; color: #fff;
         font-weight: bold; margin-right: 8px; }
.running { background: #2f7fd0; } .finished { background: #2e9b4f; }
.stopped { background: #c98a12; } .failed { background: #c73b3b; }
.bar { height: 8px; background: #e6e9ef; border-radius: 4px; overflow: hidden; margin: 8px 0; }
.bar div { height: 100%; background: var(--accent); }
.muted { color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; }
td, th { padding: 3px 14px 3px 0; text-align: left; vertical-align: top; }
th { color: var(--muted); font-weight: normal; }
table.settings td { font-family: "DejaVu Sans Mono", monospace; font-size: 13px; }
table.metrics td:nth-child(2), table.metrics td:nth-child(3) { font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; color: var(--accent); margin-top: 10px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; flex: 1 1 520px; }
.plots svg { width: 100%; height: auto; }
img.pixels { image-rendering: pixelated; }
img.large { max-width: 100%; width: 560px; border: 1px solid var(--line); }
.timeline { display: flex; flex-wrap: wrap; gap: 10px; }
.timeline figure { margin: 0; text-align: center; }
.timeline img { width: 132px; border: 1px solid var(--line); display: block; }
figcaption { color: var(--muted); font-size: 13px; }
a { color: var(--accent); }
)";

}  // namespace

std::string format_duration(double seconds, bool compact) {
  if (!(seconds >= 0) || seconds > kMaxDurationSeconds) return "?";
  const long s = long(seconds + 0.5);
  if (compact)
    return s >= 3600 ? fmt::format("{}h{:02d}m", s / 3600, (s / 60) % 60)
                     : fmt::format("{}m{:02d}s", s / 60, s % 60);
  if (s < 60) return fmt::format("{} s", s);
  if (s < 3600) return fmt::format("{} min {:02d} s", s / 60, s % 60);
  return fmt::format("{} h {:02d} min", s / 3600, (s / 60) % 60);
}

std::vector<ReportImage> spread_images(const std::vector<ReportImage>& images, size_t max_count) {
  if (images.size() <= max_count) return images;
  if (max_count == 0) return {};
  if (max_count == 1) return {images.back()};
  std::vector<ReportImage> out;
  const size_t n = images.size();
  for (size_t i = 0; i < max_count; ++i) out.push_back(images[i * (n - 1) / (max_count - 1)]);
  return out;
}

std::string render_report_html(const RunReport& r) {
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  const bool live = r.state == "running";
  if (live) h += fmt::format("<meta http-equiv=\"refresh\" content=\"{}\">\n", r.refresh_s);
  const std::string progress = fmt::format("step {} / {}", r.step, r.total);
  h += fmt::format("<title>{} ({}, {})</title>\n", xml_escape(r.title), xml_escape(r.state),
                   progress);
  h += std::string("<style>") + kStyle + "</style>\n</head>\n<body>\n<main>\n";

  // ---- header: what state the run is in and how far it got
  h += "<header>\n<h1>" + xml_escape(r.title) + "</h1>\n";
  const double fraction = r.total > 0 ? std::min(1.0, double(r.step) / double(r.total)) : 0.0;
  std::string line = fmt::format("{} ({:.0f}%)", progress, 100 * fraction);
  if (r.it_per_s > 0) line += fmt::format(" &middot; {:.1f} it/s", r.it_per_s);
  if (live) {
    line += " &middot; ETA " + xml_escape(format_duration(r.eta_s));
    line += " &middot; running for " + xml_escape(format_duration(r.elapsed_s));
  } else {
    line += " &middot; this session took " + xml_escape(format_duration(r.elapsed_s));
  }
  h += fmt::format("<p class=\"state\"><span class=\"badge {}\">{}</span>{}</p>\n",
                   xml_escape(r.state), xml_escape(r.state), line);
  h +=
      fmt::format("<div class=\"bar\"><div style=\"width:{:.1f}%\"></div></div>\n", 100 * fraction);
  if (!r.state_detail.empty()) h += "<p>" + xml_escape(r.state_detail) + "</p>\n";
  h += "<p class=\"muted\">updated " + xml_escape(r.updated);
  if (live)
    h += fmt::format("; this page reloads itself every {} s while the run is live", r.refresh_s);
  h += "</p>\n</header>\n";

  // ---- what ran
  h += "<section>\n<h2>What ran</h2>\n<table class=\"facts\">\n";
  for (const auto& [k, v] : r.facts)
    h += "<tr><th>" + xml_escape(k) + "</th><td>" + xml_escape(v) + "</td></tr>\n";
  h += "</table>\n";
  if (!r.settings.is_null()) {
    std::vector<std::pair<std::string, std::string>> rows;
    flatten(r.settings, "", rows);
    h += fmt::format("<details>\n<summary>every setting ({})</summary>\n", rows.size());
    h += "<table class=\"settings\">\n";
    for (const auto& [k, v] : rows)
      h += "<tr><td>" + xml_escape(k) + "</td><td>" + xml_escape(v) + "</td></tr>\n";
    h += "</table>\n</details>\n";
  }
  h += "</section>\n";

  // ---- numbers
  if (!r.metrics.empty()) {
    h += "<section>\n<h2>Metrics</h2>\n<table class=\"metrics\">\n";
    h += "<tr><th>metric</th><th>latest</th><th>best</th></tr>\n";
    for (const ReportMetric& m : r.metrics)
      h += "<tr><td>" + xml_escape(m.name) + "</td><td>" + xml_escape(m.latest) + "</td><td>" +
           xml_escape(m.best) + "</td></tr>\n";
    h += "</table>\n</section>\n";
  }

  // ---- the newest grid, large
  if (!r.latest_image.empty()) {
    h += "<section>\n<h2>Latest samples</h2>\n<figure>\n";
    h += fmt::format("<a href=\"{0}\"><img class=\"large pixels\" src=\"{0}\" alt=\"{1}\"></a>\n",
                     url_path(r.latest_image), xml_escape(r.latest_caption));
    h += "<figcaption>" + xml_escape(r.latest_caption) + "</figcaption>\n</figure>\n</section>\n";
  }

  // ---- curves
  if (!r.plots.empty()) {
    h += "<section>\n<h2>Curves</h2>\n<div class=\"plots\">\n";
    for (const auto& [caption, svg] : r.plots)
      h += "<figure aria-label=\"" + xml_escape(caption) + "\">\n" + svg + "\n</figure>\n";
    h += "</div>\n</section>\n";
  }

  // ---- grids over time
  if (!r.timeline.empty()) {
    h += "<section>\n<h2>Samples over training</h2>\n<div class=\"timeline\">\n";
    for (const ReportImage& im : r.timeline) {
      const std::string src = url_path(im.src);
      h += fmt::format(
          "<a href=\"{0}\"><figure><img class=\"pixels\" loading=\"lazy\" src=\"{0}\" "
          "alt=\"step {1}\"><figcaption>step {1}</figcaption></figure></a>\n",
          src, im.step);
    }
    h += "</div>\n</section>\n";
  }

  if (!r.files.empty()) {
    h += "<section>\n<h2>Files</h2>\n<table>\n";
    for (const auto& [path, what] : r.files)
      h += fmt::format("<tr><td><a href=\"{}\">{}</a></td><td>{}</td></tr>\n", url_path(path),
                       xml_escape(path), xml_escape(what));
    h += "</table>\n</section>\n";
  }
  h += "</main>\n</body>\n</html>\n";
  return h;
}

}  // namespace gan
