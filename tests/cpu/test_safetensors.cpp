// safetensors export: bitwise round trips, the exact byte layout other readers rely on, and every
// malformed file rejected with a one-line message naming the file and the problem.
#include <gtest/gtest.h>
#include <unistd.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/io/safetensors.h"
#include "tensor_fixtures.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

// A safetensors file assembled by hand: length field, header as given, data.
std::string forge(const std::string& header, const std::string& data) {
  const uint64_t n = header.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + header + data;
}

std::string zeros(size_t n) { return std::string(n, '\0'); }

}  // namespace

TEST(Safetensors, RoundTripIsBitwiseAndKeepsOrder) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  // Names deliberately not in sorted order: the header's keys come sorted, the data does not.
  std::vector<NamedTensor> tensors = {random_tensor(rng, "gen.fc2.weight", {784, 13}),
                                      random_tensor(rng, "gen.fc1.bias", {13}),
                                      random_tensor(rng, "scalar", {}),
                                      {"empty", {0, 4}, {}},
                                      random_tensor(rng, "a.cube", {2, 3, 5})};
  const uint32_t specials[] = {0x7fc12345u, 0xffc00001u, 0x7f800001u, 0x7f800000u,
                               0xff800000u, 0x80000000u, 0x00000001u, 0x7f7fffffu};
  for (size_t i = 0; i < std::size(specials); ++i)
    tensors[0].data[i * 101] = std::bit_cast<float>(specials[i]);
  const std::string path = dir.file("g.safetensors");
  write_safetensors(path, tensors);
  std::map<std::string, std::string> meta = {{"stale", "value"}};
  EXPECT_TRUE(same_tensors(read_safetensors(path, &meta), tensors));
  EXPECT_EQ(meta.size(), 1u) << "no __metadata__ written, so nothing is added";

  const std::string empty = dir.file("none.safetensors");
  write_safetensors(empty, {});
  EXPECT_TRUE(read_safetensors(empty).empty());
  EXPECT_EQ(read_file(empty).size(), 16u);  // length 8, "{}" padded to 8 bytes
}

TEST(Safetensors, MetadataRoundTrip) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::map<std::string, std::string> meta = {
      {"format", "pt"}, {"step", "12000"}, {"config", R"({"z_dim": 100})"}, {"empty", ""}};
  const std::vector<NamedTensor> tensors = {random_tensor(rng, "w", {3, 2})};
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, tensors, meta);
  std::map<std::string, std::string> got;
  EXPECT_TRUE(same_tensors(read_safetensors(path, &got), tensors));
  EXPECT_EQ(got, meta);
  EXPECT_TRUE(same_tensors(read_safetensors(path), tensors));  // metadata may be ignored
}

TEST(Safetensors, InMemoryReaderAndWriterMatchTheFileOnes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::map<std::string, std::string> meta = {{"format", "pt"}};
  const std::vector<NamedTensor> tensors = {random_tensor(rng, "w", {3, 2}),
                                            random_tensor(rng, "b", {3})};
  const std::string path = dir.file("m.safetensors");
  write_safetensors(path, tensors, meta);
  const std::string bytes = serialize_safetensors(tensors, meta, "in-memory");
  EXPECT_EQ(bytes, read_file(path));
  std::map<std::string, std::string> got;
  EXPECT_TRUE(same_tensors(parse_safetensors(bytes, "in-memory", &got), tensors));
  EXPECT_EQ(got, meta);
  EXPECT_TRUE(throws_with([&] { parse_safetensors(bytes.substr(0, 5), "blob #3"); },
                          {"blob #3: truncated"}));
}

TEST(Safetensors, ExactByteLayout) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("tiny.safetensors");
  write_safetensors(path, {{"w", {2}, {1.0f, -2.0f}}, {"b", {1, 1}, {0.5f}}}, {{"k", "v"}});
  const std::string bytes = read_file(path);

  // Keys sorted (nlohmann), offsets in the order the tensors were given, spaces up to 8 bytes.
  const std::string json = R"({"__metadata__":{"k":"v"},)"
                           R"("b":{"data_offsets":[8,12],"dtype":"F32","shape":[1,1]},)"
                           R"("w":{"data_offsets":[0,8],"dtype":"F32","shape":[2]}})";
  const size_t padded = (json.size() + 7) / 8 * 8;
  ASSERT_EQ(bytes.size(), 8 + padded + 12);
  const unsigned char length_field[8] = {uint8_t(padded), uint8_t(padded >> 8), 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(bytes.data(), length_field, 8), 0);
  EXPECT_EQ(bytes.substr(8, padded), json + std::string(padded - json.size(), ' '));
  EXPECT_EQ((8 + padded) % 8, 0u);
  // 1.0f, -2.0f, 0.5f as little-endian IEEE binary32.
  const unsigned char data[12] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00,
                                  0x00, 0xc0, 0x00, 0x00, 0x00, 0x3f};
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + padded, data, 12), 0);

  std::map<std::string, std::string> meta;
  const auto back = read_safetensors(path, &meta);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].name, "w");
  EXPECT_EQ(back[1].name, "b");
  EXPECT_EQ(back[1].shape, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(meta.at("k"), "v");
}

TEST(Safetensors, ReadsForeignLayouts) {
  // Another writer may order keys differently, pad or not, and put data in any key order.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("foreign.safetensors");
  const float v[3] = {3.0f, 4.0f, 5.0f};
  write_file_atomic(path, forge(R"({"z":{"shape":[1],"dtype":"F32","data_offsets":[0,4]},)"
                                R"( "a":{"dtype":"F32","data_offsets":[4,12],"shape":[2]}})",
                                std::string(reinterpret_cast<const char*>(v), 12)));
  const auto t = read_safetensors(path);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "z");
  EXPECT_EQ(t[0].data, std::vector<float>{3.0f});
  EXPECT_EQ(t[1].data, (std::vector<float>{4.0f, 5.0f}));
}

TEST(Safetensors, RejectsBadFiles) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("bad.safetensors");
  const std::string missing = dir.file("missing.safetensors");
  EXPECT_TRUE(throws_with([&] { read_safetensors(missing); }, {missing, "cannot open"}));

  struct Case {
    std::string bytes, problem;
  };
  const std::string f32 = R"("dtype":"F32")";
  const Case cases[] = {
      {"abc", "truncated"},
      {forge(R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", zeros(4)),
       "'x' has dtype F16; only F32 is supported"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[0,8]},)" + R"("b":{)" + f32 +
                 R"(,"shape":[2],"data_offsets":[4,12]}})",
             zeros(12)),
       "'b' overlaps tensor 'a'"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]},)" + R"("b":{)" + f32 +
                 R"(,"shape":[1],"data_offsets":[8,12]}})",
             zeros(12)),
       "gap of 4 bytes before tensor 'b'"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[3],"data_offsets":[0,8]}})", zeros(8)),
       "do not match shape [3]"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[8,0]}})", zeros(8)),
       "invalid data_offsets"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[-2],"data_offsets":[0,8]}})", zeros(8)),
       "invalid shape"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[2],"data_offsets":[0,8]}})", zeros(5)),
       "truncated: tensors need 8 data bytes but the file has 5"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]}})", zeros(8)),
       "data section has 8 bytes but the tensors cover only 4"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]})", zeros(4)),
       "malformed header"},
      {forge(R"(["a"])", ""), "malformed header: not a JSON object"},
      {forge(R"({"a":{)" + f32 + R"(,"shape":[1],"data_offsets":[0,4]},)" + R"("a":{)" + f32 +
                 R"(,"shape":[1],"data_offsets":[4,8]}})",
             zeros(8)),
       "duplicate key 'a'"},
      {forge(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", zeros(4)), "needs dtype"},
      {forge(R"({"__metadata__":{"k":1}})", ""), "__metadata__ value 'k' is not a string"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.problem);
    write_file_atomic(path, c.bytes);
    EXPECT_TRUE(throws_with([&] { read_safetensors(path); }, {path, c.problem}));
  }
}

// Found by fuzzing (fuzz/regressions/fuzz_safetensors/deep-shape-stack-overflow): a shape entry
// of 300,000 nested arrays crashed the reader (a stack overflow printing it in the error message).
TEST(Safetensors, RejectsDeeplyNestedHeadersWithoutRecursing) {
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  const auto header = [](const std::string& shape) {
    return R"({"a":{"dtype":"F32","shape":[)" + shape + R"(],"data_offsets":[0,0]}})";
  };
  EXPECT_TRUE(throws_with([&] { parse_safetensors(forge(header(nested(300000)), ""), "deep"); },
                          {"deep: malformed header: nested deeper than 64 levels"}));
  // Root, entry, shape: 3 levels before the nested value; 64 in all is the deepest allowed.
  EXPECT_TRUE(throws_with(
      [&] { parse_safetensors(forge(header(nested(kMaxJsonHeaderDepth - 3)), ""), "deep"); },
      {"deep: malformed header: tensor 'a' has an invalid shape entry"}));
  EXPECT_TRUE(throws_with(
      [&] { parse_safetensors(forge(header(nested(kMaxJsonHeaderDepth - 2)), ""), "deep"); },
      {"deep: malformed header: nested deeper than 64 levels"}));
}

TEST(Safetensors, RejectsTruncationAndHugeHeaders) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string good = dir.file("good.safetensors"), bad = dir.file("bad.safetensors");
  write_safetensors(good, {random_tensor(rng, "w", {10, 10}), random_tensor(rng, "b", {10})});
  const std::string bytes = read_file(good);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  for (size_t keep : {size_t(0), size_t(7), size_t(8 + header_len / 2), size_t(8 + header_len + 1),
                      bytes.size() - 4, bytes.size() - 1}) {
    SCOPED_TRACE("kept " + std::to_string(keep) + " of " + std::to_string(bytes.size()) + " bytes");
    write_file_atomic(bad, bytes.substr(0, keep));
    EXPECT_TRUE(throws_with([&] { read_safetensors(bad); }, {bad, "truncated"}));
  }
  // Lengths are checked against the limit and the file size before anything is allocated.
  for (uint64_t len : {uint64_t(100'000'001), uint64_t(1) << 62, ~uint64_t(0)}) {
    std::string b = bytes;
    std::memcpy(b.data(), &len, 8);
    write_file_atomic(bad, b);
    EXPECT_TRUE(throws_with([&] { read_safetensors(bad); }, {bad, "exceeds the 100 MB limit"}));
  }
  std::string b = bytes;
  const uint64_t len = bytes.size();
  std::memcpy(b.data(), &len, 8);
  write_file_atomic(bad, b);
  EXPECT_TRUE(throws_with([&] { read_safetensors(bad); }, {bad, "truncated: header length"}));
}

TEST(Safetensors, WriteRejectsBadTensorsBeforeWriting) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("w.safetensors");
  const NamedTensor ok = random_tensor(rng, "ok", {4});
  const std::pair<std::vector<NamedTensor>, std::string> cases[] = {
      {{ok, {"w", {2, 3}, std::vector<float>(5)}},
       "'w': shape [2,3] does not match its 5 elements"},
      {{ok, ok}, "duplicate tensor name 'ok'"},
      {{{"__metadata__", {1}, {0.0f}}}, "reserved name"}};
  for (const auto& [tensors, problem] : cases) {
    EXPECT_TRUE(throws_with([&] { write_safetensors(path, tensors); }, {path, problem}));
    EXPECT_FALSE(fs::exists(path));
  }
  EXPECT_TRUE(fs::is_empty(dir.path));
}
