// Writes engine/io/bitmap_font.cpp: the built-in bitmap font (printable ASCII in 7x13 cells),
// rasterised from DejaVu Sans Mono with stb_truetype and thresholded. Run once by hand when the
// table is to change; the engine never runs it:
//   g++ -std=c++20 -O2 -o /tmp/make_bitmap_font scripts/make_bitmap_font.cpp
//   fonts=/usr/share/fonts/truetype/dejavu  # Debian's fonts-dejavu-core 2.37
//   /tmp/make_bitmap_font $fonts/DejaVuSansMono.ttf > engine/io/bitmap_font.cpp
// `--show` instead prints every glyph as text art (to check the threshold by eye).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#define STB_TRUETYPE_IMPLEMENTATION
#define STBTT_STATIC
#include <stb/stb_truetype.h>
#pragma GCC diagnostic pop

namespace {

constexpr int kCellW = 7, kCellH = 13, kFirst = 32, kLast = 126;
// Coverage at or above this is ink. Below half, so the 1-pixel stems of an unhinted rendering
// that straddle two columns keep at least one of them.
constexpr int kThreshold = 100;

// The licence of the DejaVu fonts (Bitstream Vera's), which the table is derived from and so
// must carry.
const char* kLicence = R"(Copyright (c) 2003 by Bitstream, Inc. All Rights Reserved.
// Bitstream Vera is a trademark of Bitstream, Inc. DejaVu changes are in public domain.
//
// Permission is hereby granted, free of charge, to any person obtaining a copy of the fonts
// accompanying this license ("Fonts") and associated documentation files (the "Font Software"),
// to reproduce and distribute the Font Software, including without limitation the rights to use,
// copy, merge, publish, distribute, and/or sell copies of the Font Software, and to permit
// persons to whom the Font Software is furnished to do so, subject to the following conditions:
//
// The above copyright and trademark notices and this permission notice shall be included in all
// copies of one or more of the Font Software typefaces.
//
// The Font Software may be modified, altered, or added to, and in particular the designs of
// glyphs or characters in the Fonts may be modified and additional glyphs or characters may be
// added to the Fonts, only if the fonts are renamed to names not containing either the words
// "Bitstream" or the word "Vera".
//
// This License becomes null and void to the extent applicable to Fonts or Font Software that has
// been modified and is distributed under the "Bitstream Vera" names.
//
// The Font Software may be sold as part of a larger software package but no copy of one or more
// of the Font Software typefaces may be sold by itself.
//
// THE FONT SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED,
// INCLUDING BUT NOT LIMITED TO ANY WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR
// PURPOSE AND NONINFRINGEMENT OF COPYRIGHT, PATENT, TRADEMARK, OR OTHER RIGHT. IN NO EVENT SHALL
// BITSTREAM OR THE GNOME FOUNDATION BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY,
// INCLUDING ANY GENERAL, SPECIAL, INDIRECT, INCIDENTAL, OR CONSEQUENTIAL DAMAGES, WHETHER IN AN
// ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF THE USE OR INABILITY TO USE THE
// FONT SOFTWARE OR FROM OTHER DEALINGS IN THE FONT SOFTWARE.
//
// Except as contained in this notice, the names of Gnome, the Gnome Foundation, and Bitstream
// Inc., shall not be used in advertising or otherwise to promote the sale, use or other dealings
// in this Font Software without prior written authorization from the Gnome Foundation or
// Bitstream Inc., respectively.)";

// Hand-drawn replacements for glyphs too detailed to survive thresholding at this size (strokes
// closer than a pixel merge or vanish): '#' for ink, rows top to bottom as in the table.
struct Override {
  char c;
  const char* rows[kCellH];
};
const Override kOverrides[] = {
    {'#',
     {".......", ".......", "..#.#..", "..#.#..", ".#####.", "..#.#..", "..#.#..",
      ".#####.", "..#.#..", "..#.#..", ".......", ".......", "......."}},
    {'$',
     {".......", "...#...", "..####.", ".#.#...", ".#.#...", "..###..", "...#.#.",
      "...#.#.", ".####..", "...#...", "...#...", ".......", "......."}},
    {'%',
     {".......", ".......", ".##..#.", ".##..#.", "....#..", "...#...", "...#...",
      "..#....", ".#..##.", ".#..##.", ".......", ".......", "......."}},
    {'&',
     {".......", ".......", "..##...", ".#..#..", ".#..#..", "..##...", ".#.#..#",
      ".#..##.", ".#..#..", "..##.#.", ".......", ".......", "......."}},
    {'*',
     {".......", ".......", ".......", "...#...", ".#.#.#.", "..###..", ".#.#.#.",
      "...#...", ".......", ".......", ".......", ".......", "......."}},
    {'<',
     {".......", ".......", ".......", ".......", ".....#.", "...##..", ".##....",
      "...##..", ".....#.", ".......", ".......", ".......", "......."}},
    {'>',
     {".......", ".......", ".......", ".......", ".#.....", "..##...", "....##.",
      "..##...", ".#.....", ".......", ".......", ".......", "......."}},
    {'~',
     {".......", ".......", ".......", ".......", ".......", "..##..#", ".#..##.",
      ".......", ".......", ".......", ".......", ".......", "......."}},
    {'@',
     {".......", ".......", "..###..", ".#...#.", "#..##.#", "#.#.#.#", "#.#.#.#",
      "#..###.", ".#.....", "..###..", ".......", ".......", "......."}},
    {'A',
     {".......", ".......", "...#...", "..#.#..", "..#.#..", ".#...#.", ".#...#.",
      ".#####.", ".#...#.", ".#...#.", ".......", ".......", "......."}},
    {'K',
     {".......", ".......", ".#...#.", ".#..#..", ".#.#...", ".##....", ".#.#...",
      ".#..#..", ".#...#.", ".#...#.", ".......", ".......", "......."}},
    {'M',
     {".......", ".......", ".#...#.", ".##.##.", ".#.#.#.", ".#.#.#.", ".#...#.",
      ".#...#.", ".#...#.", ".#...#.", ".......", ".......", "......."}},
    {'N',
     {".......", ".......", ".#...#.", ".##..#.", ".##..#.", ".#.#.#.", ".#.#.#.",
      ".#..##.", ".#..##.", ".#...#.", ".......", ".......", "......."}},
    {'W',
     {".......", ".......", ".#...#.", ".#...#.", ".#...#.", ".#...#.", ".#.#.#.",
      ".#.#.#.", ".##.##.", ".#...#.", ".......", ".......", "......."}},
    {'X',
     {".......", ".......", ".#...#.", ".#...#.", "..#.#..", "...#...", "...#...",
      "..#.#..", ".#...#.", ".#...#.", ".......", ".......", "......."}},
    {'j',
     {".......", ".......", "....#..", ".......", "..###..", "....#..", "....#..",
      "....#..", "....#..", "....#..", "....#..", ".###...", "......."}},
    {'k',
     {".......", ".......", ".#.....", ".#.....", ".#...#.", ".#..#..", ".###...",
      ".#.#...", ".#..#..", ".#...#.", ".......", ".......", "......."}},
    {'s',
     {".......", ".......", ".......", ".......", "..####.", ".#.....", "..###..",
      ".....#.", ".....#.", ".####..", ".......", ".......", "......."}},
    {'w',
     {".......", ".......", ".......", ".......", ".#...#.", ".#...#.", ".#.#.#.",
      ".#.#.#.", ".##.##.", ".#...#.", ".......", ".......", "......."}},
    {'x',
     {".......", ".......", ".......", ".......", ".#...#.", "..#.#..", "...#...",
      "...#...", "..#.#..", ".#...#.", ".......", ".......", "......."}},
    {'y',
     {".......", ".......", ".......", ".......", ".#...#.", ".#...#.", "..#.#..",
      "..#.#..", "..#.#..", "...#...", "...#...", ".##....", "......."}},
    {'z',
     {".......", ".......", ".......", ".......", ".#####.", ".....#.", "....#..",
      "...#...", "..#....", ".#####.", ".......", ".......", "......."}},
    {'{',
     {".......", "....##.", "...#...", "...#...", "...#...", "...#...", ".##....",
      "...#...", "...#...", "...#...", "...#...", "....##.", "......."}},
    {'}',
     {".......", ".##....", "...#...", "...#...", "...#...", "...#...", "....##.",
      "...#...", "...#...", "...#...", "...#...", ".##....", "......."}},
};

std::vector<unsigned char> read_all(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string(path) + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  const bool show = argc == 3 && std::string(argv[2]) == "--show";
  if (argc != 2 && !show) {
    std::fprintf(stderr, "usage: %s DejaVuSansMono.ttf [--show]\n", argv[0]);
    return 2;
  }
  const std::vector<unsigned char> ttf = read_all(argv[1]);
  stbtt_fontinfo font;
  if (!stbtt_InitFont(&font, ttf.data(), stbtt_GetFontOffsetForIndex(ttf.data(), 0))) {
    std::fprintf(stderr, "%s: not a TrueType font\n", argv[1]);
    return 1;
  }
  int ascent = 0, descent = 0, gap = 0;
  stbtt_GetFontVMetrics(&font, &ascent, &descent, &gap);
  // Ascent + descent fills the cell's height; the baseline is the ascent rounded.
  const float scale = float(kCellH) / float(ascent - descent);
  const int baseline = int(std::lround(ascent * scale));
  int advance = 0, lsb = 0;
  stbtt_GetCodepointHMetrics(&font, 'M', &advance, &lsb);
  const float shift_x = (kCellW - advance * scale) / 2;  // centres the advance in the cell

  std::vector<std::vector<uint8_t>> rows(kLast - kFirst + 1, std::vector<uint8_t>(kCellH, 0));
  for (int c = kFirst; c <= kLast; ++c) {
    // A poor man's hinting: of a few sub-pixel shifts, the one whose coverage is nearest to 0 or
    // 255 overall (stems on pixel columns and rows, not straddling two).
    std::vector<int> best;
    long best_crisp = -1;
    for (int sy = -2; sy <= 2; ++sy)
      for (int sx = -4; sx <= 4; ++sx) {
        const float dx = shift_x + sx * 0.1f, dy = sy * 0.1f;
        std::vector<int> cov(kCellW * kCellH, 0);
        int x0, y0, x1, y1;
        stbtt_GetCodepointBitmapBoxSubpixel(&font, c, scale, scale, dx, dy, &x0, &y0, &x1, &y1);
        const int w = x1 - x0, h = y1 - y0;
        if (w > 0 && h > 0) {
          std::vector<unsigned char> bitmap(size_t(w) * h);
          stbtt_MakeCodepointBitmapSubpixel(&font, bitmap.data(), w, h, w, scale, scale, dx, dy,
                                            c);
          for (int y = 0; y < h; ++y)
            for (int x = 0; x < w; ++x) {
              const int cx = x0 + x, cy = baseline + y0 + y;
              if (cx >= 0 && cx < kCellW && cy >= 0 && cy < kCellH)
                cov[cy * kCellW + cx] = bitmap[size_t(y) * w + x];
            }
        }
        long crisp = 0;
        for (int v : cov) crisp += std::abs(2 * v - 255);
        if (crisp > best_crisp) {
          best_crisp = crisp;
          best = cov;
        }
      }
    // Thin glyphs (the tilde) may have no pixel above the threshold: their darkest ones are ink.
    int darkest = 0;
    for (int v : best) darkest = std::max(darkest, v);
    const int threshold = std::min(kThreshold, darkest * 3 / 4);
    for (int y = 0; y < kCellH; ++y)
      for (int x = 0; x < kCellW; ++x)
        if (best[y * kCellW + x] > 0 && best[y * kCellW + x] >= threshold)
          rows[c - kFirst][y] |= uint8_t(1 << (kCellW - 1 - x));
  }

  for (const Override& o : kOverrides) {
    std::vector<uint8_t>& glyph = rows[o.c - kFirst];
    for (int y = 0; y < kCellH; ++y) {
      glyph[y] = 0;
      for (int x = 0; x < kCellW; ++x)
        if (o.rows[y][x] == '#') glyph[y] |= uint8_t(1 << (kCellW - 1 - x));
    }
  }

  if (show) {
    for (int c = kFirst; c <= kLast; ++c) {
      std::printf("'%c'\n", c);
      for (int y = 0; y < kCellH; ++y) {
        for (int x = 0; x < kCellW; ++x)
          std::printf("%c", rows[c - kFirst][y] >> (kCellW - 1 - x) & 1 ? '#' : '.');
        std::printf(y == baseline - 1 ? "  <- baseline below\n" : "\n");
      }
    }
    return 0;
  }

  std::printf(
      "// The built-in bitmap font: printable ASCII (32..126) in %dx%d cells, baseline under\n"
      "// row %d (the first %d rows lie above it). Generated by scripts/make_bitmap_font.cpp (see\n"
      "// there how to run it) from DejaVu Sans Mono 2.37 (fonts-dejavu-core) rasterised by\n"
      "// stb_truetype with ascent + descent = %d pixels, each glyph at the sub-pixel shift that\n"
      "// gives the crispest coverage, thresholded at %d of 255, and a few glyphs hand-drawn\n"
      "// (kOverrides there). Do not edit by hand.\n"
      "//\n"
      "// DejaVu Sans Mono's licence, which this table carries as a derived copy of its glyphs:\n"
      "//\n"
      "// %s\n"
      "#include \"engine/io/bitmap_font.h\"\n"
      "\n"
      "namespace gan {\n"
      "\n"
      "// One byte a row, top row first; bit %d is the leftmost column.\n"
      "const uint8_t kBitmapGlyphs[kBitmapGlyphCount][kBitmapCellH] = {\n",
      kCellW, kCellH, baseline - 1, baseline, kCellH, kThreshold, kLicence, kCellW - 1);
  for (int c = kFirst; c <= kLast; ++c) {
    std::printf("    {");
    for (int y = 0; y < kCellH; ++y)
      std::printf("0x%02x%s", rows[c - kFirst][y], y + 1 < kCellH ? ", " : "");
    if (c == ' ' || c == '\\')
      std::printf("},  // %s\n", c == ' ' ? "space" : "backslash");
    else
      std::printf("},  // %c\n", c);
  }
  std::printf("};\n\n}  // namespace gan\n");
  return 0;
}
