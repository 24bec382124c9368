// The plot rasteriser: the data-to-pixel mapping worked out by hand, lines and breaks, clipping of
// extreme and non-finite values (only plot-area pixels ever change), automatic ranges, PNG files
// decoded back byte for byte by a minimal RGB decoder written here, and determinism.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "engine/io/atomic_file.h"
#include "engine/io/plot.h"
#include "png_decode.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

constexpr int kPlotMargin = 10;  // interim: the layout before labels


constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Px {
  uint8_t r, g, b;
  bool operator==(const Px&) const = default;
};

Px at(const RgbImage& im, int x, int y) {
  const size_t i = (size_t(y) * im.width + x) * 3;
  return {im.rgb[i], im.rgb[i + 1], im.rgb[i + 2]};
}

bool has_colour(const RgbImage& im, int x, int y, const Series& s) {
  return at(im, x, y) == Px{s.r, s.g, s.b};
}

int count_colour(const RgbImage& im, const Series& s) {
  int n = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) n += has_colour(im, x, y, s);
  return n;
}

// 100x100 with explicit ranges: the plot area is columns/rows 10..89.
PlotSpec spec100(double x_min, double x_max, double y_min, double y_max) {
  PlotSpec spec;
  spec.width = spec.height = 100;
  spec.x_min = x_min;
  spec.x_max = x_max;
  spec.y_min = y_min;
  spec.y_max = y_max;
  return spec;
}

Series series(std::vector<double> x, std::vector<double> y, bool points, Px c = {200, 30, 40}) {
  Series s;
  s.label = points ? "dots" : "line";
  s.x = std::move(x);
  s.y = std::move(y);
  s.r = c.r;
  s.g = c.g;
  s.b = c.b;
  s.points = points;
  return s;
}

::testing::AssertionResult decode_rgb_png(const std::string& png, RgbImage& out) {
  return decode_png(png, 3, out.width, out.height, out.rgb);
}

}  // namespace

TEST(Plot, PointLandsAtHandComputedPixel) {
  // Ranges [0, 79] on an 80-pixel area (columns/rows 10..89): x -> 10 + x, y -> 89 - y.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const PlotSpec spec = spec100(0, 79, 0, 79);
  const RgbImage empty = render_plot(spec, {});
  std::vector<std::pair<int, int>> cases = {{20, 30}, {0, 0}, {79, 79}};
  for (int i = 0; i < 5; ++i) cases.push_back({rng.uniform_int(0, 79), rng.uniform_int(0, 79)});
  for (auto [dx, dy] : cases) {
    SCOPED_TRACE("data (" + std::to_string(dx) + ", " + std::to_string(dy) + ")");
    // Off-integer data within a third of a pixel rounds to the same pixel.
    const Series s = series({dx + rng.uniform(-0.3, 0.3)}, {dy + rng.uniform(-0.3, 0.3)}, true);
    const RgbImage im = render_plot(spec, {s});
    const int cx = 10 + dx, cy = 89 - dy;
    ASSERT_EQ(im.width, 100);
    ASSERT_EQ(im.height, 100);
    ASSERT_EQ(im.rgb.size(), 100u * 100u * 3u);
    // Exactly the 3x3 square around (cx, cy), clipped to the plot area, changed, to the colour.
    for (int y = 0; y < 100; ++y)
      for (int x = 0; x < 100; ++x) {
        const bool in_square = std::abs(x - cx) <= 1 && std::abs(y - cy) <= 1 && x >= 10 &&
                               x <= 89 && y >= 10 && y <= 89;
        if (in_square)
          ASSERT_TRUE(has_colour(im, x, y, s)) << "pixel " << x << "," << y;
        else
          ASSERT_EQ(at(im, x, y), at(empty, x, y)) << "pixel " << x << "," << y;
      }
  }
  // Background: white far from everything; frame one pixel outside the area.
  EXPECT_EQ(at(empty, 15, 15), (Px{255, 255, 255}));
  EXPECT_EQ(at(empty, 5, 5), (Px{255, 255, 255}));
  EXPECT_NE(at(empty, 9, 50), (Px{255, 255, 255}));
  EXPECT_NE(at(empty, 90, 50), (Px{255, 255, 255}));
}

TEST(Plot, HorizontalLineColoursExactlyOneRow) {
  // y = 0.5 on [0, 1]: row 89 - 0.5 * 79 = 49.5, rounded halves up to row 50; x in [0, 1] covers
  // columns 10..89, so exactly 80 pixels take the colour.
  const Series s = series({0.0, 0.25, 1.0}, {0.5, 0.5, 0.5}, false);
  const RgbImage im = render_plot(spec100(0, 1, 0, 1), {s});
  for (int x = 10; x <= 89; ++x) EXPECT_TRUE(has_colour(im, x, 50, s)) << "column " << x;
  EXPECT_EQ(count_colour(im, s), 80);
  // A diagonal from corner to corner: Bresenham gives one pixel per column, (x, 99 - x).
  const Series d = series({0.0, 1.0}, {0.0, 1.0}, false, {0, 0, 255});
  const RgbImage di = render_plot(spec100(0, 1, 0, 1), {d});
  for (int x = 10; x <= 89; ++x) EXPECT_TRUE(has_colour(di, x, 99 - x, d)) << "column " << x;
  EXPECT_EQ(count_colour(di, d), 80);
}

TEST(Plot, NonFiniteBreaksLinesAndExtremesAreClipped) {
  const PlotSpec spec = spec100(0, 1, 0, 1);
  // (0.1, 0.5)-(0.5, 0.5), a NaN break, then an isolated point at 0.9 (one pixel), another break.
  // Columns: 10 + 0.1 * 79 = 17.9 -> 18; 0.5 -> 49.5 -> 50; 0.9 -> 81.1 -> 81.
  const Series broken = series({0.1, 0.5, kNaN, 0.9, 0.7}, {0.5, 0.5, 0.5, 0.5, kInf}, false);
  const RgbImage im = render_plot(spec, {broken});
  for (int x = 18; x <= 50; ++x) EXPECT_TRUE(has_colour(im, x, 50, broken)) << "column " << x;
  EXPECT_TRUE(has_colour(im, 81, 50, broken));
  EXPECT_EQ(count_colour(im, broken), 33 + 1);

  // A segment from inside to x = 1e300 is clipped at the right edge, keeping its direction.
  const Series far = series({0.5, 1e300}, {0.5, 0.5}, false);
  const RgbImage fi = render_plot(spec, {far});
  for (int x = 50; x <= 89; ++x) EXPECT_TRUE(has_colour(fi, x, 50, far)) << "column " << x;
  EXPECT_EQ(count_colour(fi, far), 40);
  // The same, far end first.
  const Series back = series({1e300, 0.5}, {0.5, 0.5}, false);
  const RgbImage bi = render_plot(spec, {back});
  for (int x = 50; x <= 89; ++x) EXPECT_TRUE(has_colour(bi, x, 50, back)) << "column " << x;
  EXPECT_EQ(count_colour(bi, back), 40);
  // A segment crossing the whole area between two far points still draws through it (with both
  // ends 1e300 away the crossing cannot be exact in fixed precision: only no-crash is checked
  // for those below).
  const Series across = series({-1e6, 1e6}, {-1e6, 1e6}, false);
  const RgbImage ai = render_plot(spec, {across});
  for (int x = 10; x <= 89; ++x) EXPECT_TRUE(has_colour(ai, x, 99 - x, across)) << "column " << x;

  // Every kind of extreme value, as lines and as points, with explicit and automatic ranges and a
  // tiny range (pixel coordinates far beyond double's range): only plot-area pixels change.
  const double max = std::numeric_limits<double>::max(), tiny = 1e-300;
  const std::vector<double> xs = {1e300, -1e300, kNaN, kInf, -kInf, 0.5, max, -max, tiny, 0.0, 1.0};
  std::vector<double> ys = xs;
  std::reverse(ys.begin(), ys.end());
  std::vector<Series> all = {series(xs, ys, false), series(xs, ys, true, {0, 128, 0}),
                             series(ys, xs, false, {0, 0, 200}), series(ys, xs, true, {9, 9, 9})};
  for (const PlotSpec& sp :
       {spec, spec100(0, 0, 0, 0), spec100(0, tiny, -tiny, tiny), spec100(-max, max, -max, max)}) {
    const RgbImage empty = render_plot(sp, {});
    const RgbImage got = render_plot(sp, all);
    ASSERT_EQ(got.rgb.size(), empty.rgb.size());
    for (int y = 0; y < 100; ++y)
      for (int x = 0; x < 100; ++x)
        if (x < 10 || x > 89 || y < 10 || y > 89)
          ASSERT_EQ(at(got, x, y), at(empty, x, y)) << "margin pixel " << x << "," << y;
  }
}

TEST(Plot, AutoRangePadsFivePercent) {
  const Series s = series({2.0, 3.0, 4.0, kNaN}, {-1.0, 3.0, 0.0, 100.0}, true);
  const PlotSpec r = resolve_plot_ranges(spec100(0, 0, 0, 0), {s});
  EXPECT_NEAR(r.x_min, 1.9, 1e-12);
  EXPECT_NEAR(r.x_max, 4.1, 1e-12);
  EXPECT_NEAR(r.y_min, -1.2, 1e-12);  // (2, 100) is skipped: its x is NaN
  EXPECT_NEAR(r.y_max, 3.2, 1e-12);
  // x = 2 lands at column 10 + round(0.1 / 2.2 * 79) = 14; x = 4 at 10 + round(2.1 / 2.2 * 79) =
  // 85; y = 3 at row 89 - round(4.2 / 4.4 * 79) = 14.
  const RgbImage im = render_plot(spec100(0, 0, 0, 0), {s});
  EXPECT_TRUE(has_colour(im, 14, 89 - int(std::lround(0.2 / 4.4 * 79)), s));
  EXPECT_TRUE(has_colour(im, 85, 89 - int(std::lround(1.2 / 4.4 * 79)), s));
  EXPECT_TRUE(has_colour(im, 10 + int(std::lround(1.1 / 2.2 * 79)), 14, s));
  // One axis explicit, the other automatic.
  const PlotSpec half = resolve_plot_ranges(spec100(-5, 5, 0, 0), {s});
  EXPECT_EQ(half.x_min, -5);
  EXPECT_EQ(half.x_max, 5);
  EXPECT_NEAR(half.y_min, -1.2, 1e-12);
  // A single value, no finite data, and extremes that would overflow the padding.
  const PlotSpec one = resolve_plot_ranges(spec100(0, 0, 0, 0), {series({10}, {0}, true)});
  EXPECT_NEAR(one.x_min, 9.5, 1e-12);
  EXPECT_NEAR(one.x_max, 10.5, 1e-12);
  EXPECT_NEAR(one.y_min, -0.5, 1e-12);
  EXPECT_NEAR(one.y_max, 0.5, 1e-12);
  const PlotSpec none = resolve_plot_ranges(spec100(0, 0, 0, 0), {series({kNaN}, {1}, false)});
  EXPECT_EQ(none.x_min, 0);
  EXPECT_EQ(none.x_max, 1);
  const double max = std::numeric_limits<double>::max();
  const PlotSpec huge = resolve_plot_ranges(spec100(0, 0, 0, 0), {series({-max, max}, {0, 1}, 0)});
  EXPECT_EQ(huge.x_min, -max);
  EXPECT_EQ(huge.x_max, max);
}

TEST(Plot, RejectsBadInput) {
  EXPECT_TRUE(throws_with([] { render_plot(spec100(1, 0, 0, 1), {}); }, {"x range", "min"}));
  EXPECT_TRUE(throws_with([] { render_plot(spec100(0, 1, 0, kNaN), {}); }, {"y range"}));
  EXPECT_TRUE(throws_with(
      [] {
        render_plot(spec100(0, 1, 0, 1), {series({1, 2}, {1}, false)});
      },
      {"'line'", "2 x values", "1 y values"}));
  PlotSpec small = spec100(0, 1, 0, 1);
  small.width = 21;
  EXPECT_TRUE(throws_with([&] { render_plot(small, {}); }, {"21x100"}));
  EXPECT_TRUE(throws_with([] { encode_png_rgb(2, 2, std::vector<uint8_t>(11)); }, {"2x2", "11"}));
}

TEST(Plot, WritesRgbPngAtomically) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  PlotSpec spec;
  spec.width = 160;
  spec.height = 120;
  std::vector<double> x, y;
  for (int i = 0; i < 50; ++i) {
    x.push_back(i);
    y.push_back(rng.uniform(-1, 1));
  }
  const std::vector<Series> all = {series(x, y, false), series(x, y, true, {0, 90, 200})};
  const std::string path = dir.file("plot.png");
  write_plot_png(path, spec, all);
  const std::string png = read_file(path);
  ASSERT_GE(png.size(), 33u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n"));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  EXPECT_EQ(png_be32_at(png, 16), 160u);
  EXPECT_EQ(png_be32_at(png, 20), 120u);
  EXPECT_EQ(int(png[24]), 8);  // bit depth
  EXPECT_EQ(int(png[25]), 2);  // colour type: RGB
  RgbImage decoded;
  ASSERT_TRUE(decode_rgb_png(png, decoded));
  const RgbImage want = render_plot(spec, all);
  EXPECT_EQ(decoded.width, want.width);
  EXPECT_EQ(decoded.height, want.height);
  EXPECT_TRUE(decoded.rgb == want.rgb);
  // Only the file itself: no temp file left beside it.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);

  const std::string missing = dir.file("no_such_dir") + "/plot.png";
  EXPECT_TRUE(throws_with([&] { write_plot_png(missing, spec, all); }, {missing}));
  EXPECT_FALSE(fs::exists(dir.path / "no_such_dir"));
  entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Plot, Deterministic) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  std::vector<double> x, y;
  for (int i = 0; i < 300; ++i) {
    x.push_back(rng.uniform(-3, 3));
    y.push_back(rng.uniform(-3, 3));
  }
  const std::vector<Series> all = {series(x, y, true), series(x, y, false, {10, 200, 10})};
  const PlotSpec spec;
  const RgbImage a = render_plot(spec, all), b = render_plot(spec, all);
  EXPECT_TRUE(a.rgb == b.rgb);
  EXPECT_EQ(encode_png_rgb(a.width, a.height, a.rgb), encode_png_rgb(b.width, b.height, b.rgb));
}
