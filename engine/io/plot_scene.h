// Internal to the plot writers (plot.cpp: raster, plot_svg.cpp: SVG): everything a plot shows,
// placed in pixels once, so the PNG and the SVG of one spec agree.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "engine/io/font.h"
#include "engine/io/plot.h"

namespace gan::plot_detail {

constexpr Rgb kBackground{255, 255, 255};
constexpr Rgb kFrame{150, 150, 150};
constexpr Rgb kGrid{234, 234, 234};
constexpr Rgb kAxis{180, 180, 180};
constexpr Rgb kText{40, 40, 40};
constexpr int kTickLength = 4;           // tick marks stick out of the frame this far
constexpr double kLegendOpacity = 0.85;  // of the legend's white background
// Text sizes (line heights): DejaVu Sans's em is 0.86 of its line height, so tick labels have a
// 13-pixel em and the title a 16-pixel one.
constexpr int kTickPx = 15, kLabelPx = 16, kTitlePx = 19;

// One string of the picture. (x, y): the top-left of its whole box (height x width for vertical
// text), as draw_text takes it with TextAlign::Left; box: that box clipped to the picture.
struct PlacedText {
  std::string text;
  int px = 0, x = 0, y = 0, width = 0, height = 0, baseline = 0;
  bool vertical = false;
  TextAlign anchor = TextAlign::Left;  // which point of the box the SVG text is anchored at
  PixelBox box;
};

struct LegendRow {
  size_t series = 0;                               // index into the series list
  int swatch_left = 0, swatch_right = 0, row = 0;  // the swatch line's pixels, its middle row
  PlacedText label;
};

// Data to pixel coordinates in long double: for finite doubles no step overflows (differences
// and quotients of doubles stay far inside long double's range), so extreme but finite data
// still gives finite pixel coordinates to clip.
struct Mapping {
  long double x_min, x_span, y_min, y_span, left, width, bottom, height;
  long double px(double x) const { return left + (x - x_min) / x_span * width; }
  long double py(double y) const { return bottom - (y - y_min) / y_span * height; }
};

struct PlotScene {
  PlotLayout layout;
  PlotSpec ranges;  // the spec with both ranges explicit
  Mapping map;
  std::vector<int> x_tick_cols, y_tick_rows;  // where each tick's grid line and mark go
  int zero_col = -1, zero_row = -1;           // the axes through 0, -1 when 0 is out of range
  std::vector<PlacedText> texts;              // title, axis labels, tick labels
  std::vector<LegendRow> legend;
};

// Throws as plot_layout does.
PlotScene plot_scene(const PlotSpec& spec, const std::vector<Series>& series, const Font& font);

// Nearest pixel, halves up; the caller has bounded v to the image.
int round_pixel(long double v);

// Liang-Barsky: clips the segment (x0, y0)-(x1, y1) to [l, r] x [t, b] in place, keeping its
// direction; false when nothing is left. An end inside the box comes back unchanged.
bool clip_segment(long double& x0, long double& y0, long double& x1, long double& y1, long double l,
                  long double r, long double t, long double b);

// Calls run(begin, end) for each maximal run [begin, end) of consecutive points whose x and y
// are both finite: a non-finite coordinate breaks a polyline there.
template <class Run>
void for_each_finite_run(const std::vector<double>& x, const std::vector<double>& y, Run run) {
  size_t i = 0;
  while (i < x.size()) {
    if (!std::isfinite(x[i]) || !std::isfinite(y[i])) {
      ++i;
      continue;
    }
    size_t end = i + 1;
    while (end < x.size() && std::isfinite(x[end]) && std::isfinite(y[end])) ++end;
    run(i, end);
    i = end;
  }
}

// Calls at(cx, cy) with the pixel of each point of `s` whose x and y are finite and whose nearest
// pixel (halves up) lies in the plot area.
template <class At>
void for_each_point_pixel(const PlotScene& scene, const Series& s, At at) {
  const PixelBox& a = scene.layout.area;
  for (size_t i = 0; i < s.x.size(); ++i) {
    if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
    const long double px = std::floor(scene.map.px(s.x[i]) + 0.5L);
    const long double py = std::floor(scene.map.py(s.y[i]) + 0.5L);
    if (px < a.left || px > a.right || py < a.top || py > a.bottom) continue;
    at(int(px), int(py));
  }
}

// The colour blended `amount` of the way to white (rounded): the faint raw line under a smoothed
// one.
Rgb towards_white(Rgb c, double amount);

}  // namespace gan::plot_detail
