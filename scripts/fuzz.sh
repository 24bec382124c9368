#!/usr/bin/env bash
# Fuzzes every reader of untrusted input (IDX, checkpoints, safetensors, config.json): installs
# clang and libFuzzer's runtime, builds the fuzz targets with libFuzzer + ASan + UBSan in
# build-fuzz/, writes the seed corpus, and runs each target in turn, one process each (no -jobs:
# the machine's cores are shared). Prints per target the executions, time, corpus and coverage;
# exits non-zero on any finding and prints where its input was kept. corpus, cov and ft are from
# libFuzzer's last status line: inputs/bytes in its corpus, coverage edges, features.
#   bash scripts/fuzz.sh                          # FUZZ_SECONDS=60 per target
#   FUZZ_SECONDS=120 bash scripts/fuzz.sh
#   FUZZ_RUNS=10000000 bash scripts/fuzz.sh       # N executions per target instead of a time
#   FUZZ_TARGETS="fuzz_idx fuzz_config" bash scripts/fuzz.sh
#   FUZZ_MAX_LEN=65536 bash scripts/fuzz.sh       # longest input libFuzzer makes (default 16384)
# Limits: -timeout=10 s per input (a hang), -rss_limit_mb=2048, -malloc_limit_mb=1024 (one
# allocation), and GAN_HOST_MEMORY_LIMIT=512M so the readers' own memory check refuses a lying
# size field before libFuzzer's limit would call it a finding. The corpus grows in
# build-fuzz/fuzz/corpus/<target> from run to run; findings go to build-fuzz/fuzz/findings/<target>/
# (add one to fuzz/regressions/<target>/ once fixed, so every ctest run replays it).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh clang libclang-rt-14-dev
build=${FUZZ_BUILD_DIR:-build-fuzz}
jobs=${JOBS:-2}
targets=${FUZZ_TARGETS:-fuzz_idx fuzz_checkpoint fuzz_safetensors fuzz_config}
seconds=${FUZZ_SECONDS:-60}
runs=${FUZZ_RUNS:-}
# Above every seed (the largest is about 7 KB); without it libFuzzer takes the largest input it is
# given, and a 140 KB regression input would slow every execution.
max_len=${FUZZ_MAX_LEN:-16384}

cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DGAN_CUDA=OFF -DGAN_FUZZ=ON \
  -DGAN_BUILD_TESTS=OFF ${CMAKE_ARGS:-}
# shellcheck disable=SC2086  # the target list splits on spaces
cmake --build "$build" -j "$jobs" --target fuzz_seed_corpus $targets

declare -A dict=([fuzz_idx]=idx [fuzz_checkpoint]=checkpoint [fuzz_safetensors]=safetensors
                 [fuzz_config]=config)
export GAN_HOST_MEMORY_LIMIT=${GAN_HOST_MEMORY_LIMIT:-512M}
# A UBSan report with the stack that led to it.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if [ -n "$runs" ]; then budget=(-runs="$runs"); else budget=(-max_total_time="$seconds"); fi
out="$build/fuzz"
failed=""
printf '%-17s %12s %8s %9s %12s %6s %6s  %s\n' target executions seconds exec/s corpus cov ft \
  result
for t in $targets; do
  mkdir -p "$out/corpus/$t" "$out/findings/$t" "$out/logs"
  log="$out/logs/$t.log"
  start=$(date +%s.%N)
  rc=0
  # The first directory is the growing corpus; the seeds and regressions are read only.
  "$out/$t" "${budget[@]}" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
    -dict="fuzz/${dict[$t]}.dict" -print_final_stats=1 -artifact_prefix="$out/findings/$t/" \
    "$out/corpus/$t" "$out/seeds/$t" "fuzz/regressions/$t" >"$log" 2>&1 || rc=$?
  elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # The last status line: "#N DONE cov: C ft: F corp: K/S lim: L exec/s: E rss: R".
  status=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
  corpus=$(sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p' <<<"$status")
  execs=${execs:-0}
  rate=$(awk -v n="$execs" -v s="$elapsed" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
  if [ "$rc" -eq 0 ]; then result=ok; else result="FINDING (exit $rc)"; failed="$failed $t"; fi
  printf '%-17s %12s %8.0f %9s %12s %6s %6s  %s\n' "$t" "$execs" "$elapsed" "$rate" \
    "${corpus:-?}" "${cov:-?}" "${ft:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|invariant broken|terminate|what\(\)' "$log" | head -5 |
      sed 's/^/    /'
    sed -n 's/.*Test unit written to \(.*\)/    input kept: \1/p' "$log"
    echo "    log: $log"
  fi
done
if [ -n "$failed" ]; then
  echo "fuzz.sh: findings in:$failed"
  exit 1
fi
