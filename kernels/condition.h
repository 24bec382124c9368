// Conditioning on a class label (Mirza and Osindero's conditional GAN): labels drawn or gathered
// per row, the one-hot code appended to a row (G's noise, D's flat input) or appended as constant
// planes to an image (a convolutional D's input channels), and the gradient of the row's own part
// taken back out of D's input gradient.
#pragma once
#include "common.h"

namespace gan {

namespace cpu {
// labels (B): uniform in [0, K), row b's drawn as batch_row_index(seed, stream, *counter, b, K)
// (scalar.h: word b % 4 of Philox block (b / 4, stream, *counter)), as sample_batch draws rows.
void random_labels(uint32_t* labels, int B, uint32_t K, uint64_t seed, uint32_t stream,
                   const uint64_t* counter);
// labels (B) = table[indices[b]]: the classes of the rows sample_batch drew. Indices in range
// (the caller's invariant).
void gather_labels(const uint8_t* table, const uint32_t* indices, int B, uint32_t* labels);
// x: (B, F), labels: (B), y: (B, F + K S). Row b of y is row b of x followed by K blocks of S
// values, block j all 1 when labels[b] == j, else all 0 (a label >= K leaves every block 0).
// S = 1: the one-hot vector; S = H W: K constant planes after an image's channels (NCHW).
template <class T>
void append_onehot(const T* x, int B, size_t F, const uint32_t* labels, int K, size_t S, T* y);
// x: (B, W), y: (B, F) = the first F columns of x (F <= W): dL/d(row) out of dL/d(row + code).
template <class T>
void take_columns(const T* x, int B, size_t W, size_t F, T* y);
}  // namespace cpu

namespace cuda {
// counter: device memory; every pointer in device memory.
void random_labels(uint32_t* labels, int B, uint32_t K, uint64_t seed, uint32_t stream,
                   const uint64_t* counter, cudaStream_t cuda_stream);
void gather_labels(const uint8_t* table, const uint32_t* indices, int B, uint32_t* labels,
                   cudaStream_t cuda_stream);
void append_onehot(const float* x, int B, size_t F, const uint32_t* labels, int K, size_t S,
                   float* y, cudaStream_t cuda_stream);
void take_columns(const float* x, int B, size_t W, size_t F, float* y, cudaStream_t cuda_stream);
}  // namespace cuda

}  // namespace gan
