// 2-D convolution and transposed convolution on the GPU: im2col / col2im around the GEMM back ends
// (cuBLAS or the tiled kernel), the batch processed in chunks so the scratch stays bounded. The
// algorithm (chunking, scratch layout, the GEMMs and their shapes) is in conv_plan.h; this file
// supplies the kernels it runs. im2col rather than an implicit GEMM because it reuses the tuned
// GEMMs as they are; which is faster for these shapes is for the benchmarks to measure.
// Deterministic: col2im is a gather (each output element sums its contributions in a fixed
// order), the bias gradient a fixed-order block reduction, and no kernel uses atomics.
#include <cuda_runtime.h>

#include "kernels/conv.h"
#include "kernels/cuda/channel_reduce.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/conv_plan.h"
#include "kernels/cuda/launch.h"

namespace gan::cuda {
namespace {

// Thread mapping (all four element-wise kernels): grid-stride loop, one output element per
// iteration over the output's flat row-major index, so consecutive threads write consecutive
// addresses.

// col (C KH KW, nb GH GW) from img (nb, C, IH, IW); reads are runs with stride SW along a row.
__global__ void im2col_kernel(ColGeometry g, int nb, const float* __restrict__ img,
                              float* __restrict__ col) {
  const int64_t ncols = int64_t(nb) * g.grid(), total = g.rows() * ncols;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    col[i] = im2col_element(g, img, i / ncols, i % ncols);
}

// img (nb, C, IH, IW) = col2im(col) (+ bias[c]); each thread gathers at most
// ceil(KH / SH) ceil(KW / SW) col entries.
__global__ void col2im_kernel(ColGeometry g, int nb, const float* __restrict__ col,
                              const float* __restrict__ bias, float* __restrict__ img) {
  const int64_t total = int64_t(nb) * g.image();
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    img[i] = col2im_element(g, nb, col, bias, i);
}

// dst (C, nb, S) = src (nb, C, S). Iterates over src's index: reads coalesced, writes in runs of S.
__global__ void to_channel_major_kernel(const float* __restrict__ src, float* __restrict__ dst,
                                        int nb, int C, int64_t S) {
  const int64_t total = int64_t(nb) * C * S, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride)
    dst[channel_major_index(i, nb, C, S)] = src[i];
}

// dst (nb, C, S) = src (C, nb, S) (+ bias[c]). Iterates over dst's index: writes coalesced.
__global__ void from_channel_major_kernel(const float* __restrict__ src,
                                          const float* __restrict__ bias, float* __restrict__ dst,
                                          int nb, int C, int64_t S) {
  const int64_t total = int64_t(nb) * C * S, stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const float v = src[channel_major_index(i, nb, C, S)];
    dst[i] = bias ? v + bias[(i / S) % C] : v;
  }
}

// dst[c] (+)= sum over n, s of src (B, C, S). Thread mapping: block c reduces channel c with
// kChannelThreads threads (for_channel_elements), combined by block_sum: a fixed order.
__global__ void __launch_bounds__(kChannelThreads)
    channel_sum_kernel(const float* __restrict__ src, float* __restrict__ dst, int B, int C, int S,
                       bool accumulate) {
  const int c = blockIdx.x;
  float sum[1] = {0.0f};
  for_channel_elements(B, C, S, c, [&](size_t i) { sum[0] += src[i]; });
  block_sum(sum);
  if (threadIdx.x == 0) dst[c] = accumulate ? dst[c] + sum[0] : sum[0];
}

size_t elements(int nb, int64_t per_image) { return size_t(nb) * size_t(per_image); }

// The executor conv_plan.h's plans run with: every step enqueued on ctx.stream, every launch
// checked.
struct CudaExec {
  const GemmContext& ctx;

  void gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, const float* B,
            float beta, float* C) const {
    cuda::gemm(ctx, ta, tb, M, N, K, alpha, A, B, beta, C);
  }
  void im2col(const ColGeometry& g, int nb, const float* img, float* col) const {
    im2col_kernel<<<grid_stride_blocks(elements(nb, g.grid()) * size_t(g.rows())),
                    kGridStrideThreads, 0, ctx.stream>>>(g, nb, img, col);
    CUDA_CHECK_LAUNCH();
  }
  void col2im(const ColGeometry& g, int nb, const float* col, const float* bias, float* img) const {
    col2im_kernel<<<grid_stride_blocks(elements(nb, g.image())), kGridStrideThreads, 0,
                    ctx.stream>>>(g, nb, col, bias, img);
    CUDA_CHECK_LAUNCH();
  }
  void to_channel_major(const float* src, float* dst, int nb, int C, int64_t S) const {
    to_channel_major_kernel<<<grid_stride_blocks(elements(nb, C * S)), kGridStrideThreads, 0,
                              ctx.stream>>>(src, dst, nb, C, S);
    CUDA_CHECK_LAUNCH();
  }
  void from_channel_major(const float* src, float* dst, int nb, int C, int64_t S,
                          const float* bias) const {
    from_channel_major_kernel<<<grid_stride_blocks(elements(nb, C * S)), kGridStrideThreads, 0,
                                ctx.stream>>>(src, bias, dst, nb, C, S);
    CUDA_CHECK_LAUNCH();
  }
  void channel_sum(const float* src, float* dst, int B, int C, int64_t S, bool accumulate) const {
    channel_sum_kernel<<<unsigned(C), kChannelThreads, 0, ctx.stream>>>(src, dst, B, C, int(S),
                                                                        accumulate);
    CUDA_CHECK_LAUNCH();
  }
};

}  // namespace

size_t conv_workspace_floats(const ConvShape& s) { return conv_plan_workspace_floats(s); }

// x: (B, IN, H, W), W: (OUT, IN, KH, KW), b: (OUT) or null, y: (B, OUT, OH, OW).
void conv2d_forward(const GemmContext& ctx, const ConvShape& s, const float* x, const float* W,
                    const float* b, float* y, float* work) {
  CudaExec ex{ctx};
  conv2d_forward_plan(ex, s, x, W, b, y, work);
}

// dy: (B, OUT, OH, OW); dx: (B, IN, H, W) or null, dW: (OUT, IN, KH, KW), db: (OUT) or null.
void conv2d_backward(const GemmContext& ctx, const ConvShape& s, const float* x, const float* W,
                     const float* dy, float* dx, float* dW, float* db, GradMode mode, float* work) {
  CudaExec ex{ctx};
  conv2d_backward_plan(ex, s, x, W, dy, dx, dW, db, mode, work);
}

// x: (B, IN, H, W), W: (IN, OUT, KH, KW), b: (OUT) or null, y: (B, OUT, OH, OW).
void conv_transpose2d_forward(const GemmContext& ctx, const ConvShape& s, const float* x,
                              const float* W, const float* b, float* y, float* work) {
  CudaExec ex{ctx};
  conv_transpose2d_forward_plan(ex, s, x, W, b, y, work);
}

// dy: (B, OUT, OH, OW); dx: (B, IN, H, W) or null, dW: (IN, OUT, KH, KW), db: (OUT) or null.
void conv_transpose2d_backward(const GemmContext& ctx, const ConvShape& s, const float* x,
                               const float* W, const float* dy, float* dx, float* dW, float* db,
                               GradMode mode, float* work) {
  CudaExec ex{ctx};
  conv_transpose2d_backward_plan(ex, s, x, W, dy, dx, dW, db, mode, work);
}

}  // namespace gan::cuda
