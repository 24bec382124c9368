#include "kernels/gather.h"

#include <algorithm>

#include "kernels/scalar.h"

namespace gan::cpu {

template <class T>
void gather_batch(const uint8_t* images, size_t D, const uint32_t* indices, int B, T* out) {
  for (int b = 0; b < B; ++b) {
    const uint8_t* src = images + size_t(indices[b]) * D;
    T* dst = out + size_t(b) * D;
    for (size_t j = 0; j < D; ++j) dst[j] = pixel_to_unit<T>(src[j]);
  }
}

template <class T>
void sample_batch(const uint8_t* images, uint32_t n_images, size_t D, int B, uint64_t seed,
                  uint32_t stream, const uint64_t* counter, T* out, uint32_t* indices_out) {
  const uint64_t ctr = *counter;
  for (int b = 0; b < B; ++b) {
    const uint32_t index = batch_row_index(seed, stream, ctr, uint32_t(b), n_images);
    if (indices_out) indices_out[b] = index;
    gather_batch(images, D, &index, 1, out + size_t(b) * D);
  }
}

template <class T>
void sample_rows(const float* rows, uint32_t n_rows, size_t D, int B, uint64_t seed,
                 uint32_t stream, const uint64_t* counter, T* out, uint32_t* indices_out) {
  const uint64_t ctr = *counter;
  for (int b = 0; b < B; ++b) {
    const uint32_t index = batch_row_index(seed, stream, ctr, uint32_t(b), n_rows);
    if (indices_out) indices_out[b] = index;
    const float* src = rows + size_t(index) * D;
    std::copy(src, src + D, out + size_t(b) * D);
  }
}

// A stable sort by sort_key_less: numbers ascending, then the NaNs, ties in input order.
template <class T>
void sort_values(const T* x, T* y, size_t N) {
  std::copy(x, x + N, y);
  std::stable_sort(y, y + N, [](T a, T b) { return sort_key_less(a, b); });
}

template void gather_batch<float>(const uint8_t*, size_t, const uint32_t*, int, float*);
template void gather_batch<double>(const uint8_t*, size_t, const uint32_t*, int, double*);
template void sample_batch<float>(const uint8_t*, uint32_t, size_t, int, uint64_t, uint32_t,
                                  const uint64_t*, float*, uint32_t*);
template void sample_batch<double>(const uint8_t*, uint32_t, size_t, int, uint64_t, uint32_t,
                                   const uint64_t*, double*, uint32_t*);
template void sample_rows<float>(const float*, uint32_t, size_t, int, uint64_t, uint32_t,
                                 const uint64_t*, float*, uint32_t*);
template void sample_rows<double>(const float*, uint32_t, size_t, int, uint64_t, uint32_t,
                                  const uint64_t*, double*, uint32_t*);
template void sort_values<float>(const float*, float*, size_t);
template void sort_values<double>(const double*, double*, size_t);

}  // namespace gan::cpu
