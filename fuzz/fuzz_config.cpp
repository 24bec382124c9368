// Fuzz target: a run directory's config.json as --resume reads it. The bytes go through
// nlohmann::json::parse (refusal: its parse_error / out_of_range); then "config" through
// train_config_from_json and validate_train_config(cfg, 784) (an MNIST image), and "toy"."target"
// through toy_target_from_json, whose config is also validated against the toy's sample size (1
// or 2 values), as toy_gan --resume does. Refusals: std::invalid_argument (what those functions
// document) and std::runtime_error (a memory refusal from memory_limits.h). On success: the config
// and the target survive to_json -> from_json -> to_json unchanged.
// Its first findings (a float in an integer field, validation allocating what a layer size says,
// pack products overflowing int) are replayed from fuzz/regressions/fuzz_config/.
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "engine/train/toy_experiments.h"
#include "engine/train/train_config.h"
#include "fuzz_util.h"

using namespace gan;
using namespace gan::fuzz;
using nlohmann::json;

namespace {

constexpr const char* kTarget = "fuzz_config";
constexpr int kMnistSampleSize = 28 * 28;

// The toy's sample size (1 or 2 values), or 0 when the target is refused.
int check_toy_target(const json& j) {
  ToyTarget target;
  try {
    target = toy_target_from_json(j);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  const json written = toy_target_to_json(target);
  fuzz_check(toy_target_to_json(toy_target_from_json(written)) == written, kTarget,
             "a toy target changed through to_json and from_json: " + written.dump());
  return target.kind == ToyTargetKind::Gaussian1D ? 1 : 2;
}

void validate(const TrainConfig& cfg, int sample_size) {
  try {
    validate_train_config(cfg, sample_size);
  } catch (const std::invalid_argument&) {
  } catch (const std::runtime_error&) {
  }
}

void check_config(const json& j, int toy_sample_size) {
  TrainConfig cfg;
  try {
    cfg = train_config_from_json(j);
  } catch (const std::invalid_argument&) {
    return;
  }
  const json written = train_config_to_json(cfg);
  fuzz_check(train_config_to_json(train_config_from_json(written)) == written, kTarget,
             "a config changed through to_json and from_json: " + written.dump());
  validate(cfg, kMnistSampleSize);
  if (toy_sample_size > 0) validate(cfg, toy_sample_size);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  set_host_memory_limit();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  json doc;
  try {
    doc = json::parse(as_bytes(data, size));
  } catch (const json::exception&) {
    return 0;
  }
  if (!doc.is_object()) return 0;
  int toy_sample_size = 0;
  if (const auto toy = doc.find("toy"); toy != doc.end() && toy->is_object())
    if (const auto target = toy->find("target"); target != toy->end())
      toy_sample_size = check_toy_target(*target);
  if (const auto config = doc.find("config"); config != doc.end())
    check_config(*config, toy_sample_size);
  return 0;
}
