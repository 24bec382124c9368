// Types and macros shared by every op contract. Plain C++: it compiles without the CUDA toolkit.
#pragma once
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define GAN_HD __host__ __device__ __forceinline__
#else
#define GAN_HD inline
#endif

// The same declarations as the CUDA headers make, so op headers need no CUDA include.
typedef struct CUstream_st* cudaStream_t;
typedef struct cublasContext* cublasHandle_t;

namespace gan {

// How a backward pass writes a parameter gradient: the first contribution (Overwrite), a further
// one (Accumulate: D's real and fake halves), or not at all (Ignore: only the input gradient).
enum class GradMode : uint8_t { Overwrite, Accumulate, Ignore };

enum class ActKind : uint8_t { Identity, ReLU, LeakyReLU, Tanh, Sigmoid, ELU };

// param: LeakyReLU's negative slope (>= 0), ELU's alpha (> 0); unused otherwise.
struct Activation {
  ActKind kind = ActKind::Identity;
  float param = 0.0f;
  static Activation identity() { return {ActKind::Identity, 0.0f}; }
  static Activation relu() { return {ActKind::ReLU, 0.0f}; }
  static Activation leaky_relu(float slope) { return {ActKind::LeakyReLU, slope}; }
  static Activation tanh() { return {ActKind::Tanh, 0.0f}; }
  static Activation sigmoid() { return {ActKind::Sigmoid, 0.0f}; }
  static Activation elu(float alpha = 1.0f) { return {ActKind::ELU, alpha}; }
};

const char* activation_name(ActKind kind);

// The divergence check fused into the optimizer ops (adam.h, optimizers.h): their `nonfinite`
// argument is null (no check) or kNonfiniteFlags floats in the op's memory (device memory for
// cuda::). The op sets [kNonfiniteParams] to 1 when a parameter it writes is not finite and
// [kNonfiniteState] to 1 when an optimizer-state value it writes is not. Flags are only ever set
// to 1: never cleared (the caller zeroes them, e.g. once per training step) and never counted, so
// the result is the same whatever order threads and blocks run in. The check costs no extra pass
// over memory: it tests the values the update already holds in registers (one predicate per
// written value) and, on CUDA, takes one block-wide vote and at most one store per flag per block.
constexpr int kNonfiniteParams = 0, kNonfiniteState = 1, kNonfiniteFlags = 2;

}  // namespace gan
