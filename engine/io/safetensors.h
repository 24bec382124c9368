// Weights in the safetensors format, so other tools (PyTorch's safetensors.torch.load_file, numpy,
// candle, ...) can read the generator:
//   8 bytes     uint64 LE N: length of the JSON header
//   N bytes     JSON header {"<name>": {"dtype": "F32", "shape": [...], "data_offsets": [begin,
//   end]},
//               ..., "__metadata__": {"<key>": "<value>", ...}}, padded with spaces so that the
//               data starts 8-byte aligned
//   the rest    raw little-endian tensor data; data_offsets are byte offsets into it, relative to
//               its start. Tensors are contiguous and cover it exactly, as the reference
//               implementation requires. The JSON keys may come in any order (ours come sorted).
// Only float32 is written or read.
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "engine/train/checkpoint.h"

namespace gan {

// Writes `tensors` (stored in the given order) and the optional string metadata to `path`
// atomically. Throws std::runtime_error naming the file and tensor on a shape that does not match
// its data, a duplicate name or the reserved name "__metadata__", before anything is written.
void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});
// The bytes write_safetensors writes, in memory (`name` stands for the file in error messages).
std::string serialize_safetensors(const std::vector<NamedTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata,
                                  const std::string& name);

// Reads every tensor of an F32 safetensors file, in the order of their data in the file, and its
// metadata into `metadata` when not null. Throws std::runtime_error with one line naming the file
// and the problem: unreadable, truncated, header over 100 MB, malformed JSON (nested deeper than
// kMaxJsonHeaderDepth included), a dtype other than F32, data_offsets that disagree with the
// shape, overlap, leave gaps or do not cover the data.
std::vector<NamedTensor> read_safetensors(const std::string& path,
                                          std::map<std::string, std::string>* metadata = nullptr);

// The same reader on a whole file already in memory (tests, fuzzers); `name` stands for the file
// in error messages. read_safetensors(path, m) is parse_safetensors(read_file(path), path, m).
std::vector<NamedTensor> parse_safetensors(std::string_view bytes, const std::string& name,
                                           std::map<std::string, std::string>* metadata = nullptr);

}  // namespace gan
