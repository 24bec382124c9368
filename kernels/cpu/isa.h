// CPU-internal: which x86 vector instruction set the float kernels use, chosen at run time so one
// portable build runs the best code the machine has. The element-wise kernels (Adam, activations,
// dropout, Philox) give the same bits at every level. The GEMM's AVX2 kernels (run on AVX2 and
// AVX-512 CPUs alike) sum each dot product in FMAs and 8-lane partial sums, its portable loops one
// multiply and add at a time: those two differ in rounding (each is deterministic).
#pragma once

namespace gan::cpu {

// Ordered: each level includes the ones before it.
enum class Isa {
  Portable = 0,  // the compiler's baseline (SSE2 on x86-64), or any other architecture
  Avx2 = 1,      // AVX2 and FMA
  Avx512 = 2,    // AVX-512 F, VL, BW and DQ
};

const char* isa_name(Isa isa);

// What this CPU supports.
Isa isa_detected();

// What the kernels use: the detected level, capped by the environment variable GAN_CPU_ISA
// (portable, avx2 or avx512; read once) and by set_isa_cap.
Isa isa();

// Caps isa() at `cap` (tests and benchmarks run every level this way); Isa::Avx512 lifts the cap.
void set_isa_cap(Isa cap);

}  // namespace gan::cpu
