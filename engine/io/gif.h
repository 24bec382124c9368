// Animated GIF encoding (GIF89a, LZW), for progress.gif: the sample grids over training.
#pragma once
#include <string>
#include <vector>

#include "engine/io/image.h"

namespace gan {

// An animated GIF of `frames` (all the same size, at least one) that loops forever. Each frame is
// shown `delay_cs` hundredths of a second, the last `last_delay_cs` (a pause before the loop).
// Palette: 256 greys when every pixel of every frame is grey (r == g == b: exact), else a fixed
// 6x7x6 colour cube plus 4 greys with each pixel mapped to its nearest entry. Throws
// std::invalid_argument naming the frame on an empty list, frames of different sizes, a size
// outside 1..65535, a buffer that does not match its size, or a delay outside 0..65535.
std::string encode_gif(const std::vector<RgbImage>& frames, int delay_cs, int last_delay_cs);

}  // namespace gan
