// Which compute devices this build and machine offer. Safe to call in a build without CUDA.
#pragma once
#include <cstdint>
#include <string>

namespace gan {

enum class DeviceKind { Cpu, Cuda };

// True when the build includes the CUDA half (GAN_WITH_CUDA).
bool built_with_cuda();

// Number of usable CUDA devices; 0 when built without CUDA or when the driver reports none.
// `why` (if not null) receives a one-line reason when the answer is 0.
int cuda_device_count(std::string* why = nullptr);

// One line naming CUDA device `index` (name, compute capability, memory), or the reason there is
// none.
std::string cuda_device_description(int index = 0);

// Free memory of the current CUDA device in bytes (UINT64_MAX when unknown or without CUDA).
uint64_t cuda_free_memory();

}  // namespace gan
