// Fuzz target: the checkpoint reader (parse_checkpoint) on arbitrary bytes. Refusal:
// std::runtime_error. A mutated file almost never keeps its CRC-32 right, which would leave the
// data path behind the checksum unexplored, so each input is also tried with its last 4 bytes
// replaced by the CRC of the rest. On success: every tensor's shape multiplies out to its element
// count, the tensors fill the data section exactly, and the checkpoint re-serialises
// (serialize_checkpoint) and reads back to identical meta, counters and tensors (bitwise).
#include <zlib.h>

#include <cstring>
#include <stdexcept>

#include "engine/train/checkpoint.h"
#include "fuzz_util.h"

using namespace gan;
using namespace gan::fuzz;

namespace {

constexpr const char* kTarget = "fuzz_checkpoint";
constexpr size_t kPrefixBytes = 16, kCrcBytes = 4;  // magic + header length; trailing CRC

void check_checkpoint(std::string_view bytes) {
  Checkpoint ckpt;
  try {
    ckpt = parse_checkpoint(bytes, "fuzz.ckpt");
  } catch (const std::runtime_error&) {
    return;
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data() + 8, sizeof header_len);
  uint64_t data_bytes = 0;
  for (const NamedTensor& t : ckpt.tensors) {
    uint64_t n = 0;
    fuzz_check(shape_element_count(t.shape, &n) && n == t.data.size(), kTarget,
               "tensor '" + t.name + "': shape does not multiply out to its element count");
    data_bytes += t.data.size() * sizeof(float);
  }
  fuzz_check(kPrefixBytes + header_len + data_bytes + kCrcBytes == bytes.size(), kTarget,
             "the tensors do not fill the data section exactly");
  // A checkpoint that loads must save (no exception may escape here) and load back unchanged.
  const Checkpoint again = parse_checkpoint(serialize_checkpoint(ckpt, "fuzz-again.ckpt"),
                                            "fuzz-again.ckpt");
  fuzz_check(again.meta == ckpt.meta, kTarget, "meta changed through save and load");
  fuzz_check(again.counters == ckpt.counters, kTarget, "counters changed through save and load");
  fuzz_check(same_tensors(again.tensors, ckpt.tensors), kTarget,
             "tensors changed through save and load");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_host_memory_limit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = as_bytes(data, size);
  check_checkpoint(bytes);
  if (size < kPrefixBytes + kCrcBytes) return 0;
  std::string fixed(bytes);
  const uint32_t crc = uint32_t(crc32(0L, data, uInt(size - kCrcBytes)));
  std::memcpy(fixed.data() + size - kCrcBytes, &crc, kCrcBytes);
  if (fixed != bytes) check_checkpoint(fixed);
  return 0;
}
