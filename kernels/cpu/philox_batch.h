// CPU-internal: many Philox4x32-10 blocks at once. philox_block (kernels/scalar.h) is ten rounds
// of two 32 x 32 -> 64-bit multiplies per four words, scalar; dropout (forward, and backward
// again for the same mask) and random fills draw a block per four elements. This computes 16
// blocks per pass in vector registers (AVX-512 or AVX2 where the CPU has them). Integer
// arithmetic only, so every level gives exactly philox_block's words.
#pragma once
#include <cstddef>
#include <cstdint>

namespace gan::cpu {

// out[4 (g - group0) + j] = philox_block(seed, stream, counter, g).v[j] for g in
// [group0, group0 + groups).
void philox_words(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t group0, size_t groups,
                  uint32_t* out);

}  // namespace gan::cpu
