// Fuzz target: the safetensors reader (parse_safetensors, with metadata) on arbitrary bytes.
// Refusal: std::runtime_error. On success: every tensor's shape multiplies out to its element
// count, the tensors fill the data section exactly, and they re-serialise
// (serialize_safetensors) and read back to identical tensors (bitwise, same order) and metadata.
#include <cstring>
#include <stdexcept>

#include "engine/io/safetensors.h"
#include "fuzz_util.h"

using namespace gan;
using namespace gan::fuzz;

namespace {

constexpr const char* kTarget = "fuzz_safetensors";

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_host_memory_limit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = as_bytes(data, size);
  std::map<std::string, std::string> metadata;
  std::vector<NamedTensor> tensors;
  try {
    tensors = parse_safetensors(bytes, "fuzz.safetensors", &metadata);
  } catch (const std::runtime_error&) {
    return 0;
  }
  uint64_t header_len = 0;
  std::memcpy(&header_len, data, sizeof header_len);
  uint64_t data_bytes = 0;
  for (const NamedTensor& t : tensors) {
    uint64_t n = 0;
    fuzz_check(shape_element_count(t.shape, &n) && n == t.data.size(), kTarget,
               "tensor '" + t.name + "': shape does not multiply out to its element count");
    data_bytes += t.data.size() * sizeof(float);
  }
  fuzz_check(8 + header_len + data_bytes == size, kTarget,
             "the tensors do not fill the data section exactly");
  // What loads must save (no exception may escape here) and load back unchanged.
  std::map<std::string, std::string> metadata_again;
  const auto again =
      parse_safetensors(serialize_safetensors(tensors, metadata, "fuzz-again.safetensors"),
                        "fuzz-again.safetensors", &metadata_again);
  fuzz_check(same_tensors(again, tensors), kTarget, "tensors changed through save and load");
  fuzz_check(metadata_again == metadata, kTarget, "metadata changed through save and load");
  return 0;
}
