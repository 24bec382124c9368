// Training checkpoints: named float32 tensors plus free-form metadata and integer counters, in one
// self-checking file, and the run-directory helpers that name, list and prune them.
//
// File format (all integers little-endian; the host must be little-endian, checked at compile
// time in checkpoint.cpp):
//   bytes [0, 8)        magic "GANCKPT1"
//   bytes [8, 16)       uint64 H: length of the JSON header in bytes
//   bytes [16, 16+H)    JSON header, UTF-8:
//                         {"meta": <any JSON>,
//                          "counters": {"<name>": <uint64>, ...},
//                          "tensors": [{"name": s, "shape": [d0, ...], "offset": o, "count": c},
//                          ...]}
//                       offset and count are in float32 elements from the start of the data;
//                       tensors are stored back to back in table order (offset of each is the sum
//                       of the counts before it) and the product of the shape equals count.
//   then                4 * sum(count) bytes: the float32 data of every tensor, concatenated
//   last 4 bytes        uint32 CRC-32 (zlib's crc32) of every byte before it
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gan {

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;  // product == data.size() (checked on save)
  std::vector<float> data;     // float32, row-major
};

struct Checkpoint {
  nlohmann::json meta;                       // free-form: config, seed, version, ...
  std::map<std::string, uint64_t> counters;  // e.g. "step", "adam_t_g", "adam_t_d"
  std::vector<NamedTensor> tensors;          // order preserved through save and load

  const NamedTensor* find(const std::string& name) const;  // nullptr when absent
};

// Shared by the checkpoint and safetensors readers.
// A JSON integer >= 0 as uint64 (nlohmann stores non-negative literals as unsigned).
bool json_as_u64(const nlohmann::json& j, uint64_t* out);
// The product of the dims; false on a negative dim or overflow.
bool shape_element_count(const std::vector<int64_t>& shape, uint64_t* out);
// JSON headers nest at most this deep (a trainer's checkpoint about 6 levels, safetensors 3):
// deeper ones are refused while parsing, because copying, comparing or printing a JSON value
// recurses once per level and a header of a few hundred KB of '[' would overflow the stack.
inline constexpr int kMaxJsonHeaderDepth = 64;

// Writes `ckpt` to `path` atomically (temp file, fsync, rename): a reader sees the old file or the
// new one, never a mix. Throws std::runtime_error naming the file and tensor on a shape that does
// not match its data or a duplicate name, before anything is written.
void save_checkpoint(const std::string& path, const Checkpoint& ckpt);
// The bytes save_checkpoint writes, in memory (`name` stands for the file in error messages).
std::string serialize_checkpoint(const Checkpoint& ckpt, const std::string& name);

// Reads a checkpoint written by save_checkpoint. Throws std::runtime_error with one line naming the
// file and the problem: unreadable, not a gan checkpoint, truncated, corrupt (checksum mismatch),
// malformed header (nested deeper than kMaxJsonHeaderDepth included), or a tensor table
// inconsistent with the data. Never allocates more than the
// file holds.
Checkpoint load_checkpoint(const std::string& path);

// The same reader on a whole file already in memory (tests, fuzzers); `name` stands for the file
// in error messages. load_checkpoint(path) is parse_checkpoint(read_file(path), path).
Checkpoint parse_checkpoint(std::string_view bytes, const std::string& name);

// <run_dir>/checkpoints/step_00001234.ckpt (step zero-padded to at least 8 digits).
std::string checkpoint_path(const std::string& run_dir, uint64_t step);

// The checkpoints in <run_dir>/checkpoints named as checkpoint_path names them, as (step, path)
// sorted by step ascending. Other files (temp files of an interrupted save included) are ignored;
// a missing directory gives an empty list.
std::vector<std::pair<uint64_t, std::string>> list_checkpoints(const std::string& run_dir);

// Deletes the oldest checkpoints so that at most `keep` (>= 1) remain; touches no other file.
void prune_checkpoints(const std::string& run_dir, int keep);

}  // namespace gan
