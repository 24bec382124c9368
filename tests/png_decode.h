// A small PNG decoder for tests (zlib only): checks the signature, every chunk's CRC and the IHDR
// fields, inflates the IDAT chunks and undoes the five row filters, so a test can compare every
// pixel of a file the engine wrote.
#pragma once
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace gan::test {

inline uint32_t png_be32_at(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 |
         uint32_t(uint8_t(s[at + 2])) << 8 | uint32_t(uint8_t(s[at + 3]));
}

inline int png_paeth(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

// An 8-bit, non-interlaced PNG of `channels` 1 (greyscale, colour type 0) or 3 (RGB, type 2).
inline ::testing::AssertionResult decode_png(const std::string& png, int channels, int& width,
                                             int& height, std::vector<uint8_t>& pixels) {
  const std::string signature = "\x89PNG\r\n\x1a\n";
  if (png.size() < 8 || png.compare(0, 8, signature) != 0)
    return ::testing::AssertionFailure() << "bad signature";
  const int colour_type = channels == 3 ? 2 : 0;
  std::string idat;
  bool seen_ihdr = false, seen_iend = false;
  for (size_t at = 8; at < png.size() && !seen_iend;) {
    if (at + 12 > png.size()) return ::testing::AssertionFailure() << "chunk header cut at " << at;
    const uint32_t length = png_be32_at(png, at);
    const std::string type = png.substr(at + 4, 4);
    if (at + 12 + length > png.size()) return ::testing::AssertionFailure() << type << " cut";
    const std::string body = png.substr(at + 8, length);
    const uLong crc = crc32(crc32(0, reinterpret_cast<const Bytef*>(type.data()), 4),
                            reinterpret_cast<const Bytef*>(body.data()), uInt(length));
    if (crc != png_be32_at(png, at + 8 + length))
      return ::testing::AssertionFailure() << type << " CRC mismatch";
    if (type == "IHDR") {
      if (at != 8 || length != 13)
        return ::testing::AssertionFailure() << "IHDR at " << at << " length " << length;
      width = int(png_be32_at(body, 0));
      height = int(png_be32_at(body, 4));
      if (body[8] != 8 || body[9] != colour_type || body[12] != 0)
        return ::testing::AssertionFailure()
               << "IHDR bit depth " << int(body[8]) << ", colour type " << int(body[9])
               << ", interlace " << int(body[12]) << ", want 8, " << colour_type << ", 0";
      seen_ihdr = true;
    } else if (type == "IDAT") {
      idat += body;
    } else if (type == "IEND") {
      seen_iend = true;
    }
    at += 12 + length;
  }
  if (!seen_ihdr || !seen_iend) return ::testing::AssertionFailure() << "IHDR or IEND missing";
  const size_t row = size_t(width) * channels, stride = row + 1;  // one filter byte per row
  std::vector<uint8_t> filtered(stride * height);
  uLongf filtered_size = uLongf(filtered.size());
  if (uncompress(filtered.data(), &filtered_size, reinterpret_cast<const Bytef*>(idat.data()),
                 uLong(idat.size())) != Z_OK ||
      filtered_size != filtered.size())
    return ::testing::AssertionFailure() << "IDAT does not inflate to " << filtered.size();
  pixels.assign(row * height, 0);
  for (int y = 0; y < height; ++y) {
    const uint8_t filter = filtered[y * stride];
    if (filter > 4)
      return ::testing::AssertionFailure() << "row " << y << " filter " << int(filter);
    for (size_t i = 0; i < row; ++i) {
      const size_t left = size_t(channels);
      const int a = i >= left ? pixels[y * row + i - left] : 0;
      const int b = y > 0 ? pixels[(y - 1) * row + i] : 0;
      const int c = i >= left && y > 0 ? pixels[(y - 1) * row + i - left] : 0;
      const int predictor = filter == 0   ? 0
                            : filter == 1 ? a
                            : filter == 2 ? b
                            : filter == 3 ? (a + b) / 2
                                          : png_paeth(a, b, c);
      pixels[y * row + i] = uint8_t(filtered[y * stride + 1 + i] + predictor);
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gan::test
