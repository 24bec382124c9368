// The plot as SVG: the layout of the raster (plot_scene), with vector lines and text. Pixel
// (c, r) is the unit square at (c, r), so a pixel's centre is at (c + 0.5, r + 0.5).
#include <algorithm>
#include <charconv>
#include <cmath>
#include <vector>

#include "engine/io/plot.h"
#include "engine/io/markup.h"
#include "engine/io/plot_scene.h"

namespace gan {

namespace {

using namespace plot_detail;

// DejaVu Sans's em over its line height (2048 / 2384): the font-size that gives SVG text the
// raster's line height.
constexpr double kEmPerLine = 0.86;

std::string num(long double v) {  // one decimal, locale-free
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof buf, double(v), std::chars_format::fixed, 1);
  std::string s(buf, res.ptr);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  return s == "-0" ? "0" : s;
}

std::string hex(Rgb c) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "#";
  for (uint8_t v : {c.r, c.g, c.b}) {
    s += kDigits[v >> 4];
    s += kDigits[v & 15];
  }
  return s;
}

}  // namespace

std::string xml_escape(std::string_view text) {
  std::string out;
  for (char32_t c : decode_utf8(text)) {
    switch (c) {
      case '&': out += "&amp;"; continue;
      case '<': out += "&lt;"; continue;
      case '>': out += "&gt;"; continue;
      case '"': out += "&quot;"; continue;
      case '\'': out += "&apos;"; continue;
    }
    if (c < 0x20 || (c >= 0x7f && c < 0xa0) || c == 0xfffe || c == 0xffff) c = '?';
    if (c < 0x80) {
      out += char(c);
    } else if (c < 0x800) {
      out += char(0xc0 | c >> 6);
      out += char(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      out += char(0xe0 | c >> 12);
      out += char(0x80 | (c >> 6 & 0x3f));
      out += char(0x80 | (c & 0x3f));
    } else {
      out += char(0xf0 | c >> 18);
      out += char(0x80 | (c >> 12 & 0x3f));
      out += char(0x80 | (c >> 6 & 0x3f));
      out += char(0x80 | (c & 0x3f));
    }
  }
  return out;
}

namespace {

void line(std::string& svg, long double x0, long double y0, long double x1, long double y1) {
  svg += "<line x1=\"" + num(x0) + "\" y1=\"" + num(y0) + "\" x2=\"" + num(x1) + "\" y2=\"" +
         num(y1) + "\"/>\n";
}

void text(std::string& svg, const PlacedText& t, Rgb colour) {
  // Anchored where the raster's text is aligned, on the raster's baseline; vertical text turns
  // about its anchor.
  const int along = t.vertical ? t.height : t.width;
  // Center: the middle of pixel along / 2, the column (or row) the raster centred the box on.
  const double offset = t.anchor == TextAlign::Left     ? 0.0
                        : t.anchor == TextAlign::Center ? along / 2 + 0.5
                                                        : double(along);
  const char* anchor = t.anchor == TextAlign::Left     ? "start"
                       : t.anchor == TextAlign::Center ? "middle"
                                                       : "end";
  const double x = t.vertical ? t.x + t.baseline : t.x + offset;
  const double y = t.vertical ? t.y + t.height - offset : t.y + t.baseline;
  svg += "<text x=\"" + num(x) + "\" y=\"" + num(y) + "\" font-size=\"" + num(t.px * kEmPerLine) +
         "\" text-anchor=\"" + anchor + "\" fill=\"" + hex(colour) + "\"";
  if (t.vertical) svg += " transform=\"rotate(-90 " + num(x) + " " + num(y) + ")\"";
  svg += '>';
  svg += xml_escape(t.text) + "</text>\n";
}

// The finite runs of a polyline, each clipped to the plot area (a run that leaves the area and
// comes back is split there), as <polyline> elements. A run with more points than twice the
// area's columns keeps, of each stretch of consecutive points in one pixel column, the lowest
// and the highest (and the run's first and last point): what the raster shows, in at most two
// points a column.
void polylines(std::string& svg, const PlotScene& scene, const std::vector<double>& xs,
               const std::vector<double>& ys, Rgb colour, int stroke_width) {
  const PixelBox& a = scene.layout.area;
  const Mapping& map = scene.map;
  const std::string open = "<polyline fill=\"none\" stroke=\"" + hex(colour) +
                           "\" stroke-width=\"" + std::to_string(stroke_width) +
                           "\" stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"";
  const size_t columns = size_t(a.right - a.left + 1);
  std::vector<size_t> keep;
  for_each_finite_run(xs, ys, [&](size_t i, size_t end) {
    keep.clear();
    if (end - i > 2 * columns) {
      auto column = [&](size_t k) {
        return std::clamp<long double>(std::floor(map.px(xs[k]) + 0.5L), -1e9L, 1e9L);
      };
      keep.push_back(i);
      for (size_t k = i; k < end;) {
        size_t lo = k, hi = k, next = k + 1;
        while (next < end && column(next) == column(k)) {
          if (ys[next] < ys[lo]) lo = next;
          if (ys[next] > ys[hi]) hi = next;
          ++next;
        }
        for (size_t pick : {std::min(lo, hi), std::max(lo, hi)})
          if (pick != keep.back()) keep.push_back(pick);
        k = next;
      }
      if (keep.back() != end - 1) keep.push_back(end - 1);
    } else {
      for (size_t k = i; k < end; ++k) keep.push_back(k);
    }
    // A segment whose start was clipped begins a new polyline; one whose end was clipped leaves
    // the area and ends it.
    std::string points;
    auto flush = [&] {
      if (!points.empty()) svg += open + points + "\"/>\n";
      points.clear();
    };
    for (size_t k = 0; k == 0 || k + 1 < keep.size(); ++k) {
      const size_t p0 = keep[k], p1 = keep[std::min(k + 1, keep.size() - 1)];
      const long double ox0 = map.px(xs[p0]), oy0 = map.py(ys[p0]);
      const long double ox1 = map.px(xs[p1]), oy1 = map.py(ys[p1]);
      long double x0 = ox0, y0 = oy0, x1 = ox1, y1 = oy1;
      if (!clip_segment(x0, y0, x1, y1, a.left, a.right, a.top, a.bottom)) {
        flush();
        continue;
      }
      if (points.empty() || x0 != ox0 || y0 != oy0) {
        flush();
        points = num(x0 + 0.5L) + "," + num(y0 + 0.5L);
      }
      points += ' ';
      points += num(x1 + 0.5L) + "," + num(y1 + 0.5L);
      if (x1 != ox1 || y1 != oy1) flush();
    }
    flush();
  });
}

// A 3x3 square (clipped to the area) for each point whose centre pixel lies in the area, once
// per pixel.
void points(std::string& svg, const PlotScene& scene, const Series& s) {
  const PixelBox& a = scene.layout.area;
  const int w = a.right - a.left + 1;
  std::vector<bool> drawn(size_t(w) * size_t(a.bottom - a.top + 1), false);
  svg += "<g fill=\"" + hex({s.r, s.g, s.b}) + "\">\n";
  for_each_point_pixel(scene, s, [&](int cx, int cy) {
    const size_t at = size_t(cy - a.top) * size_t(w) + size_t(cx - a.left);
    if (drawn[at]) return;
    drawn[at] = true;
    const int x0 = std::max(cx - 1, a.left), x1 = std::min(cx + 1, a.right);
    const int y0 = std::max(cy - 1, a.top), y1 = std::min(cy + 1, a.bottom);
    svg += "<rect x=\"" + std::to_string(x0) + "\" y=\"" + std::to_string(y0) + "\" width=\"" +
           std::to_string(x1 - x0 + 1) + "\" height=\"" + std::to_string(y1 - y0 + 1) + "\"/>\n";
  });
  svg += "</g>\n";
}

}  // namespace

std::string render_plot_svg(const PlotSpec& spec, const std::vector<Series>& series) {
  const Font& font = spec.font ? *spec.font : Font::standard();
  const PlotScene scene = plot_scene(spec, series, font);
  const PixelBox& a = scene.layout.area;
  const std::string w = std::to_string(spec.width), h = std::to_string(spec.height);
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + h +
                    "\" viewBox=\"0 0 " + w + " " + h +
                    "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n";
  if (!spec.title.empty()) svg += "<title>" + xml_escape(spec.title) + "</title>\n";
  svg += "<rect width=\"" + w + "\" height=\"" + h + "\" fill=\"" + hex(kBackground) + "\"/>\n";

  // The raster's order: grid, axes through 0, data, legend, frame and tick marks, text.
  const long double l = a.left + 0.5L, r = a.right + 0.5L, t = a.top + 0.5L, b = a.bottom + 0.5L;
  svg += "<g stroke=\"" + hex(kGrid) + "\" stroke-width=\"1\">\n";
  for (int col : scene.x_tick_cols) line(svg, col + 0.5L, t, col + 0.5L, b);
  for (int row : scene.y_tick_rows) line(svg, l, row + 0.5L, r, row + 0.5L);
  svg += "</g>\n<g stroke=\"" + hex(kAxis) + "\" stroke-width=\"1\">\n";
  if (scene.zero_col >= 0) line(svg, scene.zero_col + 0.5L, t, scene.zero_col + 0.5L, b);
  if (scene.zero_row >= 0) line(svg, l, scene.zero_row + 0.5L, r, scene.zero_row + 0.5L);
  svg += "</g>\n";
  for (const Series& s : series)
    if (!s.points && s.smooth > 0)
      polylines(svg, scene, s.x, s.y, towards_white({s.r, s.g, s.b}, 0.7), 1);
  for (const Series& s : series) {
    const Rgb colour{s.r, s.g, s.b};
    if (s.points)
      points(svg, scene, s);
    else if (s.smooth > 0)
      polylines(svg, scene, s.x, smooth_ema(s.y, s.smooth), colour, 2);
    else
      polylines(svg, scene, s.x, s.y, colour, 1);
  }
  if (!scene.legend.empty()) {
    const PixelBox& box = scene.layout.legend;
    svg += "<rect x=\"" + num(box.left + 0.5L) + "\" y=\"" + num(box.top + 0.5L) + "\" width=\"" +
           std::to_string(box.right - box.left) + "\" height=\"" +
           std::to_string(box.bottom - box.top) + "\" fill=\"" + hex(kBackground) +
           "\" fill-opacity=\"" + num(kLegendOpacity * 100) + "%\" stroke=\"" + hex(kAxis) +
           "\" stroke-width=\"1\"/>\n";
    for (const LegendRow& row : scene.legend) {
      const Series& s = series[row.series];
      const std::string colour = hex({s.r, s.g, s.b});
      const int mid = (row.swatch_left + row.swatch_right) / 2;
      if (s.points) {
        svg += "<rect x=\"" + std::to_string(mid - 2) + "\" y=\"" + std::to_string(row.row - 2) +
               "\" width=\"5\" height=\"5\" fill=\"" + colour + "\"/>\n";
      } else {
        const long double y = row.row + (s.smooth > 0 ? 1.0L : 0.5L);
        svg +=
            "<g stroke=\"" + colour + "\" stroke-width=\"" + (s.smooth > 0 ? "2" : "1") + "\">\n";
        line(svg, row.swatch_left, y, row.swatch_right + 1, y);
        svg += "</g>\n";
      }
      text(svg, row.label, kText);
    }
  }
  svg += "<g stroke=\"" + hex(kFrame) + "\" stroke-width=\"1\">\n";
  svg += "<rect x=\"" + num(a.left - 0.5L) + "\" y=\"" + num(a.top - 0.5L) + "\" width=\"" +
         std::to_string(a.right - a.left + 2) + "\" height=\"" +
         std::to_string(a.bottom - a.top + 2) + "\" fill=\"none\"/>\n";
  for (int col : scene.x_tick_cols)
    line(svg, col + 0.5L, a.bottom + 1.5L, col + 0.5L, a.bottom + 1.5L + kTickLength);
  for (int row : scene.y_tick_rows)
    line(svg, a.left - 1.5L - kTickLength, row + 0.5L, a.left - 1.5L, row + 0.5L);
  svg += "</g>\n";
  for (const PlacedText& pt : scene.texts) text(svg, pt, kText);
  svg += "</svg>\n";
  return svg;
}

}  // namespace gan
