#include "engine/io/image_grid.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "engine/io/atomic_file.h"
#include "engine/io/png.h"


namespace gan {

namespace {

// Larger than any sensible sample grid, small enough that int sizes never overflow.
constexpr int64_t kMaxPixels = int64_t(1) << 28;

// In double, (v + 1) * 127.5 is exact for every float v, so the rounding is the true one.
uint8_t to_grey(float v) {
  if (std::isnan(v)) return 0;
  const double clamped = std::clamp(double(v), -1.0, 1.0);
  return uint8_t(std::lround((clamped + 1.0) * 127.5));
}

}  // namespace

GreyImage tile_images(std::span<const float> images, int n, int rows, int cols, int grid_cols,
                      int padding, uint8_t pad_value) {
  if (n <= 0 || rows <= 0 || cols <= 0 || grid_cols <= 0 || padding < 0)
    throw std::invalid_argument(
        "tile_images: need n, rows, cols, grid_cols > 0 and padding >= 0, got n=" +
        std::to_string(n) + " rows=" + std::to_string(rows) + " cols=" + std::to_string(cols) +
        " grid_cols=" + std::to_string(grid_cols) + " padding=" + std::to_string(padding));
  if (images.size() != uint64_t(n) * uint64_t(rows) * uint64_t(cols))
    throw std::invalid_argument("tile_images: " + std::to_string(images.size()) +
                                " values are not " + std::to_string(n) + " images of " +
                                std::to_string(rows) + "x" + std::to_string(cols));
  const int grid_rows = (n + grid_cols - 1) / grid_cols;
  const int64_t width = int64_t(grid_cols) * cols + int64_t(grid_cols + 1) * padding;
  const int64_t height = int64_t(grid_rows) * rows + int64_t(grid_rows + 1) * padding;
  if (width * height > kMaxPixels)
    throw std::invalid_argument("tile_images: a grid of " + std::to_string(width) + "x" +
                                std::to_string(height) + " pixels is too large");
  GreyImage grid;
  grid.width = int(width);
  grid.height = int(height);
  grid.pixels.assign(size_t(width * height), pad_value);
  for (int i = 0; i < n; ++i) {
    const float* image = images.data() + size_t(i) * rows * cols;
    // Top-left corner of tile i: row-major over the grid, each tile preceded by one padding.
    const int64_t x0 = int64_t(i % grid_cols) * (cols + padding) + padding;
    const int64_t y0 = int64_t(i / grid_cols) * (rows + padding) + padding;
    for (int r = 0; r < rows; ++r) {
      uint8_t* out = grid.pixels.data() + (y0 + r) * width + x0;
      for (int c = 0; c < cols; ++c) out[c] = to_grey(image[size_t(r) * cols + c]);
    }
  }
  return grid;
}

void write_png(const std::string& path, const GreyImage& image, int scale) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != size_t(image.width) * size_t(image.height))
    throw std::runtime_error(path + ": cannot write PNG of " + std::to_string(image.width) + "x" +
                             std::to_string(image.height) + " from " +
                             std::to_string(image.pixels.size()) + " pixels");
  if (scale < 1 || int64_t(image.width) * image.height * scale * scale > kMaxPixels)
    throw std::runtime_error(path + ": cannot write PNG of " + std::to_string(image.width) + "x" +
                             std::to_string(image.height) + " at scale " + std::to_string(scale));
  const int width = image.width * scale, height = image.height * scale;
  std::vector<uint8_t> scaled;
  const uint8_t* pixels = image.pixels.data();
  if (scale > 1) {
    scaled.resize(size_t(width) * height);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x)
        scaled[size_t(y) * width + x] = image.pixels[size_t(y / scale) * image.width + x / scale];
    pixels = scaled.data();
  }
  std::string png;
  try {
    png = encode_png(width, height, 1, pixels);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
  write_file_atomic(path, png);
}

}  // namespace gan
