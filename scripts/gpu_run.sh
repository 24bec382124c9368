#!/usr/bin/env bash
# The GPU check as one device call, from the repository root of the GPU machine, with the
# prebuilt gpu-bundle/ (scripts/gpu_bundle.sh) carried along:
#   OUT=dir bash scripts/gpu_run.sh          # runs STAGES; everything lands in $OUT
#   bash scripts/gpu_run.sh --check          # here: every path and flag the stages use exists
# Stages (STAGES, comma-separated; run in this order; default env,tests,train,bench,peers,profile,
# memcheck;
# TEST_FILTER and SANITIZE_FILTER, regexes on Suite.Name, narrow the tests and the sanitizers):
#   env        the GPU, driver, toolkit; every library of the binaries found
#   tests      gpu_tests, one process per test (a crash or sticky fault stays in its test)
#   train      mnist_gan train --preset keras-mlp on Fashion-MNIST for TRAIN_STEPS (30000), then
#              the same with --no-cuda-graph (TRAIN_COMPARE=0 skips it)
#   bench      bench_step: the three MLP presets at BENCH_BATCHES (32,64,1024), plain and graph;
#              keras-mlp again with the tiled GEMM (fused epilogues), with TF32, and with the
#              activation backward and bias gradient as two kernels (--unfused-act-backward)
#   peers      first-step check of PyTorch and JAX against our step (keras-mlp), then PyTorch
#              eager and CUDA-graph and jax.jit timings (PEER_BATCHES, default 32,64)
#   profile    ncu: each kernel's time in keras-mlp's step at batch 64, summed and ranked
#   eval       sample quality on the GPU: classifier training, GPU vs CPU scores, eval_bench
#   dcgan      bench_step and bench_conv for dcgan, cuDNN through PyTorch, a DCGAN_STEPS run
#   kbench     bench_gemm and bench_ops
#   toy        the toy experiments (shortened) on the GPU
#   memcheck, initcheck, synccheck, racecheck   compute-sanitizer on gpu_tests, per test
#   compile    torch.compile timings (minutes of compiling)
# Every step has its own timeout, cut to what is left of DEADLINE seconds (default 450); a
# sanitizer gets at most SANITIZE_MAX seconds (150), the tests 150. Writes at
# most 8 files into $OUT: summary.txt (printed last), tests.log, train.log, run.tgz, bench.log,
# peers.log, sanitizer.log, raw.tgz (benchmark JSON). run.tgz holds the run directories (no
# checkpoints): the keras-mlp run's, and the dcgan run's.
set -uo pipefail
cd "$(dirname "$0")/.."
bundle=$(cd "${BUNDLE:-gpu-bundle}" && pwd) || { echo "gpu_run: no ${BUNDLE:-gpu-bundle} (scripts/gpu_bundle.sh)"; exit 1; }
bin=$bundle/bin
data=$bundle/data/fashion-mnist
stages=",${STAGES:-env,tests,train,bench,peers,profile,memcheck},"
python=${PYTHON:-python3}
want() { [[ "$stages" == *",$1,"* ]]; }
# The binaries travel as bin.tar.xz (gpu_bundle.sh), unpacked into a temporary folder (an
# unpacked bin/ left in the bundle would push what the device tool carries past its 64 MiB);
# Python's lzma where the machine has no xz.
if [ ! -d "$bin" ] && [ -f "$bundle/bin.tar.xz" ]; then
  unpacked=$(mktemp -d)
  tar xJf "$bundle/bin.tar.xz" -C "$unpacked" 2>/dev/null ||
    ${PYTHON:-python3} -c "import tarfile, sys; tarfile.open(sys.argv[1]).extractall(sys.argv[2])" \
      "$bundle/bin.tar.xz" "$unpacked"
  bin=$unpacked/bin
fi

if [ "${1:-}" = "--check" ]; then
  bad=0
  for p in "$bin/gpu_tests" "$bin/mnist_gan" "$bin/bench_step" "$data/train-images-idx3-ubyte.gz" \
    "$data/train-labels-idx1-ubyte.gz" "$bundle/fonts/DejaVuSans.ttf" benchmarks/peers/torch_gan.py \
    benchmarks/peers/jax_gan.py; do
    [ -e "$p" ] || { echo "gpu_run --check: missing $p"; bad=1; }
  done
  for b in toy_gan bench_gemm bench_ops; do
    [ -e "$bin/$b" ] || echo "gpu_run --check: no $bin/$b (the stages that use it will say so)"
  done
  [ -e "$bundle/classifier.safetensors" ] ||
    echo "gpu_run --check: no classifier.safetensors (the train stage will not score its run)"
  export LD_LIBRARY_PATH="$bundle/lib:${LD_LIBRARY_PATH:-}"
  "$bin/mnist_gan" train --help | grep -q -- "--cuda-graph" || { echo "no --cuda-graph"; bad=1; }
  "$bin/bench_step" --help | grep -q -- "--dump-first-step" || { echo "no --dump-first-step"; bad=1; }
  "$bin/gpu_tests" --gtest_list_tests | grep -q '^TrainerParity\.' || { echo "no TrainerParity"; bad=1; }
  # The flags the peers stage passes, against the scripts' own parser (no framework imported).
  $python - <<'EOF' || bad=1
import sys
sys.path.insert(0, "benchmarks/peers")
try:
    import common
    ap = common.parser("check", train=True)
    ap.add_argument("--modes")
    ap.parse_args(["--bench", "--device", "cuda", "--presets", "keras-mlp", "--batches", "32,64",
                   "--modes", "eager,cuda-graph", "--precisions", "fp32", "--json", "x"])
    ap.parse_args(["--check", "d", "--device", "cuda"])
except ModuleNotFoundError as e:
    print(f"gpu_run --check: peers' flags not checked here ({e})")
EOF
  [ $bad = 0 ] && echo "gpu_run --check: ok"
  exit $bad
fi

out=${OUT:?set OUT (the device tool does)}
mkdir -p "$out"
summary=$out/summary.txt
: >"$summary"
raw=$(mktemp -d)
work=$(mktemp -d)
t0=$(date +%s)
deadline=${DEADLINE:-450}
row() { printf '%-34s %s\n' "$1" "$2" | tee -a "$summary"; }
left() { echo $((deadline - ($(date +%s) - t0))); }
# limit MAX: MAX seconds, or what is left before the deadline less 10 s, whichever is less.
limit() {
  local l
  l=$(($(left) - 10))
  [ "$l" -lt "$1" ] && echo $((l > 1 ? l : 1)) || echo "$1"
}

# Our binaries get the bundle's libraries and the machine's cuBLAS; Python keeps its own.
cuda_lib=""
for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib; do
  [ -e "$d/libcublas.so.13" ] && { cuda_lib=$d; break; }
done
if [ -z "$cuda_lib" ]; then
  hit=$(find /usr /opt -name 'libcublas.so.13' 2>/dev/null | head -1)
  [ -n "$hit" ] && cuda_lib=$(dirname "$hit")
fi
ours_path="$bundle/lib${cuda_lib:+:$cuda_lib}"
ours="env LD_LIBRARY_PATH=$ours_path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# step NAME MAX LOG COMMAND...: COMMAND within MAX seconds (cut to the deadline), its output
# appended to LOG under a header; a summary row with its exit status and wall time (the
# process's, start-up included). Returns the exit status.
step() {
  local name=$1 max=$2 log=$3 start rc ms
  shift 3
  echo "=== $name: $*" >>"$log"
  start=$(now_ms)
  timeout -k 5 "$(limit "$max")" "$@" >>"$log" 2>&1
  rc=$?
  ms=$(($(now_ms) - start))
  row "$name" "rc=$rc, $((ms / 1000)).$((ms % 1000 / 100)) s"
  return $rc
}
# The newest checkpoint of run directory $1 (empty when there is none).
last_checkpoint() { ls "$1"/checkpoints/*.ckpt 2>/dev/null | tail -1; }
if [ -z "${GAN_FONT:-}" ] && [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
  export GAN_FONT=$bundle/fonts/DejaVuSans.ttf
fi

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "bundle commit: $(tr '\n' ' ' <"$bundle/commit" 2>/dev/null)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader 2>&1 |
    sed 's/^/gpu: /'
  echo "cuBLAS from: ${cuda_lib:-not found}"
  echo "stages: ${stages//,/ }"
} | tee -a "$summary"

if want env; then
  missing=$($ours ldd "$bin"/* 2>&1 | grep 'not found' | sort -u)
  [ -z "$missing" ] && row "libraries" ok || row "libraries" "MISSING: $missing"
fi

# The tests of gpu_tests (Suite.Name), one per line.
test_names() {
  $ours "$bin/gpu_tests" --gtest_list_tests | awk '
    /^[A-Za-z0-9_\/]+\.$/ {suite = $1; next}
    /^  [A-Za-z0-9_\/]+/ {print suite $1}' | grep -E "${names_filter:-.}"
}

# run_tests TOOL LOG STAGE_MAX: every test in its own process (6 at a time: a crash or a sticky
# fault stays in its test), TOOL the prefix (empty or a compute-sanitizer command line). The stage
# ends within STAGE_MAX seconds (cut to the deadline): a test gets the time left, one that would
# start with under 5 s left is not run and says so. Each test's log is appended to LOG as it
# ends (whatever happens later, what ran is kept); prints "Suite.Name rc=N T s errors=E" per test
# (E: the sanitizer's error summary, - without one).
run_tests() {
  local tool=$1 log=$2 dir
  dir=$(mktemp -d)
  stage_end=$(($(date +%s) + $(limit "$3")))
  export ours bin dir tool log stage_end
  test_names | xargs -P 6 -I{} bash -c '
    s={}; f=$dir/${s//\//_}; start=$(($(date +%s%N) / 1000000))
    t=$((stage_end - $(date +%s)))
    if [ "$t" -lt 5 ]; then
      echo "$s rc=not-run 0s (no time left)" >"$f.rc"
      exit 0
    fi
    timeout -k 5 "$t" $ours $tool "$bin/gpu_tests" --gtest_filter="$s" --gtest_color=no \
      >"$f.log" 2>&1
    rc=$?; ms=$(($(date +%s%N) / 1000000 - start))
    # memcheck/initcheck/synccheck: "ERROR SUMMARY: N errors"; racecheck: "RACECHECK SUMMARY:
    # ... (N errors, M warnings)".
    e=$(grep -hoE "ERROR SUMMARY: [0-9]+|SUMMARY: .*\([0-9]+ errors" "$f.log" | grep -oE "[0-9]+" |
      tail -1 | awk "{s += \$1} END {print NR ? s : \"-\"}")
    echo "$s rc=$rc $((ms / 1000)).$((ms % 1000 / 100))s errors=$e" >"$f.rc"
    { flock 9; { echo "===== $(cat "$f.rc")"; cat "$f.log"; } >>"$log"; } 9>>"$log.lock"'
  cat "$dir"/*.rc
  rm -rf "$dir" "$log.lock"
}

if want tests; then
  : >"$out/tests.log"
  names_filter=${TEST_FILTER:-.}
  rcs=$(run_tests "" "$out/tests.log" 150)
  failed=$(echo "$rcs" | grep -v ' rc=0 ' | cut -d' ' -f1-2 | tr '\n' ' ')  # not-run ones too
  passed=$(grep -ho '\[  PASSED  \] [0-9]* test' "$out/tests.log" | awk '{s += $4} END {print s + 0}')
  skipped=$(grep -cE '^\[  SKIPPED \] [^ ]+ \(' "$out/tests.log")
  bad=$(grep -h '^\[  FAILED  \] [A-Za-z]*\.[A-Za-z]*' "$out/tests.log" | grep -v ' listed below' |
    awk '{print $4}' | sort -u | tr '\n' ' ')
  row "gpu_tests" "$(echo "$rcs" | grep -c .) tests run one per process, $passed passed, $skipped skipped; not rc=0: ${failed:-none}"
  [ -n "$bad" ] && row "gpu_tests failed" "$bad"
fi

if want train; then
  : >"$out/train.log"
  steps=${TRAIN_STEPS:-30000}
  run=$work/keras-mlp
  step "train keras-mlp $steps (graph)" 200 "$out/train.log" $ours "$bin/mnist_gan" train \
    --preset keras-mlp --data "$data" --out "$run" --steps "$steps" --device cuda ${TRAIN_FLAGS:-}
  tail -3 "$out/train.log" | cut -c1-200 | tee -a "$summary"
  # Its sample quality: 10,000 samples of the final checkpoint scored on the GPU.
  ckpt=$(last_checkpoint "$run")
  if [ -f "$bundle/classifier.safetensors" ] && [ -n "$ckpt" ]; then
    step "evaluate keras-mlp" 60 "$out/train.log" $ours "$bin/mnist_gan" evaluate \
      --checkpoint "$ckpt" --classifier "$bundle/classifier.safetensors" --device cuda \
      --json "$run/evaluate.json"
    row "evaluate keras-mlp scores" "$(tr -d ' \n' <"$run/evaluate.json" 2>/dev/null | cut -c1-300)"
  fi
  tar czf "$out/run.tgz" -C "$work" --exclude='*.ckpt' keras-mlp 2>/dev/null
  # The same run with plain launches, for the graph's gain in a real run (TRAIN_COMPARE=0: skip).
  if [ "${TRAIN_COMPARE:-1}" = 1 ]; then
    step "train keras-mlp --no-cuda-graph" 200 "$out/train.log" $ours "$bin/mnist_gan" train \
      --preset keras-mlp --data "$data" --out "$work/keras-mlp-plain" --steps "$steps" \
      --device cuda --no-cuda-graph ${TRAIN_FLAGS:-}
  fi
fi

if want bench; then
  : >"$out/bench.log"
  step "bench_step" 120 "$out/bench.log" $ours "$bin/bench_step" --device cuda \
    --presets keras-mlp,tf-mlp,torch-mlp --batches "${BENCH_BATCHES:-32,64,1024}" --json "$raw/step_fp32.json"
  # Our tiled GEMM (bias and activation fused into its epilogue: fewer nodes), cuBLAS with TF32,
  # and the unfused activation backward (the baseline of the fused one), keras-mlp only
  # (BENCH_VARIANTS=0 skips them).
  if [ "${BENCH_VARIANTS:-1}" = 1 ]; then
    step "bench_step --gemm tiled" 60 "$out/bench.log" $ours "$bin/bench_step" --device cuda \
      --presets keras-mlp --batches "${BENCH_BATCHES:-32,64,1024}" --gemm tiled \
      --json "$raw/step_tiled.json"
    step "bench_step --tf32" 60 "$out/bench.log" $ours "$bin/bench_step" --device cuda \
      --presets keras-mlp --batches "${BENCH_BATCHES:-32,64,1024}" --tf32 --json "$raw/step_tf32.json"
    step "bench_step --unfused-act-backward" 60 "$out/bench.log" $ours "$bin/bench_step" \
      --device cuda --presets keras-mlp --batches "${BENCH_BATCHES:-32,64,1024}" \
      --unfused-act-backward --json "$raw/step_unfused.json"
  fi
  grep -E '^(=== bench_step|(keras|tf|torch)-mlp)' "$out/bench.log" | sed 's/: env .*bench_step/:/' |
    cut -c1-120 | tee -a "$summary" >/dev/null
fi

if want peers; then
  : >"$out/peers.log"
  dump=$raw/dump-keras-mlp
  step "dump our first step" 60 "$out/peers.log" $ours "$bin/bench_step" --device cuda \
    --dump-first-step "$dump" --preset keras-mlp --batch 64 --no-dropout
  for fw in torch jax; do
    step "peers same step: $fw keras-mlp" 90 "$out/peers.log" $python \
      "benchmarks/peers/${fw}_gan.py" --check "$dump" --device cuda
  done
  batches=${PEER_BATCHES:-32,64}
  step "peers timing: torch" 120 "$out/peers.log" $python benchmarks/peers/torch_gan.py --bench \
    --device cuda --presets keras-mlp --batches "$batches" --modes eager,cuda-graph \
    --precisions fp32 --json "$raw/peers_torch.jsonl"
  step "peers timing: jax" 120 "$out/peers.log" $python benchmarks/peers/jax_gan.py --bench \
    --device cuda --presets keras-mlp --batches "$batches" --precisions fp32 \
    --json "$raw/peers_jax.jsonl"
fi

# Per-kernel device time of keras-mlp's step at batch 64 (plain launches; ncu serialises and
# times each kernel alone): their sum against the graph's step time says how much of the step is
# work and how much the gaps between kernels. Three steps' kernels, well after the warm-up.
if want profile; then
  prof=$raw/profile-keras-mlp-64.csv
  echo "=== ncu: kernel times of keras-mlp batch 64 (3 steps)" >>"$out/bench.log"
  timeout -k 5 "$(limit 120)" ncu --csv --clock-control none --metrics gpu__time_duration.sum \
    --launch-skip 2000 --launch-count 351 $ours "$bin/bench_step" --device cuda \
    --presets keras-mlp --batches 64 \
    --steps 30 --warmup 5 --no-graph >"$prof" 2>>"$out/bench.log"
  row "ncu profile" "rc=$?"
  $python benchmarks/kernel_times.py "$prof" --steps 3 2>&1 | tee -a "$summary" >/dev/null
  cat "$prof" >>"$out/bench.log"
fi

# Sample quality on the GPU: the classifier trained there (>= 88% expected), one checkpoint
# scored on the GPU and on the CPU (the numbers must agree), and eval_bench. The checkpoint is the
# train stage's when it ran, else a 2,000-step keras-mlp run made here.
if want eval; then
  step "eval classifier (cuda)" 120 "$out/train.log" $ours "$bin/mnist_gan" classifier --data "$data" \
    --out "$work/classifier.safetensors" --device cuda
  row "eval classifier accuracy" "$(grep -o '[0-9.]*% of the [0-9]* test images' "$out/train.log" | tail -1)"
  ckpt=$(last_checkpoint "$work/keras-mlp")
  if [ -z "$ckpt" ]; then
    step "eval keras-mlp 2000 steps" 60 "$out/train.log" $ours "$bin/mnist_gan" train --preset keras-mlp \
      --data "$data" --out "$work/eval-run" --steps 2000 --device cuda
    ckpt=$(last_checkpoint "$work/eval-run")
  fi
  if [ -z "$ckpt" ]; then
    row "eval scores" "skipped: no checkpoint to score (see train.log)"
  else
    for dev in cuda cpu; do
      step "eval evaluate ($dev)" 120 "$out/train.log" $ours "$bin/mnist_gan" evaluate --checkpoint "$ckpt" \
        --classifier "$work/classifier.safetensors" --device "$dev" --json "$work/eval-$dev.json"
    done
    $python benchmarks/compare_scores.py "$work/eval-cuda.json" "$work/eval-cpu.json" \
      >>"$out/train.log" 2>&1
    row "eval cuda vs cpu scores" "rc=$? $(grep -o 'scores: [a-zA-Z]*' "$out/train.log" | tail -1)"
    step "eval_bench (cuda)" 90 "$out/train.log" $ours "$bin/eval_bench" --device cuda --checkpoint "$ckpt" \
      --classifier "$work/classifier.safetensors" --reps 3
  fi
fi

# The convolutional preset: its step (bench_step), its convolutions against cuDNN through
# PyTorch, and a real dcgan run of DCGAN_STEPS (2000) on Fashion-MNIST.
if want dcgan; then
  step "bench_step dcgan" 120 "$out/bench.log" $ours "$bin/bench_step" --device cuda \
    --presets dcgan --batches 64,256 --steps 50 --json "$raw/step_dcgan.json"
  grep -E '^dcgan' "$out/bench.log" | tee -a "$summary" >/dev/null
  step "bench_conv cuda" 120 "$out/bench.log" $ours "$bin/bench_conv" --device cuda \
    --batches 64,256 --json "$raw/conv_cuda.json"
  step "conv cuDNN (torch)" 120 "$out/bench.log" $python benchmarks/peers/conv_bench_torch.py \
    --device cuda --batches 64,256 --json "$raw/conv_torch_cuda.json"
  step "train dcgan ${DCGAN_STEPS:-2000} steps" 200 "$out/train.log" $ours "$bin/mnist_gan" train \
    --preset dcgan --data "$data" --out "$work/dcgan" --steps "${DCGAN_STEPS:-2000}" --device cuda
  # run.tgz: the run directories (the keras-mlp run's too, when the train stage ran).
  (cd "$work" && tar czf "$out/run.tgz" --exclude='*.ckpt' --exclude='progress.gif' \
    $(ls -d keras-mlp dcgan 2>/dev/null)) 2>/dev/null
fi

if want kbench; then
  for b in bench_gemm bench_ops; do
    step "$b" 90 "$out/bench.log" $ours "$bin/$b" --json "$raw/$b.json"
  done
fi

if want toy; then
  for e in gauss1d ring; do
    step "toy $e (5000 steps)" 60 "$out/train.log" $ours "$bin/toy_gan" train --experiment "$e" \
      --steps 5000 --device cuda --out "$work/toy-$e"
    row "toy $e result" "$(grep '^result' "$out/train.log" | tail -1)"
  done
fi

for tool in memcheck initcheck synccheck racecheck; do
  want $tool || continue
  echo "######## compute-sanitizer --tool $tool" >>"$out/sanitizer.log"
  names_filter=${SANITIZE_FILTER:-.}
  rcs=$(run_tests "compute-sanitizer --tool $tool --error-exitcode 99" "$out/sanitizer.log" \
    "${SANITIZE_MAX:-150}")
  errors=$(echo "$rcs" | grep -o 'errors=[0-9]*' | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
  summed=$(echo "$rcs" | grep -c 'errors=[0-9]')
  row "sanitizer $tool" "$errors errors in $summed tests' summaries of $(echo "$rcs" | grep -c .) ($(echo "$rcs" | grep -c 'rc=not-run') not run: no time left); failed: $(echo "$rcs" | grep -v ' rc=0 \| rc=not-run' | cut -d' ' -f1-2 | tr '\n' ' ')"
done

if want compile; then
  step "peers timing: torch.compile" 300 "$out/peers.log" $python benchmarks/peers/torch_gan.py \
    --bench --device cuda --presets keras-mlp --batches "${PEER_BATCHES:-32,64}" \
    --modes compile-reduce-overhead,compile-max-autotune-no-cudagraphs --precisions fp32 \
    --json "$raw/peers_torch_compile.jsonl"
fi

# The peers' timings, one row each (peers and compile stages).
for f in "$raw"/peers_*.jsonl; do [ -f "$f" ] && cat "$f"; done | $python -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(f\"{r.get('framework', '?'):6} {r.get('mode', r.get('precision', '')):22} {r.get('preset')} b{r.get('batch')}: {r.get('us_per_iter')} us\")
" 2>&1 | tee -a "$summary" >/dev/null

tar czf "$out/raw.tgz" -C "$raw" . 2>/dev/null
row "elapsed" "$(($(date +%s) - t0)) s"
echo "==== summary"
cat "$summary"
