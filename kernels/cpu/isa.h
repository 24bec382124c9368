// CPU-internal: which x86 vector instruction set the float kernels use, chosen at run time so one
// portable build runs the best code the machine has. Every level computes the same bits (each
// kernel's contract fixes the order of operations), so the choice changes speed, never results.
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
