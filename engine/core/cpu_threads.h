// How many threads the CPU kernels split their work over (OpenMP's team size). By default it
// adapts: every core this process may run on, less the cores that other processes keep busy, so
// a run beside a build, a browser or a second run does not wait on threads that get no core
// (OpenMP's threads spin while they wait, and a team member without a core stalls every
// parallel region: 3-4x slower steps were measured with one busy core of two). Results do not
// depend on the count: every CPU kernel splits its work so that each output is computed the same
// way whatever thread computes it.
#pragma once

namespace gan {

// The most threads a CPU step may use: the cores in this process's affinity mask, capped by
// OMP_NUM_THREADS when it is set.
int cpu_threads_max();

// n >= 1: always min(n, cpu_threads_max()) threads; 0: adapt (the default).
void set_cpu_threads(int n);

// Called between steps: in adaptive mode, re-measures the other processes' load once at least
// 200 ms have passed since the last measurement (two reads of /proc/stat and the process clock),
// and sets the count. Returns the count in use. Not inside an OpenMP parallel region.
int adapt_cpu_threads();

// The count in use now.
int cpu_threads();

}  // namespace gan
