// Dense layer on the GPU: three GEMMs and a deterministic column-sum for the bias gradient (with
// the fused activation's backward folded into it, dense_act_backward).
#include <cuda_runtime.h>

#include "kernels/activation.h"
#include "kernels/cuda/check.h"
#include "kernels/dense.h"
#include "kernels/scalar.h"

namespace gan::cuda {
namespace {

constexpr int kColsPerBlock = 32;
constexpr int kRowLanes = 16;

// db (OUT) = column sums of dy (B, OUT), written (accumulate == false) or added. Thread mapping:
// a block of 32 x 16 threads per 32 columns; threadIdx.x picks the column (a warp reads 32
// consecutive floats of a row: coalesced), threadIdx.y the rows y, y + 16, ... it sums in order.
// The 16 partial sums are then combined by a shared-memory tree in a fixed order, so the result
// is bitwise the same on every run (no atomics).
// kWithActivation: first turn each dy element into dy * f'(y) and write it back (the same thread
// reads and writes it), the gradient w.r.t. the pre-activation that the GEMMs then read. The
// product is __fmul_rn (never contracted into the sum's FMA), so dy and db are bitwise what
// activation_backward_kernel and then the plain column sum give. Without it, dy is only read.
template <bool kWithActivation>
__global__ void column_sum_kernel(Activation act, const float* __restrict__ y, float* dy,
                                  float* __restrict__ db, int B, int OUT, bool accumulate) {
  __shared__ float partial[kRowLanes][kColsPerBlock];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int col = blockIdx.x * kColsPerBlock + tx;
  float sum = 0.0f;
  if (col < OUT) {
    for (int row = ty; row < B; row += kRowLanes) {
      const size_t i = size_t(row) * OUT + col;
      float g = dy[i];
      if constexpr (kWithActivation) {
        g = __fmul_rn(g, act_grad_from_output<float>(act, y[i]));
        dy[i] = g;
      }
      sum += g;
    }
  }
  partial[ty][tx] = sum;
  __syncthreads();
  for (int half = kRowLanes / 2; half > 0; half /= 2) {
    if (ty < half) partial[ty][tx] += partial[ty + half][tx];
    __syncthreads();
  }
  if (ty == 0 && col < OUT) db[col] = accumulate ? db[col] + partial[0][tx] : partial[0][tx];
}

template <bool kWithActivation>
void launch_column_sum(Activation act, const float* y, float* dy, float* db, int B, int OUT,
                       bool accumulate, cudaStream_t stream) {
  const dim3 block(kColsPerBlock, kRowLanes);
  const dim3 grid((OUT + kColsPerBlock - 1) / kColsPerBlock);
  column_sum_kernel<kWithActivation>
      <<<grid, block, 0, stream>>>(act, y, dy, db, B, OUT, accumulate);
  CUDA_CHECK_LAUNCH();
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
    // The plain column sum only reads dy (the cast lets both variants share one kernel).
    if (db)
      launch_column_sum<false>({}, nullptr, const_cast<float*>(dy), db, B, OUT, accumulate,
                               ctx.stream);
  }
  if (dx) {
    // dx (B, IN) = dy W
    gemm(ctx, Trans::No, Trans::No, B, IN, OUT, 1.0f, dy, W, 0.0f, dx);
  }
}

// The activation's backward and the bias gradient in one kernel when there is a bias gradient
// to take and the batch is at most kFuseMaxRows; otherwise (Ignore, no bias, a large batch, or
// fuse off) activation_backward then dense_backward, as before. The column sum's grid has one block per 32
// columns whatever the batch, so each thread walks B / 16 rows: at a small batch that costs less
// than a launch, at a large one the element-wise pass is faster over the whole grid.
constexpr int kFuseMaxRows = 1024;

void dense_act_backward(const GemmContext& ctx, Activation act, const float* y, float* dy,
                        const float* x, const float* W, float* dx, float* dW, float* db, int B,
                        int IN, int OUT, GradMode mode, bool fuse) {
  if (B <= 0 || IN <= 0 || OUT <= 0) return;
  if (fuse && act.kind != ActKind::Identity && mode != GradMode::Ignore && db &&
      B <= kFuseMaxRows) {
    launch_column_sum<true>(act, y, dy, db, B, OUT, mode == GradMode::Accumulate, ctx.stream);
    dense_backward(ctx, x, W, dy, dx, dW, nullptr, B, IN, OUT, mode);
    return;
  }
  if (act.kind != ActKind::Identity)
    activation_backward(act, y, dy, dy, size_t(B) * OUT, ctx.stream);
  dense_backward(ctx, x, W, dy, dx, dW, db, B, IN, OUT, mode);
}

}  // namespace gan::cuda
