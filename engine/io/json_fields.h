// Strict readers of JSON fields in files a user may have edited (config.json, a checkpoint's
// metadata): the value must have the type asked for, an integer must be whole and fit without
// wrapping (0.5 is not 0, -1 is not 2^64 - 1), a number must be finite and representable as the
// type. Each throws std::invalid_argument naming the key and saying what was expected.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace gan {

// An integer in [lo, hi].
int64_t json_int(const nlohmann::json& j, const std::string& key, int64_t lo, int64_t hi);
uint64_t json_u64(const nlohmann::json& j, const std::string& key, uint64_t lo = 0,
                  uint64_t hi = UINT64_MAX);
// A finite number that float represents without overflow.
float json_float(const nlohmann::json& j, const std::string& key);
double json_double(const nlohmann::json& j, const std::string& key);
bool json_bool(const nlohmann::json& j, const std::string& key);
std::string json_string(const nlohmann::json& j, const std::string& key);
// The member `key` of object `j`; throws naming it when `j` is no object or lacks it.
const nlohmann::json& json_member(const nlohmann::json& j, const std::string& key);

// The same checks for a value that is not a member (an array element, a whole document);
// `what` names it in the message.
uint64_t json_value_u64(const nlohmann::json& v, const std::string& what, uint64_t lo = 0,
                        uint64_t hi = UINT64_MAX);
float json_value_float(const nlohmann::json& v, const std::string& what);
double json_value_double(const nlohmann::json& v, const std::string& what);

}  // namespace gan
