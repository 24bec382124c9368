// Minibatch features on the GPU. Column statistics (means, variances over the batch) are reduced
// per feature by blocks that own 32 consecutive features, as batch norm does; the feature that
// needs a second reduction across the other dimension (the stddev's mean over features, the
// distance's sum over features) is finished by a second launch that reads per-column or
// per-element intermediates parked in y itself, so nothing is allocated. Every sum runs in an
// order fixed by the launch shape: the same bits on every run.
#include "kernels/cuda/check.h"
#include "kernels/minibatch.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

// A column block owns kFeatures consecutive features (threadIdx.x: one warp spans them, so every
// row's loads are coalesced) and kRows threads per feature stride down the batch.
constexpr int kFeatures = 32;
constexpr int kRows = 32;
constexpr int kColumnThreads = kFeatures * kRows;
// The finishing launches: one block for the stddev (F per-column values, then B writes), one
// block per row for the distance (F squared differences).
constexpr int kFinishThreads = 1024;
constexpr int kRowThreads = 256;

// Sums v over ty for each tx by a tree whose shape depends only on kRows; returns the column's
// total to every thread of that column. Ends with a barrier, so partial may be reused at once.
__device__ float sum_over_rows(float v, float (&partial)[kRows][kFeatures]) {
  const int tx = threadIdx.x, ty = threadIdx.y;
  partial[ty][tx] = v;
  __syncthreads();
  for (int s = kRows / 2; s > 0; s /= 2) {
    if (ty < s) partial[ty][tx] += partial[ty + s][tx];
    __syncthreads();
  }
  const float total = partial[0][tx];
  __syncthreads();
  return total;
}

// Sums v over the kN threads of a block (flat index t) by a fixed tree; returns the total to every
// thread. buf holds kN floats in shared memory. Ends with a barrier, so buf may be reused at once.
template <int kN>
__device__ float sum_over_block(float v, float* buf, int t) {
  buf[t] = v;
  __syncthreads();
  for (int half = kN / 2; half > 0; half /= 2) {
    if (t < half) buf[t] += buf[t + half];
    __syncthreads();
  }
  const float total = buf[0];
  __syncthreads();
  return total;
}

// Mean of feature f over the batch (0 for an inactive column, which still joins the barriers).
__device__ float column_mean(const float* x, int B, int F, int f, bool active,
                             float (&partial)[kRows][kFeatures]) {
  float sum = 0.0f;
  if (active)
    for (int b = threadIdx.y; b < B; b += kRows) sum += x[size_t(b) * F + f];
  return sum_over_rows(sum, partial) / float(B);
}

// Biased variance of feature f about its mean (the second of two passes: no cancellation when
// |mean| >> std).
__device__ float column_variance(const float* x, int B, int F, int f, bool active, float mean,
                                 float (&partial)[kRows][kFeatures]) {
  float sq = 0.0f;
  if (active)
    for (int b = threadIdx.y; b < B; b += kRows) {
      const float d = x[size_t(b) * F + f] - mean;
      sq += d * d;
    }
  return sum_over_rows(sq, partial) / float(B);
}

// ---- minibatch stddev -------------------------------------------------------------------------

// First launch. Thread mapping: block (kFeatures, kRows) owns features [blockIdx.x * kFeatures,
// + kFeatures); thread (tx, ty) takes feature f on rows ty, ty + kRows, ... Writes the copy
// y[b, f] = x[b, f] for rows b >= 1 and parks sqrt(v_f + eps) in y[0, f], which the second
// launch reads and then overwrites with x[0, f].
__global__ void __launch_bounds__(kColumnThreads)
    stddev_columns_kernel(const float* x, float* y, int B, int F) {
  __shared__ float partial[kRows][kFeatures];
  const int f = blockIdx.x * kFeatures + threadIdx.x;
  const bool active = f < F;  // inactive threads still join every barrier
  const float mean = column_mean(x, B, F, f, active, partial);
  const float var = column_variance(x, B, F, f, active, mean, partial);
  if (!active) return;  // no barriers below

  const size_t ld = size_t(F) + 1;
  for (int b = threadIdx.y; b < B; b += kRows)
    if (b > 0) y[b * ld + f] = x[size_t(b) * F + f];
  if (threadIdx.y == 0) y[f] = sqrt(var + float(kMinibatchStddevEps));
}

// Second launch. Thread mapping: one block; thread t sums the parked values y[0, j] for
// j = t, t + kFinishThreads, ..., then a fixed tree gives s = (1/F) sum_j. Once every thread has
// read them (the tree's barriers), y[0, :F] gets x[0, :F] back and every row gets s.
__global__ void __launch_bounds__(kFinishThreads)
    stddev_finish_kernel(const float* x, float* y, int B, int F) {
  __shared__ float buf[kFinishThreads];
  const int t = threadIdx.x;
  float sum = 0.0f;
  for (int j = t; j < F; j += kFinishThreads) sum += y[j];
  const float s = sum_over_block<kFinishThreads>(sum, buf, t) / float(F);
  for (int j = t; j < F; j += kFinishThreads) y[j] = x[j];
  const size_t ld = size_t(F) + 1;
  for (int b = t; b < B; b += kFinishThreads) y[b * ld + F] = s;
}

// dx[b, j] = dy[b, j] + G (x[b, j] - m_j) / (F B sqrt(v_j + eps)), G = sum_c dy[c, F]: s depends
// on x[b, j] only through v_j, whose derivative is (2/B)(x[b, j] - m_j).
// Thread mapping: as stddev_columns_kernel. Every block first reduces G over all its threads
// (flat index ty * kFeatures + tx, rows strided by kColumnThreads): the same code and order in
// every block, so every block gets the same bits. Then mean, variance, and the dx column.
__global__ void __launch_bounds__(kColumnThreads)
    stddev_backward_kernel(const float* x, const float* dy, float* dx, int B, int F) {
  __shared__ float partial[kRows][kFeatures];
  const int t = threadIdx.y * kFeatures + threadIdx.x;
  const size_t ld = size_t(F) + 1;
  float g = 0.0f;
  for (int c = t; c < B; c += kColumnThreads) g += dy[c * ld + F];
  const float G = sum_over_block<kColumnThreads>(g, &partial[0][0], t);

  const int f = blockIdx.x * kFeatures + threadIdx.x;
  const bool active = f < F;
  const float mean = column_mean(x, B, F, f, active, partial);
  const float var = column_variance(x, B, F, f, active, mean, partial);
  if (!active) return;  // no barriers below

  const float coef = G / (float(F) * float(B) * sqrt(var + float(kMinibatchStddevEps)));
  for (int b = threadIdx.y; b < B; b += kRows) {
    const size_t i = size_t(b) * F + f;
    dx[i] = dy[b * ld + f] + coef * (x[i] - mean);
  }
}

// ---- minibatch distance -----------------------------------------------------------------------

// First launch. Thread mapping: as stddev_columns_kernel. Parks (x[b, f] - m_f)^2 in y[b, f] for
// every row; the second launch sums each row and puts x back.
__global__ void __launch_bounds__(kColumnThreads)
    distance_columns_kernel(const float* x, float* y, int B, int F) {
  __shared__ float partial[kRows][kFeatures];
  const int f = blockIdx.x * kFeatures + threadIdx.x;
  const bool active = f < F;
  const float mean = column_mean(x, B, F, f, active, partial);
  if (!active) return;  // no barriers below

  const size_t ld = size_t(F) + 1;
  for (int b = threadIdx.y; b < B; b += kRows) {
    const float d = x[size_t(b) * F + f] - mean;
    y[b * ld + f] = d * d;
  }
}

// Second launch. Thread mapping: block b owns row b; thread t sums the parked squares y[b, j] for
// j = t, t + kRowThreads, ..., then a fixed tree. Each thread then overwrites exactly the
// elements it read with x[b, j] (so no other thread's read can see x), and thread 0 writes d_b.
__global__ void __launch_bounds__(kRowThreads)
    distance_rows_kernel(const float* x, float* y, int F) {
  __shared__ float buf[kRowThreads];
  const int t = threadIdx.x;
  const size_t b = blockIdx.x, ld = size_t(F) + 1;
  float* row = y + b * ld;
  const float* xrow = x + b * size_t(F);
  float sum = 0.0f;
  for (int j = t; j < F; j += kRowThreads) sum += row[j];
  const float d = sum_over_block<kRowThreads>(sum, buf, t);
  for (int j = t; j < F; j += kRowThreads) row[j] = xrow[j];
  if (t == 0) row[F] = d;
}

// dx[c, j] = dy[c, j] + 2 (x[c, j] - m_j) g_c - (2/B) sum_b g_b (x[b, j] - m_j), g_b = dy[b, F]:
// d_b = sum_j (x[b, j] - m_j)^2 and m_j depends on every row of column j.
// Thread mapping: as stddev_columns_kernel; passes for the mean, the weighted sum (g_b is the
// same address for the whole warp: a broadcast), then the dx column.
__global__ void __launch_bounds__(kColumnThreads)
    distance_backward_kernel(const float* x, const float* dy, float* dx, int B, int F) {
  __shared__ float partial[kRows][kFeatures];
  const int f = blockIdx.x * kFeatures + threadIdx.x;
  const bool active = f < F;
  const size_t ld = size_t(F) + 1;
  const float mean = column_mean(x, B, F, f, active, partial);
  float w = 0.0f;
  if (active)
    for (int b = threadIdx.y; b < B; b += kRows)
      w += dy[b * ld + F] * (x[size_t(b) * F + f] - mean);
  const float weighted = sum_over_rows(w, partial);
  if (!active) return;  // no barriers below

  const float shift = 2.0f / float(B) * weighted;
  for (int b = threadIdx.y; b < B; b += kRows) {
    const size_t i = size_t(b) * F + f;
    dx[i] = dy[b * ld + f] + 2.0f * (x[i] - mean) * dy[b * ld + F] - shift;
  }
}

dim3 column_grid(int F) { return dim3(unsigned((F + kFeatures - 1) / kFeatures)); }

}  // namespace

// x: (B, F), y: (B, F + 1).
void minibatch_stddev_forward(const float* x, float* y, int B, int F, cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  stddev_columns_kernel<<<column_grid(F), dim3(kFeatures, kRows), 0, stream>>>(x, y, B, F);
  CUDA_CHECK_LAUNCH();
  stddev_finish_kernel<<<1, kFinishThreads, 0, stream>>>(x, y, B, F);
  CUDA_CHECK_LAUNCH();
}

// x, dx: (B, F); dy: (B, F + 1).
void minibatch_stddev_backward(const float* x, const float* dy, float* dx, int B, int F,
                               cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  stddev_backward_kernel<<<column_grid(F), dim3(kFeatures, kRows), 0, stream>>>(x, dy, dx, B, F);
  CUDA_CHECK_LAUNCH();
}

// x: (B, F), y: (B, F + 1).
void minibatch_distance_forward(const float* x, float* y, int B, int F, cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  distance_columns_kernel<<<column_grid(F), dim3(kFeatures, kRows), 0, stream>>>(x, y, B, F);
  CUDA_CHECK_LAUNCH();
  distance_rows_kernel<<<unsigned(B), kRowThreads, 0, stream>>>(x, y, F);
  CUDA_CHECK_LAUNCH();
}

// x, dx: (B, F); dy: (B, F + 1).
void minibatch_distance_backward(const float* x, const float* dy, float* dx, int B, int F,
                                 cudaStream_t stream) {
  if (B <= 0 || F <= 0) return;
  distance_backward_kernel<<<column_grid(F), dim3(kFeatures, kRows), 0, stream>>>(x, dy, dx, B, F);
  CUDA_CHECK_LAUNCH();
}

}  // namespace gan::cuda
