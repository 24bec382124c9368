#include "engine/io/png.h"

#include <stdexcept>

// stb is third-party code: keep its warnings out of ours, and its symbols private to this file.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STBI_WRITE_NO_STDIO
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace gan {

std::string encode_png(int w, int h, int channels, const uint8_t* pixels) {
  if (w <= 0 || h <= 0 || (channels != 1 && channels != 3) || !pixels)
    throw std::invalid_argument("encode_png: cannot encode " + std::to_string(w) + "x" +
                                std::to_string(h) + " pixels of " + std::to_string(channels) +
                                " channels");
  std::string png;
  auto append = [](void* context, void* data, int size) {
    static_cast<std::string*>(context)->append(static_cast<const char*>(data), size_t(size));
  };
  if (!stbi_write_png_to_func(append, &png, w, h, channels, pixels, w * channels))
    throw std::runtime_error("encode_png: PNG encoding failed (" + std::to_string(w) + "x" +
                             std::to_string(h) + ")");
  return png;
}

}  // namespace gan
