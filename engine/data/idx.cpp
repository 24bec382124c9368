#include "engine/data/idx.h"

#include <sys/stat.h>
#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string_view>

#include "engine/io/atomic_file.h"
#include "engine/core/memory_limits.h"

namespace gan {

namespace {

constexpr uint32_t kImageMagic = 0x00000803;
constexpr uint32_t kLabelMagic = 0x00000801;
// Far above any data set this engine trains on, far below what a corrupt header can claim.
constexpr uint64_t kMaxDataBytes = uint64_t(1) << 34;
// Deflate emits at most 258 bytes per 2 bits of input, so no gzip file inflates beyond 1032x its
// size: a header claiming more cannot be honest, and is refused before anything is allocated.
constexpr uint64_t kMaxDeflateRatio = 1032;
// zlib counts in 32-bit uInt; larger buffers are fed in pieces.
constexpr size_t kZlibChunk = size_t(1) << 30;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::string hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

uint32_t load_be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

void append_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xff));
}

bool is_gzip_magic(const uint8_t* p) { return p[0] == 0x1f && p[1] == 0x8b; }

// What an IDX file of one kind holds: images (3 dims) or labels (1 dim), named in messages.
struct IdxKind {
  uint32_t magic;
  int ndims;
  const char* noun;  // "image" / "label"
};
constexpr IdxKind kImages{kImageMagic, 3, "image"};
constexpr IdxKind kLabels{kLabelMagic, 1, "label"};

// "60000 images of 28x28" / "60000 labels"
std::string describe(const IdxKind& kind, const std::array<uint32_t, 3>& dims) {
  std::string s = std::to_string(dims[0]) + " " + kind.noun + "s";
  if (kind.ndims == 3) s += " of " + std::to_string(dims[1]) + "x" + std::to_string(dims[2]);
  return s;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

// The data bytes of an IDX file held in memory, whether stored raw or gzip-compressed (inflated
// on demand straight into the caller's buffer, so memory is bounded by what the header claims;
// concatenated gzip members are one stream, as gzip itself treats them).
class IdxBytes {
 public:
  IdxBytes(std::string_view file, const std::string& name) : name_(name), file_(file) {
    gzip_ = file.size() >= 2 && is_gzip_magic(reinterpret_cast<const uint8_t*>(file.data()));
    if (!gzip_) return;
    if (inflateInit2(&z_, 15 + 16) != Z_OK) fail(name, "cannot initialise zlib");
    z_ready_ = true;
  }
  ~IdxBytes() {
    if (z_ready_) inflateEnd(&z_);
  }
  IdxBytes(const IdxBytes&) = delete;
  IdxBytes& operator=(const IdxBytes&) = delete;

  bool gzip() const { return gzip_; }

  // What the data can still hold, known without reading it: exact when raw, the deflate bound
  // when gzip.
  uint64_t max_remaining() const {
    if (!gzip_) return file_.size() - in_pos_;
    const uint64_t bound = kMaxDeflateRatio * uint64_t(file_.size());
    return bound > data_pos_ ? bound - data_pos_ : 0;
  }
  uint64_t file_size() const { return file_.size(); }

  // Fills `out` with n bytes, or returns how many it got before the data ended.
  size_t read(uint8_t* out, size_t n) {
    const size_t got = gzip_ ? inflate_into(out, n) : copy_raw(out, n);
    data_pos_ += got;
    return got;
  }

  // Counts the data bytes left after what has been read. For gzip this inflates to the end of
  // the stream, so the checksum is verified and a stream cut short is reported.
  uint64_t count_rest() {
    if (!gzip_) return file_.size() - in_pos_;
    std::vector<uint8_t> scratch(size_t(1) << 16);
    uint64_t rest = 0;
    size_t got;
    while ((got = inflate_into(scratch.data(), scratch.size())) > 0) rest += got;
    if (ended_early_)
      fail(name_, "truncated gzip stream (it ends before its end-of-stream marker)");
    return rest;
  }

 private:
  size_t copy_raw(uint8_t* out, size_t n) {
    const size_t got = std::min(n, file_.size() - in_pos_);
    if (got > 0) std::memcpy(out, file_.data() + in_pos_, got);
    in_pos_ += got;
    return got;
  }

  size_t inflate_into(uint8_t* out, size_t n) {
    const auto* in = reinterpret_cast<const uint8_t*>(file_.data());
    size_t got = 0;
    while (got < n) {
      const size_t left = file_.size() - in_pos_;
      if (member_done_) {
        if (left == 0) break;
        if (left < 2 || !is_gzip_magic(in + in_pos_))
          fail(name_, std::to_string(left) + " bytes of trailing garbage after the gzip stream");
        inflateReset(&z_);
        member_done_ = false;
      }
      // zlib never writes through next_in; its API just predates const.
      z_.next_in = const_cast<uint8_t*>(in + in_pos_);
      z_.avail_in = uInt(std::min(left, kZlibChunk));
      z_.next_out = out + got;
      z_.avail_out = uInt(std::min(n - got, kZlibChunk));
      const uInt in_before = z_.avail_in, out_before = z_.avail_out;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      in_pos_ += in_before - z_.avail_in;
      got += out_before - z_.avail_out;
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc == Z_BUF_ERROR) {
        // No progress with output space free: the input ran out inside the stream.
        ended_early_ = true;
        break;
      } else if (rc == Z_MEM_ERROR) {
        fail(name_, "out of memory while inflating the gzip stream");
      } else if (rc != Z_OK) {
        fail(name_, std::string("corrupt gzip stream (") + (z_.msg ? z_.msg : "zlib error") + ")");
      }
    }
    return got;
  }

  std::string name_;
  std::string_view file_;
  uint64_t data_pos_ = 0;
  size_t in_pos_ = 0;
  bool gzip_ = false;
  z_stream z_{};
  bool z_ready_ = false, member_done_ = false, ended_early_ = false;
};

struct IdxData {
  std::array<uint32_t, 3> dims{1, 1, 1};
  std::vector<uint8_t> bytes;
};

// Stored deflate blocks add 5 bytes per 64 KiB: no gzip of the largest allowed data is bigger.
constexpr uint64_t kMaxGzipFileBytes = kMaxDataBytes + kMaxDataBytes / 1024 + 4096;

IdxData parse_idx(std::string_view file, const std::string& path, const IdxKind& kind) {
  IdxBytes in(file, path);
  if (in.gzip() && file.size() > kMaxGzipFileBytes)
    fail(path, "absurd size: a gzip file of " + std::to_string(file.size()) +
                   " bytes, more than any IDX file within the limit of " +
                   std::to_string(kMaxDataBytes) + " bytes compresses to");
  const std::string where = in.gzip() ? "the gzip stream" : "the file";
  const size_t header_bytes = 4 + 4 * size_t(kind.ndims);
  uint8_t header[16];
  // The magic first, so a file of the wrong kind is named as such even when it is short.
  size_t got = in.read(header, 4);
  if (got == 4 && load_be32(header) != kind.magic)
    fail(path, std::string("not an IDX ") + kind.noun + " file (magic " + hex32(load_be32(header)) +
                   ", expected " + hex32(kind.magic) + ")");
  if (got == 4) got += in.read(header + 4, header_bytes - 4);
  if (got < header_bytes)
    fail(path, "truncated: " + where + " holds " + std::to_string(got) +
                   " bytes, shorter than the " + std::to_string(header_bytes) + "-byte IDX " +
                   kind.noun + " header");

  IdxData data;
  uint64_t size = 1;
  bool absurd = false;
  for (int d = 0; d < kind.ndims; ++d) data.dims[d] = load_be32(header + 4 + 4 * d);
  for (int d = 0; d < kind.ndims; ++d) {
    if (data.dims[d] == 0)
      fail(path, "zero dimension in header (" + describe(kind, data.dims) + ")");
    absurd = absurd || data.dims[d] > kMaxDataBytes / size;  // checked before it can overflow
    if (!absurd) size *= data.dims[d];
  }
  const std::string claim = describe(kind, data.dims);
  if (absurd || size > kMaxDataBytes)
    fail(path, "absurd size: header says " + claim + ", over the limit of " +
                   std::to_string(kMaxDataBytes) + " bytes");
  const std::string claim_bytes = claim + " (" + std::to_string(size) + " bytes)";
  // Checked before allocating, so a lying header on a small file costs nothing.
  if (size > in.max_remaining()) {
    if (in.gzip())
      fail(path, "truncated: header says " + claim_bytes + ", more than a gzip file of " +
                     std::to_string(in.file_size()) + " bytes can hold");
    fail(path, "truncated: header says " + claim_bytes + ", the file holds " +
                   std::to_string(in.max_remaining()) + " bytes after the " +
                   std::to_string(header_bytes) + "-byte header");
  }

  // The deflate bound still lets a small gzip file claim 1032 times its size.
  require_host_memory(size, path + ": " + claim_bytes);
  data.bytes.resize(size);
  got = in.read(data.bytes.data(), data.bytes.size());
  if (got < size)
    fail(path, "truncated: header says " + claim_bytes + ", " + where + " holds " +
                   std::to_string(got) + " bytes after the " + std::to_string(header_bytes) +
                   "-byte header");
  if (const uint64_t extra = in.count_rest(); extra > 0)
    fail(path, std::to_string(extra) + " bytes after the last " + kind.noun);
  return data;
}

// The whole file, refused before reading when no IDX file within the limits can be that big.
std::string read_idx_file(const std::string& path) {
  // stat, not open: opening a FIFO would block until a writer comes.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    fail(path, std::string("cannot open (") + std::strerror(errno) + ")");
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory, expected an IDX file");
  if (!S_ISREG(st.st_mode)) fail(path, "not a regular file, expected an IDX file");
  const uint64_t size = uint64_t(st.st_size);
  if (size > kMaxGzipFileBytes)
    fail(path, "absurd size: a file of " + std::to_string(size) +
                   " bytes, more than any IDX file within the limit of " +
                   std::to_string(kMaxDataBytes) + " data bytes, raw or gzip");
  return read_file(path);  // regular files only, checked against memory
}

std::string gzip_bytes(const std::string& path, const std::string& raw) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    fail(path, "cannot initialise zlib");
  std::string out(deflateBound(&z, uLong(raw.size())), '\0');
  size_t in_pos = 0, out_pos = 0;
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    const size_t in_left = raw.size() - in_pos;
    if (out_pos == out.size()) out.resize(out.size() * 2 + 1024);  // only if deflateBound was wrong
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data() + in_pos));
    z.avail_in = uInt(std::min(in_left, kZlibChunk));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + out_pos);
    z.avail_out = uInt(std::min(out.size() - out_pos, kZlibChunk));
    const uInt in_before = z.avail_in, out_before = z.avail_out;
    rc = deflate(&z, in_left <= kZlibChunk ? Z_FINISH : Z_NO_FLUSH);
    in_pos += in_before - z.avail_in;
    out_pos += out_before - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      deflateEnd(&z);
      fail(path, "gzip compression failed (zlib error " + std::to_string(rc) + ")");
    }
  }
  deflateEnd(&z);
  out.resize(out_pos);
  return out;
}

void write_idx(const std::string& path, const IdxKind& kind, const std::array<uint32_t, 3>& dims,
               const std::vector<uint8_t>& bytes, bool gzip) {
  uint64_t size = 1;
  for (int d = 0; d < kind.ndims; ++d) {
    if (dims[d] == 0) fail(path, "cannot write zero dimension (" + describe(kind, dims) + ")");
    if (dims[d] > kMaxDataBytes / size)
      fail(path, "cannot write " + describe(kind, dims) + ", over the limit of " +
                     std::to_string(kMaxDataBytes) + " bytes");
    size *= dims[d];
  }
  if (size != bytes.size())
    fail(path, "cannot write: " + describe(kind, dims) + " need " + std::to_string(size) +
                   " bytes, the data holds " + std::to_string(bytes.size()));
  std::string file;
  file.reserve(4 + 4 * size_t(kind.ndims) + bytes.size());
  append_be32(file, kind.magic);
  for (int d = 0; d < kind.ndims; ++d) append_be32(file, dims[d]);
  file.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  write_file_atomic(path, gzip ? gzip_bytes(path, file) : file);
}

}  // namespace

ImageSet parse_idx_images(std::string_view bytes, const std::string& name) {
  IdxData data = parse_idx(bytes, name, kImages);
  ImageSet set;
  set.count = data.dims[0];
  set.rows = data.dims[1];
  set.cols = data.dims[2];
  set.pixels = std::move(data.bytes);
  return set;
}

std::vector<uint8_t> parse_idx_labels(std::string_view bytes, const std::string& name) {
  return parse_idx(bytes, name, kLabels).bytes;
}

ImageSet read_idx_images(const std::string& path) {
  return parse_idx_images(read_idx_file(path), path);
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  return parse_idx_labels(read_idx_file(path), path);
}

void check_labels(const std::vector<uint8_t>& labels, const std::string& labels_name,
                  size_t images, const std::string& images_name, int classes) {
  if (labels.size() != images)
    throw std::runtime_error(fmt::format("{}: {} labels for the {} images of {}", labels_name,
                                         labels.size(), images, images_name));
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      throw std::runtime_error(fmt::format("{}: label {} of image {} is not a class in [0, {})",
                                           labels_name, int(labels[i]), i, classes));
}

void write_idx_images(const std::string& path, const ImageSet& set, bool gzip) {
  write_idx(path, kImages, {set.count, set.rows, set.cols}, set.pixels, gzip);
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip) {
  if (labels.size() > UINT32_MAX)
    fail(path, "cannot write " + std::to_string(labels.size()) + " labels, IDX counts are 32-bit");
  write_idx(path, kLabels, {uint32_t(labels.size()), 1, 1}, labels, gzip);
}

std::string find_mnist_file(const std::string& dir, const std::string& split_kind) {
  // The dimension count in the names: 3 for images, 1 for labels.
  const std::string idx = split_kind.ends_with("labels") ? "idx1" : "idx3";
  const std::string names[] = {split_kind + "-" + idx + "-ubyte.gz", split_kind + "-" + idx + "-ubyte",
                               split_kind + "." + idx + "-ubyte", split_kind + "." + idx + "-ubyte.gz"};
  std::string tried;
  for (const std::string& name : names) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) return candidate.string();
    tried += (tried.empty() ? "" : ", ") + name;
  }
  std::error_code ec;
  const bool dir_exists = std::filesystem::is_directory(dir, ec);
  const std::string what = split_kind == "train-images" ? "training images"
                           : split_kind == "train-labels" ? "training labels"
                           : split_kind == "t10k-images"  ? "test images (t10k)"
                           : split_kind == "t10k-labels"  ? "test labels (t10k)"
                                                          : split_kind;
  throw std::runtime_error(dir + ": " +
                           (dir_exists ? "no MNIST-format " + what
                                       : "no such directory, so no MNIST-format " + what) +
                           " (tried " + tried + ")");
}

std::string find_train_images(const std::string& dir) { return find_mnist_file(dir, "train-images"); }

}  // namespace gan
