// IDX reader and writer: round trips byte for byte, and every malformed file rejected with one line
// that names the file and the problem. All files are synthetic, in a fresh temp directory.
#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>

#include "engine/io/atomic_file.h"
#include "engine/data/idx.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

std::string be32(uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

// One gzip member holding `raw`, made independently of the engine's writer.
std::string gzip(const std::string& raw) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, uLong(raw.size())), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = uInt(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = uInt(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

class IdxTest : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return tmp_.file(name); }

  // MNIST-like: about half the pixels zero, the rest anything, so gzip uses Huffman blocks.
  ImageSet random_images() {
    ImageSet set;
    set.count = uint32_t(rng_.uniform_int(5, 40));
    set.rows = uint32_t(rng_.uniform_int(3, 30));
    set.cols = uint32_t(rng_.uniform_int(3, 30));
    set.pixels.resize(size_t(set.count) * set.image_size());
    for (auto& px : set.pixels) px = rng_.uniform_int(0, 1) ? uint8_t(rng_.uniform_int(0, 255)) : 0;
    return set;
  }
  std::vector<uint8_t> random_labels() {
    std::vector<uint8_t> labels(size_t(rng_.uniform_int(1, 500)));
    for (auto& l : labels) l = uint8_t(rng_.uniform_int(0, 9));
    return labels;
  }
  // The raw bytes of an image file with any header at all.
  static std::string image_file(uint32_t count, uint32_t rows, uint32_t cols,
                                const std::string& data) {
    return be32(0x803) + be32(count) + be32(rows) + be32(cols) + data;
  }

  Rng rng_;
  TempDir tmp_{rng_};
  const fs::path& dir_ = tmp_.path;
};

void expect_same_images(const ImageSet& got, const ImageSet& want) {
  EXPECT_EQ(got.count, want.count);
  EXPECT_EQ(got.rows, want.rows);
  EXPECT_EQ(got.cols, want.cols);
  ASSERT_EQ(got.pixels.size(), want.pixels.size());
  for (size_t i = 0; i < want.pixels.size(); ++i)
    ASSERT_EQ(got.pixels[i], want.pixels[i]) << "pixel " << i;
}

TEST_F(IdxTest, RawImagesRoundTripWithTheStandardLayout) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string file = path("images.idx3-ubyte.gz");  // raw despite the name
  write_idx_images(file, set, false);
  const std::string bytes = read_file(file);
  const std::string data(set.pixels.begin(), set.pixels.end());
  EXPECT_EQ(bytes, image_file(set.count, set.rows, set.cols, data));
  expect_same_images(read_idx_images(file), set);
}

TEST_F(IdxTest, GzipImagesRoundTripDetectedByContent) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string file = path("images-no-gz-suffix");
  write_idx_images(file, set, true);
  const std::string bytes = read_file(file);
  ASSERT_GE(bytes.size(), 2u);
  EXPECT_EQ(uint8_t(bytes[0]), 0x1f);
  EXPECT_EQ(uint8_t(bytes[1]), 0x8b);
  expect_same_images(read_idx_images(file), set);
}

TEST_F(IdxTest, ConcatenatedGzipMembersReadAsOneStream) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string raw =
      image_file(set.count, set.rows, set.cols, std::string(set.pixels.begin(), set.pixels.end()));
  const size_t cut = size_t(rng_.uniform_int(1, int(raw.size()) - 1));
  write_bytes(path("two.gz"), gzip(raw.substr(0, cut)) + gzip(raw.substr(cut)));
  expect_same_images(read_idx_images(path("two.gz")), set);
}

TEST_F(IdxTest, InMemoryReadersMatchTheFileOnes) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::vector<uint8_t> labels = random_labels();
  for (bool gz : {false, true}) {
    write_idx_images(path("images"), set, gz);
    write_idx_labels(path("labels"), labels, gz);
    expect_same_images(parse_idx_images(read_file(path("images")), "in-memory"), set);
    EXPECT_EQ(parse_idx_labels(read_file(path("labels")), "in-memory"), labels);
    // Errors name what the caller calls the bytes.
    EXPECT_TRUE(throws_with([&] { parse_idx_images(read_file(path("labels")), "blob #3"); },
                            {"blob #3: not an IDX image file"}));
  }
  EXPECT_TRUE(throws_with([&] { parse_idx_labels("", "blob #4"); }, {"blob #4: truncated"}));
}

TEST_F(IdxTest, LabelsRoundTripRawAndGzip) {
  SCOPED_TRACE(rng_.trace());
  const std::vector<uint8_t> labels = random_labels();
  for (bool gz : {false, true}) {
    const std::string file = path(gz ? "labels.gz" : "labels");
    write_idx_labels(file, labels, gz);
    if (!gz) {
      EXPECT_EQ(read_file(file), be32(0x801) + be32(uint32_t(labels.size())) +
                                     std::string(labels.begin(), labels.end()));
    }
    EXPECT_EQ(read_idx_labels(file), labels) << file;
  }
}

TEST_F(IdxTest, MissingFileIsNamed) {
  const std::string file = path("absent.gz");
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); },
                          {file, "cannot open", "No such file or directory"}));
  EXPECT_TRUE(throws_with([&] { read_idx_labels(file); }, {file, "cannot open"}));
  EXPECT_TRUE(throws_with([&] { read_idx_images(dir_.string()); }, {dir_.string(), "directory"}));
}

TEST_F(IdxTest, WrongMagicNamesBothKinds) {
  SCOPED_TRACE(rng_.trace());
  for (bool gz : {false, true}) {
    const std::string labels = path(gz ? "labels.gz" : "labels");
    const std::string images = path(gz ? "images.gz" : "images");
    write_idx_labels(labels, random_labels(), gz);
    write_idx_images(images, random_images(), gz);
    EXPECT_TRUE(
        throws_with([&] { read_idx_images(labels); },
                    {labels, "not an IDX image file (magic 0x00000801, expected 0x00000803)"}));
    EXPECT_TRUE(
        throws_with([&] { read_idx_labels(images); },
                    {images, "not an IDX label file (magic 0x00000803, expected 0x00000801)"}));
  }
  write_bytes(path("text"), "hello, this is not IDX at all");
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("text")); },
                          {path("text"), "not an IDX image file (magic 0x68656c6c"}));
}

TEST_F(IdxTest, TruncatedRawFileIsRejected) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string file = path("images");
  write_idx_images(file, set, false);
  const std::string whole = read_file(file);
  const size_t n = set.pixels.size();
  const size_t kept = size_t(rng_.uniform_int(0, int(n) - 1));
  fs::resize_file(file, 16 + kept);
  const std::string claim = std::to_string(set.count) + " images of " + std::to_string(set.rows) +
                            "x" + std::to_string(set.cols) + " (" + std::to_string(n) + " bytes)";
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); },
                          {file, "truncated: header says " + claim,
                           "holds " + std::to_string(kept) + " bytes after the 16-byte header"}));
  for (size_t size : {0, 3, 10}) {
    write_bytes(file, whole.substr(0, size));
    EXPECT_TRUE(throws_with([&] { read_idx_images(file); },
                            {file, "truncated", "shorter than the 16-byte IDX image header"}))
        << size << " bytes";
  }
}

TEST_F(IdxTest, TruncatedGzipStreamIsRejected) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string file = path("images.gz");
  write_idx_images(file, set, true);
  const std::string whole = read_file(file);
  write_bytes(file, whole.substr(0, whole.size() / 2));
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); }, {file, "truncated"}));
  // Every pixel present, only the end-of-stream checksum and length missing.
  write_bytes(file, whole.substr(0, whole.size() - 8));
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); }, {file, "truncated gzip stream"}));
  write_bytes(file, whole.substr(0, 2));
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); }, {file, "truncated"}));
}

TEST_F(IdxTest, TrailingBytesAreRejected) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string raw =
      image_file(set.count, set.rows, set.cols, std::string(set.pixels.begin(), set.pixels.end()));
  const std::string extra(12, '\x2a');
  write_bytes(path("raw"), raw + extra);
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("raw")); },
                          {path("raw"), "12 bytes after the last image"}));
  write_bytes(path("inside.gz"), gzip(raw + extra));
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("inside.gz")); },
                          {path("inside.gz"), "12 bytes after the last image"}));
  write_bytes(path("after.gz"), gzip(raw) + "garbage");
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("after.gz")); },
                          {path("after.gz"), "7 bytes of trailing garbage after the gzip stream"}));
  write_bytes(path("labels"), be32(0x801) + be32(3) + "abcd");
  EXPECT_TRUE(throws_with([&] { read_idx_labels(path("labels")); },
                          {path("labels"), "1 bytes after the last label"}));
}

TEST_F(IdxTest, ZeroDimensionsAreRejected) {
  for (int zero = 0; zero < 3; ++zero) {
    const uint32_t dims[3] = {zero == 0 ? 0u : 4u, zero == 1 ? 0u : 5u, zero == 2 ? 0u : 6u};
    const std::string file = path("zero" + std::to_string(zero));
    write_bytes(file, image_file(dims[0], dims[1], dims[2], ""));
    EXPECT_TRUE(
        throws_with([&] { read_idx_images(file); },
                    {file, "zero dimension in header (" + std::to_string(dims[0]) + " images of " +
                               std::to_string(dims[1]) + "x" + std::to_string(dims[2]) + ")"}));
  }
  write_bytes(path("labels.gz"), gzip(be32(0x801) + be32(0)));
  EXPECT_TRUE(throws_with([&] { read_idx_labels(path("labels.gz")); },
                          {path("labels.gz"), "zero dimension in header (0 labels)"}));
}

TEST_F(IdxTest, CorruptGzipStreamIsRejected) {
  SCOPED_TRACE(rng_.trace());
  const ImageSet set = random_images();
  const std::string file = path("images.gz");
  write_idx_images(file, set, true);
  std::string bytes = read_file(file);
  const size_t mid = bytes.size() / 2;
  for (size_t i = mid; i < mid + 8 && i < bytes.size() - 8; ++i) bytes[i] = char(~bytes[i]);
  write_bytes(file, bytes);
  EXPECT_TRUE(throws_with([&] { read_idx_images(file); }, {file, "corrupt gzip stream ("}));
}

TEST_F(IdxTest, HugeHeaderOnTinyFileIsRejectedWithoutAllocating) {
  // 10^10 bytes claimed (under the 2^34 limit), 10 held: refused from the file size alone.
  const std::string raw = image_file(1000000, 100, 100, "0123456789");
  write_bytes(path("raw"), raw);
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("raw")); },
                          {path("raw"),
                           "truncated: header says 1000000 images of 100x100 "
                           "(10000000000 bytes), the file holds 10 bytes"}));
  write_bytes(path("tiny.gz"), gzip(raw));
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("tiny.gz")); },
                          {path("tiny.gz"), "(10000000000 bytes), more than a gzip file of"}));
  write_bytes(path("absurd"), image_file(0xffffffffu, 0xffffffffu, 0xffffffffu, ""));
  EXPECT_TRUE(throws_with([&] { read_idx_images(path("absurd")); },
                          {path("absurd"),
                           "absurd size: header says 4294967295 images of "
                           "4294967295x4294967295"}));
  write_bytes(path("labels"), be32(0x801) + be32(0xffffffffu) + "x");
  EXPECT_TRUE(throws_with([&] { read_idx_labels(path("labels")); },
                          {path("labels"), "truncated: header says 4294967295 labels"}));
}

TEST_F(IdxTest, GzipClaimBeyondTheHostMemoryLimitIsRefusedBeforeAllocating) {
  // 2 MiB of zeros deflate to about 2 KiB, so the deflate bound lets the header's claim through;
  // the host memory check (capped at 1 MiB here) is what refuses it.
  const std::string raw = image_file(2048, 32, 32, std::string(2048 * 32 * 32, '\0'));
  write_bytes(path("zeros.gz"), gzip(raw));
  ::setenv("GAN_HOST_MEMORY_LIMIT", "1M", 1);
  const ::testing::AssertionResult refused =
      throws_with([&] { read_idx_images(path("zeros.gz")); },
                  {path("zeros.gz"), "2048 images of 32x32 (2097152 bytes)",
                   "needs 2.0 MiB of host memory, 1.0 MiB available"});
  ::unsetenv("GAN_HOST_MEMORY_LIMIT");
  EXPECT_TRUE(refused);
  EXPECT_EQ(read_idx_images(path("zeros.gz")).pixels.size(), 2048u * 32 * 32);
}

TEST_F(IdxTest, WriterRejectsInconsistentSets) {
  ImageSet set;
  set.count = 2, set.rows = 3, set.cols = 4;
  set.pixels.resize(23);
  EXPECT_TRUE(throws_with([&] { write_idx_images(path("bad"), set, false); },
                          {path("bad"), "need 24 bytes, the data holds 23"}));
  EXPECT_TRUE(throws_with([&] { write_idx_labels(path("empty"), {}, true); },
                          {path("empty"), "zero dimension"}));
  EXPECT_FALSE(fs::exists(path("bad")));
  EXPECT_FALSE(fs::exists(path("empty")));
}

TEST_F(IdxTest, FindTrainImagesPrefersTheStandardNames) {
  const std::string dir = dir_.string();
  EXPECT_TRUE(throws_with([&] { find_train_images(dir); },
                          {dir, "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte,",
                           "train-images.idx3-ubyte,", "train-images.idx3-ubyte.gz"}));
  EXPECT_TRUE(throws_with([&] { find_train_images(path("nowhere")); },
                          {path("nowhere"), "no such directory", "train-images-idx3-ubyte.gz"}));
  // Added from the least to the most preferred name: each new one wins.
  for (const char* name : {"train-images.idx3-ubyte.gz", "train-images.idx3-ubyte",
                           "train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"}) {
    write_bytes(dir_ / name, "");
    EXPECT_EQ(find_train_images(dir), path(name));
  }
}

// The real data set where the machine has it: shape, label range, and the read time.
TEST(IdxFashionMnist, ReadsTheTrainingSet) {
  const std::string dir = kDefaultDataDir;
  if (!fs::is_directory(dir)) GTEST_SKIP() << "no data set at " << dir;
  const auto start = std::chrono::steady_clock::now();
  const ImageSet set = read_idx_images(find_train_images(dir));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(set.count, 60000u);
  EXPECT_EQ(set.rows, 28u);
  EXPECT_EQ(set.cols, 28u);
  EXPECT_EQ(set.pixels.size(), size_t(60000) * 28 * 28);
  RecordProperty("read_seconds", std::to_string(seconds));
  std::printf("read %s: %u x %u x %u in %.3f s\n", find_train_images(dir).c_str(), set.count,
              set.rows, set.cols, seconds);
  const std::string labels_file = dir + "/train-labels-idx1-ubyte.gz";
  if (fs::exists(labels_file)) {
    const std::vector<uint8_t> labels = read_idx_labels(labels_file);
    EXPECT_EQ(labels.size(), 60000u);
    for (uint8_t l : labels) ASSERT_LT(l, 10);
  }
}

}  // namespace
