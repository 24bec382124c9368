// Sample grids and their PNG files: exact pixels for a known case, clamping and NaN, random
// layouts against an independent per-pixel rule, and PNG files decoded back byte for byte by a
// minimal decoder (zlib + the five PNG row filters) written here.
#include <gtest/gtest.h>

#include <tuple>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "engine/io/atomic_file.h"
#include "engine/io/image_grid.h"
#include "png_decode.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

::testing::AssertionResult decode_grey_png(const std::string& png, GreyImage& out) {
  return decode_png(png, 1, out.width, out.height, out.pixels);
}

TEST(ImageGrid, KnownTinyCaseExactPixels) {
  // Three 2x2 images into 2 columns, padding 1 of value 7: a 7x7 grid, the fourth tile empty.
  const std::vector<float> images = {-1.0f,  1.0f,    0.0f,   0.5f,  // 0, 255, 128 (127.5 up), 191
                                     -0.5f,  0.25f,   -0.25f, 1.0f,  // 64, 159, 96, 255
                                     0.999f, -0.999f, 0.6f,   -0.6f};  // 255, 0, 204, 51
  const GreyImage grid = tile_images(images, 3, 2, 2, 2, 1, 7);
  ASSERT_EQ(grid.width, 7);
  ASSERT_EQ(grid.height, 7);
  const std::vector<uint8_t> want = {
      7, 7,   7,   7, 7,  7,   7,  //
      7, 0,   255, 7, 64, 159, 7,  //
      7, 128, 191, 7, 96, 255, 7,  //
      7, 7,   7,   7, 7,  7,   7,  //
      7, 255, 0,   7, 7,  7,   7,  //
      7, 204, 51,  7, 7,  7,   7,  //
      7, 7,   7,   7, 7,  7,   7,
  };
  EXPECT_EQ(grid.pixels, want);
}

TEST(ImageGrid, DefaultIsAOnePixelMidGreyBorder) {
  // Two 1x2 images side by side with the defaults: mid grey (128) between and around them, which
  // stands out from black and from white backgrounds alike.
  const std::vector<float> images = {-1.0f, 1.0f, 1.0f, -1.0f};
  const GreyImage grid = tile_images(images, 2, 1, 2, 2);
  ASSERT_EQ(grid.width, 7);
  ASSERT_EQ(grid.height, 3);
  const std::vector<uint8_t> want = {
      128, 128, 128, 128, 128, 128, 128,  //
      128, 0,   255, 128, 255, 0,   128,  //
      128, 128, 128, 128, 128, 128, 128,
  };
  EXPECT_EQ(grid.pixels, want);
}

TEST(ImageGrid, ClampsOutOfRangeAndMapsNanToZero) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> values = {2.0f, -2.0f, inf, -inf, nan, -nan, 1e30f, -1e-30f};
  const GreyImage grid = tile_images(values, 1, 1, 8, 1, 0);
  ASSERT_EQ(grid.width, 8);
  ASSERT_EQ(grid.height, 1);
  EXPECT_EQ(grid.pixels, (std::vector<uint8_t>{255, 0, 255, 0, 0, 0, 255, 128}));
}

TEST(ImageGrid, RandomLayoutsMatchAPerPixelRule) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  for (int trial = 0; trial < 20; ++trial) {
    const int n = rng.uniform_int(1, 30), rows = rng.uniform_int(1, 9),
              cols = rng.uniform_int(1, 9), grid_cols = rng.uniform_int(1, 8),
              padding = rng.uniform_int(0, 3);
    const uint8_t pad = uint8_t(rng.uniform_int(0, 255));
    const std::vector<float> images = rng.vec<float>(size_t(n) * rows * cols, -1.2, 1.2);
    const GreyImage grid = tile_images(images, n, rows, cols, grid_cols, padding, pad);
    const int grid_rows = (n + grid_cols - 1) / grid_cols;
    ASSERT_EQ(grid.width, grid_cols * (cols + padding) + padding);
    ASSERT_EQ(grid.height, grid_rows * (rows + padding) + padding);
    for (int y = 0; y < grid.height; ++y)
      for (int x = 0; x < grid.width; ++x) {
        // Inside a tile when the offset past the leading padding falls in the tile's part.
        const int ty = (y - padding) / (rows + padding), r = (y - padding) % (rows + padding);
        const int tx = (x - padding) / (cols + padding), c = (x - padding) % (cols + padding);
        const int tile = ty * grid_cols + tx;
        uint8_t want = pad;
        if (y >= padding && x >= padding && r < rows && c < cols && tile < n) {
          const double v =
              std::clamp(double(images[(size_t(tile) * rows + r) * cols + c]), -1.0, 1.0);
          want = uint8_t(std::lround((v + 1.0) * 127.5));
        }
        ASSERT_EQ(int(grid.pixels[size_t(y) * grid.width + x]), int(want))
            << "trial " << trial << " pixel (" << y << ", " << x << ")";
      }
  }
}

TEST(ImageGrid, RejectsBadSizes) {
  const float one = 0.0f;
  EXPECT_THROW(tile_images(std::span<const float>(&one, 1), 0, 1, 1, 1), std::invalid_argument);
  EXPECT_THROW(tile_images(std::span<const float>(&one, 1), 1, 0, 1, 1), std::invalid_argument);
  EXPECT_THROW(tile_images(std::span<const float>(&one, 1), 1, 1, 1, 0), std::invalid_argument);
  EXPECT_THROW(tile_images(std::span<const float>(&one, 1), 1, 1, 1, 1, -1), std::invalid_argument);
}

TEST(ImageGrid, RefusesSizesThatDisagreeWithTheBuffer) {
  // Issue 10, item 1: a checkpoint's image rows x cols that disagree with G's output made the grid
  // read past the samples. Every size near the buffer's (one image of 28x28) except the true one.
  const std::vector<float> images(28 * 28, 0.5f);
  EXPECT_NO_THROW(tile_images(images, 1, 28, 28, 1));
  for (const auto& [n, rows, cols] : {std::tuple{1, 56, 28}, {1, 28, 100000}, {2, 28, 28},
                                      {1, 27, 28}, {1, 28, 29}})
    EXPECT_THROW(tile_images(images, n, rows, cols, 1), std::invalid_argument)
        << n << " images of " << rows << "x" << cols;
}

class PngTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }
  bool dir_is_empty() const { return fs::is_empty(tmp_.path); }

  Rng rng_;
  TempDir tmp_{rng_};
  const fs::path& dir_ = tmp_.path;
};

TEST_F(PngTest, WritesAGridThatDecodesBackExactly) {
  SCOPED_TRACE(rng_.trace());
  const int n = rng_.uniform_int(1, 20), rows = rng_.uniform_int(1, 28),
            cols = rng_.uniform_int(1, 28);
  const std::vector<float> images = rng_.vec<float>(size_t(n) * rows * cols);
  const GreyImage grid = tile_images(images, n, rows, cols, rng_.uniform_int(1, 8));
  for (int scale : {1, 3}) {
    const std::string file = path("grid_x" + std::to_string(scale) + ".png");
    write_png(file, grid, scale);
    GreyImage decoded;
    ASSERT_TRUE(decode_grey_png(read_file(file), decoded)) << file;
    ASSERT_EQ(decoded.width, grid.width * scale);
    ASSERT_EQ(decoded.height, grid.height * scale);
    for (int y = 0; y < decoded.height; ++y)
      for (int x = 0; x < decoded.width; ++x)
        ASSERT_EQ(decoded.pixels[size_t(y) * decoded.width + x],
                  grid.pixels[size_t(y / scale) * grid.width + x / scale])
            << "scale " << scale << " pixel (" << y << ", " << x << ")";
  }
}

TEST_F(PngTest, MissingDirectoryThrowsNamingThePathAndLeavesNothing) {
  GreyImage image{2, 2, {0, 64, 128, 255}};
  const std::string file = path("no/such/dir/grid.png");
  try {
    write_png(file, image, 2);
    ADD_FAILURE() << "no exception for " << file;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
  }
  EXPECT_TRUE(dir_is_empty());
}

TEST_F(PngTest, InconsistentImageOrScaleThrowsNamingThePath) {
  const std::string file = path("grid.png");
  for (const auto& [image, scale] :
       {std::pair{GreyImage{3, 2, std::vector<uint8_t>(5)}, 1}, std::pair{GreyImage{0, 0, {}}, 1},
        std::pair{GreyImage{2, 2, std::vector<uint8_t>(4)}, 0}}) {
    try {
      write_png(file, image, scale);
      ADD_FAILURE() << "no exception for " << image.width << "x" << image.height << " scale "
                    << scale;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(dir_is_empty());
}

}  // namespace
