#!/usr/bin/env bash
# The CPU step side by side with its peers in one run (benchmarks/RESULTS.md): bench_step, JAX jit
# and PyTorch eager on the same cores and thread count, each twice in turn (ours, jax, torch, ours,
# jax, torch: a neighbour's burst then shows as a gap between the two rounds), then the shared-core
# case: each again beside one CPU-bound process. Raw JSON lines and logs land in OUTDIR.
#   PYTHON=/work/venv-peers/bin/python THREADS=2 BATCHES=32,64 \
#     bash benchmarks/cpu_peers.sh OUTDIR [BASELINE_BENCH_STEP]
# BASELINE_BENCH_STEP: an older build's bench_step, timed in the same rounds (before/after).
set -u
out=${1:?usage: cpu_peers.sh OUTDIR [BASELINE_BENCH_STEP]}
base=${2:-}
py=${PYTHON:-python3}
threads=${THREADS:-2}
batches=${BATCHES:-32,64}
presets=${PRESETS:-keras-mlp,tf-mlp,torch-mlp}
bench=$(realpath "${BENCH_STEP:-build-cpu/benchmarks/bench_step}")
peers=$(dirname "$(realpath "$0")")/peers
mkdir -p "$out"
out=$(realpath "$out")
ours() {  # $1: round tag; $2...: extra bench_step flags
  local tag=$1
  shift
  "$bench" --device cpu --presets "$presets" --batches "$batches" --steps 200 --warmup 20 \
    --json "$out/ours-$tag.json" "$@" >"$out/ours-$tag.txt" 2>&1
}
peer() {  # $1: jax or torch; $2: round tag
  local args=(--bench --device cpu --threads "$threads" --presets "$presets" --batches "$batches"
              --json "$out/$1-$2.jsonl")
  [ "$1" = torch ] && args+=(--modes eager)
  "$py" "$peers/${1}_gan.py" "${args[@]}" >"$out/$1-$2.txt" 2>&1
}
for round in 1 2; do
  [ -n "$base" ] && "$base" --device cpu --presets "$presets" --batches "$batches" --steps 200 \
    --warmup 20 >"$out/baseline-r$round.txt" 2>&1
  ours "r$round"
  peer jax "r$round"
  peer torch "r$round"
done
# Shared cores: one busy process beside each.
ours busy-adaptive --busy 1
ours busy-fixed --busy 1 --threads "$threads"
( while :; do :; done ) &
spin=$!
peer jax busy
peer torch busy
kill "$spin"
echo "done: $out"
