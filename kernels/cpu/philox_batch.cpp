#include "kernels/cpu/philox_batch.h"

#include "kernels/cpu/isa.h"
#include "kernels/scalar.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace gan::cpu {

namespace {

void philox_words_portable(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t group0,
                           size_t groups, uint32_t* out) {
  for (size_t i = 0; i < groups; ++i) {
    const Philox4 w = philox_block(seed, stream, counter, group0 + uint32_t(i));
    for (int j = 0; j < 4; ++j) out[4 * i + j] = w.v[j];
  }
}

#if defined(__x86_64__)
// Every helper taking or returning a vector is inlined into a function of its own target. GCC 12
// warns that the _mm512_undefined operand inside its own mul_epu32 and srli_epi64 wrappers may be
// used uninitialised (the full mask never reads it).
#pragma GCC diagnostic ignored "-Wpsabi"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define GAN_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"), always_inline)) inline
#define GAN_AVX2 __attribute__((target("avx2,fma"), always_inline)) inline

// The high 32 bits of each lane's 32 x 32-bit product.
GAN_AVX512 __m512i mulhi512(__m512i a, __m512i m) {
  const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(a, m), 32);
  const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
  return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}
GAN_AVX2 __m256i mulhi256(__m256i a, __m256i m) {
  const __m256i even = _mm256_srli_epi64(_mm256_mul_epu32(a, m), 32);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  return _mm256_blend_epi32(even, odd, 0xAA);
}

// Lanes are blocks: c0..c3 hold word j of 16 (8) consecutive blocks. hi/lo of a 32 x 32-bit
// product per lane: vpmuludq multiplies the even lanes (and, shifted, the odd ones) to 64 bits.
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))) void philox_words_avx512(
    uint64_t seed, uint32_t stream, uint64_t counter, uint32_t group0, size_t groups,
    uint32_t* out) {
  const __m512i m0 = _mm512_set1_epi32(int(0xD2511F53u)), m1 = _mm512_set1_epi32(int(0xCD9E8D57u));
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  size_t i = 0;
  for (; i + 16 <= groups; i += 16) {
    __m512i c0 = _mm512_add_epi32(_mm512_set1_epi32(int(group0 + uint32_t(i))), lane);
    __m512i c1 = _mm512_set1_epi32(int(stream)), c2 = _mm512_set1_epi32(int(uint32_t(counter)));
    __m512i c3 = _mm512_set1_epi32(int(uint32_t(counter >> 32)));
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m512i hi0 = mulhi512(c0, m0), lo0 = _mm512_mullo_epi32(c0, m0);
      const __m512i hi1 = mulhi512(c2, m1), lo1 = _mm512_mullo_epi32(c2, m1);
      c0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32(int(k0)));
      c1 = lo1;
      c2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32(int(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    alignas(64) uint32_t w[4][16];
    _mm512_store_si512(w[0], c0);
    _mm512_store_si512(w[1], c1);
    _mm512_store_si512(w[2], c2);
    _mm512_store_si512(w[3], c3);
    for (int l = 0; l < 16; ++l)
      for (int j = 0; j < 4; ++j) out[4 * (i + l) + j] = w[j][l];
  }
  philox_words_portable(seed, stream, counter, group0 + uint32_t(i), groups - i, out + 4 * i);
}

__attribute__((target("avx2,fma"))) void philox_words_avx2(uint64_t seed, uint32_t stream,
                                                           uint64_t counter, uint32_t group0,
                                                           size_t groups, uint32_t* out) {
  const __m256i m0 = _mm256_set1_epi32(int(0xD2511F53u)), m1 = _mm256_set1_epi32(int(0xCD9E8D57u));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  size_t i = 0;
  for (; i + 8 <= groups; i += 8) {
    __m256i c0 = _mm256_add_epi32(_mm256_set1_epi32(int(group0 + uint32_t(i))), lane);
    __m256i c1 = _mm256_set1_epi32(int(stream)), c2 = _mm256_set1_epi32(int(uint32_t(counter)));
    __m256i c3 = _mm256_set1_epi32(int(uint32_t(counter >> 32)));
    uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
    for (int round = 0; round < 10; ++round) {
      const __m256i hi0 = mulhi256(c0, m0), lo0 = _mm256_mullo_epi32(c0, m0);
      const __m256i hi1 = mulhi256(c2, m1), lo1 = _mm256_mullo_epi32(c2, m1);
      c0 = _mm256_xor_si256(_mm256_xor_si256(hi1, c1), _mm256_set1_epi32(int(k0)));
      c1 = lo1;
      c2 = _mm256_xor_si256(_mm256_xor_si256(hi0, c3), _mm256_set1_epi32(int(k1)));
      c3 = lo0;
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    alignas(32) uint32_t w[4][8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(w[0]), c0);
    _mm256_store_si256(reinterpret_cast<__m256i*>(w[1]), c1);
    _mm256_store_si256(reinterpret_cast<__m256i*>(w[2]), c2);
    _mm256_store_si256(reinterpret_cast<__m256i*>(w[3]), c3);
    for (int l = 0; l < 8; ++l)
      for (int j = 0; j < 4; ++j) out[4 * (i + l) + j] = w[j][l];
  }
  philox_words_portable(seed, stream, counter, group0 + uint32_t(i), groups - i, out + 4 * i);
}
#undef GAN_AVX512
#undef GAN_AVX2
#endif

}  // namespace

void philox_words(uint64_t seed, uint32_t stream, uint64_t counter, uint32_t group0, size_t groups,
                  uint32_t* out) {
#if defined(__x86_64__)
  switch (isa()) {
    case Isa::Avx512: return philox_words_avx512(seed, stream, counter, group0, groups, out);
    case Isa::Avx2: return philox_words_avx2(seed, stream, counter, group0, groups, out);
    case Isa::Portable: break;
  }
#endif
  philox_words_portable(seed, stream, counter, group0, groups, out);
}

}  // namespace gan::cpu
