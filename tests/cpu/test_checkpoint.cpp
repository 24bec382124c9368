// Checkpoint files: bitwise round trips, every kind of bad file rejected with a one-line message
// naming the file and the problem, atomic replacement, and the run-directory helpers.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>

#include "engine/io/atomic_file.h"
#include "engine/train/checkpoint.h"
#include "tensor_fixtures.h"
#include "test_util.h"

using namespace gan;
using namespace gan::test;
namespace fs = std::filesystem;

namespace {

float from_bits(uint32_t b) { return std::bit_cast<float>(b); }

// A checkpoint file assembled by hand, with a correct CRC, to reach the header checks.
std::string forge(const std::string& header, const std::string& data,
                  const char* magic = "GANCKPT1") {
  std::string b(magic, 8);
  const uint64_t n = header.size();
  b.append(reinterpret_cast<const char*>(&n), 8);
  b += header + data;
  const uint32_t crc =
      uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(b.data()), uInt(b.size())));
  b.append(reinterpret_cast<const char*>(&crc), 4);
  return b;
}

std::string floats(std::initializer_list<float> v) {
  return std::string(reinterpret_cast<const char*>(std::data(v)), v.size() * sizeof(float));
}

Checkpoint sample_checkpoint(Rng& rng) {
  Checkpoint c;
  c.meta = {{"config", {{"batch", 64}, {"lr", 2e-4}, {"layers", {256, 512}}}},
            {"seed", 1234},
            {"version", "0.1.0"},
            {"note", "ümlaut and \"quotes\""}};
  c.counters = {{"step", 1234},
                {"adam_t_g", 1234},
                {"adam_t_d", 1233},
                {"zero", 0},
                {"max", std::numeric_limits<uint64_t>::max()}};
  c.tensors = {random_tensor(rng, "G.fc1.W", {7, 100}), random_tensor(rng, "G.fc1.b", {7}),
               random_tensor(rng, "scalar", {}), random_tensor(rng, "D.cube", {2, 3, 4})};
  // Values a float round trip through text or arithmetic would change: payload NaNs, infinities,
  // negative zero, denormals.
  auto& d = c.tensors[0].data;
  const uint32_t specials[] = {0x7fc12345u, 0xffc00001u, 0x7f800001u, 0x7f800000u, 0xff800000u,
                               0x80000000u, 0x00000001u, 0x807fffffu, 0x7f7fffffu};
  for (size_t i = 0; i < std::size(specials); ++i) d[i * 37] = from_bits(specials[i]);
  return c;
}

}  // namespace

TEST(Checkpoint, RoundTripIsBitwise) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const Checkpoint c = sample_checkpoint(rng);
  const std::string path = dir.file("a.ckpt");
  save_checkpoint(path, c);
  const Checkpoint r = load_checkpoint(path);
  EXPECT_EQ(r.meta, c.meta);
  EXPECT_EQ(r.counters, c.counters);
  EXPECT_TRUE(same_tensors(r.tensors, c.tensors));
  ASSERT_NE(r.find("D.cube"), nullptr);
  EXPECT_EQ(r.find("D.cube")->shape, (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(r.find("missing"), nullptr);

  // Saving what was loaded reproduces the file byte for byte.
  const std::string again = dir.file("b.ckpt");
  save_checkpoint(again, r);
  EXPECT_EQ(read_file(again), read_file(path));
}

TEST(Checkpoint, InMemoryReaderAndWriterMatchTheFileOnes) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const Checkpoint c = sample_checkpoint(rng);
  const std::string path = dir.file("a.ckpt");
  save_checkpoint(path, c);
  const std::string bytes = serialize_checkpoint(c, "in-memory");
  EXPECT_EQ(bytes, read_file(path));
  const Checkpoint r = parse_checkpoint(bytes, "in-memory");
  EXPECT_EQ(r.meta, c.meta);
  EXPECT_EQ(r.counters, c.counters);
  EXPECT_TRUE(same_tensors(r.tensors, c.tensors));
  // Errors name what the caller calls the bytes.
  EXPECT_TRUE(throws_with([&] { parse_checkpoint(bytes.substr(0, 12), "blob #3"); },
                          {"blob #3: truncated"}));
}

TEST(Checkpoint, EmptyAndZeroSizeTensors) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  Checkpoint empty;
  save_checkpoint(dir.file("empty.ckpt"), empty);
  const Checkpoint e = load_checkpoint(dir.file("empty.ckpt"));
  EXPECT_TRUE(e.tensors.empty());
  EXPECT_TRUE(e.counters.empty());
  EXPECT_EQ(e.meta, empty.meta);

  Checkpoint z;
  z.tensors = {random_tensor(rng, "before", {3}),
               {"none", {0, 5}, {}},
               {"flat0", {0}, {}},
               random_tensor(rng, "after", {2, 2})};
  save_checkpoint(dir.file("zero.ckpt"), z);
  EXPECT_TRUE(same_tensors(load_checkpoint(dir.file("zero.ckpt")).tensors, z.tensors));
}

TEST(Checkpoint, RejectsMissingAndForeignFiles) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string missing = dir.file("nope.ckpt");
  EXPECT_TRUE(throws_with([&] { load_checkpoint(missing); }, {missing, "cannot open"}));

  const std::string text = dir.file("notes.txt");
  write_file_atomic(text, "just some text, long enough to hold a header");
  EXPECT_TRUE(throws_with([&] { load_checkpoint(text); }, {text, "not a gan checkpoint"}));
  const std::string other = dir.file("other.ckpt");
  write_file_atomic(other, forge(R"({"meta":null,"counters":{},"tensors":[]})", "", "GANCKPT2"));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(other); }, {other, "not a gan checkpoint"}));
}

TEST(Checkpoint, RejectsTruncatedFiles) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string good = dir.file("good.ckpt"), cut = dir.file("cut.ckpt");
  save_checkpoint(good, sample_checkpoint(rng));
  const std::string bytes = read_file(good);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  const size_t data_start = 16 + header_len;
  struct Cut {
    size_t keep;
    const char* where;
  };
  const Cut cuts[] = {{0, "empty file"},
                      {5, "in the magic"},
                      {12, "in the header length"},
                      {16 + header_len / 2, "in the header"},
                      {data_start + 3, "at the start of the data"},
                      {data_start + (bytes.size() - 4 - data_start) / 2, "in the data"},
                      {bytes.size() - 4, "CRC missing"},
                      {bytes.size() - 1, "CRC partly missing"}};
  for (const auto& c : cuts) {
    SCOPED_TRACE(c.where);
    write_file_atomic(cut, bytes.substr(0, c.keep));
    EXPECT_TRUE(throws_with([&] { load_checkpoint(cut); }, {cut, "truncated"}));
  }
}

TEST(Checkpoint, RejectsFlippedBits) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string good = dir.file("good.ckpt"), bad = dir.file("bad.ckpt");
  save_checkpoint(good, sample_checkpoint(rng));
  const std::string bytes = read_file(good);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 8, 8);
  const size_t data_start = 16 + header_len, crc_start = bytes.size() - 4;
  for (int trial = 0; trial < 8; ++trial) {
    // Half the trials in the data, the rest in the stored CRC itself.
    const size_t at = trial < 4
                          ? data_start + size_t(rng.uniform_int(0, int(crc_start - data_start) - 1))
                          : crc_start + size_t(trial - 4);
    std::string flipped = bytes;
    flipped[at] = char(flipped[at] ^ (1 << rng.uniform_int(0, 7)));
    write_file_atomic(bad, flipped);
    EXPECT_TRUE(throws_with([&] { load_checkpoint(bad); }, {bad, "corrupt: checksum mismatch"}))
        << "byte " << at;
  }
}

TEST(Checkpoint, RejectsBadHeaders) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("forged.ckpt");
  const std::string two = floats({1.0f, 2.0f});
  struct Case {
    std::string header, data, problem;
  };
  const Case cases[] = {
      {R"({"meta": nul)", two, "malformed header"},
      {R"([1, 2, 3])", two, "malformed header"},
      {R"({"meta":{},"counters":{"step":-1},"tensors":[]})", "", "counter 'step'"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[2]}]})", two,
       "malformed header"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[3],"offset":0,"count":2}]})",
       two, "does not match count"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[-2],"offset":0,"count":2}]})",
       two, "invalid shape"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[2],"offset":1,"count":2}]})",
       two, "offset 1 should be 0"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[1],"offset":0,"count":1},)"
       R"({"name":"w","shape":[1],"offset":1,"count":1}]})",
       two, "'w' appears twice"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[4],"offset":0,"count":4}]})",
       two, "tensor table inconsistent with the data"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[1],"offset":0,"count":1}]})",
       two, "tensor table inconsistent with the data"},
      {R"({"meta":{},"counters":{},"tensors":[{"name":"w","shape":[1152921504606846976,16],)"
       R"("offset":0,"count":0}]})",
       two, "does not match count"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    write_file_atomic(path, forge(c.header, c.data));
    EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, {path, c.problem}));
  }
  // The same forged headers with a wrong CRC are reported as corrupt, the more basic diagnosis.
  std::string broken = forge(cases[0].header, cases[0].data);
  broken.back() = char(broken.back() ^ 1);
  write_file_atomic(path, broken);
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, {path, "corrupt: checksum mismatch"}));
}

// Found by fuzzing (fuzz/regressions/fuzz_checkpoint/deep-meta-stack-overflow): 300,000 nested
// arrays in meta crashed the reader (a stack overflow copying the JSON value, one frame a level).
TEST(Checkpoint, RejectsDeeplyNestedHeadersWithoutRecursing) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("deep.ckpt");
  const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  const auto header = [](const std::string& meta) {
    return R"({"meta":)" + meta + R"(,"counters":{},"tensors":[]})";
  };
  write_file_atomic(path, forge(header(nested(300000)), ""));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); },
                          {path, "malformed header: nested deeper than 64 levels"}));
  // 63 levels of meta inside the header object: the deepest allowed.
  write_file_atomic(path, forge(header(nested(kMaxJsonHeaderDepth - 1)), ""));
  EXPECT_EQ(load_checkpoint(path).meta.dump(), nested(kMaxJsonHeaderDepth - 1));
  write_file_atomic(path, forge(header(nested(kMaxJsonHeaderDepth)), ""));
  EXPECT_TRUE(throws_with([&] { load_checkpoint(path); }, {path, "nested deeper than 64"}));
}

TEST(Checkpoint, RejectsHeaderLengthBeyondFile) {
  // Lengths that would need exabytes are refused from the file size, before any allocation.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("huge.ckpt");
  for (uint64_t len : {uint64_t(1) << 62, std::numeric_limits<uint64_t>::max(), uint64_t(1000)}) {
    std::string b = forge(R"({"meta":{},"counters":{},"tensors":[]})", "");
    std::memcpy(b.data() + 8, &len, 8);
    write_file_atomic(path, b);
    EXPECT_TRUE(throws_with([&] { load_checkpoint(path); },
                            {path, "truncated: header length " + std::to_string(len)}));
  }
}

TEST(Checkpoint, SaveRejectsInconsistentTensorsBeforeWriting) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string fresh = dir.file("fresh.ckpt"), old = dir.file("old.ckpt");
  save_checkpoint(old, sample_checkpoint(rng));
  const std::string old_bytes = read_file(old);

  Checkpoint mismatch = sample_checkpoint(rng);
  mismatch.tensors[1].shape = {8};  // holds 7 elements
  Checkpoint negative = sample_checkpoint(rng);
  negative.tensors[1].shape = {-7};
  Checkpoint duplicate = sample_checkpoint(rng);
  duplicate.tensors[2].name = duplicate.tensors[0].name;
  const std::pair<const Checkpoint*, std::string> cases[] = {
      {&mismatch, "'G.fc1.b': shape [8] does not match its 7 elements"},
      {&negative, "'G.fc1.b': shape [-7]"},
      {&duplicate, "duplicate tensor name 'G.fc1.W'"}};
  for (const auto& [ckpt, problem] : cases) {
    EXPECT_TRUE(throws_with([&] { save_checkpoint(fresh, *ckpt); }, {fresh, problem}));
    EXPECT_FALSE(fs::exists(fresh));
    EXPECT_TRUE(throws_with([&] { save_checkpoint(old, *ckpt); }, {old, problem}));
    EXPECT_EQ(read_file(old), old_bytes);
  }
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(Checkpoint, FailedSaveIntoMissingDirectoryCreatesNothing) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("no/such/dir/a.ckpt");
  EXPECT_TRUE(throws_with([&] { save_checkpoint(path, sample_checkpoint(rng)); }, {path}));
  EXPECT_FALSE(fs::exists(dir.path / "no"));
  EXPECT_TRUE(fs::is_empty(dir.path));
}

TEST(Checkpoint, FailedSaveIntoReadOnlyDirectoryKeepsOldFile) {
  if (::geteuid() == 0)
    GTEST_SKIP() << "running as root: chmod 0555 does not stop root's writes "
                    "(FailedWriteKeepsOldFile covers the same path with a file-size limit)";
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("a.ckpt");
  save_checkpoint(path, sample_checkpoint(rng));
  const std::string old_bytes = read_file(path);
  fs::permissions(dir.path, fs::perms(0555));
  EXPECT_TRUE(throws_with([&] { save_checkpoint(path, sample_checkpoint(rng)); }, {path}));
  fs::permissions(dir.path, fs::perms(0755));
  EXPECT_EQ(read_file(path), old_bytes);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(Checkpoint, FailedWriteKeepsOldFile) {
  // A file-size limit makes the write itself fail (EFBIG), even for root: the old checkpoint must
  // survive and no temp file may remain.
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir dir(rng);
  const std::string path = dir.file("a.ckpt");
  save_checkpoint(path, sample_checkpoint(rng));
  const std::string old_bytes = read_file(path);
  Checkpoint bigger = sample_checkpoint(rng);
  bigger.tensors.push_back(random_tensor(rng, "extra", {4096}));

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = old_bytes.size() + 1024;
  if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < small.rlim_cur)
    GTEST_SKIP() << "file-size limit already lower";
  struct sigaction ignore {
  }, previous{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &previous), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const auto result = throws_with([&] { save_checkpoint(path, bigger); }, {path, "write failed"});
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &previous, nullptr);

  EXPECT_TRUE(result);
  EXPECT_EQ(read_file(path), old_bytes);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()), 1);
}

TEST(CheckpointFiles, PathListAndPrune) {
  Rng rng;
  SCOPED_TRACE(rng.trace());
  TempDir run(rng);
  const std::string run_dir = run.path.string();
  EXPECT_EQ(checkpoint_path("runs/x", 1234), "runs/x/checkpoints/step_00001234.ckpt");
  EXPECT_EQ(checkpoint_path("runs/x", 123456789), "runs/x/checkpoints/step_123456789.ckpt");
  EXPECT_TRUE(list_checkpoints(run_dir).empty());  // no checkpoints/ yet

  fs::create_directories(run.path / "checkpoints");
  Checkpoint tiny;
  for (uint64_t step : {100, 1, 12, 5}) {
    tiny.counters["step"] = step;
    save_checkpoint(checkpoint_path(run_dir, step), tiny);
  }
  const fs::path ck = run.path / "checkpoints";
  const std::vector<std::string> unrelated = {"notes.txt",
                                              "step_12.ckpt",
                                              "step_00000007.ckpt.tmp",
                                              ".step_00000003.ckpt.tmpAb12Cd",
                                              "step_0000000x.ckpt",
                                              "step_000000013.ckpt",
                                              "Step_00000002.ckpt",
                                              "step_00000004.ckpt~"};
  for (const auto& name : unrelated) write_file_atomic((ck / name).string(), "x");
  fs::create_directory(ck / "step_00000009.ckpt");  // a directory, not a checkpoint

  auto listed = list_checkpoints(run_dir);
  ASSERT_EQ(listed.size(), 4u);
  const uint64_t steps[] = {1, 5, 12, 100};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(listed[i].first, steps[i]);
    EXPECT_EQ(listed[i].second, checkpoint_path(run_dir, steps[i]));
  }
  EXPECT_EQ(load_checkpoint(listed[2].second).counters.at("step"), 12u);

  prune_checkpoints(run_dir, 10);  // fewer than keep: nothing to do
  EXPECT_EQ(list_checkpoints(run_dir).size(), 4u);
  prune_checkpoints(run_dir, 2);
  listed = list_checkpoints(run_dir);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].first, 12u);
  EXPECT_EQ(listed[1].first, 100u);
  EXPECT_FALSE(fs::exists(checkpoint_path(run_dir, 1)));
  EXPECT_FALSE(fs::exists(checkpoint_path(run_dir, 5)));
  for (const auto& name : unrelated) EXPECT_TRUE(fs::exists(ck / name)) << name;
  EXPECT_TRUE(fs::is_directory(ck / "step_00000009.ckpt"));

  EXPECT_THROW(prune_checkpoints(run_dir, 0), std::invalid_argument);
  EXPECT_EQ(list_checkpoints(run_dir).size(), 2u);

  // Steps past eight digits sort numerically, not as text.
  save_checkpoint(checkpoint_path(run_dir, 123456789), tiny);
  listed = list_checkpoints(run_dir);
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed.back().first, 123456789u);
}
