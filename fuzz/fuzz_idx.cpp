// Fuzz target: the IDX readers (parse_idx_images, parse_idx_labels; raw and gzip) on arbitrary
// bytes. Refusal: std::runtime_error. On success: no dimension is zero, the data holds exactly
// count*rows*cols bytes, and the raw re-encoding of what was read reads back to the same set (so a
// gzip file and its raw twin agree).
#include <cstring>
#include <stdexcept>

#include "engine/data/idx.h"
#include "fuzz_util.h"

using namespace gan;
using namespace gan::fuzz;

namespace {

constexpr const char* kTarget = "fuzz_idx";

void append_be32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(char((v >> shift) & 0xff));
}

void check_images(std::string_view bytes) {
  ImageSet set;
  try {
    set = parse_idx_images(bytes, "fuzz.idx3");
  } catch (const std::runtime_error&) {
    return;
  }
  fuzz_check(set.count > 0 && set.rows > 0 && set.cols > 0, kTarget, "a zero dimension loaded");
  fuzz_check(set.pixels.size() == uint64_t(set.count) * set.rows * set.cols, kTarget,
             "pixels.size() != count * rows * cols");
  std::string raw;
  for (uint32_t v : {0x803u, set.count, set.rows, set.cols}) append_be32(raw, v);
  raw.append(reinterpret_cast<const char*>(set.pixels.data()), set.pixels.size());
  const ImageSet again = parse_idx_images(raw, "fuzz-raw.idx3");  // must not throw
  fuzz_check(again.count == set.count && again.rows == set.rows && again.cols == set.cols &&
                 again.pixels == set.pixels,
             kTarget, "the raw re-encoding of a loaded image set reads back differently");
}

void check_labels(std::string_view bytes) {
  std::vector<uint8_t> labels;
  try {
    labels = parse_idx_labels(bytes, "fuzz.idx1");
  } catch (const std::runtime_error&) {
    return;
  }
  fuzz_check(!labels.empty(), kTarget, "an empty label set loaded");
  std::string raw;
  for (uint32_t v : {0x801u, uint32_t(labels.size())}) append_be32(raw, v);
  raw.append(reinterpret_cast<const char*>(labels.data()), labels.size());
  fuzz_check(parse_idx_labels(raw, "fuzz-raw.idx1") == labels, kTarget,
             "the raw re-encoding of a loaded label set reads back differently");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_host_memory_limit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Both readers see every input: the magic decides which one gets past the header.
  check_images(as_bytes(data, size));
  check_labels(as_bytes(data, size));
  return 0;
}
