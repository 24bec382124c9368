#include "engine/train/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>
#include <stdexcept>
#include <string_view>

#include "engine/io/atomic_file.h"

namespace gan {

// Tensor data and length fields are copied to and from the file as raw host bytes.
static_assert(std::endian::native == std::endian::little,
              "checkpoint I/O assumes a little-endian host");
static_assert(sizeof(float) == 4 && std::numeric_limits<float>::is_iec559,
              "float must be IEEE binary32");

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kMagic = "GANCKPT1";
constexpr size_t kPrefix = 16;                 // magic + header length
constexpr size_t kMinSize = kPrefix + 4;       // + CRC
constexpr uint64_t kMaxElements = 1ull << 60;  // keeps every byte count below 2^64

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

uint32_t crc32_of(const char* p, size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  // zlib's length is a 32-bit uInt: feed large buffers in chunks.
  constexpr size_t kChunk = size_t(1) << 30;
  while (n > 0) {
    const size_t k = std::min(n, kChunk);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(p), uInt(k));
    p += k;
    n -= k;
  }
  return uint32_t(crc);
}

template <class T>
void append_raw(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

template <class T>
T read_raw(std::string_view bytes, size_t at) {
  T v;
  std::memcpy(&v, bytes.data() + at, sizeof(T));
  return v;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string checkpoint_filename(uint64_t step) {
  std::string digits = std::to_string(step);
  if (digits.size() < 8) digits.insert(0, 8 - digits.size(), '0');
  return "step_" + digits + ".ckpt";
}

// The step of a file named exactly as checkpoint_filename names it.
bool parse_checkpoint_filename(const std::string& name, uint64_t* step) {
  constexpr std::string_view kPre = "step_", kSuf = ".ckpt";
  if (name.size() < kPre.size() + 8 + kSuf.size() || !name.starts_with(kPre) ||
      !name.ends_with(kSuf))
    return false;
  const char* first = name.data() + kPre.size();
  const char* last = name.data() + name.size() - kSuf.size();
  if (!std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; })) return false;
  const auto [end, ec] = std::from_chars(first, last, *step);
  return ec == std::errc() && end == last && checkpoint_filename(*step) == name;
}

}  // namespace

const NamedTensor* Checkpoint::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

bool json_as_u64(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = uint64_t(j.get<int64_t>());
    return true;
  }
  return false;
}

bool shape_element_count(const std::vector<int64_t>& shape, uint64_t* out) {
  uint64_t p = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(p, uint64_t(d), &p)) return false;
  *out = p;
  return true;
}

void save_checkpoint(const std::string& path, const Checkpoint& ckpt) {
  write_file_atomic(path, serialize_checkpoint(ckpt, path));
}

std::string serialize_checkpoint(const Checkpoint& ckpt, const std::string& path) {
  json table = json::array();
  std::set<std::string> names;
  uint64_t total = 0;
  for (const auto& t : ckpt.tensors) {
    uint64_t n = 0;
    if (!shape_element_count(t.shape, &n) || n != t.data.size())
      fail(path, "cannot save tensor '" + t.name + "': shape " + shape_string(t.shape) +
                     " does not match its " + std::to_string(t.data.size()) + " elements");
    if (!names.insert(t.name).second)
      fail(path, "cannot save: duplicate tensor name '" + t.name + "'");
    table.push_back({{"name", t.name}, {"shape", t.shape}, {"offset", total}, {"count", n}});
    total += n;
  }
  json header = json::object();
  header["meta"] = ckpt.meta;
  header["counters"] = ckpt.counters;
  header["tensors"] = std::move(table);
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail(path, std::string("cannot encode the checkpoint header: ") + e.what());
  }

  std::string bytes;
  bytes.reserve(kMinSize + text.size() + 4 * total);
  bytes.append(kMagic);
  append_raw(bytes, uint64_t(text.size()));
  bytes += text;
  for (const auto& t : ckpt.tensors)
    bytes.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  append_raw(bytes, crc32_of(bytes.data(), bytes.size()));
  return bytes;
}

Checkpoint load_checkpoint(const std::string& path) { return parse_checkpoint(read_file(path), path); }

Checkpoint parse_checkpoint(std::string_view bytes, const std::string& path) {
  const size_t size = bytes.size();
  if (bytes.compare(0, kMagic.size(), kMagic, 0, std::min(size, kMagic.size())) != 0)
    fail(path, "not a gan checkpoint (bad magic)");
  if (size < kMinSize)
    fail(path, "truncated: " + std::to_string(size) + " bytes, less than the " +
                   std::to_string(kMinSize) + "-byte minimum");
  const uint64_t header_len = read_raw<uint64_t>(bytes, kMagic.size());
  if (header_len > size - kMinSize)
    fail(path, "truncated: header length " + std::to_string(header_len) + " does not fit in the " +
                   std::to_string(size) + "-byte file");

  // A failed checksum explains any later inconsistency better than the inconsistency itself, so
  // header problems are reported as such only when the bytes are intact.
  const bool crc_ok = crc32_of(bytes.data(), size - 4) == read_raw<uint32_t>(bytes, size - 4);
  const auto bad = [&](const std::string& what) {
    fail(path, crc_ok ? what : "corrupt: checksum mismatch");
  };

  const json::parser_callback_t limit_depth = [&](int depth, json::parse_event_t event, json&) {
    if ((event == json::parse_event_t::object_start ||
         event == json::parse_event_t::array_start) &&
        depth >= kMaxJsonHeaderDepth)
      bad("malformed header: nested deeper than " + std::to_string(kMaxJsonHeaderDepth) +
          " levels");
    return true;
  };
  json header;
  try {
    header =
        json::parse(bytes.begin() + kPrefix, bytes.begin() + kPrefix + header_len, limit_depth);
  } catch (const json::exception& e) {
    bad(std::string("malformed header: ") + e.what());
  }
  if (!header.is_object() || !header.contains("meta") || !header.contains("counters") ||
      !header.contains("tensors") || !header["counters"].is_object() ||
      !header["tensors"].is_array())
    bad("malformed header: expected {\"meta\", \"counters\": {...}, \"tensors\": [...]}");

  Checkpoint ckpt;
  ckpt.meta = header["meta"];
  for (const auto& [key, value] : header["counters"].items()) {
    uint64_t v = 0;
    if (!json_as_u64(value, &v))
      bad("malformed header: counter '" + key + "' is not an unsigned integer");
    ckpt.counters[key] = v;
  }

  struct Entry {
    std::string name;
    std::vector<int64_t> shape;
    uint64_t count;
  };
  std::vector<Entry> entries;
  std::set<std::string> names;
  uint64_t total = 0;
  for (const auto& t : header["tensors"]) {
    if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("shape") ||
        !t["shape"].is_array() || !t.contains("offset") || !t.contains("count"))
      bad("malformed header: tensor entry " + std::to_string(entries.size()) +
          " needs name, shape, offset and count");
    Entry e{t["name"].get<std::string>(), {}, 0};
    const std::string who = "tensor table: '" + e.name + "' ";
    for (const auto& d : t["shape"]) {
      uint64_t v = 0;
      if (!json_as_u64(d, &v) || v > uint64_t(std::numeric_limits<int64_t>::max()))
        bad(who + "has an invalid shape " + d.dump());
      e.shape.push_back(int64_t(v));
    }
    uint64_t offset = 0, product = 0;
    if (!json_as_u64(t["offset"], &offset) || !json_as_u64(t["count"], &e.count))
      bad(who + "has a non-integer offset or count");
    if (e.count > kMaxElements - total)
      bad(who + "count " + std::to_string(e.count) + " is out of range");
    if (!shape_element_count(e.shape, &product) || product != e.count)
      bad(who + "shape " + shape_string(e.shape) + " does not match count " +
          std::to_string(e.count));
    if (offset != total)
      bad(who + "offset " + std::to_string(offset) + " should be " + std::to_string(total) +
          " (tensors are stored back to back)");
    if (!names.insert(e.name).second) bad(who + "appears twice");
    total += e.count;
    entries.push_back(std::move(e));
  }

  // Only now is the data size known; nothing has been allocated for it yet.
  const uint64_t expected = kMinSize + header_len + 4 * total;
  if (expected != size) {
    if (!crc_ok && size < expected)
      fail(path, "truncated: the header describes " + std::to_string(expected) +
                     " bytes but the file has " + std::to_string(size));
    bad("tensor table inconsistent with the data: it describes " + std::to_string(expected) +
        " bytes but the file has " + std::to_string(size));
  }
  if (!crc_ok) fail(path, "corrupt: checksum mismatch");

  const char* data = bytes.data() + kPrefix + header_len;
  for (auto& e : entries) {
    NamedTensor t{std::move(e.name), std::move(e.shape), std::vector<float>(e.count)};
    if (e.count > 0) std::memcpy(t.data.data(), data, e.count * sizeof(float));
    data += e.count * sizeof(float);
    ckpt.tensors.push_back(std::move(t));
  }
  return ckpt;
}

std::string checkpoint_path(const std::string& run_dir, uint64_t step) {
  return (fs::path(run_dir) / "checkpoints" / checkpoint_filename(step)).string();
}

std::vector<std::pair<uint64_t, std::string>> list_checkpoints(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  std::vector<std::pair<uint64_t, std::string>> found;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    if (ec) fail(dir.string(), "cannot access (" + ec.message() + ")");
    return found;
  }
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    uint64_t step = 0;
    std::error_code type_ec;
    if (it->is_regular_file(type_ec) &&
        parse_checkpoint_filename(it->path().filename().string(), &step))
      found.emplace_back(step, it->path().string());
  }
  if (ec) fail(dir.string(), "cannot list (" + ec.message() + ")");
  std::sort(found.begin(), found.end());
  return found;
}

void prune_checkpoints(const std::string& run_dir, int keep) {
  if (keep < 1)
    throw std::invalid_argument("prune_checkpoints: keep must be >= 1, got " +
                                std::to_string(keep));
  const auto all = list_checkpoints(run_dir);
  for (size_t i = 0; i + size_t(keep) < all.size(); ++i) {
    std::error_code ec;
    if (!fs::remove(all[i].second, ec) && ec)
      fail(all[i].second, "cannot delete (" + ec.message() + ")");
  }
}

}  // namespace gan
