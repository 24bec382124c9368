// Where everything of a plot goes: ranges, the plot area left over by the text around it, ticks,
// legend. Shared by the raster and the SVG writer.
#include "engine/io/plot_scene.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace gan {

namespace {

using namespace plot_detail;

constexpr int64_t kMaxPlotPixels = int64_t(1) << 26;
constexpr double kMaxDouble = std::numeric_limits<double>::max();
constexpr int kPad = 8;       // empty margin around the picture
constexpr int kTextGap = 8;   // from the plot area's edge to its tick labels (frame, mark, gap)
constexpr int kLabelGap = 5;  // between tick labels and an axis label, or title and area
constexpr int kLegendInset = 6, kLegendPad = 6, kSwatch = 20;
constexpr int kMinTickGap = 8;  // less room than this between x tick labels: label every other

// An explicit range must be finite with lo < hi; lo == hi asks for an automatic one.
void check_range(const char* axis, double lo, double hi) {
  if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
    throw std::invalid_argument(std::string("plot: ") + axis + " range [" + std::to_string(lo) +
                                ", " + std::to_string(hi) +
                                "] must be finite with min < max (min == max: automatic)");
}

// [lo, hi] of finite data padded by 5% of the span on each side, without overflowing.
void auto_range(double lo, double hi, bool any, double& out_lo, double& out_hi) {
  if (!any) {
    out_lo = 0.0;
    out_hi = 1.0;
    return;
  }
  const double pad = lo == hi ? std::max(0.05 * std::fabs(lo), 0.5) : 0.05 * hi - 0.05 * lo;
  out_lo = std::max(lo - pad, -kMaxDouble);
  out_hi = std::min(hi + pad, kMaxDouble);
}

PixelBox clip_box(PixelBox b, int width, int height) {
  b.left = std::max(b.left, 0);
  b.top = std::max(b.top, 0);
  b.right = std::min(b.right, width - 1);
  b.bottom = std::min(b.bottom, height - 1);
  return b;
}

bool empty(const PixelBox& b) { return b.right < b.left || b.bottom < b.top; }

PixelBox united(const PixelBox& a, const PixelBox& b) {
  if (empty(a)) return b;
  if (empty(b)) return a;
  return {std::min(a.left, b.left), std::min(a.top, b.top), std::max(a.right, b.right),
          std::max(a.bottom, b.bottom)};
}

// Measures `text` and places its box as draw_text would for (x, y, align, vertical).
PlacedText place(const Font& font, const std::string& text, int px, int x, int y, TextAlign align,
                 bool vertical, TextAlign anchor, int width, int height) {
  PlacedText t;
  t.text = text;
  t.px = px;
  t.vertical = vertical;
  t.anchor = anchor;
  const int along = font.text_width(text, px), across = font.line_height(px);
  t.baseline = font.render("", px).baseline;
  t.width = vertical ? across : along;
  t.height = vertical ? along : across;
  const int shift = align == TextAlign::Left     ? 0
                    : align == TextAlign::Center ? along / 2
                                                 : along - 1;
  t.x = vertical ? x : x - shift;
  t.y = vertical ? y - shift : y;
  t.box = clip_box({t.x, t.y, t.x + t.width - 1, t.y + t.height - 1}, width, height);
  return t;
}

// The left edge that centres `size` pixels on `centre`, moved inside [lo, hi] when it fits.
int centred(int centre, int size, int lo, int hi) {
  const int start = centre - size / 2;
  if (size > hi - lo + 1) return lo;
  return std::clamp(start, lo, hi - size + 1);
}

std::vector<std::string> tick_labels(const std::vector<double>& ticks, double lo, double hi) {
  const double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : hi - lo;
  std::vector<std::string> out;
  for (double v : ticks) out.push_back(format_tick(v, step));
  return out;
}

}  // namespace

namespace plot_detail {

int round_pixel(long double v) { return int(std::floor(v + 0.5L)); }

// The segment is parametrised from the end nearer the box, so a far end (1e300 pixels away)
// costs no precision where the segment crosses the box. Only when both ends are that far is the
// crossing inexact (it cannot be better in fixed precision).
bool clip_segment(long double& x0, long double& y0, long double& x1, long double& y1, long double l,
                  long double r, long double t, long double b) {
  const long double cx = (l + r) / 2, cy = (t + b) / 2;
  const bool swapped = std::max(std::fabs(x0 - cx), std::fabs(y0 - cy)) >
                       std::max(std::fabs(x1 - cx), std::fabs(y1 - cy));
  long double ax = swapped ? x1 : x0, ay = swapped ? y1 : y0;
  long double bx = swapped ? x0 : x1, by = swapped ? y0 : y1;
  const long double dx = bx - ax, dy = by - ay;
  long double t0 = 0.0L, t1 = 1.0L;
  const long double p[4] = {-dx, dx, -dy, dy};
  const long double q[4] = {ax - l, r - ax, ay - t, b - ay};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0.0L) {
      if (q[i] < 0.0L) return false;
      continue;
    }
    const long double ratio = q[i] / p[i];
    if (p[i] < 0.0L)
      t0 = std::max(t0, ratio);
    else
      t1 = std::min(t1, ratio);
    if (t0 > t1) return false;
  }
  // An end that is not clipped stays exact.
  if (t1 < 1.0L) {
    bx = ax + t1 * dx;
    by = ay + t1 * dy;
  }
  if (t0 > 0.0L) {
    ax += t0 * dx;
    ay += t0 * dy;
  }
  x0 = swapped ? bx : ax;
  y0 = swapped ? by : ay;
  x1 = swapped ? ax : bx;
  y1 = swapped ? ay : by;
  return true;
}

Rgb towards_white(Rgb c, double amount) {
  auto blend = [amount](uint8_t v) { return uint8_t(std::lround(v + amount * (255 - v))); };
  return {blend(c.r), blend(c.g), blend(c.b)};
}

PlotScene plot_scene(const PlotSpec& spec, const std::vector<Series>& series, const Font& font) {
  if (spec.width < 160 || spec.height < 120 || int64_t(spec.width) * spec.height > kMaxPlotPixels)
    throw std::invalid_argument("plot: " + std::to_string(spec.width) + "x" +
                                std::to_string(spec.height) +
                                " pixels is outside 160x120 .. 2^26 pixels");
  PlotScene scene;
  scene.ranges = resolve_plot_ranges(spec, series);
  const PlotSpec& r = scene.ranges;
  const int W = spec.width, H = spec.height;
  PlotLayout& layout = scene.layout;
  layout.x_tick_values = nice_ticks(r.x_min, r.x_max);
  layout.y_tick_values = nice_ticks(r.y_min, r.y_max);
  const std::vector<std::string> x_text = tick_labels(layout.x_tick_values, r.x_min, r.x_max);
  const std::vector<std::string> y_text = tick_labels(layout.y_tick_values, r.y_min, r.y_max);
  const int tick_h = font.line_height(kTickPx), label_h = font.line_height(kLabelPx);
  const int title_h = font.line_height(kTitlePx);
  int y_text_w = 0;
  for (const std::string& s : y_text) y_text_w = std::max(y_text_w, font.text_width(s, kTickPx));
  const int last_x_w = x_text.empty() ? 0 : font.text_width(x_text.back(), kTickPx);

  // The plot area is what the text bands leave; the frame lies one pixel outside it. Half a tick
  // label is kept free above the area (the top y tick's label) and right of it (the last x
  // tick's). A picture too small for its text keeps at least a sliver of area.
  PixelBox& area = layout.area;
  area.left = kPad + (spec.y_label.empty() ? 0 : label_h + kLabelGap) + y_text_w + kTextGap;
  area.top = kPad + (spec.title.empty() ? 0 : title_h + kLabelGap) + tick_h / 2 + 1;
  area.right = W - 1 - kPad - std::max(1, (last_x_w + 1) / 2);
  area.bottom =
      H - 1 - kPad - (spec.x_label.empty() ? 0 : label_h + kLabelGap) - tick_h - (kTextGap - 1);
  area.left = std::min(area.left, W / 2);
  area.top = std::min(area.top, H / 2);
  area.right = std::max(area.right, area.left + 16);
  area.bottom = std::max(area.bottom, area.top + 16);
  scene.map = {r.x_min,
               (long double)r.x_max - r.x_min,
               r.y_min,
               (long double)r.y_max - r.y_min,
               (long double)area.left,
               (long double)(area.right - area.left),
               (long double)area.bottom,
               (long double)(area.bottom - area.top)};
  const Mapping& map = scene.map;
  for (double v : layout.x_tick_values)
    scene.x_tick_cols.push_back(std::clamp(round_pixel(map.px(v)), area.left, area.right));
  for (double v : layout.y_tick_values)
    scene.y_tick_rows.push_back(std::clamp(round_pixel(map.py(v)), area.top, area.bottom));
  if (r.x_min <= 0.0 && 0.0 <= r.x_max)
    scene.zero_col = std::clamp(round_pixel(map.px(0.0)), area.left, area.right);
  if (r.y_min <= 0.0 && 0.0 <= r.y_max)
    scene.zero_row = std::clamp(round_pixel(map.py(0.0)), area.top, area.bottom);

  auto add = [&](const PlacedText& t, PixelBox& region) {
    region = united(region, t.box);
    scene.texts.push_back(t);
  };
  if (!spec.title.empty()) {
    const int w = font.text_width(spec.title, kTitlePx);
    add(place(font, spec.title, kTitlePx,
              centred((area.left + area.right) / 2, w, kPad, W - 1 - kPad), kPad, TextAlign::Left,
              false, TextAlign::Center, W, H),
        layout.title);
  }
  if (!spec.x_label.empty()) {
    const int w = font.text_width(spec.x_label, kLabelPx);
    add(place(font, spec.x_label, kLabelPx,
              centred((area.left + area.right) / 2, w, kPad, W - 1 - kPad), H - kPad - label_h,
              TextAlign::Left, false, TextAlign::Center, W, H),
        layout.x_label);
  }
  if (!spec.y_label.empty()) {
    const int w = font.text_width(spec.y_label, kLabelPx);
    add(place(font, spec.y_label, kLabelPx, kPad,
              centred((area.top + area.bottom) / 2, w, kPad, H - 1 - kPad), TextAlign::Left, true,
              TextAlign::Center, W, H),
        layout.y_label);
  }
  // Tick labels, every `stride`-th one where all would crowd each other.
  std::vector<PlacedText> xs;
  for (size_t stride = 1; stride <= x_text.size(); ++stride) {
    xs.clear();
    bool crowded = false;
    for (size_t i = 0; i < x_text.size(); i += stride) {
      xs.push_back(place(font, x_text[i], kTickPx, scene.x_tick_cols[i], area.bottom + kTextGap,
                         TextAlign::Center, false, TextAlign::Center, W, H));
      if (xs.size() >= 2 && xs.back().x - (xs.end() - 2)->x - (xs.end() - 2)->width < kMinTickGap)
        crowded = true;
    }
    if (!crowded) break;
  }
  for (const PlacedText& t : xs) add(t, layout.x_ticks);
  const int y_spacing = y_text.size() >= 2 ? scene.y_tick_rows[0] - scene.y_tick_rows[1] : tick_h;
  const size_t y_stride = size_t((tick_h + std::max(y_spacing, 1) - 1) / std::max(y_spacing, 1));
  for (size_t i = 0; i < y_text.size(); i += y_stride)
    add(place(font, y_text[i], kTickPx, area.left - kTextGap, scene.y_tick_rows[i] - tick_h / 2,
              TextAlign::Right, false, TextAlign::Right, W, H),
        layout.y_ticks);

  // The legend, in the area's top-right corner; left out when it would not fit inside the area.
  std::vector<size_t> labelled;
  if (spec.legend)
    for (size_t i = 0; i < series.size(); ++i)
      if (!series[i].label.empty()) labelled.push_back(i);
  if (!labelled.empty()) {
    int text_w = 0;
    for (size_t i : labelled) text_w = std::max(text_w, font.text_width(series[i].label, kTickPx));
    const int row_h = tick_h + 2;
    PixelBox box;
    box.right = area.right - kLegendInset;
    box.left = box.right - (kLegendPad + kSwatch + kLegendPad + text_w + kLegendPad) + 1;
    box.top = area.top + kLegendInset;
    box.bottom = box.top + 2 * kLegendPad + int(labelled.size()) * row_h - 2 - 1;
    if (box.left >= area.left + kLegendInset && box.bottom <= area.bottom - kLegendInset) {
      layout.legend = box;
      for (size_t k = 0; k < labelled.size(); ++k) {
        LegendRow row;
        row.series = labelled[k];
        const int top = box.top + kLegendPad + int(k) * row_h;
        row.swatch_left = box.left + kLegendPad;
        row.swatch_right = row.swatch_left + kSwatch - 1;
        row.row = top + tick_h / 2;
        row.label =
            place(font, series[labelled[k]].label, kTickPx, row.swatch_right + 1 + kLegendPad, top,
                  TextAlign::Left, false, TextAlign::Left, W, H);
        scene.legend.push_back(row);
      }
    }
  }
  return scene;
}

}  // namespace plot_detail

PlotSpec resolve_plot_ranges(const PlotSpec& spec, const std::vector<Series>& series) {
  check_range("x", spec.x_min, spec.x_max);
  check_range("y", spec.y_min, spec.y_max);
  double x_lo = 0, x_hi = 0, y_lo = 0, y_hi = 0;
  bool any = false;
  for (const Series& s : series) {
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("plot: series '" + s.label + "' has " +
                                  std::to_string(s.x.size()) + " x values but " +
                                  std::to_string(s.y.size()) + " y values");
    if (!(s.smooth >= 0.0 && s.smooth < 1.0))
      throw std::invalid_argument("plot: series '" + s.label + "' has smooth weight " +
                                  std::to_string(s.smooth) + " outside [0, 1)");
    for (size_t i = 0; i < s.x.size(); ++i) {
      const double x = s.x[i], y = s.y[i];
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      if (!any) {
        x_lo = x_hi = x;
        y_lo = y_hi = y;
        any = true;
      }
      x_lo = std::min(x_lo, x);
      x_hi = std::max(x_hi, x);
      y_lo = std::min(y_lo, y);
      y_hi = std::max(y_hi, y);
    }
  }
  PlotSpec out = spec;
  if (spec.x_min == spec.x_max) auto_range(x_lo, x_hi, any, out.x_min, out.x_max);
  if (spec.y_min == spec.y_max) auto_range(y_lo, y_hi, any, out.y_min, out.y_max);
  return out;
}

PlotLayout plot_layout(const PlotSpec& spec, const std::vector<Series>& series, const Font& font) {
  return plot_detail::plot_scene(spec, series, font).layout;
}

}  // namespace gan
