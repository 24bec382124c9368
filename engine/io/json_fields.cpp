#include "engine/io/json_fields.h"

#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <stdexcept>

namespace gan {

namespace {

[[noreturn]] void refuse(const std::string& what, const std::string& expected,
                         const nlohmann::json& v) {
  std::string shown = v.dump();
  if (shown.size() > 40) shown = shown.substr(0, 37) + "...";
  throw std::invalid_argument(fmt::format("{}: expected {}, got {}", what, expected, shown));
}

// The integer held by `v` as a (sign, magnitude) pair; false for anything but a whole number.
bool whole_number(const nlohmann::json& v, bool* negative, uint64_t* magnitude) {
  if (v.is_number_unsigned()) {
    *negative = false;
    *magnitude = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const int64_t x = v.get<int64_t>();
    *negative = x < 0;
    *magnitude = x < 0 ? uint64_t(0) - uint64_t(x) : uint64_t(x);
    return true;
  }
  return false;  // floats (even 2.0: the writers never produce them for integers), strings, ...
}

}  // namespace

const nlohmann::json& json_member(const nlohmann::json& j, const std::string& key) {
  if (!j.is_object()) refuse(key, "an object holding it", j);
  const auto it = j.find(key);
  if (it == j.end()) throw std::invalid_argument(fmt::format("{}: missing", key));
  return *it;
}

uint64_t json_value_u64(const nlohmann::json& v, const std::string& what, uint64_t lo,
                        uint64_t hi) {
  bool negative = false;
  uint64_t m = 0;
  if (!whole_number(v, &negative, &m) || negative || m < lo || m > hi)
    refuse(what, fmt::format("an integer in [{}, {}]", lo, hi), v);
  return m;
}

int64_t json_int(const nlohmann::json& j, const std::string& key, int64_t lo, int64_t hi) {
  const nlohmann::json& v = json_member(j, key);
  bool negative = false;
  uint64_t m = 0;
  const std::string expected = fmt::format("an integer in [{}, {}]", lo, hi);
  if (!whole_number(v, &negative, &m)) refuse(key, expected, v);
  if (negative ? m > uint64_t(std::numeric_limits<int64_t>::max()) + 1
               : m > uint64_t(std::numeric_limits<int64_t>::max()))
    refuse(key, expected, v);
  const int64_t x = negative ? int64_t(uint64_t(0) - m) : int64_t(m);
  if (x < lo || x > hi) refuse(key, expected, v);
  return x;
}

uint64_t json_u64(const nlohmann::json& j, const std::string& key, uint64_t lo, uint64_t hi) {
  return json_value_u64(json_member(j, key), key, lo, hi);
}

double json_value_double(const nlohmann::json& v, const std::string& what) {
  if (!v.is_number() || !std::isfinite(v.get<double>())) refuse(what, "a finite number", v);
  return v.get<double>();
}

float json_value_float(const nlohmann::json& v, const std::string& what) {
  const double d = json_value_double(v, what);
  if (std::fabs(d) > double(std::numeric_limits<float>::max()))
    refuse(what, "a finite number within float range", v);
  return float(d);
}

float json_float(const nlohmann::json& j, const std::string& key) {
  return json_value_float(json_member(j, key), key);
}

double json_double(const nlohmann::json& j, const std::string& key) {
  return json_value_double(json_member(j, key), key);
}

bool json_bool(const nlohmann::json& j, const std::string& key) {
  const nlohmann::json& v = json_member(j, key);
  if (!v.is_boolean()) refuse(key, "true or false", v);
  return v.get<bool>();
}

std::string json_string(const nlohmann::json& j, const std::string& key) {
  const nlohmann::json& v = json_member(j, key);
  if (!v.is_string()) refuse(key, "a string", v);
  return v.get<std::string>();
}

}  // namespace gan
