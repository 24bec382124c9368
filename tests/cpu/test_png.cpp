// PNG decoding: what encode_png writes (grey and RGB) comes back pixel for pixel, alpha is
// dropped, and bytes that are not a PNG, a PNG cut short or one larger than 2^26 pixels are
// refused naming the file they came from.
#include <gtest/gtest.h>
#include <zlib.h>

#include <stdexcept>

#include "engine/io/png.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;

namespace {

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += char((v >> shift) & 0xff);
}

void chunk(std::string& png, const std::string& type, const std::string& body) {
  put32(png, uint32_t(body.size()));
  const std::string typed = type + body;
  png += typed;
  put32(png, uint32_t(crc32(0, reinterpret_cast<const Bytef*>(typed.data()), uInt(typed.size()))));
}

// The signature and IHDR of an 8-bit, non-interlaced PNG.
std::string png_header(int w, int h, int colour_type) {
  std::string png = "\x89PNG\r\n\x1a\n", ihdr;
  put32(ihdr, uint32_t(w));
  put32(ihdr, uint32_t(h));
  ihdr += {char(8), char(colour_type), char(0), char(0), char(0)};
  chunk(png, "IHDR", ihdr);
  return png;
}

// A PNG written here, not by stb: `colour_type` 4 (grey + alpha) or 6 (RGBA), filter 0 on every
// row.
std::string png_with_alpha(int w, int h, int colour_type, const std::vector<uint8_t>& pixels) {
  const int channels = colour_type == 4 ? 2 : 4;
  std::string png = png_header(w, h, colour_type), raw;
  for (int y = 0; y < h; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(pixels.data()) + size_t(y) * w * channels,
               size_t(w) * channels);
  }
  std::string packed(compressBound(uLong(raw.size())), '\0');
  uLongf size = uLongf(packed.size());
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(packed.data()), &size,
                     reinterpret_cast<const Bytef*>(raw.data()), uLong(raw.size())),
            Z_OK);
  packed.resize(size);
  chunk(png, "IDAT", packed);
  chunk(png, "IEND", "");
  return png;
}

std::vector<uint8_t> random_bytes(Rng& rng, size_t n) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = uint8_t(rng.bits());
  return v;
}

TEST(PngDecode, GreyAndRgbRoundTripEveryPixel) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 10; ++trial) {
    const int w = rng.uniform_int(1, 70), h = rng.uniform_int(1, 70);
    for (int channels : {1, 3}) {
      SCOPED_TRACE("trial " + std::to_string(trial) + ", " + std::to_string(w) + "x" +
                   std::to_string(h) + " of " + std::to_string(channels));
      const std::vector<uint8_t> pixels = random_bytes(rng, size_t(w) * h * channels);
      const RgbImage image = decode_png_rgb(encode_png(w, h, channels, pixels.data()), "x.png");
      ASSERT_EQ(image.width, w);
      ASSERT_EQ(image.height, h);
      ASSERT_EQ(image.rgb.size(), size_t(w) * h * 3);
      for (size_t p = 0; p < size_t(w) * h; ++p)
        for (size_t c = 0; c < 3; ++c)
          ASSERT_EQ(image.rgb[3 * p + c], pixels[p * channels + (channels == 3 ? c : 0)])
              << "pixel " << p << " channel " << c;
    }
  }
}

TEST(PngDecode, AlphaIsDropped) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const int w = rng.uniform_int(1, 40), h = rng.uniform_int(1, 40);
  for (int colour_type : {4, 6}) {
    const int channels = colour_type == 4 ? 2 : 4;
    const std::vector<uint8_t> pixels = random_bytes(rng, size_t(w) * h * channels);
    const RgbImage image = decode_png_rgb(png_with_alpha(w, h, colour_type, pixels), "a.png");
    ASSERT_EQ(image.width, w);
    ASSERT_EQ(image.height, h);
    for (size_t p = 0; p < size_t(w) * h; ++p)
      for (size_t c = 0; c < 3; ++c)
        ASSERT_EQ(image.rgb[3 * p + c], pixels[p * channels + (channels == 4 ? c : 0)])
            << "colour type " << colour_type << " pixel " << p << " channel " << c;
  }
}

TEST(PngDecode, RefusesWhatIsNotAWholePngNamingTheFile) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  const std::vector<uint8_t> garbage = random_bytes(rng, size_t(rng.uniform_int(1, 5000)));
  const std::vector<uint8_t> pixels = random_bytes(rng, 64 * 64 * 3);
  const std::string png = encode_png(64, 64, 3, pixels.data());
  const auto refused = [](const std::string& bytes, const std::string& name) {
    EXPECT_THROW(decode_png_rgb(bytes, name), std::runtime_error);
    return throws_with([&] { decode_png_rgb(bytes, name); }, {name});
  };
  EXPECT_TRUE(refused(std::string(garbage.begin(), garbage.end()), "runs/a/garbage.png"));
  EXPECT_TRUE(refused("", "runs/a/empty.png"));
  EXPECT_TRUE(refused(png.substr(0, png.size() / 2), "runs/a/half.png"));
  EXPECT_TRUE(refused(png.substr(0, 20), "runs/a/header.png"));
  // Only the header of a picture of 10000 x 10000 (10^8 > 2^26 pixels): refused before decoding.
  const std::string big = png_header(10000, 10000, 6);
  EXPECT_TRUE(throws_with([&] { decode_png_rgb(big, "big.png"); }, {"big.png", "10000x10000"}));
}

}  // namespace
