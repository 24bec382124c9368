#!/usr/bin/env bash
# GPU verification and benchmarks, for a CUDA machine with no package access:
#   bash scripts/pack_deps.sh                   # here, once: writes .deps/ (carry it along)
#   bash scripts/gpu_check.sh OUTDIR            # there
# Stages (STAGES=..., comma-separated; default all, in this order):
#   build     configure with the offline bundle and build everything
#   test      the whole ctest suite
#   toy       every toy experiment on the GPU (shortened), plus the WGAN and minibatch-stddev
#             variants on the ring: the toy trainer's CUDA path end to end, results in toy.log
#   eval      sample quality on the GPU (needs Fashion-MNIST, FASHION_DIR, default
#             data/fashion-mnist: copy /usr/share/datasets/fashion-mnist into that ignored folder
#             and carry it): the classifier trained on the GPU (>= 88% expected), a short keras-mlp
#             run with --eval-every, its checkpoint scored on the GPU and the CPU (the numbers must
#             agree), and eval_bench on the GPU; output in toy.log
#   sanitize  compute-sanitizer memcheck, racecheck, initcheck, synccheck on the GPU tests
#             (SANITIZERS=... to choose; racecheck is the slow one)
#   bench     bench_gemm, bench_ops, bench_step (FP32 and TF32)
#   peers     the PyTorch / JAX peers: first-step check against our engine, then their timings
#             (PEER_BATCHES=..., PEER_PRESETS=... to narrow; torch.compile takes minutes)
# A device call is limited to 10 minutes: run the stages over a few calls on a warm machine (the
# build directory persists between calls there). Writes at most 8 files into OUTDIR (the device
# tool brings back no more): summary.txt (printed last), build.log, tests.log, sanitizer.log,
# bench.log, peers.log, toy.log (the toy and eval stages), results.json (benchmarks/results format, when bench or peers
# ran).
set -uo pipefail
out=${1:?usage: bash scripts/gpu_check.sh OUTDIR}
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p "$out"
out=$(cd "$out" && pwd)
deps=${GAN_OFFLINE_DEPS:-$root/.deps}
# Text in pictures: the packed DejaVu Sans where the host has no fonts-dejavu-core.
if [ -z "${GAN_FONT:-}" ] && [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] &&
  [ -e "$deps/fonts/DejaVuSans.ttf" ]; then
  export GAN_FONT="$deps/fonts/DejaVuSans.ttf"
fi
build=${BUILD_DIR:-build-gpu}
archs=${CUDA_ARCHS:-90}
stages=",${STAGES:-build,test,toy,eval,sanitize,bench,peers},"
sanitizers=${SANITIZERS:-memcheck racecheck initcheck synccheck}
raw=${RAW_DIR:-$build/bench-raw}  # intermediate JSON (kept on the machine, merged into results.json)
mkdir -p "$raw"
summary="$out/summary.txt"
: >"$summary"
row() { printf '%-30s %s\n' "$1" "$2" >>"$summary"; }
want() { [[ "$stages" == *",$1,"* ]]; }
python=${PYTHON:-python3}

{
  date -u +"date: %Y-%m-%dT%H:%M:%SZ"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (+ uncommitted changes)')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | sed 's/^/gpu: /'
  nvcc --version | tail -1
  echo "stages: ${stages//,/ }"
} >>"$summary"

status=0
if want build; then
  if cmake -S . -B "$build" -G Ninja -DGAN_CUDA=ON -DGAN_OFFLINE_DEPS="$deps" \
       -DCMAKE_CUDA_ARCHITECTURES="$archs" >"$out/build.log" 2>&1 &&
     cmake --build "$build" -j "$(nproc)" >>"$out/build.log" 2>&1; then
    row build ok
  else
    row build "FAILED (see build.log)"
    cat "$summary"
    exit 1
  fi
fi

if want test; then
  if ctest --test-dir "$build" --output-on-failure -j 8 >"$out/tests.log" 2>&1; then
    row "ctest (all tests)" "ok: $(grep -E 'tests passed' "$out/tests.log" | tail -1)"
  else
    row "ctest (all tests)" "FAILED: $(grep -E 'tests passed' "$out/tests.log" | tail -1)"
    status=1
  fi
  row "ctest skipped" "$(grep -c '(Skipped)' "$out/tests.log" || true)"
fi

if want toy; then
  : >"$out/toy.log"
  toy_runs="$build/toy-runs"
  rm -rf "$toy_runs"
  run_toy() {  # name, toy_gan train flags...
    local name=$1
    shift
    echo "=== $name: $*" >>"$out/toy.log"
    if "$build/toy_gan" train --device cuda --out "$toy_runs/$name" "$@" >>"$out/toy.log" 2>&1; then
      row "toy $name" "$(grep '^result' "$out/toy.log" | tail -1)"
    else
      row "toy $name" "FAILED (see toy.log)"
      status=1
    fi
  }
  run_toy gauss1d --experiment gauss1d
  run_toy gauss1d-instance-noise --experiment gauss1d-instance-noise
  run_toy gauss1d-minibatch --experiment gauss1d-minibatch --steps 10000
  run_toy parabola --experiment parabola --steps 40000
  run_toy ring --experiment ring
  run_toy ring-wgan --experiment ring --wgan --steps 5000
  run_toy ring-minibatch-stddev --experiment ring --minibatch-stddev --steps 5000
  run_toy grid --experiment grid --steps 5000
  run_toy ring-solved --experiment ring --pack 4 --lr 1e-3 --ema 0.999
fi

if want eval; then
  data=${FASHION_DIR:-data/fashion-mnist}
  ev="$build/eval-runs"
  rm -rf "$ev"
  mkdir -p "$ev"
  echo "=== eval (data $data)" >>"$out/toy.log"
  eval_step() {  # name, command...
    local name=$1
    shift
    echo "=== $name: $*" >>"$out/toy.log"
    if "$@" >>"$out/toy.log" 2>&1; then row "$name" ok; else row "$name" "FAILED (see toy.log)"; status=1; fi
  }
  if [ ! -f "$data/t10k-labels-idx1-ubyte.gz" ]; then
    row eval "skipped: no Fashion-MNIST in $data (FASHION_DIR)"
  else
    eval_step "eval classifier (cuda)" "$build/mnist_gan" classifier --data "$data" \
      --out "$ev/classifier.safetensors" --device cuda
    row "eval classifier accuracy" "$(grep -o '[0-9.]*% of the [0-9]* test images' "$out/toy.log" | tail -1)"
    eval_step "eval train --eval-every" "$build/mnist_gan" train --preset keras-mlp --data "$data" \
      --out "$ev/run" --steps 2000 --eval-every 1000 --eval-n 10000 \
      --classifier "$ev/classifier.safetensors" --device cuda
    eval_step "eval cgan --conditional --ema (cuda)" "$build/mnist_gan" train --preset cgan \
      --data "$data" --out "$ev/cgan" --steps 2000 --ema 0.999 --pack 2 --eval-every 2000 \
      --eval-n 10000 --classifier "$ev/classifier.safetensors" --device cuda
    row "eval cgan label accuracy" "$(grep -o 'label accuracy [0-9.]*' "$out/toy.log" | tail -1)"
    for dev in cuda cpu; do
      eval_step "eval evaluate ($dev)" "$build/mnist_gan" evaluate \
        --checkpoint "$ev/run/checkpoints/step_00002000.ckpt" \
        --classifier "$ev/classifier.safetensors" --device "$dev" --json "$ev/$dev.json"
    done
    eval_step "eval cuda vs cpu scores" $python benchmarks/compare_scores.py "$ev/cuda.json" \
      "$ev/cpu.json"
    eval_step "eval_bench (cuda)" "$build/benchmarks/eval_bench" --device cuda \
      --checkpoint "$ev/run/checkpoints/step_00002000.ckpt" \
      --classifier "$ev/classifier.safetensors" --reps 3
  fi
fi

if want sanitize; then
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
fi

if want bench; then
  : >"$out/bench.log"
  run_bench() {  # name, command...
    local name=$1
    shift
    echo "=== $*" >>"$out/bench.log"
    if "$@" >>"$out/bench.log" 2>&1; then row "$name" ok; else row "$name" "FAILED (see bench.log)"; status=1; fi
  }
  run_bench bench_gemm "$build/benchmarks/bench_gemm" --json "$raw/gemm.json"
  run_bench bench_ops "$build/benchmarks/bench_ops" --json "$raw/ops.json"
  run_bench "bench_step fp32" "$build/benchmarks/bench_step" --device cuda --json "$raw/step_fp32.json"
  run_bench "bench_step tf32" "$build/benchmarks/bench_step" --device cuda --tf32 --json "$raw/step_tf32.json"
  run_bench "bench_step dcgan" "$build/benchmarks/bench_step" --device cuda --presets dcgan \
    --batches 64,256,1024 --steps 50 --json "$raw/step_dcgan.json"
  run_bench "bench_conv cuda" "$build/benchmarks/bench_conv" --device cuda --batches 64,256 \
    --json "$raw/conv_cuda.json"
  run_bench "conv cuDNN (torch)" $python benchmarks/peers/conv_bench_torch.py --device cuda \
    --batches 64,256 --json "$raw/conv_torch_cuda.json"
fi

if want peers; then
  : >"$out/peers.log"
  peer_presets=${PEER_PRESETS:-keras-mlp,tf-mlp,torch-mlp,dcgan}
  for p in ${peer_presets//,/ }; do
    dump="$raw/dump-$p"
    echo "=== first-step check $p" >>"$out/peers.log"
    if "$build/benchmarks/bench_step" --device cuda --dump-first-step "$dump" --preset "$p" \
         --batch 64 --no-dropout >>"$out/peers.log" 2>&1 &&
       $python benchmarks/peers/torch_gan.py --check "$dump" --device cuda >>"$out/peers.log" 2>&1 &&
       $python benchmarks/peers/jax_gan.py --check "$dump" --device cuda >>"$out/peers.log" 2>&1; then
      row "peers same step: $p" ok
    else
      row "peers same step: $p" "FAILED (see peers.log)"
      status=1
    fi
  done
  for fw in torch jax; do
    echo "=== $fw timings" >>"$out/peers.log"
    if $python "benchmarks/peers/${fw}_gan.py" --bench --device cuda --presets "$peer_presets" \
         --batches "${PEER_BATCHES:-32,64,128,1024,8192}" --json "$raw/peers_$fw.jsonl" \
         >>"$out/peers.log" 2>&1; then
      row "peers timing: $fw" ok
    else
      row "peers timing: $fw" "FAILED (see peers.log)"
      status=1
    fi
  done
fi

if want bench || want peers; then
  $python benchmarks/collect_results.py --raw "$raw" --out "$out/results.json" >>"$summary" 2>&1 ||
    row "collect_results" "FAILED"
fi

cat "$summary"
exit $status
