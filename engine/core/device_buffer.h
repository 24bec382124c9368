// CUDA device memory for tests and benchmarks: an Array on the device, plus poisoning.
#pragma once
#include <vector>

#include "engine/core/array.h"
#include "kernels/cuda/check.h"

namespace gan {

template <class T>
class DeviceBuffer : public Array<T> {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : Array<T>(DeviceKind::Cuda, n) {}
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) {
    this->upload(host);
  }
  // Every byte 0xFF: for float a NaN, so an element an op fails to write stands out.
  void poison() {
    if (this->size() > 0) CUDA_CHECK(cudaMemset(this->data(), 0xFF, this->size() * sizeof(T)));
  }
};

}  // namespace gan
