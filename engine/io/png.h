// PNG encoding (stb_image_write), the one place the project builds it.
#pragma once
#include <cstdint>
#include <string>

namespace gan {

// The PNG bytes of a w x h image with 1 (grey) or 3 (RGB) 8-bit channels, row-major, tightly
// packed. Throws std::invalid_argument on a bad size and std::runtime_error if encoding fails.
std::string encode_png(int w, int h, int channels, const uint8_t* pixels);

}  // namespace gan
