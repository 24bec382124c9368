// An owning, move-only float/int array on the CPU or on the CUDA device. Layers and models hold
// raw views into these; copies to and from the host are synchronous (set-up, checkpoints,
// samples), never part of a training step.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/core/device.h"

namespace gan {

namespace detail {
void* array_alloc(DeviceKind kind, size_t bytes);
void array_free(DeviceKind kind, void* p);
void array_copy_in(DeviceKind kind, void* dst, const void* src, size_t bytes);
void array_copy_out(DeviceKind kind, void* dst, const void* src, size_t bytes);
void array_zero(DeviceKind kind, void* p, size_t bytes);
}  // namespace detail

template <class T>
class Array {
 public:
  Array() = default;
  Array(DeviceKind kind, size_t n) : kind_(kind), n_(n) {
    if (n > 0) ptr_ = static_cast<T*>(detail::array_alloc(kind, n * sizeof(T)));
    zero();
  }
  ~Array() { detail::array_free(kind_, ptr_); }
  Array(const Array&) = delete;
  Array& operator=(const Array&) = delete;
  Array(Array&& o) noexcept : kind_(o.kind_), ptr_(o.ptr_), n_(o.n_) {
    o.ptr_ = nullptr;
    o.n_ = 0;
  }
  Array& operator=(Array&& o) noexcept {
    if (this != &o) {
      detail::array_free(kind_, ptr_);
      kind_ = o.kind_;
      ptr_ = o.ptr_;
      n_ = o.n_;
      o.ptr_ = nullptr;
      o.n_ = 0;
    }
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return n_; }
  DeviceKind device() const { return kind_; }

  void zero() {
    if (n_) detail::array_zero(kind_, ptr_, n_ * sizeof(T));
  }
  // Host <-> array copies of `count` elements at element offset `at`.
  void upload(const T* host, size_t count, size_t at = 0) {
    if (count) detail::array_copy_in(kind_, ptr_ + at, host, count * sizeof(T));
  }
  void upload(const std::vector<T>& host) { upload(host.data(), host.size()); }
  void download(T* host, size_t count, size_t at = 0) const {
    if (count) detail::array_copy_out(kind_, host, ptr_ + at, count * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    download(v.data(), n_);
    return v;
  }

 private:
  DeviceKind kind_ = DeviceKind::Cpu;
  T* ptr_ = nullptr;
  size_t n_ = 0;
};

}  // namespace gan
