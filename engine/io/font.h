// Text for pictures: a TrueType font (stb_truetype; DejaVu Sans from fonts-dejavu-core) found at
// run time, or, when none can be read, a built-in bitmap font, so a picture never goes without
// its labels.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/io/image.h"

namespace gan {

// One line of text as coverage (0: background .. 255: full ink), `width` x `height` pixels,
// row-major. `baseline`: the row of the baseline from the top; height = ascent + descent of the
// font at that size (the same for every string at one size, so labels line up).
struct TextMask {
  int width = 0, height = 0, baseline = 0;
  std::vector<uint8_t> coverage;
};

enum class TextAlign { Left, Center, Right };

class Font {
 public:
  Font();  // the built-in font, as builtin()
  // The font files tried by load() when GAN_FONT is not set, in order.
  static std::vector<std::string> default_paths();
  // GAN_FONT (a .ttf path) when set, alone; else the first readable font of default_paths().
  // None readable (missing, unreadable or not a TrueType font): the built-in font, and problem()
  // says what was tried and how to get a real font.
  static Font load();
  // The first of `paths` that stb_truetype can read, else the built-in font (problem() set).
  static Font load(const std::vector<std::string>& paths);
  static Font builtin();  // the bitmap font: deterministic, needs no file
  // load(), once per process (a read-only cache: every picture of a run uses one font).
  static const Font& standard();

  bool truetype() const;
  const std::string& source() const;   // the .ttf path, or "built-in bitmap font"
  const std::string& problem() const;  // empty when a TrueType font is in use

  // Text is UTF-8; a character the font lacks (the bitmap font: anything outside printable
  // ASCII) is drawn as '?'. px: the font size in pixels (line height), clamped to [6, 200];
  // the bitmap font scales its glyphs by an integer factor nearest to px.
  TextMask render(std::string_view text, int px) const;
  int text_width(std::string_view text, int px) const;  // == render(text, px).width
  int line_height(int px) const;                        // == render(any, px).height

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// UTF-8 text as code points, each byte that starts no valid sequence as '?': the characters
// render() draws (and what an SVG writer may re-encode safely).
std::u32string decode_utf8(std::string_view text);

// Blends `colour` into `image` by the mask's coverage. (x, y) is the top-left of the mask's box
// for TextAlign::Left; Center and Right move the box so x is its centre (column x - width / 2
// is its first) or its right edge (x its last column). vertical: the text reads bottom to top
// (rotated 90 degrees counter-clockwise, for a y-axis label); its box is then height x width and
// (x, y) places that box the same way, aligning along y (Right: y is its bottom row).
// Pixels outside the image are skipped.
void draw_text(RgbImage& image, const Font& font, std::string_view text, int px, int x, int y,
               Rgb colour, TextAlign align = TextAlign::Left, bool vertical = false);

}  // namespace gan
