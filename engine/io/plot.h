// A tiny rasteriser for line and scatter plots (loss curves, toy-distribution samples), written as
// RGB PNG files. No text: titles and labels are the caller's metadata, not drawn.
//
// Layout: a margin of kPlotMargin pixels on every side; the plot area is the pixel rectangle
// [kPlotMargin, width-1-kPlotMargin] x [kPlotMargin, height-1-kPlotMargin]. Data x = x_min maps
// to column kPlotMargin and x = x_max to column width-1-kPlotMargin; y = y_max maps to row
// kPlotMargin (top) and y = y_min to row height-1-kPlotMargin, linearly in between, rounded to the
// nearest pixel (halves up). A light grey frame lies one pixel outside the plot area; inside it,
// white background, faint grid lines at a quarter, half and three quarters of each axis, and grey
// axes through 0 when 0 is inside a range. Series are drawn over that, in order.
// Output is deterministic: the same input gives the same pixels and the same PNG bytes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace gan {

constexpr int kPlotMargin = 10;

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes (r, g, b) a pixel
};

struct Series {  // one line or point set
  std::string label;
  std::vector<double> x, y;  // same length
  uint8_t r = 0, g = 0, b = 0;
  // false: a polyline through the points in order (Bresenham, clipped to the plot area; a
  // non-finite x or y breaks the line there). true: a 3x3 square centred on each point whose
  // centre pixel falls inside the plot area (the square clipped to it); other points, and points
  // with a non-finite coordinate, are skipped. A polyline point isolated between breaks is drawn
  // as one pixel.
  bool points = false;
};

struct PlotSpec {
  std::string title;  // not drawn: metadata for the caller
  int width = 640, height = 480;
  // Axis ranges; when min == max the range is taken from the finite data of all series with 5%
  // padding on each side (a single value v gets +-max(0.05|v|, 0.5); no finite data gets [0, 1]).
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
};

// `spec` with both ranges made explicit (auto ranges resolved as render_plot resolves them).
// Throws std::invalid_argument when an explicit range is not finite or has min > max, or when a
// series' x and y differ in length.
PlotSpec resolve_plot_ranges(const PlotSpec& spec, const std::vector<Series>& series);

// Throws std::invalid_argument as resolve_plot_ranges does, and when width or height is below
// 2 * kPlotMargin + 2 or the picture is larger than 2^26 pixels.
RgbImage render_plot(const PlotSpec& spec, const std::vector<Series>& series);

// PNG bytes (8-bit RGB, colour type 2) of w x h pixels given row-major, 3 bytes a pixel. Throws
// std::invalid_argument when rgb.size() != 3 * w * h or a size is not positive.
std::string encode_png_rgb(int w, int h, const std::vector<uint8_t>& rgb);

// render_plot, encoded as PNG and written atomically. Throws std::runtime_error naming `path` when
// the file cannot be written (nothing is left behind).
void write_plot_png(const std::string& path, const PlotSpec& spec,
                    const std::vector<Series>& series);

}  // namespace gan
