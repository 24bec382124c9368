// What a person sees of a run: report.html (what ran, progress, metrics, curves, the grids over
// time), progress.gif and the last line naming the report; a resumed run's report continues the
// one before, a run stopped by a signal leaves a valid report, and pictures that cannot be drawn
// or written never fail a run. Also a real browser (headless Chromium, where installed) loading a
// finished run's report. Every run is a few tiny CPU steps.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "cli_harness.h"
#include "engine/io/png.h"
#include "gif_decode.h"
#include "html_check.h"
#include "mnist_gan_cli.h"

#ifndef GAN_TOY_GAN_BIN
#error "GAN_TOY_GAN_BIN must be defined by tests/CMakeLists.txt"
#endif

namespace fs = std::filesystem;
using namespace gan;
using namespace gan::test;

namespace {

std::string last_line(const std::string& out) {
  std::string s = out;
  while (!s.empty() && s.back() == '\n') s.pop_back();
  const size_t nl = s.rfind('\n');
  return nl == std::string::npos ? s : s.substr(nl + 1);
}

// Every relative src and href of the page names a file that exists in the run directory.
::testing::AssertionResult links_resolve(const std::string& run_dir, const std::string& html) {
  std::vector<std::string> refs = attribute_values(html, "src");
  for (const std::string& h : attribute_values(html, "href")) refs.push_back(h);
  if (refs.empty()) return ::testing::AssertionFailure() << "the page links nothing";
  for (const std::string& r : refs) {
    if (r.find("://") != std::string::npos)
      return ::testing::AssertionFailure() << "an absolute URL: " << r;
    if (!fs::exists(fs::path(run_dir) / r))
      return ::testing::AssertionFailure() << "links a missing file: " << r;
  }
  return ::testing::AssertionSuccess();
}

// The steps under the timeline's thumbnails, in page order.
std::vector<uint64_t> timeline_steps(const std::string& html) {
  std::vector<uint64_t> steps;
  const std::regex thumb("loading=\"lazy\" src=\"samples/step_(\\d+)\\.png\"");
  for (std::sregex_iterator it(html.begin(), html.end(), thumb), end; it != end; ++it)
    steps.push_back(std::stoull((*it)[1]));
  return steps;
}

class RunReportCli : public MnistGanCli {
 protected:
  Outcome invoke_program(const std::string& binary, const std::vector<std::string>& args) {
    Child c(binary, args, logs);
    if (!c.started()) {
      ADD_FAILURE() << "fork failed";
      return {};
    }
    Outcome o = c.wait();
    EXPECT_FALSE(o.timed_out) << binary << " did not finish in time: " << o.describe();
    return o;
  }
  Outcome invoke_toy(std::vector<std::string> args) {
    args.insert(args.begin(), "train");
    return invoke_program(GAN_TOY_GAN_BIN, args);
  }
};

TEST_F(RunReportCli, AFinishedRunExplainsItself) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  const Outcome o = train(data, run, {"--steps", "7", "--seed", "3"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(last_line(o.out), "report: " + run + "/report.html");

  const std::string html = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(html));
  EXPECT_TRUE(links_resolve(run, html));
  EXPECT_EQ(html.find("http-equiv=\"refresh\""), std::string::npos) << "a finished run reloads";
  for (const std::string& want :
       {std::string("class=\"badge finished\""), std::string("step 7 / 7 (100%)"),
        std::string("<th>preset</th><td>tf-mlp</td>"), std::string("<th>seed</th><td>3</td>"),
        std::string("<td>batch</td><td>8</td>"), std::string("D loss"), std::string("G loss"),
        std::string("D(G(z))"), std::string("href=\"progress.gif\""),
        std::string("href=\"metrics.csv\""), std::string("step 7 of 7")})
    EXPECT_NE(html.find(want), std::string::npos) << want;
  // Two curves (losses, D outputs) inline as SVG, with their text.
  EXPECT_EQ(count_of(html, "<svg"), 2u);
  EXPECT_NE(html.find("loss (BCE, nats)"), std::string::npos);
  EXPECT_EQ(timeline_steps(html), (std::vector<uint64_t>{0, 2, 4, 6, 7}));

  // progress.gif: one frame a grid, each the grid under a caption band.
  const std::string gif = slurp(run + "/progress.gif");
  DecodedGif g;
  ASSERT_TRUE(decode_gif(gif, g));
  ASSERT_EQ(g.frames.size(), 5u);
  const RgbImage grid = decode_png_rgb(slurp(run + "/samples/step_000007.png"), "grid");
  EXPECT_EQ(g.width, grid.width);
  EXPECT_GT(g.height, grid.height);
  EXPECT_LT(g.height, grid.height + 60);
  EXPECT_EQ(g.loop_count, 0) << "loops forever";
  // The last frame's grid is the last PNG, pixel for pixel (grey: exact in a GIF).
  const auto& last = g.frames.back();
  const int band = g.height - grid.height;
  size_t differ = 0;
  for (int y = 0; y < grid.height; ++y)
    for (int x = 0; x < grid.width; ++x)
      for (int c = 0; c < 3; ++c)
        differ += last.rgb[(size_t(y + band) * g.width + x) * 3 + c] !=
                  grid.rgb[(size_t(y) * grid.width + x) * 3 + c];
  EXPECT_EQ(differ, 0u);
  // The caption band has white text on black.
  size_t ink = 0;
  for (int y = 0; y < band; ++y)
    for (int x = 0; x < g.width; ++x) ink += last.rgb[(size_t(y) * g.width + x) * 3] > 128;
  EXPECT_GT(ink, 20u) << "no step drawn on the frame";
}

TEST_F(RunReportCli, AResumedRunsReportContinuesTheOneBefore) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  Outcome o = train(data, run, {"--steps", "4", "--checkpoint-every", "4"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(timeline_steps(slurp(run + "/report.html")), (std::vector<uint64_t>{0, 2, 4}));

  o = mnist_gan({"train", "--resume", run, "--steps", "8"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  const std::string html = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(html));
  EXPECT_TRUE(links_resolve(run, html));
  EXPECT_EQ(timeline_steps(html), (std::vector<uint64_t>{0, 2, 4, 6, 8}));
  EXPECT_NE(html.find("resumed at step 4"), std::string::npos);
  EXPECT_NE(html.find("step 8 / 8 (100%)"), std::string::npos);
  DecodedGif g;
  ASSERT_TRUE(decode_gif(slurp(run + "/progress.gif"), g));
  EXPECT_EQ(g.frames.size(), 5u) << "the GIF spans both sessions";
}

TEST_F(RunReportCli, ARunStoppedBySignalLeavesAValidReport) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  Child c(GAN_MNIST_GAN_BIN,
          {"train", "--preset", "tf-mlp", "--data", data, "--out", run, "--batch", "8", "--device",
           "cpu", "--steps", "100000", "--log-every", "2", "--sample-every", "20",
           "--checkpoint-every", "50000"},
          logs);
  ASSERT_TRUE(c.started());
  const auto deadline = Clock::now() + kDeadline;
  // Live: the report exists from the start and reloads itself.
  while (read_metrics(run + "/metrics.csv").steps.size() < 3 || !fs::exists(run + "/report.html")) {
    ASSERT_FALSE(c.poll()) << "the run ended before it was signalled: " << c.wait().describe();
    ASSERT_LT(Clock::now(), deadline) << "no progress within the deadline; killed";
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const std::string live = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(live));
  EXPECT_NE(live.find("http-equiv=\"refresh\""), std::string::npos);
  EXPECT_NE(live.find("class=\"badge running\""), std::string::npos);
  ASSERT_EQ(kill(c.pid(), SIGINT), 0);
  const Outcome o = c.wait();
  ASSERT_EQ(o.code(), 128 + SIGINT) << o.describe();
  EXPECT_EQ(last_line(o.out), "report: " + run + "/report.html");
  const std::string html = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(html));
  EXPECT_TRUE(links_resolve(run, html));
  EXPECT_NE(html.find("class=\"badge stopped\""), std::string::npos);
  EXPECT_NE(html.find("stopped by signal 2 at step"), std::string::npos);
  EXPECT_NE(html.find("--resume " + run), std::string::npos);
  EXPECT_EQ(html.find("http-equiv=\"refresh\""), std::string::npos);
  DecodedGif g;
  EXPECT_TRUE(decode_gif(slurp(run + "/progress.gif"), g));
}

TEST_F(RunReportCli, PicturesThatCannotBeWrittenNeverFailTheRun) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  // Directories where the report, the GIF, a curve and one grid would go: every write of them
  // fails, whoever runs the test (root ignores permissions; a directory cannot be renamed over).
  for (const char* blocked :
       {"report.html", "progress.gif", "curves.png", "samples/step_000004.png"})
    fs::create_directories(run + "/" + blocked + "/x");
  const Outcome o = train(data, run, {"--steps", "7"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(o.err, "");
  EXPECT_NE(o.out.find("done: 7 steps"), std::string::npos) << o.out;
  for (const char* what : {"report.html not written", "progress.gif not written",
                           "curves.png not written", "sample pictures (samples/) not written"})
    EXPECT_EQ(count_of(o.out, what), 1u) << what << " said once:\n" << o.out;
  EXPECT_EQ(o.out.find("report: "), std::string::npos) << "no report to name";
  // The training and its numbers are all there.
  EXPECT_EQ(read_metrics(run + "/metrics.csv").steps, (std::vector<uint64_t>{2, 4, 6, 7}));
  EXPECT_TRUE(fs::is_regular_file(run + "/generator.safetensors"));
  EXPECT_TRUE(fs::is_regular_file(run + "/d_outputs.png"));
  EXPECT_TRUE(fs::is_regular_file(run + "/samples/step_000006.png"));
}

TEST_F(RunReportCli, WithoutAFontTheRunSaysSoOnceAndStillDrawsText) {
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  ASSERT_EQ(setenv("GAN_FONT", (tmp / "no-such-font.ttf").c_str(), 1), 0);
  const Outcome o = train(data, run, {"--steps", "5"});
  unsetenv("GAN_FONT");
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(count_of(o.out, "no-such-font.ttf"), 1u) << o.out;
  EXPECT_EQ(count_of(o.out, "built-in bitmap font"), 1u) << o.out;
  const RgbImage curves = decode_png_rgb(slurp(run + "/curves.png"), "curves.png");
  EXPECT_GT(curves.width, 0);
  EXPECT_TRUE(fs::is_regular_file(run + "/report.html"));
  DecodedGif g;
  EXPECT_TRUE(decode_gif(slurp(run + "/progress.gif"), g));
}

TEST_F(RunReportCli, AToyRunsReportShowsItsNumbersAndPictures) {
  const std::string run = tmp / "toy";
  const Outcome o = invoke_toy({"--experiment", "gauss1d", "--out", run, "--steps", "40", "--batch",
                                "8", "--sample-every", "20", "--device", "cpu"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  EXPECT_EQ(last_line(o.out), "report: " + run + "/report.html");
  const std::string html = slurp(run + "/report.html");
  EXPECT_TRUE(tags_balance(html));
  EXPECT_TRUE(links_resolve(run, html));
  EXPECT_EQ(timeline_steps(html), (std::vector<uint64_t>{0, 20, 40}));
  EXPECT_NE(html.find("wasserstein1"), std::string::npos) << "the toy metrics' table";
  EXPECT_NE(html.find("href=\"final.png\""), std::string::npos);
  DecodedGif g;
  ASSERT_TRUE(decode_gif(slurp(run + "/progress.gif"), g));
  EXPECT_EQ(g.frames.size(), 3u);
}

// A real browser loads a finished run's report from the file system: no console message (the
// page has no script, so any is an error), every linked file exists, and the screenshot shows a
// page (ink, colour), not a blank or an error page.
TEST_F(RunReportCli, HeadlessChromiumRendersTheReport) {
  std::string browser;
  for (const char* name : {"/usr/bin/chromium", "/usr/bin/chromium-browser"})
    if (fs::exists(name)) browser = name;
  if (browser.empty()) GTEST_SKIP() << "chromium is not installed (apt-get install chromium)";
  const std::string data = tmp / "data", run = tmp / "run";
  make_data(data, true);
  const Outcome o = train(data, run, {"--steps", "9", "--sample-every", "3"});
  ASSERT_EQ(o.code(), 0) << o.describe();
  const std::string html = slurp(run + "/report.html");
  ASSERT_TRUE(links_resolve(run, html));

  const std::string shot = tmp / "report.png";
  const Outcome b =
      invoke_program(browser, {"--headless", "--no-sandbox", "--disable-gpu",
                               "--disable-dev-shm-usage", "--no-first-run", "--disable-extensions",
                               "--hide-scrollbars", "--enable-logging=stderr", "--v=0",
                               "--user-data-dir=" + (tmp / "profile"), "--window-size=1280,1800",
                               "--screenshot=" + shot, "file://" + run + "/report.html"});
  ASSERT_EQ(b.code(), 0) << b.describe();
  EXPECT_EQ(b.err.find("CONSOLE"), std::string::npos) << b.err;
  EXPECT_EQ(b.err.find("ERR_FILE_NOT_FOUND"), std::string::npos) << b.err;
  const RgbImage page = decode_png_rgb(slurp(shot), shot);
  ASSERT_EQ(page.width, 1280);
  // Not blank: a good share of pixels differ from the page background, in several colours.
  size_t inked = 0;
  std::set<uint32_t> colours;
  for (size_t i = 0; i < page.rgb.size(); i += 3) {
    const uint32_t c =
        uint32_t(page.rgb[i]) << 16 | uint32_t(page.rgb[i + 1]) << 8 | page.rgb[i + 2];
    colours.insert(c);
    inked += c != 0xf5f6f8 && c != 0xffffff;
  }
  EXPECT_GT(inked, page.rgb.size() / 3 / 20) << "less than 5% of the page drawn";
  EXPECT_GT(colours.size(), 50u) << "a page of few colours: text, plots and grids are missing";
}

}  // namespace
