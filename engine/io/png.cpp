#include "engine/io/png.h"

#include <climits>
#include <memory>
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
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb/stb_image.h>
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

RgbImage decode_png_rgb(const std::string& bytes, const std::string& name) {
  if (bytes.size() > size_t(INT_MAX))  // stb_image takes an int length
    throw std::runtime_error(name + ": " + std::to_string(bytes.size()) +
                             " bytes are too many for a PNG to read");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  int w = 0, h = 0, channels = 0;
  if (!stbi_info_from_memory(data, int(bytes.size()), &w, &h, &channels)) {
    const char* why = stbi_failure_reason();
    throw std::runtime_error(name + ": not a PNG file stb_image can read (" +
                             (why ? why : "no reason given") + ")");
  }
  // Checked before decoding: the header alone must not make us allocate gigabytes.
  if (int64_t(w) * h > (int64_t(1) << 26))
    throw std::runtime_error(name + ": a PNG of " + std::to_string(w) + "x" + std::to_string(h) +
                             " pixels is larger than 2^26 pixels");
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(data, int(bytes.size()), &w, &h, &channels, 3), stbi_image_free);
  // stb_image's reason here can be a chunk name read from past the end: say what it means.
  if (!pixels) throw std::runtime_error(name + ": cannot decode the PNG (corrupt or cut short)");
  RgbImage image;
  image.width = w;
  image.height = h;
  image.rgb.assign(pixels.get(), pixels.get() + size_t(w) * size_t(h) * 3);
  return image;
}

}  // namespace gan
