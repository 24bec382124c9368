// How much memory an allocation may take, checked before it is made: a size that comes from a file
// header, a flag or a checkpoint is refused with a one-line error naming what needed it, instead
// of the process being killed by the OOM killer (or zero-filling gigabytes) first.
#pragma once
#include <cstdint>
#include <string>

namespace gan {

// Bytes this process can still allocate on the host: the kernel's MemAvailable (/proc/meminfo),
// lowered by the address-space limit (RLIMIT_AS) when one is set. The environment variable
// GAN_HOST_MEMORY_LIMIT (bytes, or with a K/M/G suffix) caps it further: for tests, and for users
// sharing a machine. UINT64_MAX when nothing is known.
uint64_t available_host_memory();

// Throws std::runtime_error "<what>: needs 12.3 GiB of host memory, 4.0 GiB available" when
// `bytes` exceeds available_host_memory().
void require_host_memory(uint64_t bytes, const std::string& what);

// "12.3 GiB", "512.0 MiB", "100 bytes".
std::string format_bytes(uint64_t bytes);

}  // namespace gan
