// Line and scatter plots a person can read (loss curves, D outputs, FD, toy distributions): a
// title, axis labels, tick values, a legend and a faint grid, as an RGB raster (PNG) or as SVG
// (the same layout, with vector text, for the HTML report).
//
// Layout (PlotLayout): the title centred in a band at the top; the y label reading bottom to top
// at the left edge, then the y tick values right-aligned against the plot area; the x tick values
// under the plot area, then the x label centred under them; the legend a box inside the plot area
// in its top-right corner (one row per labelled series: a colour swatch and the label; left out
// when it does not fit inside the area). Ticks are "nice" numbers (1, 2, 2.5 or 5 times a power
// of ten), 3 to 8 of them per axis, each with a faint grid line across the plot area and a tick
// mark; where their labels would touch, only every other one (or every third...) is labelled.
// Data x = x_min maps to column area.left and x = x_max to column area.right; y = y_max to row
// area.top and y = y_min to row area.bottom, linearly in between, rounded to the nearest pixel
// (halves up). Output is deterministic: the same input and font give the same pixels, PNG bytes
// and SVG text.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/font.h"
#include "engine/io/image.h"

namespace gan {

struct Series {  // one line or point set
  std::string label;  // legend text; an empty label keeps the series out of the legend
  std::vector<double> x, y;  // same length
  uint8_t r = 0, g = 0, b = 0;
  // false: a polyline through the points in order (clipped to the plot area; a non-finite x or y
  // breaks the line there; a point isolated between breaks is drawn as one pixel). true: a 3x3
  // square centred on each point whose centre pixel falls inside the plot area (the square clipped
  // to it); other points, and points with a non-finite coordinate, are skipped.
  bool points = false;
  // Polylines only. 0: drawn as is. In (0, 1): the raw line is drawn faint (its colour blended
  // 70% towards white) and the smoothed line (smooth_ema with this weight) over it, 2 pixels
  // wide, in the full colour. Faint lines go under all other data, so none hides a smoothed one.
  double smooth = 0;
};

struct PlotSpec {
  std::string title;              // drawn at the top (UTF-8)
  // Axis labels with their units, e.g. "step", "loss (BCE, nats)". ({}: PlotSpec{"title"} leaves
  // them empty without a -Wmissing-field-initializers warning.)
  std::string x_label{}, y_label{};
  int width = 720, height = 440;
  // Axis ranges; when min == max the range is taken from the finite data of all series with 5%
  // padding on each side (a single value v gets +-max(0.05|v|, 0.5); no finite data gets [0, 1]).
  double x_min = 0, x_max = 0, y_min = 0, y_max = 0;
  bool legend = true;             // false: no legend box even with labelled series
  const Font* font = nullptr;     // lays out (and in PNGs draws) the text; nullptr: standard()
};

struct PixelBox {  // inclusive pixel rectangle; empty when right < left or bottom < top
  int left = 0, top = 0, right = -1, bottom = -1;
};

struct PlotLayout {
  PixelBox area;      // the plot area (data)
  PixelBox title;     // where the title's text lies (empty without a title)
  PixelBox x_label, y_label, x_ticks, y_ticks;  // text regions (empty without text)
  PixelBox legend;    // the legend box (empty without one)
  std::vector<double> x_tick_values, y_tick_values;
};

// TensorBoard's smoothing: an exponential moving average of the finite values, debiased so the
// first values are not pulled towards 0 (s_i = ema_i / (1 - weight^k), k finite values so far);
// a non-finite value gives a non-finite output there and does not enter the average. weight in
// [0, 1): 0 returns the input. Throws std::invalid_argument outside that.
std::vector<double> smooth_ema(const std::vector<double>& values, double weight);

// Nice tick values covering [lo, hi] (lo < hi, finite): every multiple of a step of 1, 2, 2.5 or
// 5 times a power of ten that lies inside, 3 to 8 of them when the range allows.
std::vector<double> nice_ticks(double lo, double hi);
// A tick value as printed: the fewest decimals that tell ticks `step` apart, no "-0", thousands
// as "k" from 10,000 (12k, 12.5k) and millions as "M", scientific below 1e-4 or at 1e9 and above.
std::string format_tick(double value, double step);

// `spec` with both ranges made explicit (auto ranges resolved as render_plot resolves them).
// Throws std::invalid_argument when an explicit range is not finite or has min > max, when a
// series' x and y differ in length, or when a smooth weight is outside [0, 1).
PlotSpec resolve_plot_ranges(const PlotSpec& spec, const std::vector<Series>& series);

// Where everything goes for this spec, series and font (render_plot and render_plot_svg use it).
// Throws as resolve_plot_ranges does, and when width or height is below 160 x 120 or the picture
// is larger than 2^26 pixels.
PlotLayout plot_layout(const PlotSpec& spec, const std::vector<Series>& series, const Font& font);

// Throws as plot_layout does.
RgbImage render_plot(const PlotSpec& spec, const std::vector<Series>& series);

// The same plot as a standalone <svg> element (width and height in pixels, a viewBox, text as
// <text> in a sans-serif font, polylines as <polyline>, points as <rect>, labels XML-escaped),
// suitable to inline in HTML or to write as a .svg file. Throws as plot_layout does.
std::string render_plot_svg(const PlotSpec& spec, const std::vector<Series>& series);

// PNG bytes (8-bit RGB, colour type 2) of w x h pixels given row-major, 3 bytes a pixel. Throws
// std::invalid_argument when rgb.size() != 3 * w * h or a size is not positive.
std::string encode_png_rgb(int w, int h, const std::vector<uint8_t>& rgb);

// render_plot, encoded as PNG and written atomically. Throws std::runtime_error naming `path` when
// the file cannot be written (nothing is left behind).
void write_plot_png(const std::string& path, const PlotSpec& spec,
                    const std::vector<Series>& series);

}  // namespace gan
