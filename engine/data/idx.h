// IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed. Readers check every header
// field against the data before trusting it, so a bad file fails with one line naming the file and
// what was expected instead of crashing or allocating what the header claims.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gan {

struct ImageSet {
  uint32_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, image after image, row-major
  size_t image_size() const { return size_t(rows) * cols; }
};

// An IDX image file: magic 0x00000803, big-endian count, rows, cols, then count*rows*cols bytes.
// Gzip or raw is detected from the content (gzip magic 1f 8b), not the name. Throws
// std::runtime_error naming the file on any mismatch: missing file, wrong magic, zero or absurd
// dimensions (over 2^34 bytes), truncated data or gzip stream, trailing bytes, corrupt gzip, or
// data that needs more host memory than available_host_memory() (memory_limits.h). Allocates
// the file's size, then the header's claim once it is checked against what the file can hold
// (raw: exactly; gzip: at most 1032 times the file) and against the host memory.
ImageSet read_idx_images(const std::string& path);

// An IDX label file: magic 0x00000801, big-endian count, then count bytes. Same checks.
std::vector<uint8_t> read_idx_labels(const std::string& path);
// Labels that belong to a set of `images` images: one each, each < classes. Throws
// std::runtime_error naming `labels_name` (and `images_name` for a count that differs) otherwise.
void check_labels(const std::vector<uint8_t>& labels, const std::string& labels_name,
                  size_t images, const std::string& images_name, int classes);

// The same readers on a whole file already in memory (tests, fuzzers); `name` stands for the file
// in error messages. read_idx_images(path) is parse_idx_images(<the file's bytes>, path).
ImageSet parse_idx_images(std::string_view bytes, const std::string& name);
std::vector<uint8_t> parse_idx_labels(std::string_view bytes, const std::string& name);

// For tests and tools: writes raw or gzip IDX files atomically. Throws std::runtime_error naming
// the file if the set is inconsistent (pixel count vs dimensions, zero dimensions) or the write
// fails.
void write_idx_images(const std::string& path, const ImageSet& set, bool gzip);
void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels, bool gzip);

// The training images of an MNIST-format directory: the first that exists of
// train-images-idx3-ubyte.gz, train-images-idx3-ubyte, train-images.idx3-ubyte,
// train-images.idx3-ubyte.gz. Throws naming the directory and every name tried.
std::string find_train_images(const std::string& dir);
// Any file of the set the same way: split_kind "train-images", "train-labels", "t10k-images" or
// "t10k-labels" (names ...-idx3-ubyte for images, ...-idx1-ubyte for labels).
std::string find_mnist_file(const std::string& dir, const std::string& split_kind);

inline constexpr const char* kDefaultDataDir = "/usr/share/datasets/fashion-mnist";

}  // namespace gan
