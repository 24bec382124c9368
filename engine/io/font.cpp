#include "engine/io/font.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/io/bitmap_font.h"

// stb is third-party code: keep its warnings out of ours, and its symbols private to this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>
#pragma GCC diagnostic pop

namespace gan {

namespace {

constexpr const char* kBuiltinName = "built-in bitmap font";
// Larger than any text font (DejaVu Sans is 0.75 MB, a CJK font some 20 MB).
constexpr uintmax_t kMaxFontBytes = uintmax_t(64) << 20;

int clamp_px(int px) { return std::clamp(px, 6, 200); }

uint32_t be16(const std::vector<unsigned char>& d, size_t at) {
  return uint32_t(d[at]) << 8 | d[at + 1];
}
uint32_t be32(const std::vector<unsigned char>& d, size_t at) {
  return be16(d, at) << 16 | be16(d, at + 2);
}

}  // namespace

// A byte that does not start a valid sequence (stray continuation, overlong form, surrogate,
// beyond U+10FFFF, cut short) becomes '?' and decoding resumes at the next byte.
std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char b = uint8_t(text[i]);
    int n = 0;
    char32_t c = 0, min = 0;
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    if ((b & 0xe0) == 0xc0) {
      n = 1, c = b & 0x1f, min = 0x80;
    } else if ((b & 0xf0) == 0xe0) {
      n = 2, c = b & 0x0f, min = 0x800;
    } else if ((b & 0xf8) == 0xf0) {
      n = 3, c = b & 0x07, min = 0x10000;
    }
    bool ok = n > 0 && i + n < text.size();
    for (int k = 1; ok && k <= n; ++k) {
      const unsigned char cont = uint8_t(text[i + k]);
      ok = (cont & 0xc0) == 0x80;
      c = c << 6 | (cont & 0x3f);
    }
    ok = ok && c >= min && c <= 0x10ffff && (c < 0xd800 || c > 0xdfff);
    out.push_back(ok ? c : U'?');
    i += ok ? size_t(n) + 1 : 1;
  }
  return out;
}

namespace {

// The sfnt table directory at `offset` lies inside the file and so does every table it lists:
// stb_truetype trusts the offsets it reads, so a truncated or foreign file must stop here.
bool tables_inside(const std::vector<unsigned char>& d, size_t offset) {
  if (offset + 12 > d.size()) return false;
  const uint32_t version = be32(d, offset);
  if (version != 0x00010000 && version != 0x74727565)  // TrueType outlines: 1.0 or 'true'
    return false;
  const size_t tables = be16(d, offset + 4);
  if (tables == 0 || offset + 12 + 16 * tables > d.size()) return false;
  for (size_t t = 0; t < tables; ++t) {
    const size_t record = offset + 12 + 16 * t;
    const uint64_t at = be32(d, record + 8), length = be32(d, record + 12);
    if (at + length > d.size()) return false;
  }
  return true;
}

// What a Font holds: a TrueType file and stb_truetype's view of it, or nothing for the built-in
// font.
struct FontData {
  std::string source = kBuiltinName, problem;
  std::vector<unsigned char> ttf;  // empty for the built-in font
  stbtt_fontinfo info{};
  int ascent = 0, descent = 0;  // font units; descent is negative

  bool truetype() const { return !ttf.empty(); }
  float scale(int px) const { return stbtt_ScaleForPixelHeight(&info, float(px)); }
  // Every string at one size shares these, so labels drawn side by side line up.
  int baseline(int px) const { return int(std::lround(ascent * scale(px))); }
  int glyph(char32_t c) const {
    const int g = c < 32 ? 0 : stbtt_FindGlyphIndex(&info, int(c));
    return g != 0 ? g : stbtt_FindGlyphIndex(&info, '?');
  }
};

}  // namespace

struct Font::Impl : FontData {};

namespace {

// Reads and checks one font file: the reason it cannot be used, or "" with `impl` filled in.
std::string open_font(const std::string& path, FontData& impl) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (status.type() == fs::file_type::not_found) return "missing";
  if (ec) return "unreadable (" + ec.message() + ")";
  if (status.type() != fs::file_type::regular) return "not a file";
  const uintmax_t size = fs::file_size(path, ec);
  if (ec || size > kMaxFontBytes) return ec ? "unreadable" : "larger than 64 MiB";
  std::ifstream in(path, std::ios::binary);
  std::vector<unsigned char> data(size_t(size), 0);
  if (!in.read(reinterpret_cast<char*>(data.data()), std::streamsize(size))) return "unreadable";
  // stbtt_GetFontOffsetForIndex reads up to 16 bytes of a collection's header.
  const int offset = data.size() >= 16 ? stbtt_GetFontOffsetForIndex(data.data(), 0) : -1;
  if (offset < 0 || !tables_inside(data, size_t(offset))) return "not a TrueType font";
  impl.ttf = std::move(data);
  if (!stbtt_InitFont(&impl.info, impl.ttf.data(), offset)) {
    impl.ttf.clear();
    return "not a TrueType font";
  }
  int gap = 0;
  stbtt_GetFontVMetrics(&impl.info, &impl.ascent, &impl.descent, &gap);
  const bool latin = stbtt_FindGlyphIndex(&impl.info, '?') && stbtt_FindGlyphIndex(&impl.info, '0');
  if (impl.ascent <= 0 || impl.ascent - impl.descent <= 0 || !latin) {
    impl.ttf.clear();
    return impl.ascent <= 0 || impl.ascent - impl.descent <= 0 ? "no usable vertical metrics"
                                                               : "no Latin glyphs";
  }
  impl.source = path;
  return "";
}

// Opens the first usable font of `paths` into `out`: "" then, else every file tried (as
// `prefix` + path) with the reason it was passed over.
std::string open_first(const std::vector<std::string>& paths, const std::string& prefix,
                       FontData& out) {
  std::string tried;
  for (const std::string& path : paths) {
    const std::string why = open_font(path, out);
    if (why.empty()) return "";
    tried += (tried.empty() ? "" : ", ") + prefix + path + ": " + why;
  }
  return tried.empty() ? "no font files to try" : "tried " + tried;
}

std::string fallback_problem(const std::string& tried, const std::string& remedy) {
  return "no TrueType font (" + tried + "): text uses the " + kBuiltinName + "; " + remedy;
}

}  // namespace

Font::Font() : impl_(std::make_shared<const Impl>()) {}

std::vector<std::string> Font::default_paths() {
  return {
      "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",    // Debian, Ubuntu (fonts-dejavu-core)
      "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",  // Fedora
      "/usr/share/fonts/dejavu/DejaVuSans.ttf",             // older Fedora, openSUSE
      "/usr/share/fonts/TTF/DejaVuSans.ttf",                // Arch
      "/usr/local/share/fonts/dejavu/DejaVuSans.ttf",       // FreeBSD
      "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
      "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
      "/usr/share/fonts/liberation/LiberationSans-Regular.ttf",
      "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
      "/usr/share/fonts/gnu-free/FreeSans.ttf",
  };
}

Font Font::load() {
  const char* env = std::getenv("GAN_FONT");
  if (!env || !*env) return load(default_paths());
  auto impl = std::make_shared<Impl>();
  const std::string tried = open_first({env}, "GAN_FONT=", *impl);
  if (!tried.empty())
    impl->problem = fallback_problem(tried, "point GAN_FONT at a readable .ttf file or unset it");
  Font font;
  font.impl_ = impl;
  return font;
}

Font Font::load(const std::vector<std::string>& paths) {
  auto impl = std::make_shared<Impl>();
  const std::string tried = open_first(paths, "", *impl);
  if (!tried.empty())
    impl->problem = fallback_problem(tried, "install fonts-dejavu-core or set GAN_FONT");
  Font font;
  font.impl_ = impl;
  return font;
}

Font Font::builtin() { return Font(); }

// The one process-wide cache of the engine: read-only once built (a function-local static, so
// its construction is thread-safe), shared by every picture of a run.
const Font& Font::standard() {
  static const Font font = load();
  return font;
}

bool Font::truetype() const { return impl_->truetype(); }
const std::string& Font::source() const { return impl_->source; }
const std::string& Font::problem() const { return impl_->problem; }

int Font::line_height(int px) const {
  px = clamp_px(px);
  if (impl_->truetype()) return px;
  return kBitmapCellH * std::max(1, int(std::lround(px / double(kBitmapCellH))));
}

namespace {

// Where each glyph of a TrueType line goes: pen positions in pixels (kerned, fractional), and
// the line's box measured from the glyphs' own bitmaps, so overhangs (a 'j' at the start, an
// italic end) stay inside it.
struct LineLayout {
  std::vector<int> glyphs;
  std::vector<float> pen;
  int left = 0, right = 0;  // columns relative to the pen origin, right exclusive
};

LineLayout layout_line(const FontData& f, std::string_view text, int px) {
  LineLayout line;
  const float scale = f.scale(px);
  float x = 0;
  int prev = -1;
  for (char32_t c : decode_utf8(text)) {
    const int g = f.glyph(c);
    if (prev >= 0) x += scale * float(stbtt_GetGlyphKernAdvance(&f.info, prev, g));
    int advance = 0, bearing = 0;
    stbtt_GetGlyphHMetrics(&f.info, g, &advance, &bearing);
    int x0, y0, x1, y1;
    const float whole = std::floor(x);
    stbtt_GetGlyphBitmapBoxSubpixel(&f.info, g, scale, scale, x - whole, 0, &x0, &y0, &x1, &y1);
    if (x1 > x0) {
      line.left = std::min(line.left, int(whole) + x0);
      line.right = std::max(line.right, int(whole) + x1);
    }
    line.glyphs.push_back(g);
    line.pen.push_back(x);
    x += scale * float(advance);
    prev = g;
  }
  line.right = std::max(line.right, int(std::ceil(x)));
  return line;
}

}  // namespace

int Font::text_width(std::string_view text, int px) const {
  px = clamp_px(px);
  if (impl_->truetype()) {
    const LineLayout line = layout_line(*impl_, text, px);
    return line.right - line.left;
  }
  const int scale = line_height(px) / kBitmapCellH;
  return int(decode_utf8(text).size()) * kBitmapCellW * scale;
}

TextMask Font::render(std::string_view text, int px) const {
  px = clamp_px(px);
  TextMask mask;
  mask.height = line_height(px);
  mask.width = text_width(text, px);
  mask.coverage.assign(size_t(mask.width) * size_t(mask.height), 0);
  if (!impl_->truetype()) {
    const int scale = mask.height / kBitmapCellH;
    mask.baseline = kBitmapBaseline * scale;
    int x = 0;
    for (char32_t c : decode_utf8(text)) {
      const bool printable = c >= char32_t(kBitmapFirstChar) && c <= char32_t(kBitmapLastChar);
      const uint8_t* rows = kBitmapGlyphs[(printable ? int(c) : '?') - kBitmapFirstChar];
      for (int y = 0; y < mask.height; ++y)
        for (int cx = 0; cx < kBitmapCellW * scale; ++cx)
          if (rows[y / scale] >> (kBitmapCellW - 1 - cx / scale) & 1)
            mask.coverage[size_t(y) * mask.width + x + cx] = 255;
      x += kBitmapCellW * scale;
    }
    return mask;
  }
  const FontData& f = *impl_;
  const float scale = f.scale(px);
  mask.baseline = f.baseline(px);
  const LineLayout line = layout_line(f, text, px);
  std::vector<unsigned char> bitmap;
  for (size_t i = 0; i < line.glyphs.size(); ++i) {
    const float whole = std::floor(line.pen[i]), shift = line.pen[i] - whole;
    int x0, y0, x1, y1;
    stbtt_GetGlyphBitmapBoxSubpixel(&f.info, line.glyphs[i], scale, scale, shift, 0, &x0, &y0, &x1,
                                    &y1);
    const int w = x1 - x0, h = y1 - y0;
    if (w <= 0 || h <= 0) continue;
    bitmap.assign(size_t(w) * size_t(h), 0);
    stbtt_MakeGlyphBitmapSubpixel(&f.info, bitmap.data(), w, h, w, scale, scale, shift, 0,
                                  line.glyphs[i]);
    // Neighbouring glyphs may share a column: coverage adds up (their areas do not overlap).
    const int left = int(whole) + x0 - line.left, top = mask.baseline + y0;
    for (int y = std::max(0, -top); y < h && top + y < mask.height; ++y)
      for (int x = 0; x < w; ++x) {
        uint8_t& out = mask.coverage[size_t(top + y) * mask.width + size_t(left + x)];
        out = uint8_t(std::min(255, out + bitmap[size_t(y) * w + x]));
      }
  }
  return mask;
}

void draw_text(RgbImage& image, const Font& font, std::string_view text, int px, int x, int y,
               Rgb colour, TextAlign align, bool vertical) {
  const TextMask mask = font.render(text, px);
  const int box_w = vertical ? mask.height : mask.width;
  const int box_h = vertical ? mask.width : mask.height;
  const int along = vertical ? box_h : box_w;
  const int shift = align == TextAlign::Left     ? 0
                    : align == TextAlign::Center ? along / 2
                                                 : along - 1;
  // In int64: a caller's far-off position must not overflow into the image.
  const int64_t left = int64_t(x) - (vertical ? 0 : shift);
  const int64_t top = int64_t(y) - (vertical ? shift : 0);
  const int64_t bx0 = std::max<int64_t>(0, -left), by0 = std::max<int64_t>(0, -top);
  const int64_t bx1 = std::min<int64_t>(box_w, image.width - left);
  const int64_t by1 = std::min<int64_t>(box_h, image.height - top);
  for (int64_t by = by0; by < by1; ++by)
    for (int64_t bx = bx0; bx < bx1; ++bx) {
      // Vertical: the mask's top row becomes the box's left column, its first column the bottom.
      const int64_t mx = vertical ? mask.width - 1 - by : bx, my = vertical ? bx : by;
      const int a = mask.coverage[size_t(my * mask.width + mx)];
      if (a == 0) continue;
      uint8_t* p = image.rgb.data() + size_t(((top + by) * image.width + left + bx) * 3);
      p[0] = uint8_t((colour.r * a + p[0] * (255 - a) + 127) / 255);
      p[1] = uint8_t((colour.g * a + p[1] * (255 - a) + 127) / 255);
      p[2] = uint8_t((colour.b * a + p[2] * (255 - a) + 127) / 255);
    }
}

}  // namespace gan
