// Dense layer on the GPU: three GEMMs and a deterministic column-sum for the bias gradient.
#include <cuda_runtime.h>

#include "kernels/cuda/check.h"
#include "kernels/dense.h"

namespace gan::cuda {
namespace {

constexpr int kColsPerBlock = 32;
constexpr int kRowLanes = 16;

// db (OUT) = column sums of dy (B, OUT), written (accumulate == false) or added. Thread mapping:
// a block of 32 x 16 threads per 32 columns; threadIdx.x picks the column (a warp reads 32
// consecutive floats of a row: coalesced), threadIdx.y the rows y, y + 16, ... it sums in order.
// The 16 partial sums are then combined by a shared-memory tree in a fixed order, so the result
// is bitwise the same on every run (no atomics).
__global__ void column_sum_kernel(const float* __restrict__ dy, float* __restrict__ db, int B,
                                  int OUT, bool accumulate) {
  __shared__ float partial[kRowLanes][kColsPerBlock];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = blockIdx.x * kColsPerBlock + tx;
  float sum = 0.0f;
  if (col < OUT) {
    for (int row = ty; row < B; row += kRowLanes) sum += dy[size_t(row) * OUT + col];
  }
  partial[ty][tx] = sum;
  __syncthreads();
  for (int half = kRowLanes / 2; half > 0; half /= 2) {
    if (ty < half) partial[ty][tx] += partial[ty + half][tx];
    __syncthreads();
  }
  if (ty == 0 && col < OUT) db[col] = accumulate ? db[col] + partial[0][tx] : partial[0][tx];
}

}  // namespace

// x: (B, IN), W: (OUT, IN), b: (OUT) or null, y: (B, OUT).
void dense_forward(const GemmContext& ctx, const float* x, const float* W, const float* b, float* y,
                   int B, int IN, int OUT, Activation act) {
  // y (B, OUT) = act(x W^T + b)
  gemm(ctx, Trans::No, Trans::Yes, B, OUT, IN, 1.0f, x, W, 0.0f, y, b, act);
}

// x: (B, IN), W: (OUT, IN), dy: (B, OUT); dx: (B, IN) or null, dW: (OUT, IN), db: (OUT) or null.
// With y = x W^T + b: dW = dy^T x, db = sum over the batch of dy, dx = dy W.
void dense_backward(const GemmContext& ctx, const float* x, const float* W, const float* dy,
                    float* dx, float* dW, float* db, int B, int IN, int OUT, GradMode mode) {
  if (B <= 0 || IN <= 0 || OUT <= 0) return;
  if (mode != GradMode::Ignore) {
    const bool accumulate = mode == GradMode::Accumulate;
    // dW (OUT, IN) (+)= dy^T x, a sum over the batch
    gemm(ctx, Trans::Yes, Trans::No, OUT, IN, B, 1.0f, dy, x, accumulate ? 1.0f : 0.0f, dW);
    if (db) {
      const dim3 block(kColsPerBlock, kRowLanes);
      const dim3 grid((OUT + kColsPerBlock - 1) / kColsPerBlock);
      column_sum_kernel<<<grid, block, 0, ctx.stream>>>(dy, db, B, OUT, accumulate);
      CUDA_CHECK_LAUNCH();
    }
  }
  if (dx) {
    // dx (B, IN) = dy W
    gemm(ctx, Trans::No, Trans::No, B, IN, OUT, 1.0f, dy, W, 0.0f, dx);
  }
}

}  // namespace gan::cuda
