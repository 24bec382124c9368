// Text for pictures: the built-in bitmap font glyph by glyph, line metrics shared by every string
// at one size, UTF-8 decoding, loading a TrueType font (and falling back with a message naming
// every file tried), DejaVu Sans where installed, and draw_text's alignment, rotation and
// clipping checked pixel for pixel against an unclipped, unrotated drawing.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "engine/io/font.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

const char* kDejaVu = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

int ink(const TextMask& m) {
  int n = 0;
  for (uint8_t c : m.coverage) n += c > 0;
  return n;
}

// Rows [from, to) of the mask hold some ink.
bool ink_in_rows(const TextMask& m, int from, int to) {
  for (int y = std::max(from, 0); y < std::min(to, m.height); ++y)
    for (int x = 0; x < m.width; ++x)
      if (m.coverage[size_t(y) * m.width + x]) return true;
  return false;
}

std::string random_ascii(Rng& rng, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += char(rng.uniform_int(32, 126));
  return s;
}

RgbImage blank(int w, int h) { return {w, h, std::vector<uint8_t>(size_t(w) * h * 3, 255)}; }

uint8_t red_at(const RgbImage& im, int x, int y) { return im.rgb[(size_t(y) * im.width + x) * 3]; }

// Sets an environment variable for the scope, restoring the old value (or its absence) after.
struct ScopedEnv {
  std::string name;
  std::optional<std::string> old;
  ScopedEnv(const std::string& n, const std::string& value) : name(n) {
    if (const char* v = std::getenv(n.c_str())) old = v;
    setenv(n.c_str(), value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old)
      setenv(name.c_str(), old->c_str(), 1);
    else
      unsetenv(name.c_str());
  }
};

}  // namespace

TEST(Font, BuiltinDrawsEveryPrintableAsciiChar) {
  const Font font = Font::builtin();
  EXPECT_FALSE(font.truetype());
  EXPECT_EQ(font.source(), "built-in bitmap font");
  EXPECT_EQ(font.problem(), "");
  for (int px : {6, 13, 20, 26, 39}) {
    const int scale = std::max(1, int(std::lround(px / 13.0)));
    for (int c = 32; c <= 126; ++c) {
      SCOPED_TRACE("char " + std::to_string(c) + " at " + std::to_string(px) + " px");
      const TextMask m = font.render(std::string(1, char(c)), px);
      EXPECT_EQ(m.width, 7 * scale);
      EXPECT_EQ(m.height, 13 * scale);
      EXPECT_EQ(m.baseline, 10 * scale);
      ASSERT_EQ(m.coverage.size(), size_t(m.width) * m.height);
      if (c == ' ') {
        EXPECT_EQ(ink(m), 0);
        continue;
      }
      EXPECT_GT(ink(m), 0);
      // Scaled glyphs are whole blocks of scale x scale pixels, each fully on or off.
      for (int y = 0; y < m.height; ++y)
        for (int x = 0; x < m.width; ++x) {
          const uint8_t v = m.coverage[size_t(y) * m.width + x];
          ASSERT_TRUE(v == 0 || v == 255);
          ASSERT_EQ(v, m.coverage[size_t(y / scale * scale) * m.width + x / scale * scale]);
        }
    }
  }
  // Every glyph differs from every other (a table slip would repeat or blank one).
  for (int a = 33; a <= 126; ++a)
    for (int b = a + 1; b <= 126; ++b)
      ASSERT_NE(font.render(std::string(1, char(a)), 13).coverage,
                font.render(std::string(1, char(b)), 13).coverage)
          << char(a) << " and " << char(b);
}

namespace {

// Run by the Builtin and DejaVu variants of the test below.
void check_line_metrics(const Font& font, Rng& rng) {
  SCOPED_TRACE(font.source());
  for (int trial = 0; trial < 20; ++trial) {
    const int px = rng.uniform_int(6, 60);
    const std::string a = random_ascii(rng, rng.uniform_int(1, 12));
    const std::string b = random_ascii(rng, rng.uniform_int(1, 12));
    SCOPED_TRACE("'" + a + "' + '" + b + "' at " + std::to_string(px) + " px");
    const TextMask ma = font.render(a, px), mb = font.render(b, px), mab = font.render(a + b, px);
    // One height and baseline for every string at one size.
    EXPECT_EQ(ma.height, mb.height);
    EXPECT_EQ(ma.height, mab.height);
    EXPECT_EQ(ma.baseline, mab.baseline);
    EXPECT_EQ(ma.height, font.line_height(px));
    EXPECT_EQ(font.render("", px).height, ma.height);
    EXPECT_EQ(font.render("", px).width, 0);
    EXPECT_GT(ma.baseline, 0);
    EXPECT_LT(ma.baseline, ma.height);
    EXPECT_EQ(font.text_width(a, px), ma.width);
    EXPECT_EQ(font.text_width(a + b, px), mab.width);
    // Widths add up: exactly for the bitmap font, within kerning and overhangs for TrueType (the
    // widest DejaVu Sans pairs, 'T' then 'e' or 'o', kern by about 0.17 em: 8 px at 46 px).
    if (font.truetype()) {
      EXPECT_EQ(ma.height, px);
      EXPECT_NEAR(mab.width, ma.width + mb.width, 2 + px / 4);
    } else {
      EXPECT_EQ(mab.width, ma.width + mb.width);
    }
  }
  // Sizes are clamped to [6, 200].
  EXPECT_EQ(font.line_height(1), font.line_height(6));
  EXPECT_EQ(font.line_height(1000), font.line_height(200));
  EXPECT_EQ(font.render("x", -5).height, font.line_height(6));
}

}  // namespace

TEST(Font, BuiltinLineMetricsSharedAndWidthsAdditive) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::builtin();
  check_line_metrics(font, rng);
  EXPECT_EQ(Font::builtin().line_height(200), 13 * 15);
  EXPECT_EQ(Font::builtin().line_height(19), 13);
  EXPECT_EQ(Font::builtin().line_height(20), 26);
}

TEST(Font, DejaVuLineMetricsSharedAndWidthsAdditive) {
  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed (fonts-dejavu-core)";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::load({kDejaVu});
  ASSERT_TRUE(font.truetype()) << font.problem();
  check_line_metrics(font, rng);
}

TEST(Font, Utf8DecodingAndMissingCharacters) {
  EXPECT_EQ(decode_utf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"), U"a\u00e9\u20ac\U0001F600");
  // Stray continuation, overlong '/', a surrogate, beyond U+10FFFF, cut short, bare 0xff.
  EXPECT_EQ(decode_utf8("\x80"), U"?");
  EXPECT_EQ(decode_utf8("\xc0\xaf"), U"??");
  EXPECT_EQ(decode_utf8("\xed\xa0\x80"), U"???");
  EXPECT_EQ(decode_utf8("\xf4\x90\x80\x80"), U"????");
  EXPECT_EQ(decode_utf8("x\xe2\x82"), U"x??");
  EXPECT_EQ(decode_utf8("\xffok"), U"?ok");
  EXPECT_EQ(decode_utf8(""), U"");

  const Font builtin = Font::builtin();
  const TextMask q = builtin.render("?", 13);
  for (const char* s : {"\xc3\xa9", "\xff", "\t", "\x7f", "\xe2\x82\xac"})
    EXPECT_EQ(builtin.render(s, 13).coverage, q.coverage) << "'" << s << "'";
  EXPECT_EQ(builtin.render("a\xc3\xa9z", 13).coverage, builtin.render("a?z", 13).coverage);
  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed";
  const Font dejavu = Font::load({kDejaVu});
  ASSERT_TRUE(dejavu.truetype());
  // DejaVu Sans has e-acute (unlike '?') but no CJK, a control character or an invalid byte.
  EXPECT_NE(dejavu.render("\xc3\xa9", 13).coverage, dejavu.render("?", 13).coverage);
  for (const char* s : {"\xe4\xb8\xad", "\x01", "\xff"})
    EXPECT_EQ(dejavu.render(s, 13).coverage, dejavu.render("?", 13).coverage) << "'" << s << "'";
}

TEST(Font, LoadFallsBackToBuiltinNamingEveryFileTried) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string missing = dir.file("missing.ttf"), junk = dir.file("junk.ttf");
  {
    std::ofstream out(junk, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(char(rng.bits()));
  }
  const Font font = Font::load({missing, junk});
  EXPECT_FALSE(font.truetype());
  EXPECT_EQ(font.source(), "built-in bitmap font");
  EXPECT_TRUE(throws_with([&] { throw std::runtime_error(font.problem()); },
                          {missing + ": missing", junk + ": not a TrueType font",
                           "built-in bitmap font", "fonts-dejavu-core", "GAN_FONT"}));
  // The fallback draws like the built-in font.
  EXPECT_EQ(font.render("Loss 0.5", 13).coverage, Font::builtin().render("Loss 0.5", 13).coverage);
  EXPECT_NE(Font::load({}).problem(), "");
  EXPECT_TRUE(throws_with([&] { throw std::runtime_error(Font::load({dir.str()}).problem()); },
                          {dir.str() + ": not a file"}));

  const std::vector<std::string> defaults = Font::default_paths();
  ASSERT_FALSE(defaults.empty());
  EXPECT_EQ(defaults[0], kDejaVu);
  {
    ScopedEnv env("GAN_FONT", missing);
    const Font from_env = Font::load();
    EXPECT_FALSE(from_env.truetype());
    EXPECT_TRUE(throws_with([&] { throw std::runtime_error(from_env.problem()); },
                            {"GAN_FONT=" + missing + ": missing", "GAN_FONT"}));
    // GAN_FONT alone: the default paths are not tried.
    EXPECT_EQ(from_env.problem().find(defaults[0]), std::string::npos);
  }
  EXPECT_EQ(&Font::standard(), &Font::standard());

  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed";
  // A cut copy of a real font fails the table check instead of being read out of bounds.
  const std::string cut = dir.file("cut.ttf");
  {
    std::ifstream in(kDejaVu, std::ios::binary);
    std::string bytes(size_t(rng.uniform_int(16, 20000)), '\0');
    in.read(bytes.data(), std::streamsize(bytes.size()));
    std::ofstream(cut, std::ios::binary) << bytes;
  }
  EXPECT_TRUE(throws_with([&] { throw std::runtime_error(Font::load({cut}).problem()); },
                          {cut + ": not a TrueType font"}));
  const Font real = Font::load({missing, junk, kDejaVu});
  EXPECT_TRUE(real.truetype());
  EXPECT_EQ(real.source(), kDejaVu);
  EXPECT_EQ(real.problem(), "");
  ScopedEnv env("GAN_FONT", kDejaVu);
  EXPECT_EQ(Font::load().source(), kDejaVu);
}

namespace {

// Run by the Builtin and DejaVu variants of the test below.
void check_baseline_ink(const Font& font) {
  SCOPED_TRACE(font.source());
  for (int px : {13, 15, 19, 40}) {
    const TextMask hg = font.render("Hg", px), h = font.render("H", px);
    EXPECT_TRUE(ink_in_rows(hg, 0, hg.baseline)) << px;
    EXPECT_TRUE(ink_in_rows(hg, hg.baseline + 1, hg.height)) << px;  // the descender of 'g'
    EXPECT_FALSE(ink_in_rows(h, h.baseline + 1, h.height)) << px;    // 'H' sits on it
    // The cap height is more than half the line, a readable size.
    int top = 0;
    while (!ink_in_rows(h, top, top + 1)) ++top;
    EXPECT_GT(h.baseline - top, h.height / 2 - 1) << px;
  }
}

}  // namespace

TEST(Font, BuiltinInkAboveAndBelowTheBaseline) {
  const Font font = Font::builtin();
  check_baseline_ink(font);
}

TEST(Font, DejaVuInkAboveAndBelowTheBaseline) {
  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed (fonts-dejavu-core)";
  const Font font = Font::load({kDejaVu});
  ASSERT_TRUE(font.truetype()) << font.problem();
  check_baseline_ink(font);
}

namespace {

// Run by the Builtin and DejaVu variants of the test below.
void check_draw_text(const Font& font, Rng& rng) {
  SCOPED_TRACE(font.source());
  const std::string text = "Ab" + random_ascii(rng, 6);
  const int px = rng.uniform_int(10, 30);
  const TextMask m = font.render(text, px);
  SCOPED_TRACE("'" + text + "' at " + std::to_string(px) + " px");
  const int W = m.width + 40, H = m.width + 40;
  const Rgb colour{0, 0, 0};
  // Left at (x, y) blends exactly the mask into its box; nothing else changes.
  RgbImage left = blank(W, H);
  draw_text(left, font, text, px, 7, 9, colour);
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const bool in = x >= 7 && x < 7 + m.width && y >= 9 && y < 9 + m.height;
      const int a = in ? m.coverage[size_t(y - 9) * m.width + (x - 7)] : 0;
      ASSERT_EQ(red_at(left, x, y), (255 * (255 - a) + 127) / 255) << x << "," << y;
    }
  // Right ends at x (its last column), Center puts column x - width / 2 first.
  RgbImage right = blank(W, H), centre = blank(W, H);
  draw_text(right, font, text, px, 7 + m.width - 1, 9, colour, TextAlign::Right);
  draw_text(centre, font, text, px, 7 + m.width / 2, 9, colour, TextAlign::Center);
  EXPECT_TRUE(right.rgb == left.rgb);
  EXPECT_TRUE(centre.rgb == left.rgb);
  // Vertical: the box is transposed, the text reads bottom to top (the mask's top row is the
  // box's left column, its first column the box's bottom row).
  for (TextAlign align : {TextAlign::Left, TextAlign::Center, TextAlign::Right}) {
    RgbImage up = blank(W, H);
    const int y = align == TextAlign::Left     ? 5
                  : align == TextAlign::Center ? 5 + m.width / 2
                                               : 5 + m.width - 1;
    draw_text(up, font, text, px, 11, y, colour, align, true);
    for (int yy = 0; yy < H; ++yy)
      for (int xx = 0; xx < W; ++xx) {
        const bool in = xx >= 11 && xx < 11 + m.height && yy >= 5 && yy < 5 + m.width;
        const int a =
            in ? m.coverage[size_t(xx - 11) * m.width + size_t(m.width - 1 - (yy - 5))] : 0;
        ASSERT_EQ(red_at(up, xx, yy), (255 * (255 - a) + 127) / 255) << xx << "," << yy;
      }
  }
  // Partly or wholly outside the image: the visible part matches an unclipped drawing, and
  // nothing is written outside (ASan builds would catch it).
  const int w = 20, h = 12;
  for (int trial = 0; trial < 30; ++trial) {
    const bool vertical = trial % 2;
    const int x = trial == 0 ? INT_MIN + 3 : trial == 1 ? INT_MAX - 3 : rng.uniform_int(-60, 30);
    const int y = trial == 0 ? INT_MAX - 3 : trial == 1 ? INT_MIN + 3 : rng.uniform_int(-60, 30);
    RgbImage small = blank(w, h);
    draw_text(small, font, text, px, x, y, colour, TextAlign::Left, vertical);
    ASSERT_EQ(small.rgb.size(), size_t(w) * h * 3);
    if (trial < 2) {
      EXPECT_TRUE(small.rgb == blank(w, h).rgb);
      continue;
    }
    const int off = 200;  // the same drawing in a large image, shifted
    RgbImage large = blank(off * 2 + w, off * 2 + h);
    draw_text(large, font, text, px, x + off, y + off, colour, TextAlign::Left, vertical);
    for (int yy = 0; yy < h; ++yy)
      for (int xx = 0; xx < w; ++xx)
        ASSERT_EQ(red_at(small, xx, yy), red_at(large, xx + off, yy + off))
            << "at " << x << "," << y << " pixel " << xx << "," << yy;
  }
}

}  // namespace

TEST(Font, BuiltinDrawTextAlignsRotatesAndClips) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::builtin();
  check_draw_text(font, rng);
}

TEST(Font, DejaVuDrawTextAlignsRotatesAndClips) {
  if (!fs::exists(kDejaVu)) GTEST_SKIP() << kDejaVu << " is not installed (fonts-dejavu-core)";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const Font font = Font::load({kDejaVu});
  ASSERT_TRUE(font.truetype()) << font.problem();
  check_draw_text(font, rng);
}
