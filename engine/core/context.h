// Where ops run: the CPU reference path, or a CUDA stream with its cuBLAS handle.
#pragma once
#include <memory>
#include <string>

#include "engine/core/device.h"
#include "kernels/gemm.h"

namespace gan {

struct ExecContext {
  DeviceKind kind = DeviceKind::Cpu;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  GemmBackend gemm_backend = GemmBackend::Cublas;
  bool tf32 = false;
  // A dense layer's fused activation and bias gradient in one backward kernel (off: two, as
  // before; bench_step --unfused-act-backward measures the difference).
  bool fused_act_backward = true;

  bool is_cuda() const { return kind == DeviceKind::Cuda; }
  cuda::GemmContext gemm() const { return {stream, cublas, gemm_backend, tf32}; }
  // Waits until everything enqueued has run (no-op on the CPU). Not for use inside a step.
  void synchronize() const;
};

// Owns the CUDA stream and cuBLAS handle behind an ExecContext (nothing for the CPU).
class ExecResources {
 public:
  // Throws a one-line error when kind is Cuda and no CUDA device is usable.
  explicit ExecResources(DeviceKind kind, int cuda_device = 0);
  ~ExecResources();
  ExecResources(const ExecResources&) = delete;
  ExecResources& operator=(const ExecResources&) = delete;

  const ExecContext& context() const { return ctx_; }
  ExecContext& context() { return ctx_; }
  // "cpu (reference ops)" or the CUDA device's name and memory.
  const std::string& description() const { return description_; }

 private:
  ExecContext ctx_;
  std::string description_;
  void* cublas_workspace_ = nullptr;
};

}  // namespace gan
