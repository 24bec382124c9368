// Tensor fixtures shared by the checkpoint and safetensors tests.
#pragma once
#include <gtest/gtest.h>

#include <bit>
#include <cstring>
#include <string>
#include <vector>

#include "engine/train/checkpoint.h"
#include "test_util.h"

namespace gan::test {

inline NamedTensor random_tensor(Rng& rng, const std::string& name, std::vector<int64_t> shape) {
  size_t n = 1;
  for (int64_t d : shape) n *= size_t(d);
  return {name, std::move(shape), rng.vec<float>(n, -3.0, 3.0)};
}

// Same names, shapes and bit patterns (NaN payloads and -0.0 included).
inline ::testing::AssertionResult same_tensors(const std::vector<NamedTensor>& got,
                                               const std::vector<NamedTensor>& want) {
  if (got.size() != want.size())
    return ::testing::AssertionFailure() << got.size() << " tensors, want " << want.size();
  for (size_t i = 0; i < got.size(); ++i) {
    const auto &g = got[i], &w = want[i];
    if (g.name != w.name || g.shape != w.shape || g.data.size() != w.data.size())
      return ::testing::AssertionFailure() << "tensor " << i << ": '" << g.name << "' vs '"
                                           << w.name << "' (name, shape or size differ)";
    for (size_t k = 0; k < g.data.size(); ++k)
      if (std::memcmp(&g.data[k], &w.data[k], sizeof(float)) != 0)
        return ::testing::AssertionFailure() << g.name << "[" << k << "]: bits 0x" << std::hex
                                             << std::bit_cast<uint32_t>(g.data[k]) << " vs 0x"
                                             << std::bit_cast<uint32_t>(w.data[k]);
  }
  return ::testing::AssertionSuccess();
}

}  // namespace gan::test
