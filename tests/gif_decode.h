// A small GIF89a decoder for tests, written from the specification and sharing nothing with the
// encoder: header, logical screen and global colour table, extensions (the NETSCAPE2.0 loop count
// and each frame's graphic control delay), image descriptors, each frame's LZW data (clear codes,
// code-width growth, the code not yet in the table), the sub-block framing and the trailer. A test
// can then compare every pixel of what the engine wrote.
#pragma once
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/io/image.h"

namespace gan::test {

struct DecodedGif {
  int width = 0, height = 0;
  std::vector<Rgb> palette;  // the global colour table
  int loop_count = -1;       // NETSCAPE2.0's (0: forever); -1: no such extension
  std::vector<int> delays;   // each frame's, in hundredths of a second (-1: no control block)
  std::vector<std::vector<uint8_t>> indices;  // each frame's palette indices, row-major
  std::vector<RgbImage> frames;               // the same through the palette
  int clear_codes = 0;          // clear codes in all frames, the ones that start a frame included
  int codes_past_full = 0;      // codes read while the table was full (a clear was due)
  bool full_sub_blocks = true;  // every data sub-block but each frame's last held 255 bytes
};

namespace gif_detail {

class Reader {
 public:
  explicit Reader(const std::string& s) : s_(s) {}
  bool has(size_t n) const { return at_ + n <= s_.size(); }
  uint8_t u8() { return uint8_t(s_[at_++]); }
  int u16() {
    const int lo = u8();
    return lo | u8() << 8;
  }
  std::string bytes(size_t n) {
    at_ += n;
    return s_.substr(at_ - n, n);
  }
  size_t at() const { return at_; }
  bool done() const { return at_ == s_.size(); }

 private:
  const std::string& s_;
  size_t at_ = 0;
};

// A sequence of data sub-blocks (a length byte 1..255 and that many bytes) ended by a zero byte.
inline ::testing::AssertionResult sub_blocks(Reader& in, std::string& data, bool& all_full) {
  data.clear();
  std::vector<size_t> sizes;
  for (;;) {
    if (!in.has(1)) return ::testing::AssertionFailure() << "sub-blocks cut at " << in.at();
    const size_t n = in.u8();
    if (n == 0) break;
    if (!in.has(n)) return ::testing::AssertionFailure() << "sub-block of " << n << " cut";
    data += in.bytes(n);
    sizes.push_back(n);
  }
  for (size_t i = 0; i + 1 < sizes.size(); ++i) all_full = all_full && sizes[i] == 255;
  return ::testing::AssertionSuccess();
}

// Variable-width LZW as GIF defines it: codes packed least significant bit first, roots
// 0..2^min_size - 1, then clear and end; the width starts at min_size + 1 and grows by one when
// the next free code reaches 2^width, up to 12 bits (4096 codes).
inline ::testing::AssertionResult lzw_decode(const std::string& data, int min_size, size_t count,
                                             std::vector<uint8_t>& out, DecodedGif& gif) {
  if (min_size < 2 || min_size > 8) return ::testing::AssertionFailure() << "min code size";
  const int clear = 1 << min_size, end = clear + 1;
  // Entry c: the string of entry prefix[c] followed by suffix[c] (roots: prefix -1).
  std::vector<int> prefix(4096, -1);
  std::vector<uint8_t> suffix(4096, 0);
  std::vector<int> length(4096, 1);
  for (int c = 0; c < clear; ++c) suffix[size_t(c)] = uint8_t(c);
  int width = min_size + 1, next = end + 1, prev = -1;
  size_t bit = 0;
  const size_t total_bits = data.size() * 8;
  out.clear();
  const auto first_of = [&](int c) {
    while (prefix[size_t(c)] >= 0) c = prefix[size_t(c)];
    return suffix[size_t(c)];
  };
  const auto emit = [&](int c) {
    const size_t at = out.size();
    out.resize(at + size_t(length[size_t(c)]));
    for (size_t i = out.size(); i-- > at;) {
      out[i] = suffix[size_t(c)];
      c = prefix[size_t(c)];
    }
  };
  for (;;) {
    if (bit + size_t(width) > total_bits)
      return ::testing::AssertionFailure() << "data ends with no end code";
    int code = 0;
    for (int i = 0; i < width; ++i, ++bit) code |= ((uint8_t(data[bit / 8]) >> (bit % 8)) & 1) << i;
    if (code == clear) {
      ++gif.clear_codes;
      width = min_size + 1;
      next = end + 1;
      prev = -1;
      continue;
    }
    if (code == end) break;
    if (prev < 0) {
      if (code > clear) return ::testing::AssertionFailure() << "first code " << code;
      emit(code);
      prev = code;
      continue;
    }
    if (code > next || (code == next && next == 4096))
      return ::testing::AssertionFailure() << "code " << code << " past the table (" << next << ")";
    if (next < 4096) {
      // The new entry: the previous string and the first symbol of this one (which, for the code
      // being defined right now, is the previous string's first symbol).
      const uint8_t first = code == next ? first_of(prev) : first_of(code);
      prefix[size_t(next)] = prev;
      suffix[size_t(next)] = first;
      length[size_t(next)] = length[size_t(prev)] + 1;
      ++next;
      if (next == (1 << width) && width < 12) ++width;
    } else {
      ++gif.codes_past_full;
    }
    emit(code);
    if (out.size() > count) return ::testing::AssertionFailure() << "more pixels than " << count;
    prev = code;
  }
  if (out.size() != count)
    return ::testing::AssertionFailure() << out.size() << " pixels, expected " << count;
  if ((bit + 7) / 8 != data.size())
    return ::testing::AssertionFailure()
           << data.size() - (bit + 7) / 8 << " bytes after the end code";
  return ::testing::AssertionSuccess();
}

}  // namespace gif_detail

inline ::testing::AssertionResult decode_gif(const std::string& gif, DecodedGif& out) {
  using ::testing::AssertionFailure;
  out = DecodedGif{};
  gif_detail::Reader in(gif);
  if (!in.has(13) || in.bytes(6) != "GIF89a") return AssertionFailure() << "not GIF89a";
  out.width = in.u16();
  out.height = in.u16();
  const uint8_t screen = in.u8();
  in.u8();  // background colour
  in.u8();  // aspect ratio
  if (!(screen & 0x80)) return AssertionFailure() << "no global colour table";
  const size_t table = size_t(2) << (screen & 7);
  if (!in.has(3 * table)) return AssertionFailure() << "colour table cut";
  for (size_t i = 0; i < table; ++i) {
    Rgb c;
    c.r = in.u8();
    c.g = in.u8();
    c.b = in.u8();
    out.palette.push_back(c);
  }
  int delay = -1;
  std::string data;
  for (;;) {
    if (!in.has(1)) return AssertionFailure() << "no trailer";
    const uint8_t kind = in.u8();
    if (kind == 0x3b) break;
    if (kind == 0x21) {  // extension: a label, then sub-blocks
      if (!in.has(1)) return AssertionFailure() << "extension cut";
      const uint8_t label = in.u8();
      bool ignored = true;
      if (!gif_detail::sub_blocks(in, data, ignored)) return AssertionFailure() << "extension";
      if (label == 0xf9) {
        if (data.size() != 4) return AssertionFailure() << "graphic control of " << data.size();
        delay = uint8_t(data[1]) | uint8_t(data[2]) << 8;
      } else if (label == 0xff && data.size() == 14 && data.substr(0, 11) == "NETSCAPE2.0" &&
                 data[11] == 1) {
        out.loop_count = uint8_t(data[12]) | uint8_t(data[13]) << 8;
      }
      continue;
    }
    if (kind != 0x2c) return AssertionFailure() << "block " << int(kind) << " at " << in.at() - 1;
    if (!in.has(10)) return AssertionFailure() << "image descriptor cut";
    const int left = in.u16(), top = in.u16(), w = in.u16(), h = in.u16();
    const uint8_t flags = in.u8();
    if (left != 0 || top != 0 || w != out.width || h != out.height)
      return AssertionFailure() << "frame " << out.frames.size() << " at " << left << "," << top
                                << " of " << w << "x" << h << " on a " << out.width << "x"
                                << out.height << " screen";
    if (flags & 0xc0) return AssertionFailure() << "local colour table or interlace";
    const int min_size = in.u8();
    if (!gif_detail::sub_blocks(in, data, out.full_sub_blocks))
      return AssertionFailure() << "frame " << out.frames.size() << " data";
    std::vector<uint8_t> indices;
    const auto lzw = gif_detail::lzw_decode(data, min_size, size_t(w) * size_t(h), indices, out);
    if (!lzw) return AssertionFailure() << "frame " << out.frames.size() << ": " << lzw.message();
    RgbImage frame{w, h, {}};
    frame.rgb.reserve(indices.size() * 3);
    for (uint8_t i : indices) {
      if (i >= out.palette.size()) return AssertionFailure() << "index " << int(i);
      frame.rgb.insert(frame.rgb.end(), {out.palette[i].r, out.palette[i].g, out.palette[i].b});
    }
    out.indices.push_back(std::move(indices));
    out.frames.push_back(std::move(frame));
    out.delays.push_back(delay);
    delay = -1;
  }
  if (!in.done()) return AssertionFailure() << "bytes after the trailer";
  return ::testing::AssertionSuccess();
}

}  // namespace gan::test
