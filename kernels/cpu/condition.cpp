#include "kernels/condition.h"

#include <algorithm>

#include "kernels/scalar.h"

namespace gan::cpu {

// labels: (B).
void random_labels(uint32_t* labels, int B, uint32_t K, uint64_t seed, uint32_t stream,
                   const uint64_t* counter) {
  const uint64_t ctr = *counter;
  for (int b = 0; b < B; ++b) labels[b] = batch_row_index(seed, stream, ctr, uint32_t(b), K);
}

// table: (n rows); indices, labels: (B).
void gather_labels(const uint8_t* table, const uint32_t* indices, int B, uint32_t* labels) {
  for (int b = 0; b < B; ++b) labels[b] = table[indices[b]];
}

// x: (B, F), labels: (B), y: (B, F + K S).
template <class T>
void append_onehot(const T* x, int B, size_t F, const uint32_t* labels, int K, size_t S, T* y) {
  const size_t W = F + size_t(K) * S;
  for (int b = 0; b < B; ++b) {
    T* row = y + size_t(b) * W;
    std::copy(x + size_t(b) * F, x + size_t(b + 1) * F, row);
    for (int j = 0; j < K; ++j)
      std::fill_n(row + F + size_t(j) * S, S, labels[b] == uint32_t(j) ? T(1) : T(0));
  }
}

// x: (B, W), y: (B, F).
template <class T>
void take_columns(const T* x, int B, size_t W, size_t F, T* y) {
  for (int b = 0; b < B; ++b)
    std::copy(x + size_t(b) * W, x + size_t(b) * W + F, y + size_t(b) * F);
}

template void append_onehot<float>(const float*, int, size_t, const uint32_t*, int, size_t, float*);
template void append_onehot<double>(const double*, int, size_t, const uint32_t*, int, size_t,
                                    double*);
template void take_columns<float>(const float*, int, size_t, size_t, float*);
template void take_columns<double>(const double*, int, size_t, size_t, double*);

}  // namespace gan::cpu
