#include "engine/core/cpu_threads.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace gan {

namespace {

double seconds(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The CPUs this process may run on (empty where the mask cannot be read).
std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Busy seconds of the given CPUs since boot, from /proc/stat (user, nice, system, irq, softirq
// and steal: time the CPU was not ours to take); negative where it cannot be read.
double busy_seconds(const std::vector<int>& cpus) {
  FILE* f = std::fopen("/proc/stat", "r");
  if (!f) return -1;
  static const double hz = double(sysconf(_SC_CLK_TCK));
  char line[512];
  unsigned long long busy = 0;
  size_t seen = 0;
  while (std::fgets(line, sizeof line, f)) {
    int cpu = -1;
    unsigned long long v[8] = {};
    if (std::sscanf(line, "cpu%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &v[0], &v[1],
                    &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) != 9)
      continue;
    if (!std::binary_search(cpus.begin(), cpus.end(), cpu)) continue;
    busy += v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // not idle (3), not iowait (4)
    ++seen;
  }
  std::fclose(f);
  return seen == cpus.size() && hz > 0 ? double(busy) / hz : -1;
}

struct State {
  bool init = false;
  int max = 1, fixed = 0, current = 1;
  std::vector<int> cpus;
  double wall = 0, own = 0, busy = -1;  // at the last measurement
};

State& state() {
  static State s;
  if (!s.init) {
    s.init = true;
    s.cpus = allowed_cpus();
#if defined(_OPENMP)
    s.max = std::max(1, omp_get_max_threads());
#endif
    if (!s.cpus.empty()) s.max = std::min(s.max, int(s.cpus.size()));
    s.current = s.max;
    s.wall = seconds(CLOCK_MONOTONIC);
    s.own = seconds(CLOCK_PROCESS_CPUTIME_ID);
    s.busy = s.cpus.empty() ? -1 : busy_seconds(s.cpus);
  }
  return s;
}

void apply(State& s, int n) {
  s.current = n;
#if defined(_OPENMP)
  omp_set_num_threads(n);
#endif
}

}  // namespace

int cpu_threads_max() { return state().max; }

void set_cpu_threads(int n) {
  State& s = state();
  s.fixed = std::max(0, n);
  apply(s, s.fixed > 0 ? std::min(s.fixed, s.max) : s.max);
}

int cpu_threads() { return state().current; }

int adapt_cpu_threads() {
  State& s = state();
  if (s.fixed > 0 || s.max == 1 || s.busy < 0) return s.current;
  const double wall = seconds(CLOCK_MONOTONIC);
  if (wall - s.wall < 0.2) return s.current;
  const double own = seconds(CLOCK_PROCESS_CPUTIME_ID), busy = busy_seconds(s.cpus);
  if (busy < 0) return s.current;
  // Cores the other processes kept busy on average over the window (our own threads' time,
  // spinning included, is subtracted); a thread per core left, where a core counts as left while
  // others use at most a fifth of it (measured on 2 cores: beside a process busy 30% of the time
  // in 20 ms bursts, a keras-mlp step took 24.8 ms on 2 threads and 17.0 ms on 1).
  const double others = std::max(0.0, (busy - s.busy) - (own - s.own)) / (wall - s.wall);
  const int n = std::clamp(int(std::floor(double(s.cpus.size()) - others + 0.2)), 1, s.max);
  s.wall = wall, s.own = own, s.busy = busy;
  if (n != s.current) apply(s, n);
  return s.current;
}

}  // namespace gan
