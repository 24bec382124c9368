#include "engine/io/plot.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/io/atomic_file.h"
#include "engine/io/png.h"


namespace gan {

namespace {

constexpr int64_t kMaxPlotPixels = int64_t(1) << 26;
constexpr double kMaxDouble = std::numeric_limits<double>::max();

constexpr int kPlotMargin = 10;  // interim: the layout before labels
constexpr Rgb kBackground{255, 255, 255};
constexpr Rgb kFrame{190, 190, 190};
constexpr Rgb kGrid{232, 232, 232};
constexpr Rgb kAxis{150, 150, 150};

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

class Canvas {
 public:
  Canvas(int width, int height) : image_{width, height, {}} {
    image_.rgb.resize(size_t(width) * size_t(height) * 3);
    for (size_t i = 0; i < image_.rgb.size(); i += 3) put(i, kBackground);
    left_ = kPlotMargin;
    right_ = width - 1 - kPlotMargin;
    top_ = kPlotMargin;
    bottom_ = height - 1 - kPlotMargin;
  }

  int left() const { return left_; }
  int right() const { return right_; }
  int top() const { return top_; }
  int bottom() const { return bottom_; }

  // Any pixel of the image; out-of-image writes are ignored (never expected).
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    put((size_t(y) * size_t(image_.width) + size_t(x)) * 3, c);
  }
  // A pixel of the plot area only.
  void set_in_area(int x, int y, Rgb c) {
    if (x < left_ || x > right_ || y < top_ || y > bottom_) return;
    set(x, y, c);
  }
  void hline(int y, int x0, int x1, Rgb c) {
    for (int x = x0; x <= x1; ++x) set(x, y, c);
  }
  void vline(int x, int y0, int y1, Rgb c) {
    for (int y = y0; y <= y1; ++y) set(x, y, c);
  }

  // Bresenham between two pixels of the plot area (both ends included).
  void line(int x0, int y0, int x1, int y1, Rgb c) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      set_in_area(x0, y0, c);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }

  RgbImage take() { return std::move(image_); }

 private:
  void put(size_t at, Rgb c) {
    image_.rgb[at] = c.r;
    image_.rgb[at + 1] = c.g;
    image_.rgb[at + 2] = c.b;
  }

  RgbImage image_;
  int left_, right_, top_, bottom_;
};

// Data to pixel coordinates in long double: for finite doubles no step overflows (differences
// and quotients of doubles stay far inside long double's range), so extreme but finite data
// still gives finite pixel coordinates to clip.
struct Mapping {
  long double x_min, x_span, y_min, y_span, left, width, bottom, height;
  long double px(double x) const { return left + (x - x_min) / x_span * width; }
  long double py(double y) const { return bottom - (y - y_min) / y_span * height; }
};

// Nearest pixel, halves up; the caller has bounded v to the image.
int round_pixel(long double v) { return int(std::floor(v + 0.5L)); }

// Liang-Barsky: clips the segment (x0, y0)-(x1, y1) to [l, r] x [t, b]; false when nothing is left.
// The ends may come back swapped: the segment is parametrised from the end nearer the box, so a
// far end (1e300 pixels away) costs no precision where the segment crosses the box. Only when
// both ends are that far is the crossing inexact (it cannot be better in fixed precision).
bool clip_segment(long double& x0, long double& y0, long double& x1, long double& y1,
                  long double l, long double r, long double t, long double b) {
  const long double cx = (l + r) / 2, cy = (t + b) / 2;
  if (std::max(std::fabs(x0 - cx), std::fabs(y0 - cy)) >
      std::max(std::fabs(x1 - cx), std::fabs(y1 - cy))) {
    std::swap(x0, x1);
    std::swap(y0, y1);
  }
  const long double dx = x1 - x0, dy = y1 - y0;
  long double t0 = 0.0L, t1 = 1.0L;
  const long double p[4] = {-dx, dx, -dy, dy};
  const long double q[4] = {x0 - l, r - x0, y0 - t, b - y0};
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
    x1 = x0 + t1 * dx;
    y1 = y0 + t1 * dy;
  }
  if (t0 > 0.0L) {
    x0 += t0 * dx;
    y0 += t0 * dy;
  }
  return true;
}

}  // namespace

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

RgbImage render_plot(const PlotSpec& spec, const std::vector<Series>& series) {
  const int min_side = 2 * kPlotMargin + 2;
  if (spec.width < min_side || spec.height < min_side ||
      int64_t(spec.width) * spec.height > kMaxPlotPixels)
    throw std::invalid_argument("plot: " + std::to_string(spec.width) + "x" +
                                std::to_string(spec.height) + " pixels is outside " +
                                std::to_string(min_side) + "x" + std::to_string(min_side) +
                                " .. 2^26 pixels");
  const PlotSpec ranges = resolve_plot_ranges(spec, series);
  Canvas canvas(spec.width, spec.height);
  const int l = canvas.left(), r = canvas.right(), t = canvas.top(), b = canvas.bottom();

  // Frame one pixel outside the plot area, grid at quarters, axes through 0.
  canvas.hline(t - 1, l - 1, r + 1, kFrame);
  canvas.hline(b + 1, l - 1, r + 1, kFrame);
  canvas.vline(l - 1, t - 1, b + 1, kFrame);
  canvas.vline(r + 1, t - 1, b + 1, kFrame);
  for (int k = 1; k <= 3; ++k) {
    canvas.vline(l + (k * (r - l) + 2) / 4, t, b, kGrid);
    canvas.hline(t + (k * (b - t) + 2) / 4, l, r, kGrid);
  }
  const Mapping map{ranges.x_min,
                    (long double)ranges.x_max - ranges.x_min,
                    ranges.y_min,
                    (long double)ranges.y_max - ranges.y_min,
                    (long double)l,
                    (long double)(r - l),
                    (long double)b,
                    (long double)(b - t)};
  if (ranges.x_min <= 0.0 && 0.0 <= ranges.x_max)
    canvas.vline(std::clamp(round_pixel(map.px(0.0)), l, r), t, b, kAxis);
  if (ranges.y_min <= 0.0 && 0.0 <= ranges.y_max)
    canvas.hline(std::clamp(round_pixel(map.py(0.0)), t, b), l, r, kAxis);

  for (const Series& s : series) {
    const Rgb colour{s.r, s.g, s.b};
    if (s.points) {
      for (size_t i = 0; i < s.x.size(); ++i) {
        if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
        const long double px = std::floor(map.px(s.x[i]) + 0.5L);
        const long double py = std::floor(map.py(s.y[i]) + 0.5L);
        if (px < l || px > r || py < t || py > b) continue;
        const int cx = int(px), cy = int(py);
        for (int dy = -1; dy <= 1; ++dy)
          for (int dx = -1; dx <= 1; ++dx) canvas.set_in_area(cx + dx, cy + dy, colour);
      }
      continue;
    }
    // Polyline: runs of consecutive finite points; a non-finite coordinate ends a run.
    size_t i = 0;
    while (i < s.x.size()) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        ++i;
        continue;
      }
      size_t end = i + 1;
      while (end < s.x.size() && std::isfinite(s.x[end]) && std::isfinite(s.y[end])) ++end;
      const size_t last = end - 1;
      // A run of one point is drawn as a degenerate segment: one pixel.
      for (size_t k = i; k == i || k < last; ++k) {
        const size_t k1 = std::min(k + 1, last);
        long double x0 = map.px(s.x[k]), y0 = map.py(s.y[k]);
        long double x1 = map.px(s.x[k1]), y1 = map.py(s.y[k1]);
        if (!clip_segment(x0, y0, x1, y1, l, r, t, b)) continue;
        canvas.line(std::clamp(round_pixel(x0), l, r), std::clamp(round_pixel(y0), t, b),
                    std::clamp(round_pixel(x1), l, r), std::clamp(round_pixel(y1), t, b), colour);
      }
      i = end;
    }
  }
  return canvas.take();
}

std::string encode_png_rgb(int w, int h, const std::vector<uint8_t>& rgb) {
  if (w <= 0 || h <= 0 || int64_t(w) * h > kMaxPlotPixels ||
      rgb.size() != size_t(w) * size_t(h) * 3)
    throw std::invalid_argument("encode_png_rgb: cannot encode " + std::to_string(w) + "x" +
                                std::to_string(h) + " RGB pixels from " +
                                std::to_string(rgb.size()) + " bytes");
  return encode_png(w, h, 3, rgb.data());
}

void write_plot_png(const std::string& path, const PlotSpec& spec,
                    const std::vector<Series>& series) {
  const RgbImage image = render_plot(spec, series);
  write_file_atomic(path, encode_png_rgb(image.width, image.height, image.rgb));
}

}  // namespace gan
