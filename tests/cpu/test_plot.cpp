// The plot writers: the data-to-pixel mapping worked out by hand from plot_layout's area, lines
// and breaks, clipping of extreme and non-finite values (only plot-area pixels ever change),
// automatic ranges, text where the layout says (and nowhere else), legend, smoothing, ticks and
// their labels, SVG output, PNG files decoded back byte for byte, and determinism.
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <cmath>
#include <cstring>
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

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const char* kDejaVu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

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

int count_colour(const RgbImage& im, Px c) {
  int n = 0;
  for (int y = 0; y < im.height; ++y)
    for (int x = 0; x < im.width; ++x) n += at(im, x, y) == c;
  return n;
}
int count_colour(const RgbImage& im, const Series& s) { return count_colour(im, {s.r, s.g, s.b}); }

bool inside(const PixelBox& b, int x, int y) {
  return x >= b.left && x <= b.right && y >= b.top && y <= b.bottom;
}
bool empty(const PixelBox& b) { return b.right < b.left || b.bottom < b.top; }

// Text ink: clearly darker than white, grid lines and the legend's background.
bool is_ink(Px p) { return p.r < 200 && p.g < 200 && p.b < 200; }
int ink_in(const RgbImage& im, const PixelBox& b) {
  int n = 0;
  for (int y = std::max(b.top, 0); y <= std::min(b.bottom, im.height - 1); ++y)
    for (int x = std::max(b.left, 0); x <= std::min(b.right, im.width - 1); ++x)
      n += is_ink(at(im, x, y));
  return n;
}

// A plot with explicit ranges drawn with the built-in font (pixel-exact, needs no file).
PlotSpec spec_of(const Font& font, double x_min, double x_max, double y_min, double y_max,
                 int width = 240, int height = 180) {
  PlotSpec spec;
  spec.width = width;
  spec.height = height;
  spec.x_min = x_min;
  spec.x_max = x_max;
  spec.y_min = y_min;
  spec.y_max = y_max;
  spec.font = &font;
  return spec;
}

// An unlabelled series: nothing in the legend, so only the data colours its pixels.
Series series(std::vector<double> x, std::vector<double> y, bool points, Px c = {200, 30, 40}) {
  Series s;
  s.x = std::move(x);
  s.y = std::move(y);
  s.r = c.r;
  s.g = c.g;
  s.b = c.b;
  s.points = points;
  return s;
}

// Column and row of data x and y, as the header specifies: linear, halves up.
int col_of(const PixelBox& a, double x, double x_min, double x_max) {
  return int(std::floor(a.left + (x - x_min) / (x_max - x_min) * (a.right - a.left) + 0.5));
}
int row_of(const PixelBox& a, double y, double y_min, double y_max) {
  return int(std::floor(a.bottom - (y - y_min) / (y_max - y_min) * (a.bottom - a.top) + 0.5));
}

::testing::AssertionResult decode_rgb_png(const std::string& png, RgbImage& out) {
  return decode_png(png, 3, out.width, out.height, out.rgb);
}

// Every element opened is closed, in order; '&' only starts one of the five XML entities.
::testing::AssertionResult tags_balance(const std::string& xml) {
  std::vector<std::string> open;
  for (size_t i = 0; i < xml.size(); ++i) {
    if (xml[i] == '&') {
      bool entity = false;
      for (const char* e : {"&amp;", "&lt;", "&gt;", "&quot;", "&apos;"})
        entity = entity || xml.compare(i, std::strlen(e), e) == 0;
      if (!entity) return ::testing::AssertionFailure() << "bare '&' at " << i;
    }
    if (xml[i] != '<') continue;
    const size_t end = xml.find('>', i);
    if (end == std::string::npos) return ::testing::AssertionFailure() << "'<' unclosed at " << i;
    const std::string tag = xml.substr(i + 1, end - i - 1);
    if (tag.find('<') != std::string::npos)
      return ::testing::AssertionFailure() << "'<' inside a tag at " << i;
    if (tag[0] == '/') {
      if (open.empty() || open.back() != tag.substr(1))
        return ::testing::AssertionFailure()
               << "</" << tag.substr(1) << "> closes " << (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (tag.back() != '/') {
      open.push_back(tag.substr(0, tag.find_first_of(" \n")));
    }
    i = end;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> unclosed";
  return ::testing::AssertionSuccess();
}

int occurrences(const std::string& s, const std::string& what) {
  int n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST(Plot, PointLandsAtHandComputedPixel) {
  // Data aimed at a pixel (cx, cy) of the area, off by up to a third of a pixel, rounds to it.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::builtin();
  const PlotSpec spec = spec_of(font, 0, 1, 0, 1);
  const PixelBox area = plot_layout(spec, {}, font).area;
  const int aw = area.right - area.left, ah = area.bottom - area.top;
  ASSERT_GT(aw, 100);
  ASSERT_GT(ah, 60);
  const RgbImage empty = render_plot(spec, {});
  std::vector<std::pair<int, int>> cases = {{20, 30}, {0, 0}, {aw, ah}, {0, ah}, {aw, 0}};
  for (int i = 0; i < 5; ++i) cases.push_back({rng.uniform_int(0, aw), rng.uniform_int(0, ah)});
  for (auto [dx, dy] : cases) {
    SCOPED_TRACE("pixel offset (" + std::to_string(dx) + ", " + std::to_string(dy) + ")");
    const double x = (dx + rng.uniform(-0.3, 0.3)) / aw, y = (dy + rng.uniform(-0.3, 0.3)) / ah;
    const Series s = series({x}, {y}, true);
    const RgbImage im = render_plot(spec, {s});
    const int cx = area.left + dx, cy = area.bottom - dy;
    ASSERT_EQ(col_of(area, x, 0, 1), cx);
    ASSERT_EQ(row_of(area, y, 0, 1), cy);
    ASSERT_EQ(im.width, 240);
    ASSERT_EQ(im.height, 180);
    ASSERT_EQ(im.rgb.size(), 240u * 180u * 3u);
    // Exactly the 3x3 square around (cx, cy), clipped to the plot area, changed, to the colour.
    for (int py = 0; py < im.height; ++py)
      for (int px = 0; px < im.width; ++px) {
        const bool in_square =
            std::abs(px - cx) <= 1 && std::abs(py - cy) <= 1 && inside(area, px, py);
        if (in_square)
          ASSERT_TRUE(has_colour(im, px, py, s)) << "pixel " << px << "," << py;
        else
          ASSERT_EQ(at(im, px, py), at(empty, px, py)) << "pixel " << px << "," << py;
      }
  }
  // A point whose centre is a pixel outside the area draws nothing, even its inside neighbours.
  const RgbImage out = render_plot(spec, {series({-1.0 / aw}, {0.5}, true)});
  EXPECT_TRUE(out.rgb == empty.rgb);
  // White background in the corners; the frame one pixel outside the area.
  EXPECT_EQ(at(empty, 0, 0), (Px{255, 255, 255}));
  EXPECT_EQ(at(empty, 239, 179), (Px{255, 255, 255}));
  for (int y = area.top - 1; y <= area.bottom + 1; ++y) {
    EXPECT_NE(at(empty, area.left - 1, y), (Px{255, 255, 255})) << y;
    EXPECT_NE(at(empty, area.right + 1, y), (Px{255, 255, 255})) << y;
  }
  for (int x = area.left - 1; x <= area.right + 1; ++x) {
    EXPECT_NE(at(empty, x, area.top - 1), (Px{255, 255, 255})) << x;
    EXPECT_NE(at(empty, x, area.bottom + 1), (Px{255, 255, 255})) << x;
  }
}

TEST(Plot, LinesFollowTheMapping) {
  const Font font = Font::builtin();
  const PlotSpec spec = spec_of(font, 0, 1, 0, 1);
  const PixelBox a = plot_layout(spec, {}, font).area;
  // y = 0.5 covers every column of the area in one row.
  const Series s = series({0.0, 0.25, 1.0}, {0.5, 0.5, 0.5}, false);
  const RgbImage im = render_plot(spec, {s});
  const int row = row_of(a, 0.5, 0, 1);
  for (int x = a.left; x <= a.right; ++x) EXPECT_TRUE(has_colour(im, x, row, s)) << "column " << x;
  EXPECT_EQ(count_colour(im, s), a.right - a.left + 1);
  // A diagonal from corner to corner: Bresenham, one pixel per column (the area is wider than
  // high), each within half a pixel of the true line.
  ASSERT_GT(a.right - a.left, a.bottom - a.top);
  const Series d = series({0.0, 1.0}, {0.0, 1.0}, false, {0, 0, 255});
  const RgbImage di = render_plot(spec, {d});
  EXPECT_EQ(count_colour(di, d), a.right - a.left + 1);
  EXPECT_TRUE(has_colour(di, a.left, a.bottom, d));
  EXPECT_TRUE(has_colour(di, a.right, a.top, d));
  for (int y = 0; y < di.height; ++y)
    for (int x = 0; x < di.width; ++x)
      if (has_colour(di, x, y, d)) {
        ASSERT_TRUE(inside(a, x, y));
        const double ideal =
            a.bottom - double(x - a.left) / (a.right - a.left) * (a.bottom - a.top);
        ASSERT_LE(std::fabs(y - ideal), 0.5 + 1e-9) << x << "," << y;
      }
}

TEST(Plot, NonFiniteBreaksLinesAndExtremesAreClipped) {
  const Font font = Font::builtin();
  const PlotSpec spec = spec_of(font, 0, 1, 0, 1);
  const PixelBox a = plot_layout(spec, {}, font).area;
  const int row = row_of(a, 0.5, 0, 1);
  auto col = [&](double x) { return col_of(a, x, 0, 1); };
  // (0.1, 0.5)-(0.5, 0.5), a NaN break, then an isolated point at 0.9 (one pixel), an inf break.
  const Series broken = series({0.1, 0.5, kNaN, 0.9, 0.7}, {0.5, 0.5, 0.5, 0.5, kInf}, false);
  const RgbImage im = render_plot(spec, {broken});
  for (int x = col(0.1); x <= col(0.5); ++x)
    EXPECT_TRUE(has_colour(im, x, row, broken)) << "column " << x;
  EXPECT_TRUE(has_colour(im, col(0.9), row, broken));
  EXPECT_EQ(count_colour(im, broken), col(0.5) - col(0.1) + 1 + 1);

  // A segment from inside to x = 1e300 is clipped at the right edge, keeping its direction;
  // the same with the far end first.
  for (bool far_first : {false, true}) {
    const Series far = far_first ? series({1e300, 0.5}, {0.5, 0.5}, false)
                                 : series({0.5, 1e300}, {0.5, 0.5}, false);
    const RgbImage fi = render_plot(spec, {far});
    for (int x = col(0.5); x <= a.right; ++x)
      EXPECT_TRUE(has_colour(fi, x, row, far)) << "column " << x;
    EXPECT_EQ(count_colour(fi, far), a.right - col(0.5) + 1);
  }
  // A segment crossing the whole area between two far points draws what the corner-to-corner
  // segment draws (with both ends 1e300 away the crossing cannot be exact in fixed precision:
  // only no-crash is checked for those below).
  const Series across = series({-1e6, 1e6}, {-1e6, 1e6}, false);
  const Series corners = series({0, 1}, {0, 1}, false);
  EXPECT_TRUE(render_plot(spec, {across}).rgb == render_plot(spec, {corners}).rgb);

  // Every kind of extreme value, as lines and as points, with explicit and automatic ranges and a
  // tiny range (pixel coordinates far beyond double's range): only plot-area pixels change.
  const double max = std::numeric_limits<double>::max(), tiny = 1e-300;
  const std::vector<double> xs = {1e300, -1e300, kNaN, kInf, -kInf, 0.5, max, -max, tiny, 0.0, 1.0};
  std::vector<double> ys = xs;
  std::reverse(ys.begin(), ys.end());
  std::vector<Series> all = {series(xs, ys, false), series(xs, ys, true, {0, 128, 0}),
                             series(ys, xs, false, {0, 0, 200}), series(ys, xs, true, {9, 9, 9})};
  all[0].smooth = 0.5;
  for (const PlotSpec& sp : {spec, spec_of(font, 0, 0, 0, 0), spec_of(font, 0, tiny, -tiny, tiny),
                             spec_of(font, -max, max, -max, max)}) {
    // The empty picture with the same (resolved) ranges has the same layout.
    PlotSpec resolved = resolve_plot_ranges(sp, all);
    const RgbImage empty = render_plot(resolved, {});
    const RgbImage got = render_plot(sp, all);
    const PixelBox area = plot_layout(sp, all, font).area;
    ASSERT_EQ(got.rgb.size(), empty.rgb.size());
    for (int y = 0; y < got.height; ++y)
      for (int x = 0; x < got.width; ++x)
        if (!inside(area, x, y)) {
          ASSERT_EQ(at(got, x, y), at(empty, x, y)) << "margin pixel " << x << "," << y;
        }
    EXPECT_FALSE(render_plot_svg(sp, all).empty());
  }
}

TEST(Plot, AutoRangePadsFivePercent) {
  const Font font = Font::builtin();
  const Series s = series({2.0, 3.0, 4.0, kNaN}, {-1.0, 3.0, 0.0, 100.0}, true);
  const PlotSpec automatic = spec_of(font, 0, 0, 0, 0);
  const PlotSpec r = resolve_plot_ranges(automatic, {s});
  EXPECT_NEAR(r.x_min, 1.9, 1e-12);
  EXPECT_NEAR(r.x_max, 4.1, 1e-12);
  EXPECT_NEAR(r.y_min, -1.2, 1e-12);  // (2, 100) is skipped: its x is NaN
  EXPECT_NEAR(r.y_max, 3.2, 1e-12);
  // Each point lands where the resolved ranges put it.
  const RgbImage im = render_plot(automatic, {s});
  const PixelBox a = plot_layout(automatic, {s}, font).area;
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(
        has_colour(im, col_of(a, s.x[i], r.x_min, r.x_max), row_of(a, s.y[i], r.y_min, r.y_max), s))
        << "point " << i;
  EXPECT_EQ(col_of(a, 2.0, r.x_min, r.x_max),
            a.left + int(std::lround(0.1 / 2.2 * (a.right - a.left))));
  // One axis explicit, the other automatic.
  const PlotSpec half = resolve_plot_ranges(spec_of(font, -5, 5, 0, 0), {s});
  EXPECT_EQ(half.x_min, -5);
  EXPECT_EQ(half.x_max, 5);
  EXPECT_NEAR(half.y_min, -1.2, 1e-12);
  // A single value, no finite data, and extremes that would overflow the padding.
  const PlotSpec one = resolve_plot_ranges(automatic, {series({10}, {0}, true)});
  EXPECT_NEAR(one.x_min, 9.5, 1e-12);
  EXPECT_NEAR(one.x_max, 10.5, 1e-12);
  EXPECT_NEAR(one.y_min, -0.5, 1e-12);
  EXPECT_NEAR(one.y_max, 0.5, 1e-12);
  const PlotSpec none = resolve_plot_ranges(automatic, {series({kNaN}, {1}, false)});
  EXPECT_EQ(none.x_min, 0);
  EXPECT_EQ(none.x_max, 1);
  const double max = std::numeric_limits<double>::max();
  const PlotSpec huge = resolve_plot_ranges(automatic, {series({-max, max}, {0, 1}, false)});
  EXPECT_EQ(huge.x_min, -max);
  EXPECT_EQ(huge.x_max, max);
}

TEST(Plot, RejectsBadInput) {
  const Font font = Font::builtin();
  EXPECT_TRUE(throws_with([&] { render_plot(spec_of(font, 1, 0, 0, 1), {}); }, {"x range", "min"}));
  EXPECT_TRUE(throws_with([&] { render_plot(spec_of(font, 0, 1, 0, kNaN), {}); }, {"y range"}));
  Series bad = series({1, 2}, {1}, false);
  bad.label = "line";
  EXPECT_TRUE(throws_with([&] { render_plot(spec_of(font, 0, 1, 0, 1), {bad}); },
                          {"'line'", "2 x values", "1 y values"}));
  EXPECT_TRUE(throws_with([&] { render_plot_svg(spec_of(font, 0, 1, 0, 1), {bad}); },
                          {"'line'", "2 x values"}));
  for (double w : {-0.1, 1.0, 2.0, kNaN}) {
    Series s = series({1, 2}, {1, 2}, false);
    s.smooth = w;
    EXPECT_TRUE(throws_with([&] { render_plot(spec_of(font, 0, 0, 0, 0), {s}); }, {"smooth"}));
    EXPECT_TRUE(
        throws_with([&] { resolve_plot_ranges(spec_of(font, 0, 0, 0, 0), {s}); }, {"smooth"}));
  }
  PlotSpec small = spec_of(font, 0, 1, 0, 1, 159, 120);
  EXPECT_TRUE(throws_with([&] { render_plot(small, {}); }, {"159x120", "160x120"}));
  small.width = 160;
  small.height = 119;
  EXPECT_TRUE(throws_with([&] { plot_layout(small, {}, font); }, {"160x119"}));
  EXPECT_TRUE(throws_with([&] { render_plot_svg(small, {}); }, {"160x119"}));
  PlotSpec large = spec_of(font, 0, 1, 0, 1, 1 << 14, 1 << 13);
  EXPECT_TRUE(throws_with([&] { render_plot(large, {}); }, {"16384x8192"}));
  EXPECT_NO_THROW(render_plot(spec_of(font, 0, 1, 0, 1, 160, 120), {}));
  EXPECT_TRUE(throws_with([] { encode_png_rgb(2, 2, std::vector<uint8_t>(11)); }, {"2x2", "11"}));
  EXPECT_TRUE(throws_with([] { nice_ticks(1, 1); }, {"nice_ticks"}));
  EXPECT_TRUE(throws_with([] { nice_ticks(0, kInf); }, {"nice_ticks"}));
}

namespace {

// Every combination of present and absent text: each text's box holds ink, boxes do not overlap,
// and off the plot area all ink lies in a box (none where a text is absent).
void check_text_boxes(const Font& font, Rng& rng) {
  SCOPED_TRACE(font.source());
  for (int mask = 0; mask < 16; ++mask) {
    SCOPED_TRACE("text mask " + std::to_string(mask));
    PlotSpec spec = spec_of(font, 0, 0, 0, 0, rng.uniform_int(400, 800), rng.uniform_int(300, 500));
    if (mask & 1) spec.title = "Loss of D and G";
    if (mask & 2) spec.x_label = "step";
    if (mask & 4) spec.y_label = "loss (BCE, nats)";
    std::vector<Series> all = {series({}, {}, false, {31, 119, 180}),
                               series({}, {}, false, {255, 127, 14})};
    for (int i = 0; i < 200; ++i)
      for (Series& s : all) {
        s.x.push_back(i * 10);
        s.y.push_back(rng.uniform(0.2, 2.0));
      }
    if (mask & 8) {
      all[0].label = "D loss";
      all[1].label = "G loss";
    }
    const PlotLayout layout = plot_layout(spec, all, font);
    const RgbImage im = render_plot(spec, all);
    EXPECT_EQ(empty(layout.title), spec.title.empty());
    EXPECT_EQ(empty(layout.x_label), spec.x_label.empty());
    EXPECT_EQ(empty(layout.y_label), spec.y_label.empty());
    EXPECT_EQ(empty(layout.legend), !(mask & 8));
    EXPECT_FALSE(empty(layout.x_ticks));
    EXPECT_FALSE(empty(layout.y_ticks));
    const std::vector<std::pair<const char*, PixelBox>> boxes = {
        {"title", layout.title},     {"x_label", layout.x_label}, {"y_label", layout.y_label},
        {"x_ticks", layout.x_ticks}, {"y_ticks", layout.y_ticks}, {"legend", layout.legend}};
    for (const auto& [name, box] : boxes) {
      if (empty(box)) continue;
      EXPECT_GT(ink_in(im, box), 8) << name;
      // Text boxes lie in the picture and off the plot area (the legend inside it).
      EXPECT_GE(box.left, 0) << name;
      EXPECT_GE(box.top, 0) << name;
      EXPECT_LT(box.right, spec.width) << name;
      EXPECT_LT(box.bottom, spec.height) << name;
      const PixelBox& a = layout.area;
      const bool overlaps =
          box.left <= a.right && box.right >= a.left && box.top <= a.bottom && box.bottom >= a.top;
      if (std::string(name) == "legend")
        EXPECT_TRUE(inside(a, box.left, box.top) && inside(a, box.right, box.bottom));
      else
        EXPECT_FALSE(overlaps) << name;
    }
    // Boxes of different texts do not overlap.
    for (size_t i = 0; i < boxes.size(); ++i)
      for (size_t j = i + 1; j < boxes.size(); ++j) {
        const PixelBox &p = boxes[i].second, &q = boxes[j].second;
        if (empty(p) || empty(q)) continue;
        EXPECT_FALSE(p.left <= q.right && p.right >= q.left && p.top <= q.bottom &&
                     p.bottom >= q.top)
            << boxes[i].first << " and " << boxes[j].first;
      }
    // Off the area, its frame and tick marks (5 pixels around it), ink is text in its box.
    const PixelBox& a = layout.area;
    const PixelBox around{a.left - 5, a.top - 5, a.right + 5, a.bottom + 5};
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x) {
        if (inside(around, x, y) || at(im, x, y) == Px{255, 255, 255}) continue;
        bool in_text = false;
        for (const auto& [name, box] : boxes) in_text = in_text || inside(box, x, y);
        ASSERT_TRUE(in_text) << "stray pixel " << x << "," << y;
      }
    // The legend shows each labelled series' colour in a swatch.
    if (mask & 8) {
      for (const Series& s : all) {
        int n = 0;
        for (int y = layout.legend.top; y <= layout.legend.bottom; ++y)
          for (int x = layout.legend.left; x <= layout.legend.right; ++x)
            n += has_colour(im, x, y, s);
        EXPECT_GE(n, 15) << s.label;
      }
    }
  }
}

}  // namespace

TEST(Plot, BuiltinTextLiesInItsBoxesAndNowhereElse) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  check_text_boxes(Font::builtin(), rng);
}

TEST(Plot, DejaVuTextLiesInItsBoxesAndNowhereElse) {
  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed (fonts-dejavu-core)";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::load({kDejaVu});
  ASSERT_TRUE(font.truetype()) << font.problem();
  check_text_boxes(font, rng);
}

TEST(Plot, LegendOnlyForLabelledSeriesThatFit) {
  const Font font = Font::builtin();
  PlotSpec spec = spec_of(font, 0, 1, 0, 1, 400, 300);
  Series a = series({0, 1}, {0, 1}, false), b = series({0, 1}, {1, 0}, true, {0, 0, 255});
  a.label = "first";
  const PixelBox one = plot_layout(spec, {a, b}, font).legend;
  ASSERT_FALSE(empty(one));
  b.label = "second";
  const PlotLayout two = plot_layout(spec, {a, b}, font);
  // A second row makes it taller, in the area's top-right corner.
  EXPECT_GT(two.legend.bottom - two.legend.top, one.bottom - one.top);
  EXPECT_EQ(two.legend.top, one.top);
  EXPECT_EQ(two.legend.right, one.right);
  EXPECT_LT(two.area.right - two.legend.right, 20);
  EXPECT_LT(two.legend.top - two.area.top, 20);
  spec.legend = false;
  EXPECT_TRUE(empty(plot_layout(spec, {a, b}, font).legend));
  spec.legend = true;
  a.label = std::string(200, 'w');  // wider than the area
  EXPECT_TRUE(empty(plot_layout(spec, {a, b}, font).legend));
  EXPECT_NO_THROW(render_plot(spec, {a, b}));
}

TEST(Plot, SmoothedLinesDrawFaintRawAndWideSmoothed) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::builtin();
  const PlotSpec spec = spec_of(font, 0, 1, 0, 1);
  const PixelBox a = plot_layout(spec, {}, font).area;
  // A constant: the smoothed line is the raw one, 2 pixels wide (the row below added).
  Series flat = series({0, 0.5, 1}, {0.5, 0.5, 0.5}, false);
  flat.smooth = rng.uniform(0.1, 0.95);
  const RgbImage fi = render_plot(spec, {flat});
  const int row = row_of(a, 0.5, 0, 1);
  EXPECT_EQ(count_colour(fi, flat), 2 * (a.right - a.left + 1));
  for (int x = a.left; x <= a.right; ++x) {
    EXPECT_TRUE(has_colour(fi, x, row, flat));
    EXPECT_TRUE(has_colour(fi, x, row + 1, flat));
  }
  // Noise around 0.5: the raw line shows faint (70% towards white) around the smoothed one.
  Series noisy = series({}, {}, false, {30, 90, 200});
  noisy.smooth = 0.9;
  for (int i = 0; i <= 100; ++i) {
    noisy.x.push_back(i / 100.0);
    noisy.y.push_back(0.5 + rng.uniform(-0.4, 0.4));
  }
  auto faint = [](uint8_t v) { return uint8_t(std::lround(v + 0.7 * (255 - v))); };
  const Px pale{faint(30), faint(90), faint(200)};
  const RgbImage ni = render_plot(spec, {noisy});
  EXPECT_GT(count_colour(ni, pale), 100);
  EXPECT_GT(count_colour(ni, noisy), a.right - a.left);
  // The faint raw line lies under another series' smoothed line, drawn later or not.
  Series other = flat;
  other.r = 250;
  const RgbImage both = render_plot(spec, {other, noisy});
  for (int x = a.left; x <= a.right; ++x) EXPECT_FALSE(at(both, x, row) == pale) << "column " << x;
}

TEST(Plot, SmoothEmaIsTheDebiasedAverage) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 20; ++trial) {
    const double w = trial == 0 ? 0.999 : rng.uniform(0.0, 0.99);
    const size_t n = size_t(rng.uniform_int(1, 300));
    std::vector<double> v(n);
    for (double& x : v) x = rng.uniform(-1e3, 1e3);
    for (int k = 0; k < 5; ++k) v[size_t(rng.uniform_int(0, int(n) - 1))] = k % 2 ? kNaN : -kInf;
    const std::vector<double> got = smooth_ema(v, w);
    ASSERT_EQ(got.size(), n);
    // s_i = sum over finite j <= i of (1 - w) w^(k_i - k_j) v_j, over 1 - w^k_i.
    std::vector<double> finite;
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(v[i])) {
        EXPECT_TRUE(std::isnan(v[i]) ? std::isnan(got[i]) : got[i] == v[i]) << i;
        continue;
      }
      finite.push_back(v[i]);
      const size_t k = finite.size();
      double sum = 0;
      for (size_t j = 0; j < k; ++j) sum += (1 - w) * std::pow(w, double(k - 1 - j)) * finite[j];
      const double want = sum / (1 - std::pow(w, double(k)));
      EXPECT_NEAR(got[i], want, 1e-9 * (1 + std::fabs(want)) * (1 + 1 / (1 - w))) << i;
    }
    // The first finite value is kept as it is: debiasing undoes the pull towards 0.
    for (size_t i = 0; i < n; ++i)
      if (std::isfinite(v[i])) {
        EXPECT_NEAR(got[i], v[i], 1e-9 * std::fabs(v[i]));
        break;
      }
  }
  std::vector<double> v = {1.5, kNaN, -2.0, kInf, 3.0};
  const std::vector<double> same = smooth_ema(v, 0.0);
  EXPECT_EQ(same[0], 1.5);
  EXPECT_TRUE(std::isnan(same[1]));
  EXPECT_EQ(same[2], -2.0);
  EXPECT_EQ(same[3], kInf);
  EXPECT_EQ(same[4], 3.0);
  EXPECT_TRUE(smooth_ema({}, 0.5).empty());
  for (double w : {-0.01, 1.0, 1.5, kNaN})
    EXPECT_TRUE(throws_with([&] { smooth_ema(v, w); }, {"smooth_ema", "weight"})) << w;
}

TEST(Plot, NiceTicksCoverTheRangeEvenly) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  auto check = [](double lo, double hi) {
    SCOPED_TRACE("range [" + std::to_string(lo) + ", " + std::to_string(hi) + "] (" +
                 std::to_string(hi - lo) + ")");
    const std::vector<double> t = nice_ticks(lo, hi);
    ASSERT_GE(t.size(), 3u);
    ASSERT_LE(t.size(), 8u);
    for (double v : t) {
      EXPECT_GE(v, lo);
      EXPECT_LE(v, hi);
    }
    const double step = t[1] - t[0];
    const double decade = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
    const double m = step / decade;
    EXPECT_TRUE(std::fabs(m - 1) < 1e-6 || std::fabs(m - 2) < 1e-6 || std::fabs(m - 2.5) < 1e-6 ||
                std::fabs(m - 5) < 1e-6)
        << "step " << step;
    for (size_t i = 1; i < t.size(); ++i) {
      EXPECT_NEAR(t[i] - t[i - 1], step, 1e-9 * step + 1e-12 * std::fabs(t[i])) << i;
      // Multiples of the step.
      EXPECT_NEAR(t[i] / step, std::round(t[i] / step), 1e-6) << i;
    }
    // Nothing missed: the next multiple beyond either end is outside the range.
    EXPECT_LT(t.front() - step, lo + 1e-9 * step);
    EXPECT_GT(t.back() + step, hi - 1e-9 * step);
  };
  for (int trial = 0; trial < 500; ++trial) {
    const double scale = std::pow(10.0, rng.uniform(-8, 8));
    const double lo = rng.uniform(-10, 10) * scale;
    check(lo, lo + rng.uniform(1e-3, 20) * scale);
  }
  check(0, 1);
  check(-0.05, 1.05);
  check(-1, 1);
  check(9.5, 10.5);
  check(1e15, 1e15 + 1000);
  check(0, 1e-300);
  const double max = std::numeric_limits<double>::max();
  check(-max, max);
  check(0, max);
  // Known picks: 0..1 in fifths, 0..15000 in 2500s, 0..100 in 20s.
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1}));
  EXPECT_EQ(nice_ticks(-0.05, 1.05), (std::vector<double>{0, 0.2, 0.4, 0.6, 0.8, 1}));
  EXPECT_EQ(nice_ticks(0, 100), (std::vector<double>{0, 20, 40, 60, 80, 100}));
  EXPECT_EQ(nice_ticks(-750, 15750).size(), 7u);
  // No "-0": the tick at zero is +0.
  for (double v : nice_ticks(-0.3, 0.3))
    if (v == 0) {
      EXPECT_FALSE(std::signbit(v));
    }
}

TEST(Plot, FormatTickCases) {
  EXPECT_EQ(format_tick(0, 1), "0");
  EXPECT_EQ(format_tick(-0.0, 1), "0");
  EXPECT_EQ(format_tick(-0.0, 0.25), "0.00");
  EXPECT_EQ(format_tick(-1e-17, 0.1), "0.0");
  EXPECT_EQ(format_tick(0, 0.25), "0.00");
  EXPECT_EQ(format_tick(0.5, 0.25), "0.50");
  EXPECT_EQ(format_tick(0.75, 0.25), "0.75");
  EXPECT_EQ(format_tick(-0.75, 0.25), "-0.75");
  EXPECT_EQ(format_tick(0.30000000000000004, 0.1), "0.3");
  EXPECT_EQ(format_tick(2500, 2500), "2500");
  EXPECT_EQ(format_tick(7500, 2500), "7500");
  EXPECT_EQ(format_tick(10000, 2500), "10k");
  EXPECT_EQ(format_tick(12500, 2500), "12.5k");
  EXPECT_EQ(format_tick(12000, 2000), "12k");
  EXPECT_EQ(format_tick(-12500, 500), "-12.5k");
  EXPECT_EQ(format_tick(2e6, 1e6), "2M");
  EXPECT_EQ(format_tick(2.5e6, 5e5), "2.5M");
  EXPECT_EQ(format_tick(1e-5, 1e-5), "1e-5");
  EXPECT_EQ(format_tick(2.5e-5, 2.5e-6), "2.5e-5");
  EXPECT_EQ(format_tick(-3e-7, 1e-7), "-3e-7");
  EXPECT_EQ(format_tick(1e-4, 1e-4), "0.0001");
  EXPECT_EQ(format_tick(2e9, 1e9), "2e9");
  EXPECT_EQ(format_tick(1.5e10, 5e9), "1.5e10");
  EXPECT_EQ(format_tick(123, 0), "123");
  EXPECT_EQ(format_tick(kNaN, 1), "nan");
  EXPECT_EQ(format_tick(-kInf, 1), "-inf");
  // Random ticks: labels tell neighbours apart and read back within half a step.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 200; ++trial) {
    const double scale = std::pow(10.0, rng.uniform(-3, 3));
    const double lo = rng.uniform(-10, 10) * scale;
    const std::vector<double> t = nice_ticks(lo, lo + rng.uniform(0.5, 10) * scale);
    const double step = t[1] - t[0];
    for (size_t i = 0; i < t.size(); ++i) {
      const std::string s = format_tick(t[i], step);
      if (i > 0) {
        EXPECT_NE(s, format_tick(t[i - 1], step));
      }
      if (s.back() == 'k' || s.back() == 'M' || s.find('e') != std::string::npos) continue;
      EXPECT_NEAR(std::stod(s), t[i], step / 2) << s;
    }
  }
}

TEST(Plot, SvgShowsTheSameLayout) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::builtin();
  PlotSpec spec = spec_of(font, 0, 1, -1, 1, 640, 400);
  spec.title = "a<b&c \"loss\"";
  spec.x_label = "step 'k'";
  spec.y_label = "x > y";
  // A line inside the area with random NaN breaks: one <polyline> per finite run.
  Series line = series({}, {}, false, {10, 20, 30});
  line.label = "G<1>";
  int runs = 0;
  bool in_run = false;
  for (int i = 0; i < 200; ++i) {
    const bool br = rng.uniform(0, 1) < 0.05;
    line.x.push_back(i / 199.0);
    line.y.push_back(br ? kNaN : rng.uniform(-0.9, 0.9));
    if (!br && !in_run) ++runs;
    in_run = !br;
  }
  Series dots = series({0.1, 0.5, 0.5, 5.0, kNaN}, {0.2, -0.3, -0.3, 0.0, 0.1}, true, {1, 2, 3});
  dots.label = "real & fake";
  const std::string svg = render_plot_svg(spec, {line, dots});
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("width=\"640\" height=\"400\" viewBox=\"0 0 640 400\""), std::string::npos);
  EXPECT_NE(svg.find("font-family=\"DejaVu Sans, Arial, sans-serif\""), std::string::npos);
  EXPECT_TRUE(tags_balance(svg));
  for (const char* escaped : {">a&lt;b&amp;c &quot;loss&quot;<", ">step &apos;k&apos;<",
                              ">x &gt; y<", ">G&lt;1&gt;<", ">real &amp; fake<"})
    EXPECT_NE(svg.find(escaped), std::string::npos) << escaped;
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_EQ(occurrences(svg, "<polyline"), runs);
  EXPECT_EQ(occurrences(svg, "stroke=\"#0a141e\""), runs + 1);  // the runs and a swatch
  // Two distinct points inside the area (the repeat drawn once, the far one and NaN skipped).
  const size_t group = svg.find("<g fill=\"#010203\">");
  ASSERT_NE(group, std::string::npos);
  EXPECT_EQ(occurrences(svg.substr(group, svg.find("</g>", group) - group), "<rect"), 2);
  EXPECT_NE(svg.find("transform=\"rotate(-90"), std::string::npos);  // the y label
  // Tick labels as in the layout.
  const PlotLayout layout = plot_layout(spec, {line, dots}, font);
  for (double v : layout.y_tick_values) {
    const std::string label =
        ">" + format_tick(v, layout.y_tick_values[1] - layout.y_tick_values[0]) + "<";
    EXPECT_NE(svg.find(label), std::string::npos) << label;
  }
  EXPECT_EQ(render_plot_svg(spec, {line, dots}), svg);  // deterministic
  // Invalid UTF-8 and control characters never reach the XML.
  spec.title = "bad \xff\x01 text \xc3\xa9";
  const std::string odd = render_plot_svg(spec, {});
  EXPECT_NE(odd.find(">bad ?? text \xc3\xa9<"), std::string::npos);
  EXPECT_TRUE(tags_balance(odd));
}

TEST(Plot, LongSeriesStayCheap) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  PlotSpec spec;
  spec.title = "100k points";
  Series walk = series({}, {}, false);
  double y = 0;
  for (int i = 0; i < 100000; ++i) {
    y += rng.uniform(-1, 1);
    walk.x.push_back(i);
    walk.y.push_back(i % 25000 == 24999 ? kNaN : y);  // four runs
  }
  const auto t0 = std::chrono::steady_clock::now();
  const RgbImage im = render_plot(spec, {walk});
  walk.smooth = 0.99;
  const RgbImage smoothed = render_plot(spec, {walk});
  walk.smooth = 0;
  const std::string svg = render_plot_svg(spec, {walk});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_LT(seconds, 1.0);
  // The SVG keeps at most 2 points a pixel column (and each run's ends): some 1400, not 100k.
  const PixelBox a = plot_layout(spec, {walk}, Font::standard()).area;
  int points = 0;
  for (size_t at = svg.find("points=\""); at != std::string::npos;
       at = svg.find("points=\"", at + 1))
    points += occurrences(svg.substr(at, svg.find('"', at + 8) - at), ",");
  EXPECT_LE(points, 2 * (a.right - a.left + 1) + 16);
  EXPECT_GT(points, a.right - a.left);
  EXPECT_EQ(occurrences(svg, "<polyline"), 4);
  EXPECT_TRUE(tags_balance(svg));
}

TEST(Plot, WritesRgbPngAtomically) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  PlotSpec spec;
  spec.width = 160;
  spec.height = 120;
  spec.title = "tiny";
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
  std::vector<Series> all = {series(x, y, true), series(x, y, false, {10, 200, 10})};
  all[0].label = "points";
  all[1].label = "line";
  all[1].smooth = 0.6;
  const Font builtin = Font::builtin();
  for (const Font* font : {static_cast<const Font*>(nullptr), &builtin}) {
    PlotSpec spec;
    spec.title = "determinism";
    spec.x_label = "x";
    spec.y_label = "y";
    spec.font = font;
    const RgbImage a = render_plot(spec, all), b = render_plot(spec, all);
    EXPECT_TRUE(a.rgb == b.rgb);
    EXPECT_EQ(encode_png_rgb(a.width, a.height, a.rgb), encode_png_rgb(b.width, b.height, b.rgb));
    EXPECT_EQ(render_plot_svg(spec, all), render_plot_svg(spec, all));
  }
}
