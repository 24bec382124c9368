#include "engine/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string_view>

#include "engine/io/atomic_file.h"

namespace gan {

static_assert(std::endian::native == std::endian::little,
              "safetensors I/O assumes a little-endian host");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
              "float must be IEEE binary32");

namespace {

using nlohmann::json;

constexpr uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit
constexpr std::string_view kMetadataKey = "__metadata__";

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// One tensor's header entry, checked against itself (the layout is checked across entries later).
Entry parse_entry(const std::string& path, const std::string& name, const json& v) {
  const std::string who = "tensor '" + name + "' ";
  if (!v.is_object() || !v.contains("dtype") || !v["dtype"].is_string() || !v.contains("shape") ||
      !v["shape"].is_array() || !v.contains("data_offsets") || !v["data_offsets"].is_array() ||
      v["data_offsets"].size() != 2)
    fail(path, "malformed header: " + who + "needs dtype, shape and data_offsets [begin, end]");
  const std::string dtype = v["dtype"].get<std::string>();
  if (dtype != "F32") fail(path, who + "has dtype " + dtype + "; only F32 is supported");
  Entry e{name, {}, 0, 0};
  for (const auto& d : v["shape"]) {
    uint64_t n = 0;
    if (!json_as_u64(d, &n) || n > uint64_t(std::numeric_limits<int64_t>::max()))
      fail(path, "malformed header: " + who + "has an invalid shape entry " + d.dump());
    e.shape.push_back(int64_t(n));
  }
  if (!json_as_u64(v["data_offsets"][0], &e.begin) || !json_as_u64(v["data_offsets"][1], &e.end) ||
      e.end < e.begin)
    fail(path, who + "has invalid data_offsets " + v["data_offsets"].dump());
  uint64_t n = 0, nbytes = 0;
  if (!shape_element_count(e.shape, &n) ||
      __builtin_mul_overflow(n, uint64_t(sizeof(float)), &nbytes) || nbytes != e.end - e.begin)
    fail(path, who + "data_offsets " + v["data_offsets"].dump() + " do not match shape " +
                   v["shape"].dump() + " in F32");
  return e;
}

}  // namespace

void write_safetensors(const std::string& path, const std::vector<NamedTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata, path));
}

std::string serialize_safetensors(const std::vector<NamedTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata,
                                  const std::string& path) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t n = 0;
    if (!shape_element_count(t.shape, &n) || n != t.data.size())
      fail(path, "cannot save tensor '" + t.name + "': shape " + json(t.shape).dump() +
                     " does not match its " + std::to_string(t.data.size()) + " elements");
    if (t.name == kMetadataKey) fail(path, "cannot save: '__metadata__' is a reserved name");
    if (header.contains(t.name)) fail(path, "cannot save: duplicate tensor name '" + t.name + "'");
    const uint64_t end = offset + n * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  if (!metadata.empty()) header[std::string(kMetadataKey)] = metadata;
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail(path, std::string("cannot encode the header: ") + e.what());
  }
  // Spaces are valid JSON whitespace; they put the data on an 8-byte boundary.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::string bytes;
  bytes.reserve(8 + text.size() + offset);
  const uint64_t header_len = text.size();
  bytes.append(reinterpret_cast<const char*>(&header_len), sizeof header_len);
  bytes += text;
  for (const auto& t : tensors)
    bytes.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  return bytes;
}

std::vector<NamedTensor> read_safetensors(const std::string& path,
                                          std::map<std::string, std::string>* metadata) {
  return parse_safetensors(read_file(path), path, metadata);
}

std::vector<NamedTensor> parse_safetensors(std::string_view bytes, const std::string& path,
                                           std::map<std::string, std::string>* metadata) {
  const uint64_t size = bytes.size();
  if (size < 8) fail(path, "truncated: " + std::to_string(size) + " bytes, no header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), sizeof header_len);
  if (header_len > kMaxHeader)
    fail(path, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > size - 8)
    fail(path, "truncated: header length " + std::to_string(header_len) + " does not fit in the " +
                   std::to_string(size) + "-byte file");

  // nlohmann keeps the last of duplicate keys; a safetensors reader must not guess, so record them.
  // Deep nesting is refused as it is met (see kMaxJsonHeaderDepth).
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const json::parser_callback_t track_keys = [&](int depth, json::parse_event_t event,
                                                 json& parsed) {
    if ((event == json::parse_event_t::object_start ||
         event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonHeaderDepth)
      fail(path, "malformed header: nested deeper than " + std::to_string(kMaxJsonHeaderDepth) +
                     " levels");
    if (event == json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == json::parse_event_t::object_end) open_objects.pop_back();
    if (event == json::parse_event_t::key &&
        !open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + header_len, track_keys);
  } catch (const json::exception& e) {
    fail(path, std::string("malformed header: ") + e.what());
  }
  if (!header.is_object()) fail(path, "malformed header: not a JSON object");
  if (!duplicate.empty()) fail(path, "malformed header: duplicate key '" + duplicate + "'");

  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == kMetadataKey) {
      if (!value.is_object()) fail(path, "malformed header: __metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string())
          fail(path, "malformed header: __metadata__ value '" + mk + "' is not a string");
        if (metadata) (*metadata)[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(path, key, value));
  }

  // Like the reference: in offset order, each tensor starts where the previous one ended.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.begin < cursor)
      fail(path,
           "tensor '" + e.name + "' overlaps tensor '" + entries[i - 1].name + "' (data_offsets)");
    if (e.begin > cursor)
      fail(path, "gap of " + std::to_string(e.begin - cursor) + " bytes before tensor '" + e.name +
                     "' (data_offsets must be contiguous)");
    cursor = e.end;
  }
  const uint64_t data_size = size - 8 - header_len;
  if (cursor > data_size)
    fail(path, "truncated: tensors need " + std::to_string(cursor) +
                   " data bytes but the file has " + std::to_string(data_size));
  if (cursor < data_size)
    fail(path, "data section has " + std::to_string(data_size) +
                   " bytes but the tensors cover only " + std::to_string(cursor));

  // Every check passed, so the allocations below add up to the file's data section.
  std::vector<NamedTensor> tensors;
  tensors.reserve(entries.size());
  const char* data = bytes.data() + 8 + header_len;
  for (auto& e : entries) {
    NamedTensor t{std::move(e.name), std::move(e.shape),
                  std::vector<float>((e.end - e.begin) / sizeof(float))};
    if (e.end > e.begin) std::memcpy(t.data.data(), data + e.begin, e.end - e.begin);
    tensors.push_back(std::move(t));
  }
  return tensors;
}

}  // namespace gan
