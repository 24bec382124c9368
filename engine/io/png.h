// PNG encoding (stb_image_write) and decoding (stb_image), the one place the project builds them.
#pragma once
#include <cstdint>
#include <string>

#include "engine/io/image.h"

namespace gan {

// The PNG bytes of a w x h image with 1 (grey) or 3 (RGB) 8-bit channels, row-major, tightly
// packed. Throws std::invalid_argument on a bad size and std::runtime_error if encoding fails.
std::string encode_png(int w, int h, int channels, const uint8_t* pixels);

// Any 8-bit PNG (grey, grey + alpha, RGB, RGBA; alpha dropped) as RGB. Throws std::runtime_error
// naming `name` (the file it came from) when the bytes are not a PNG stb_image can decode or the
// picture is larger than 2^26 pixels.
RgbImage decode_png_rgb(const std::string& bytes, const std::string& name);

}  // namespace gan
