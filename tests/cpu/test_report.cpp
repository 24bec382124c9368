// report.html's renderer on its own: escaping, the live page's reload, the settings table, image
// links, the timeline's choice of grids, durations, and a page whose tags all close.
#include <gtest/gtest.h>

#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "engine/io/report.h"
#include "html_check.h"

using namespace gan;
using namespace gan::test;

namespace {

RunReport sample_report() {
  RunReport r;
  r.title = "mnist_gan: runs/<x>";
  r.state = "running";
  r.refresh_s = 7;
  r.step = 250;
  r.total = 1000;
  r.it_per_s = 12.5;
  r.eta_s = 60;
  r.elapsed_s = 20;
  r.updated = "2026-11-27 12:00:00";
  r.facts = {{"preset", "keras-mlp"}, {"data", "a & b"}};
  r.settings = nlohmann::json::parse(
      R"({"batch": 32, "opt": {"adam": {"lr": 0.0002}}, "layers": [{"kind": "dense"},
          {"kind": "relu"}], "list": [1, 2], "empty": [], "name": "x<y"})");
  r.metrics = {{"D loss", "0.69 (step 200)", ""}, {"FD", "12.5", "11 at step 100"}};
  r.plots = {{"Losses", "<svg width=\"10\" height=\"10\"><text>loss</text></svg>"}};
  r.timeline = {{0, "samples/step_000000.png"}, {200, "samples/step_000200.png"}};
  r.latest_image = "samples/step_000200.png";
  r.latest_caption = "step 200 of 1000";
  r.files = {{"metrics.csv", "losses"}, {"odd name #1.csv", "a file with a space"}};
  return r;
}

TEST(Report, EscapesEveryStringAndLinksEveryImage) {
  const std::string html = render_report_html(sample_report());
  EXPECT_NE(html.find("mnist_gan: runs/&lt;x&gt;"), std::string::npos);
  EXPECT_EQ(html.find("runs/<x>"), std::string::npos) << "an unescaped title";
  EXPECT_NE(html.find("a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("x&lt;y"), std::string::npos);
  // Paths as URLs: percent-encoded where a URL needs it.
  EXPECT_NE(html.find("href=\"odd%20name%20%231.csv\""), std::string::npos) << html;
  const std::vector<std::string> srcs = attribute_values(html, "src");
  EXPECT_EQ(std::set<std::string>(srcs.begin(), srcs.end()),
            (std::set<std::string>{"samples/step_000000.png", "samples/step_000200.png"}));
  // Nothing fetched from elsewhere: the page works offline.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_NE(html.find("<svg width=\"10\" height=\"10\"><text>loss</text></svg>"), std::string::npos)
      << "the plot's SVG is inlined as given";
  EXPECT_TRUE(tags_balance(html));
}

TEST(Report, ProgressStateAndReloadWhileLive) {
  RunReport r = sample_report();
  std::string html = render_report_html(r);
  EXPECT_NE(html.find("<meta http-equiv=\"refresh\" content=\"7\">"), std::string::npos);
  EXPECT_NE(html.find("step 250 / 1000 (25%)"), std::string::npos) << html;
  EXPECT_NE(html.find("12.5 it/s"), std::string::npos);
  EXPECT_NE(html.find("ETA 1 min 00 s"), std::string::npos);
  EXPECT_NE(html.find("width:25.0%"), std::string::npos);
  EXPECT_NE(html.find("class=\"badge running\""), std::string::npos);

  r.state = "finished";
  r.step = 1000;
  r.state_detail = "trained 1000 steps";
  html = render_report_html(r);
  EXPECT_EQ(html.find("http-equiv=\"refresh\""), std::string::npos) << "a finished run reloads";
  EXPECT_EQ(html.find("ETA"), std::string::npos);
  EXPECT_NE(html.find("step 1000 / 1000 (100%)"), std::string::npos);
  EXPECT_NE(html.find("class=\"badge finished\""), std::string::npos);
  EXPECT_NE(html.find("trained 1000 steps"), std::string::npos);
  EXPECT_TRUE(tags_balance(html));
}

TEST(Report, SettingsAreFlattenedIntoRows) {
  const std::string html = render_report_html(sample_report());
  const auto row = [](const std::string& k, const std::string& v) {
    return "<tr><td>" + k + "</td><td>" + v + "</td></tr>";
  };
  for (const std::string& want :
       {row("batch", "32"), row("opt.adam.lr", "0.0002"), row("layers[0].kind", "dense"),
        row("layers[1].kind", "relu"), row("list", "1, 2"), row("empty", "(none)"),
        row("name", "x&lt;y")})
    EXPECT_NE(html.find(want), std::string::npos) << want;
  EXPECT_NE(html.find("every setting (7)"), std::string::npos);
}

TEST(Report, AnEmptyReportIsAValidPage) {
  RunReport r;
  r.title = "t";
  const std::string html = render_report_html(r);
  EXPECT_TRUE(tags_balance(html));
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_NE(html.find("step 0 / 0 (0%)"), std::string::npos);
}

TEST(Report, SpreadImagesKeepsTheEndsAndSpacesEvenly) {
  std::mt19937 gen(std::random_device{}());
  for (int trial = 0; trial < 200; ++trial) {
    const size_t n = std::uniform_int_distribution<size_t>(0, 300)(gen);
    const size_t max = std::uniform_int_distribution<size_t>(2, 80)(gen);
    std::vector<ReportImage> images;
    for (size_t i = 0; i < n; ++i) images.push_back({i * 10, "s" + std::to_string(i)});
    const std::vector<ReportImage> got = spread_images(images, max);
    ASSERT_EQ(got.size(), std::min(n, max)) << n << " " << max;
    if (n == 0) continue;
    EXPECT_EQ(got.front().step, 0u);
    EXPECT_EQ(got.back().step, (n - 1) * 10);
    std::set<size_t> gaps;
    for (size_t i = 1; i < got.size(); ++i) {
      ASSERT_GT(got[i].step, got[i - 1].step);
      gaps.insert((got[i].step - got[i - 1].step) / 10);
    }
    if (!gaps.empty()) EXPECT_LE(*gaps.rbegin() - *gaps.begin(), 1u) << n << " " << max;
  }
  std::vector<ReportImage> three = {{1, "a"}, {2, "b"}, {3, "c"}};
  EXPECT_EQ(spread_images(three, 1).size(), 1u);
  EXPECT_EQ(spread_images(three, 1)[0].step, 3u) << "one image: the newest";
  EXPECT_TRUE(spread_images(three, 0).empty());
}

TEST(Report, DurationsForPeople) {
  EXPECT_EQ(format_duration(0), "0 s");
  EXPECT_EQ(format_duration(42.4), "42 s");
  EXPECT_EQ(format_duration(59.6), "1 min 00 s");
  EXPECT_EQ(format_duration(185), "3 min 05 s");
  EXPECT_EQ(format_duration(7620), "2 h 07 min");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(std::nan("")), "?");
  EXPECT_EQ(format_duration(1e300), "?") << "an ETA at a near-zero speed";
  EXPECT_EQ(format_duration(42.4, true), "0m42s");
  EXPECT_EQ(format_duration(185, true), "3m05s");
  EXPECT_EQ(format_duration(7620, true), "2h07m");
  EXPECT_EQ(format_duration(-3, true), "?");
}

}  // namespace
