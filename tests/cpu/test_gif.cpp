// Animated GIFs: every frame decoded back by an independent decoder (gif_decode.h) and compared
// pixel by pixel: grey frames exactly, colour frames against the nearest palette entry found by
// brute force; the loop, the delays, sizes from 1x1 up, noise that fills the LZW table many times
// over, constant frames (long strings, the code defined as it is used) and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "engine/io/gif.h"
#include "gif_decode.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

RgbImage grey_noise(Rng& rng, int w, int h) {
  RgbImage f{w, h, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
  for (size_t i = 0; i < f.rgb.size(); i += 3)
    f.rgb[i] = f.rgb[i + 1] = f.rgb[i + 2] = uint8_t(rng.bits());
  return f;
}

RgbImage colour_noise(Rng& rng, int w, int h) {
  RgbImage f{w, h, std::vector<uint8_t>(size_t(w) * size_t(h) * 3)};
  for (auto& v : f.rgb) v = uint8_t(rng.bits());
  f.rgb[0] = 0, f.rgb[1] = 0, f.rgb[2] = 1;  // never all grey, however small
  return f;
}

RgbImage constant(int w, int h, Rgb c) {
  RgbImage f{w, h, {}};
  for (int i = 0; i < w * h; ++i) f.rgb.insert(f.rgb.end(), {c.r, c.g, c.b});
  return f;
}

int distance(const uint8_t* p, const Rgb& c) {
  const int dr = p[0] - c.r, dg = p[1] - c.g, db = p[2] - c.b;
  return dr * dr + dg * dg + db * db;
}

// The whole file: frame count and size, loop forever, the delays, a clear code due never skipped.
::testing::AssertionResult decodes_as_animation(const std::string& gif,
                                                const std::vector<RgbImage>& frames, int delay,
                                                int last_delay, DecodedGif& out) {
  const auto decoded = decode_gif(gif, out);
  if (!decoded) return decoded;
  if (out.frames.size() != frames.size())
    return ::testing::AssertionFailure() << out.frames.size() << " frames, not " << frames.size();
  if (out.width != frames[0].width || out.height != frames[0].height)
    return ::testing::AssertionFailure() << "screen " << out.width << "x" << out.height;
  if (out.palette.size() != 256)
    return ::testing::AssertionFailure() << out.palette.size() << " colours";
  if (out.loop_count != 0) return ::testing::AssertionFailure() << "loop " << out.loop_count;
  for (size_t i = 0; i < frames.size(); ++i) {
    const int want = i + 1 == frames.size() ? last_delay : delay;
    if (out.delays[i] != want)
      return ::testing::AssertionFailure() << "frame " << i << " delay " << out.delays[i];
  }
  if (out.codes_past_full != 0)
    return ::testing::AssertionFailure() << out.codes_past_full << " codes past a full table";
  if (!out.full_sub_blocks) return ::testing::AssertionFailure() << "a short sub-block";
  return ::testing::AssertionSuccess();
}

// Grey frames: the palette is the 256 greys and every pixel comes back exactly.
::testing::AssertionResult round_trips_exactly(const std::vector<RgbImage>& frames, int delay,
                                               int last_delay) {
  DecodedGif out;
  const auto ok =
      decodes_as_animation(encode_gif(frames, delay, last_delay), frames, delay, last_delay, out);
  if (!ok) return ok;
  for (int i = 0; i < 256; ++i) {
    const Rgb& c = out.palette[size_t(i)];
    if (c.r != i || c.g != i || c.b != i)
      return ::testing::AssertionFailure() << "palette " << i << " is not grey " << i;
  }
  for (size_t n = 0; n < frames.size(); ++n)
    for (size_t p = 0; p < frames[n].rgb.size(); ++p)
      if (out.frames[n].rgb[p] != frames[n].rgb[p])
        return ::testing::AssertionFailure()
               << "frame " << n << " byte " << p << ": " << int(out.frames[n].rgb[p]) << " vs "
               << int(frames[n].rgb[p]);
  return ::testing::AssertionSuccess();
}

// Colour frames: the palette is the 6x7x6 cube (levels spread evenly over 0..255) and 4 greys, and
// every pixel comes back as a palette entry no farther than any other (ties may go either way).
::testing::AssertionResult decodes_to_nearest(const std::vector<RgbImage>& frames, int delay,
                                              int last_delay) {
  DecodedGif out;
  const auto ok =
      decodes_as_animation(encode_gif(frames, delay, last_delay), frames, delay, last_delay, out);
  if (!ok) return ok;
  std::vector<bool> in_cube(256, false);
  for (int r = 0; r < 6; ++r)
    for (int g = 0; g < 7; ++g)
      for (int b = 0; b < 6; ++b) {
        const Rgb want{uint8_t(std::lround(r * 255.0 / 5)), uint8_t(std::lround(g * 255.0 / 6)),
                       uint8_t(std::lround(b * 255.0 / 5))};
        bool found = false;
        for (size_t i = 0; i < 256 && !found; ++i) {
          const Rgb& c = out.palette[i];
          found = !in_cube[i] && c.r == want.r && c.g == want.g && c.b == want.b;
          if (found) in_cube[i] = true;
        }
        if (!found)
          return ::testing::AssertionFailure()
                 << "no cube colour " << int(want.r) << "," << int(want.g) << "," << int(want.b);
      }
  for (size_t i = 0; i < 256; ++i) {
    const Rgb& c = out.palette[i];
    if (!in_cube[i] && (c.r != c.g || c.r != c.b))
      return ::testing::AssertionFailure() << "palette " << i << " neither cube nor grey";
  }
  for (size_t n = 0; n < frames.size(); ++n)
    for (size_t p = 0; p < frames[n].rgb.size(); p += 3) {
      const uint8_t* want = &frames[n].rgb[p];
      int best = std::numeric_limits<int>::max();
      for (const Rgb& c : out.palette) best = std::min(best, distance(want, c));
      const uint8_t* got = &out.frames[n].rgb[p];
      const Rgb got_rgb{got[0], got[1], got[2]};
      if (distance(want, got_rgb) != best)
        return ::testing::AssertionFailure()
               << "frame " << n << " pixel " << p / 3 << ": " << int(want[0]) << "," << int(want[1])
               << "," << int(want[2]) << " became " << int(got[0]) << "," << int(got[1]) << ","
               << int(got[2]) << ", at distance " << distance(want, got_rgb)
               << " where the nearest is at " << best;
    }
  return ::testing::AssertionSuccess();
}

TEST(Gif, RandomGreyFramesRoundTripExactly) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 10; ++trial) {
    const int w = rng.uniform_int(1, 80), h = rng.uniform_int(1, 80);
    std::vector<RgbImage> frames;
    for (int n = rng.uniform_int(1, 5); n > 0; --n) frames.push_back(grey_noise(rng, w, h));
    const int delay = rng.uniform_int(0, 500);
    const int last = delay + rng.uniform_int(1, 500);
    EXPECT_TRUE(round_trips_exactly(frames, delay, last))
        << "trial " << trial << ": " << w << "x" << h << ", " << frames.size();
  }
}

TEST(Gif, RandomColourFramesDecodeToTheNearestEntry) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 10; ++trial) {
    const int w = rng.uniform_int(1, 80), h = rng.uniform_int(1, 80);
    std::vector<RgbImage> frames;
    for (int n = rng.uniform_int(1, 5); n > 0; --n) frames.push_back(colour_noise(rng, w, h));
    // One grey frame among colour ones: the whole animation takes the colour palette.
    frames.push_back(grey_noise(rng, w, h));
    EXPECT_TRUE(decodes_to_nearest(frames, 7, 300)) << "trial " << trial << ": " << w << "x" << h;
  }
}

TEST(Gif, ColoursNearTiesMapToTheirNearestEntry) {
  // All 2^24 colours would take long: every 5th value of each channel, every grey, and every green
  // beside red and blue values halfway between two levels, where ties and near ties are.
  std::vector<uint8_t> colours;
  for (int r = 0; r < 256; r += 5)
    for (int g = 0; g < 256; g += 5)
      for (int b = 0; b < 256; b += 5)
        colours.insert(colours.end(), {uint8_t(r), uint8_t(g), uint8_t(b)});
  for (int v = 0; v < 256; ++v) colours.insert(colours.end(), {uint8_t(v), uint8_t(v), uint8_t(v)});
  for (int r : {25, 26, 76, 77, 127, 128})
    for (int g = 0; g < 256; ++g)
      for (int b : {21, 22, 64, 106, 107, 149, 191, 234})
        colours.insert(colours.end(), {uint8_t(r), uint8_t(g), uint8_t(b)});
  const int w = 512, h = int((colours.size() / 3 + w - 1) / w);
  colours.resize(size_t(w) * h * 3, 0);
  EXPECT_TRUE(decodes_to_nearest({RgbImage{w, h, colours}}, 1, 2));
}

TEST(Gif, TinyAndOddSizes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (const auto& [w, h] : {std::pair{1, 1}, {1, 7}, {7, 1}, {2, 3}, {333, 17}, {17, 333}}) {
    SCOPED_TRACE(std::to_string(w) + "x" + std::to_string(h));
    EXPECT_TRUE(round_trips_exactly({grey_noise(rng, w, h), grey_noise(rng, w, h)}, 4, 5));
    EXPECT_TRUE(decodes_to_nearest({colour_noise(rng, w, h), colour_noise(rng, w, h)}, 4, 5));
    EXPECT_TRUE(round_trips_exactly({grey_noise(rng, w, h)}, 0, 65535));
  }
}

TEST(Gif, NoiseFillsTheCodeTableManyTimes) {
  // Noise barely compresses: about one code a pixel, so a 512x512 frame fills the 4096-code table
  // some 60 times, each fill followed by a clear code.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const std::vector<RgbImage> grey = {grey_noise(rng, 512, 512), grey_noise(rng, 512, 512)};
  EXPECT_TRUE(round_trips_exactly(grey, 10, 20));
  DecodedGif out;
  ASSERT_TRUE(decode_gif(encode_gif(grey, 10, 20), out));
  EXPECT_GT(out.clear_codes, 2 * 10) << "one clear a frame, then one a full table";
  const std::vector<RgbImage> colour = {colour_noise(rng, 512, 512)};
  EXPECT_TRUE(decodes_to_nearest(colour, 10, 20));
  ASSERT_TRUE(decode_gif(encode_gif(colour, 10, 20), out));
  EXPECT_GT(out.clear_codes, 10);
}

TEST(Gif, EveryCodeCountEndsAtTheRightWidth) {
  // Frames ending at every code count up to past 2048: the width grows at 512, 1024 and 2048
  // codes, the end code included (the decoder adds the last code's entry before reading it).
  // Noise gives about a code a pixel and one more pixel adds at most one code, so the prefixes of
  // one noise row hit every count.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const RgbImage row = grey_noise(rng, 2100, 1);
  for (int w = 1; w <= row.width; ++w) {
    const RgbImage prefix{w, 1, {row.rgb.begin(), row.rgb.begin() + 3 * w}};
    ASSERT_TRUE(round_trips_exactly({prefix}, 1, 2)) << w << " pixels";
  }
}

TEST(Gif, ConstantFramesCompressAndDecode) {
  // One colour throughout: each code is one longer string than the last, most of them used the
  // moment they are defined (the decoder's KwKwK case), and the file stays small.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const uint8_t v = uint8_t(rng.bits());
  const std::vector<RgbImage> grey = {constant(300, 200, {v, v, v}), grey_noise(rng, 300, 200)};
  EXPECT_TRUE(round_trips_exactly(grey, 3, 100));
  const std::vector<RgbImage> colour = {constant(300, 200, {200, 30, v})};
  EXPECT_TRUE(decodes_to_nearest(colour, 3, 100));
  const std::string one = encode_gif({constant(300, 200, {v, v, v})}, 3, 100);
  EXPECT_LT(one.size(), 2000u) << "60000 equal pixels";
}

TEST(Gif, BadInputThrowsNamingTheProblem) {
  const RgbImage ok = constant(4, 3, {1, 2, 3});
  RgbImage wide = constant(5, 3, {1, 2, 3}), short_buffer = ok, empty{0, 3, {}};
  short_buffer.rgb.pop_back();
  const auto refused = [](const std::vector<RgbImage>& frames, int delay, int last,
                          const std::vector<std::string>& parts) {
    EXPECT_THROW(encode_gif(frames, delay, last), std::invalid_argument);
    return throws_with([&] { encode_gif(frames, delay, last); }, parts);
  };
  EXPECT_TRUE(refused({}, 1, 1, {"encode_gif", "no frames"}));
  EXPECT_TRUE(refused({ok, ok, wide}, 1, 1, {"frame 2", "5x3", "4x3"}));
  EXPECT_TRUE(refused({ok, short_buffer}, 1, 1, {"frame 1", "35 bytes"}));
  EXPECT_TRUE(refused({empty}, 1, 1, {"frame 0", "0x3"}));
  EXPECT_TRUE(refused({RgbImage{65536, 1, {}}}, 1, 1, {"frame 0", "65536x1"}));
  EXPECT_TRUE(refused({ok}, -1, 1, {"delay_cs", "-1"}));
  EXPECT_TRUE(refused({ok}, 65536, 1, {"delay_cs", "65536"}));
  EXPECT_TRUE(refused({ok, ok}, 1, 70000, {"last_delay_cs", "70000"}));
  EXPECT_NO_THROW(encode_gif({ok}, 0, 65535));
}

}  // namespace
