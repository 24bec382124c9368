// Sample grids: tiles generated images (floats in [-1, 1]) into one greyscale picture and writes
// it as a PNG, so a run's progress can be looked at.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace gan {

struct GreyImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // height rows of width bytes
};

// images: (n, rows, cols) floats, image after image, row-major. Tiles them into grid_cols columns
// and ceil(n / grid_cols) rows, with `padding` pixels of pad_value between tiles and around the
// border (unused tiles of the last row are pad_value too). The default, a 1-pixel line of mid
// grey, tells samples apart whether their backgrounds are black or white. Values are clamped to
// [-1, 1] and mapped to round((v + 1) * 127.5); NaN maps to 0. Throws std::invalid_argument on
// non-positive sizes, negative padding, or `images` not holding exactly n * rows * cols values
// (sizes that came from a file are never trusted to match the buffer).
GreyImage tile_images(std::span<const float> images, int n, int rows, int cols, int grid_cols,
                      int padding = 1, uint8_t pad_value = 128);

// An 8-bit greyscale PNG, upscaled by an integer factor (nearest neighbour) so a grid of 28x28
// images is viewable; written atomically. Throws std::runtime_error naming the file on failure.
void write_png(const std::string& path, const GreyImage& image, int scale = 1);

}  // namespace gan
