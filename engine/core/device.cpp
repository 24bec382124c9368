#include "engine/core/device.h"

#include <fmt/format.h>

#if GAN_WITH_CUDA
#include <cuda_runtime_api.h>
#endif

namespace gan {

bool built_with_cuda() { return GAN_WITH_CUDA != 0; }

int cuda_device_count(std::string* why) {
#if GAN_WITH_CUDA
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error so later calls start clean
    if (why) *why = fmt::format("no CUDA device ({})", cudaGetErrorString(err));
    return 0;
  }
  if (count == 0 && why) *why = "no CUDA device (the driver reports none)";
  return count;
#else
  if (why) *why = "no CUDA device (this build has no CUDA support: GAN_CUDA=OFF)";
  return 0;
#endif
}

std::string cuda_device_description(int index) {
  std::string why;
  if (cuda_device_count(&why) <= index) return why.empty() ? "no such CUDA device" : why;
#if GAN_WITH_CUDA
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess)
    return "CUDA device properties unavailable";
  return fmt::format("{} (sm_{}{}, {:.1f} GiB)", prop.name, prop.major, prop.minor,
                     double(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
#else
  return why;
#endif
}

uint64_t cuda_free_memory() {
#if GAN_WITH_CUDA
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return UINT64_MAX;
  }
  return free_b;
#else
  return UINT64_MAX;
#endif
}

}  // namespace gan
