#include "engine/core/context.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "engine/core/array.h"

#if GAN_WITH_CUDA
#include "kernels/cuda/check.h"
#endif

namespace gan {

void ExecContext::synchronize() const {
#if GAN_WITH_CUDA
  if (is_cuda()) CUDA_CHECK(cudaStreamSynchronize(stream));
#endif
}

ExecResources::ExecResources(DeviceKind kind, int cuda_device) {
  ctx_.kind = kind;
  if (kind == DeviceKind::Cpu) {
    description_ = "cpu (reference ops)";
    return;
  }
  std::string why;
  const int count = cuda_device_count(&why);
  if (count <= cuda_device)
    throw std::runtime_error("--device cuda: " +
                             (count == 0 ? why : fmt::format("no CUDA device {}", cuda_device)));
#if GAN_WITH_CUDA
  CUDA_CHECK(cudaSetDevice(cuda_device));
  // A blocking stream: the synchronous set-up copies (legacy default stream) order against it.
  CUDA_CHECK(cudaStreamCreate(&ctx_.stream));
  CUBLAS_CHECK(cublasCreate(&ctx_.cublas));
  // A workspace of our own: cuBLAS then never allocates inside a step, which stream capture (CUDA
  // graphs) requires. 32 MiB covers the largest split-K workspace cuBLAS asks for on Hopper.
  constexpr size_t kCublasWorkspace = size_t(32) << 20;
  CUDA_CHECK(cudaMalloc(&cublas_workspace_, kCublasWorkspace));
  CUBLAS_CHECK(cublasSetStream(ctx_.cublas, ctx_.stream));
  CUBLAS_CHECK(cublasSetWorkspace(ctx_.cublas, cublas_workspace_, kCublasWorkspace));
  description_ = "cuda:" + std::to_string(cuda_device) + " " + cuda_device_description(cuda_device);
#endif
}

ExecResources::~ExecResources() {
#if GAN_WITH_CUDA
  if (ctx_.cublas) cublasDestroy(ctx_.cublas);
  if (ctx_.stream) cudaStreamDestroy(ctx_.stream);
  if (cublas_workspace_) cudaFree(cublas_workspace_);
#endif
}

namespace detail {

void* array_alloc(DeviceKind kind, size_t bytes) {
  if (kind == DeviceKind::Cpu) {
    void* p = std::malloc(bytes);
    if (!p) throw std::runtime_error(fmt::format("out of host memory allocating {} bytes", bytes));
    return p;
  }
#if GAN_WITH_CUDA
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw std::runtime_error(fmt::format(
        "out of GPU memory: allocating {:.1f} MiB with {:.1f} MiB free of {:.1f} MiB ({})",
        bytes / 1048576.0, free_b / 1048576.0, total_b / 1048576.0, cudaGetErrorString(err)));
  }
  return p;
#else
  throw std::runtime_error("CUDA memory requested in a build without CUDA");
#endif
}

void array_free(DeviceKind kind, void* p) {
  if (!p) return;
  if (kind == DeviceKind::Cpu) {
    std::free(p);
    return;
  }
#if GAN_WITH_CUDA
  cudaFree(p);
#endif
}

void array_copy_in(DeviceKind kind, void* dst, const void* src, size_t bytes) {
  if (kind == DeviceKind::Cpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if GAN_WITH_CUDA
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice));
#endif
}

void array_copy_out(DeviceKind kind, void* dst, const void* src, size_t bytes) {
  if (kind == DeviceKind::Cpu) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if GAN_WITH_CUDA
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost));
#endif
}

void array_zero(DeviceKind kind, void* p, size_t bytes) {
  if (kind == DeviceKind::Cpu) {
    std::memset(p, 0, bytes);
    return;
  }
#if GAN_WITH_CUDA
  CUDA_CHECK(cudaMemset(p, 0, bytes));
#endif
}

}  // namespace detail
}  // namespace gan
