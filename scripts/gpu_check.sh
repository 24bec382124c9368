#!/usr/bin/env bash
# GPU verification in one call, for a CUDA machine with no package access:
#   bash ../shared/offline-build/pack.sh      # here, once: writes .deps/ (carry it along)
#   bash scripts/gpu_check.sh OUTDIR          # there: build, test, sanitize, benchmark
# Configures with the offline bundle, builds, runs the whole ctest suite, runs the GPU tests under
# compute-sanitizer (memcheck, racecheck, initcheck, synccheck), runs the benchmarks, and writes
# logs, JSON and a summary table (printed last) under OUTDIR.
set -uo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUTDIR}
cd "$(dirname "$0")/.."
mkdir -p "$out"
deps=${GAN_OFFLINE_DEPS:-$PWD/.deps}
build=${BUILD_DIR:-build-gpu}
archs=${CUDA_ARCHS:-90}
sanitizers=${SANITIZERS:-memcheck racecheck initcheck synccheck}
summary="$out/summary.txt"
: >"$summary"
row() { printf '%-28s %s\n' "$1" "$2" | tee -a "$summary" >/dev/null; }

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  nvcc --version | tail -1
} >>"$summary"

status=0
if cmake -S . -B "$build" -G Ninja -DGAN_CUDA=ON -DGAN_OFFLINE_DEPS="$deps" \
     -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/build.log" 2>&1 &&
   cmake --build "$build" -j "$(nproc)" >>"$out/build.log" 2>&1; then
  row build ok
else
  row build "FAILED (see build.log)"
  cat "$summary"
  exit 1
fi

if ctest --test-dir "$build" --output-on-failure -j 4 >"$out/tests.log" 2>&1; then
  row "ctest (all tests)" "ok: $(grep -E 'tests passed' "$out/tests.log" | tail -1)"
else
  row "ctest (all tests)" "FAILED: $(grep -E 'tests passed' "$out/tests.log" | tail -1)"
  status=1
fi
skipped=$(grep -c 'Skipped' "$out/tests.log" || true)
row "ctest skipped" "$skipped"

: >"$out/sanitizer.log"
for tool in $sanitizers; do
  echo "=== compute-sanitizer --tool $tool" >>"$out/sanitizer.log"
  if compute-sanitizer --tool "$tool" --error-exitcode 99 "$build/tests/gpu_tests" \
       --gtest_brief=1 >>"$out/sanitizer.log" 2>&1; then
    row "sanitizer $tool" ok
  else
    row "sanitizer $tool" "FAILED (see sanitizer.log)"
    status=1
  fi
done

if [ -x "$build/benchmarks/bench_gemm" ]; then
  if "$build/benchmarks/bench_gemm" --json "$out/bench_gemm.json" >"$out/bench.log" 2>&1; then
    row "bench_gemm" "ok (bench.log, bench_gemm.json)"
  else
    row "bench_gemm" "FAILED (see bench.log)"
    status=1
  fi
fi

cat "$summary"
exit $status
