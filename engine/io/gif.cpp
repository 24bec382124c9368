#include "engine/io/gif.h"

#include <array>
#include <stdexcept>

namespace gan {

namespace {

// The colour palette: 6 red x 7 green x 6 blue levels (green, which the eye resolves best, gets
// the extra level), index r * 42 + g * 6 + b, then 4 greys that complete the cube's grey axis
// (black and white are in the cube) to a ramp of step 51.
constexpr int kRedLevels = 6, kGreenLevels = 7, kBlueLevels = 6, kCubeSize = 252;
constexpr std::array<int, 4> kExtraGreys = {51, 102, 153, 204};

using Palette = std::array<Rgb, 256>;

uint8_t level(int i, int levels) { return uint8_t((i * 255 + (levels - 1) / 2) / (levels - 1)); }

Palette grey_palette() {
  Palette p;
  for (int i = 0; i < 256; ++i) p[size_t(i)] = {uint8_t(i), uint8_t(i), uint8_t(i)};
  return p;
}

Palette colour_palette() {
  Palette p;
  for (int r = 0; r < kRedLevels; ++r)
    for (int g = 0; g < kGreenLevels; ++g)
      for (int b = 0; b < kBlueLevels; ++b)
        p[size_t(r * 42 + g * 6 + b)] = {level(r, kRedLevels), level(g, kGreenLevels),
                                         level(b, kBlueLevels)};
  for (size_t i = 0; i < kExtraGreys.size(); ++i) {
    const uint8_t v = uint8_t(kExtraGreys[i]);
    p[kCubeSize + i] = {v, v, v};
  }
  return p;
}

// Nearest palette entry by squared RGB distance. The cube is a product of per-channel levels, so
// its nearest entry is the nearest level of each channel (looked up); only the 4 greys off the
// cube are compared one by one. Ties keep the cube entry, then the lower grey.
class NearestColour {
 public:
  NearestColour() {
    for (int v = 0; v < 256; ++v) {
      r_[size_t(v)] = nearest_level(v, kRedLevels);
      g_[size_t(v)] = nearest_level(v, kGreenLevels);
      b_[size_t(v)] = nearest_level(v, kBlueLevels);
    }
  }

  uint8_t operator()(int r, int g, int b) const {
    const Level& lr = r_[size_t(r)];
    const Level& lg = g_[size_t(g)];
    const Level& lb = b_[size_t(b)];
    int best = lr.index * 42 + lg.index * 6 + lb.index;
    int best_d = lr.distance + lg.distance + lb.distance;
    for (size_t i = 0; i < kExtraGreys.size(); ++i) {
      const int v = kExtraGreys[i];
      const int d = square(r - v) + square(g - v) + square(b - v);
      if (d < best_d) best = kCubeSize + int(i), best_d = d;
    }
    return uint8_t(best);
  }

 private:
  struct Level {
    int index = 0, distance = 0;  // the nearest level and the squared distance to it
  };
  static int square(int x) { return x * x; }
  static Level nearest_level(int v, int levels) {
    Level best{0, square(v)};
    for (int i = 1; i < levels; ++i)
      if (square(v - level(i, levels)) < best.distance) best = {i, square(v - level(i, levels))};
    return best;
  }
  std::array<Level, 256> r_{}, g_{}, b_{};
};

void put16(std::string& out, int v) {
  out += char(v & 0xff);
  out += char((v >> 8) & 0xff);
}

// Packs codes least significant bit first into 255-byte data sub-blocks, as GIF's LZW data is.
class CodeWriter {
 public:
  explicit CodeWriter(std::string& out) : out_(out) {}

  void put(int code, int width) {
    bits_ |= uint32_t(code) << nbits_;
    nbits_ += width;
    while (nbits_ >= 8) {
      byte(uint8_t(bits_ & 0xff));
      bits_ >>= 8;
      nbits_ -= 8;
    }
  }

  // The last partial byte, the last sub-block, and the zero-length block that ends the data.
  void finish() {
    if (nbits_ > 0) byte(uint8_t(bits_ & 0xff));
    flush_block();
    out_ += '\0';
  }

 private:
  void byte(uint8_t b) {
    block_[block_size_++] = b;
    if (block_size_ == 255) flush_block();
  }
  void flush_block() {
    if (block_size_ == 0) return;
    out_ += char(block_size_);
    out_.append(reinterpret_cast<const char*>(block_.data()), block_size_);
    block_size_ = 0;
  }

  std::string& out_;
  uint32_t bits_ = 0;
  int nbits_ = 0;
  std::array<uint8_t, 255> block_{};
  size_t block_size_ = 0;
};

// LZW with 8-bit symbols: codes 0..255 the symbols, 256 clear, 257 end, 258.. the strings added,
// 9 to 12 bits wide. The table is a trie, child_[prefix * 256 + symbol] (0: none); a clear code
// goes out when it fills (4096 codes) and the table starts again.
class LzwEncoder {
 public:
  LzwEncoder() : child_(size_t(kMaxCodes) * 256, 0) { added_.reserve(kMaxCodes); }

  void encode(const std::vector<uint8_t>& indices, std::string& out) {
    out += char(8);  // minimum code size
    CodeWriter writer(out);
    reset();
    writer.put(kClear, width_);
    int prefix = indices[0];
    for (size_t i = 1; i < indices.size(); ++i) {
      const uint8_t symbol = indices[i];
      const size_t key = size_t(prefix) * 256 + symbol;
      if (child_[key] != 0) {
        prefix = child_[key];
        continue;
      }
      writer.put(prefix, width_);
      // The decoder adds this string one code later, so it widens when next_ passes 1 << width_.
      const int code = next_++;
      child_[key] = uint16_t(code);
      added_.push_back(uint32_t(key));
      if (code == (1 << width_) && width_ < 12) ++width_;
      if (next_ == kMaxCodes) {
        writer.put(kClear, width_);
        reset();
      }
      prefix = symbol;
    }
    writer.put(prefix, width_);
    // The decoder adds an entry on reading that last code: the end code is read at its width.
    if (next_ == (1 << width_) && width_ < 12) ++width_;
    writer.put(kEnd, width_);
    writer.finish();
  }

 private:
  static constexpr int kClear = 256, kEnd = 257, kMaxCodes = 4096;

  void reset() {
    for (uint32_t key : added_) child_[key] = 0;
    added_.clear();
    next_ = kEnd + 1;
    width_ = 9;
  }

  std::vector<uint16_t> child_;
  std::vector<uint32_t> added_;  // the trie's keys set since the last clear
  int next_ = kEnd + 1, width_ = 9;
};

std::string frame_name(size_t i) { return "encode_gif: frame " + std::to_string(i); }

void validate(const std::vector<RgbImage>& frames, int delay_cs, int last_delay_cs) {
  if (frames.empty()) throw std::invalid_argument("encode_gif: no frames");
  for (const auto& [name, delay] :
       {std::pair{"delay_cs", delay_cs}, std::pair{"last_delay_cs", last_delay_cs}})
    if (delay < 0 || delay > 65535)
      throw std::invalid_argument(std::string("encode_gif: ") + name + " " + std::to_string(delay) +
                                  " is outside 0..65535");
  const RgbImage& first = frames[0];
  for (size_t i = 0; i < frames.size(); ++i) {
    const RgbImage& f = frames[i];
    const std::string size = std::to_string(f.width) + "x" + std::to_string(f.height);
    if (f.width < 1 || f.width > 65535 || f.height < 1 || f.height > 65535)
      throw std::invalid_argument(frame_name(i) + " is " + size + ", outside 1..65535");
    if (f.width != first.width || f.height != first.height)
      throw std::invalid_argument(frame_name(i) + " is " + size + ", frame 0 is " +
                                  std::to_string(first.width) + "x" + std::to_string(first.height));
    if (f.rgb.size() != size_t(f.width) * size_t(f.height) * 3)
      throw std::invalid_argument(frame_name(i) + " holds " + std::to_string(f.rgb.size()) +
                                  " bytes, not 3 for each of its " + size + " pixels");
  }
}

bool all_grey(const std::vector<RgbImage>& frames) {
  for (const RgbImage& f : frames)
    for (size_t i = 0; i < f.rgb.size(); i += 3)
      if (f.rgb[i] != f.rgb[i + 1] || f.rgb[i] != f.rgb[i + 2]) return false;
  return true;
}

}  // namespace

std::string encode_gif(const std::vector<RgbImage>& frames, int delay_cs, int last_delay_cs) {
  validate(frames, delay_cs, last_delay_cs);
  const int width = frames[0].width, height = frames[0].height;
  const bool grey = all_grey(frames);
  const Palette palette = grey ? grey_palette() : colour_palette();

  std::string out = "GIF89a";
  put16(out, width);
  put16(out, height);
  // A 256-entry global colour table (size field 7: 2^(7+1)), 8 bits a primary, unsorted.
  out += char(0xf7);
  out += '\0';  // background colour index
  out += '\0';  // pixel aspect ratio: not given
  for (const Rgb& c : palette) out += {char(c.r), char(c.g), char(c.b)};
  // NETSCAPE2.0 application extension: loop count 0, forever.
  out += "\x21\xff\x0bNETSCAPE2.0\x03\x01";
  put16(out, 0);
  out += '\0';

  const NearestColour nearest;
  LzwEncoder lzw;
  std::vector<uint8_t> indices(size_t(width) * size_t(height));
  for (size_t n = 0; n < frames.size(); ++n) {
    const std::vector<uint8_t>& rgb = frames[n].rgb;
    for (size_t i = 0; i < indices.size(); ++i)
      indices[i] = grey ? rgb[3 * i] : nearest(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2]);
    // Graphic control extension: disposal 1 (leave the frame in place), no transparency.
    out += "\x21\xf9\x04\x04";
    put16(out, n + 1 == frames.size() ? last_delay_cs : delay_cs);
    out += '\0';  // transparent colour index (unused)
    out += '\0';
    // Image descriptor: the whole screen, no local colour table, not interlaced.
    out += '\x2c';
    put16(out, 0);
    put16(out, 0);
    put16(out, width);
    put16(out, height);
    out += '\0';
    lzw.encode(indices, out);
  }
  out += '\x3b';  // trailer
  return out;
}

}  // namespace gan
