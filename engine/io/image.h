// In-memory RGB pictures: what plots, text and GIF frames are drawn into.
#pragma once
#include <cstdint>
#include <vector>

namespace gan {

struct Rgb {
  uint8_t r = 0, g = 0, b = 0;
};

struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes (r, g, b) a pixel
};

}  // namespace gan
