#include "engine/io/plot.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/io/atomic_file.h"
#include "engine/io/plot_scene.h"
#include "engine/io/png.h"

namespace gan {

namespace {

using namespace plot_detail;

constexpr int64_t kMaxPngPixels = int64_t(1) << 26;

class Canvas {
 public:
  Canvas(int width, int height, const PixelBox& area) : image_{width, height, {}}, area_(area) {
    image_.rgb.resize(size_t(width) * size_t(height) * 3);
    for (size_t i = 0; i < image_.rgb.size(); i += 3) put(i, kBackground);
  }

  RgbImage& image() { return image_; }

  // Any pixel of the image; out-of-image writes are ignored (never expected).
  void set(int x, int y, Rgb c) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    put((size_t(y) * size_t(image_.width) + size_t(x)) * 3, c);
  }
  // A pixel of the plot area only.
  void set_in_area(int x, int y, Rgb c) {
    if (x < area_.left || x > area_.right || y < area_.top || y > area_.bottom) return;
    set(x, y, c);
  }
  // `c` over the pixel with opacity `alpha`.
  void blend(int x, int y, Rgb c, double alpha) {
    if (x < 0 || y < 0 || x >= image_.width || y >= image_.height) return;
    uint8_t* p = image_.rgb.data() + (size_t(y) * size_t(image_.width) + size_t(x)) * 3;
    p[0] = uint8_t(std::lround(alpha * c.r + (1 - alpha) * p[0]));
    p[1] = uint8_t(std::lround(alpha * c.g + (1 - alpha) * p[1]));
    p[2] = uint8_t(std::lround(alpha * c.b + (1 - alpha) * p[2]));
  }
  void hline(int y, int x0, int x1, Rgb c) {
    for (int x = x0; x <= x1; ++x) set(x, y, c);
  }
  void vline(int x, int y0, int y1, Rgb c) {
    for (int y = y0; y <= y1; ++y) set(x, y, c);
  }

  // Bresenham between two pixels of the plot area (both ends included). wide: each pixel gets a
  // neighbour below (mostly horizontal lines) or to the right (mostly vertical ones), 2 pixels
  // across.
  void line(int x0, int y0, int x1, int y1, Rgb c, bool wide) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    const bool flat = dx >= -dy;
    int err = dx + dy;
    for (;;) {
      set_in_area(x0, y0, c);
      if (wide) set_in_area(x0 + (flat ? 0 : 1), y0 + (flat ? 1 : 0), c);
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
  PixelBox area_;
};

// A polyline through (x[i], y[i]): runs of consecutive finite points, a non-finite coordinate
// ending a run; a run of one point is one pixel.
void draw_polyline(Canvas& canvas, const PlotScene& scene, const std::vector<double>& x,
                   const std::vector<double>& y, Rgb colour, bool wide) {
  const PixelBox& a = scene.layout.area;
  const Mapping& map = scene.map;
  for_each_finite_run(x, y, [&](size_t i, size_t end) {
    const size_t last = end - 1;
    for (size_t k = i; k == i || k < last; ++k) {
      const size_t k1 = std::min(k + 1, last);
      long double x0 = map.px(x[k]), y0 = map.py(y[k]);
      long double x1 = map.px(x[k1]), y1 = map.py(y[k1]);
      if (!clip_segment(x0, y0, x1, y1, a.left, a.right, a.top, a.bottom)) continue;
      canvas.line(std::clamp(round_pixel(x0), a.left, a.right),
                  std::clamp(round_pixel(y0), a.top, a.bottom),
                  std::clamp(round_pixel(x1), a.left, a.right),
                  std::clamp(round_pixel(y1), a.top, a.bottom), colour, wide);
    }
  });
}

void draw_points(Canvas& canvas, const PlotScene& scene, const Series& s) {
  const Rgb colour{s.r, s.g, s.b};
  for_each_point_pixel(scene, s, [&](int cx, int cy) {
    for (int dy = -1; dy <= 1; ++dy)
      for (int dx = -1; dx <= 1; ++dx) canvas.set_in_area(cx + dx, cy + dy, colour);
  });
}

void draw_legend(Canvas& canvas, const PlotScene& scene, const std::vector<Series>& series,
                 const Font& font) {
  const PixelBox& box = scene.layout.legend;
  if (scene.legend.empty()) return;
  for (int y = box.top; y <= box.bottom; ++y)
    for (int x = box.left; x <= box.right; ++x) canvas.blend(x, y, kBackground, kLegendOpacity);
  canvas.hline(box.top, box.left, box.right, kAxis);
  canvas.hline(box.bottom, box.left, box.right, kAxis);
  canvas.vline(box.left, box.top, box.bottom, kAxis);
  canvas.vline(box.right, box.top, box.bottom, kAxis);
  for (const LegendRow& row : scene.legend) {
    const Series& s = series[row.series];
    const Rgb colour{s.r, s.g, s.b};
    const int mid = (row.swatch_left + row.swatch_right) / 2;
    if (s.points) {
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx) canvas.set(mid + dx, row.row + dy, colour);
    } else {
      canvas.hline(row.row, row.swatch_left, row.swatch_right, colour);
      if (s.smooth > 0) canvas.hline(row.row + 1, row.swatch_left, row.swatch_right, colour);
    }
    draw_text(canvas.image(), font, row.label.text, row.label.px, row.label.x, row.label.y, kText);
  }
}

}  // namespace

RgbImage render_plot(const PlotSpec& spec, const std::vector<Series>& series) {
  const Font& font = spec.font ? *spec.font : Font::standard();
  const PlotScene scene = plot_scene(spec, series, font);
  const PixelBox& a = scene.layout.area;
  Canvas canvas(spec.width, spec.height, a);

  // Grid lines at the ticks, axes through 0, then the data, the legend over it, the frame one
  // pixel outside the area with tick marks, and the text.
  for (int col : scene.x_tick_cols) canvas.vline(col, a.top, a.bottom, kGrid);
  for (int row : scene.y_tick_rows) canvas.hline(row, a.left, a.right, kGrid);
  if (scene.zero_col >= 0) canvas.vline(scene.zero_col, a.top, a.bottom, kAxis);
  if (scene.zero_row >= 0) canvas.hline(scene.zero_row, a.left, a.right, kAxis);
  // Every faint raw line first, so none hides another series' smoothed line.
  for (const Series& s : series)
    if (!s.points && s.smooth > 0)
      draw_polyline(canvas, scene, s.x, s.y, towards_white({s.r, s.g, s.b}, 0.7), false);
  for (const Series& s : series) {
    const Rgb colour{s.r, s.g, s.b};
    if (s.points)
      draw_points(canvas, scene, s);
    else if (s.smooth > 0)
      draw_polyline(canvas, scene, s.x, smooth_ema(s.y, s.smooth), colour, true);
    else
      draw_polyline(canvas, scene, s.x, s.y, colour, false);
  }
  draw_legend(canvas, scene, series, font);
  canvas.hline(a.top - 1, a.left - 1, a.right + 1, kFrame);
  canvas.hline(a.bottom + 1, a.left - 1, a.right + 1, kFrame);
  canvas.vline(a.left - 1, a.top - 1, a.bottom + 1, kFrame);
  canvas.vline(a.right + 1, a.top - 1, a.bottom + 1, kFrame);
  for (int col : scene.x_tick_cols)
    canvas.vline(col, a.bottom + 2, a.bottom + 1 + kTickLength, kFrame);
  for (int row : scene.y_tick_rows) canvas.hline(row, a.left - 1 - kTickLength, a.left - 2, kFrame);
  for (const PlacedText& t : scene.texts)
    draw_text(canvas.image(), font, t.text, t.px, t.x, t.y, kText, TextAlign::Left, t.vertical);
  return canvas.take();
}

std::string encode_png_rgb(int w, int h, const std::vector<uint8_t>& rgb) {
  if (w <= 0 || h <= 0 || int64_t(w) * h > kMaxPngPixels || rgb.size() != size_t(w) * size_t(h) * 3)
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
