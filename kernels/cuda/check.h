// Error checks for CUDA runtime and cuBLAS calls: the failing expression, file and line, thrown.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <stdexcept>
#include <string>

namespace gan::cuda {

[[noreturn]] inline void throw_cuda_error(const char* expr, const char* file, int line,
                                          const char* what) {
  throw std::runtime_error(std::string("CUDA error: ") + what + " in `" + expr + "` at " + file +
                           ":" + std::to_string(line));
}

}  // namespace gan::cuda

#define CUDA_CHECK(expr)                                                                      \
  do {                                                                                        \
    cudaError_t gan_err_ = (expr);                                                            \
    if (gan_err_ != cudaSuccess)                                                              \
      ::gan::cuda::throw_cuda_error(#expr, __FILE__, __LINE__, cudaGetErrorString(gan_err_)); \
  } while (0)

#define CUBLAS_CHECK(expr)                                                                      \
  do {                                                                                          \
    cublasStatus_t gan_st_ = (expr);                                                            \
    if (gan_st_ != CUBLAS_STATUS_SUCCESS)                                                       \
      ::gan::cuda::throw_cuda_error(#expr, __FILE__, __LINE__, cublasGetStatusString(gan_st_)); \
  } while (0)

// After every kernel launch: catches bad launch configurations without synchronising.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
