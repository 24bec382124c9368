#!/usr/bin/env bash
# The test command: installs what it needs, then runs three stages and fails if any fails:
#   fuzz      every reader of untrusted input fuzzed for FUZZ_SECONDS (default 60) each
#             (scripts/fuzz.sh: clang, libFuzzer, ASan + UBSan)
#   sanitize  the CPU suite and the apps it spawns under ASan + UBSan (scripts/sanitize.sh)
#   main      configure (CUDA when nvcc is found, unless GAN_CUDA is set), build everything and run
#             the whole suite with ctest (last, so its summary closes the output)
#   bash scripts/test.sh                                 # all three; build dir build/
#   GAN_TEST_STAGES=main bash scripts/test.sh            # only the main suite
#   GAN_CUDA=OFF BUILD_DIR=build-cpu bash scripts/test.sh
set -uo pipefail
cd "$(dirname "$0")/.."
# chromium: the browser test loads a run's report.html headless (skipped where it is missing).
bash scripts/install_deps.sh chromium || exit 1
stages=${GAN_TEST_STAGES:-fuzz,sanitize,main}
failed=""

stage() {  # name, command...
  local name=$1
  shift
  case ",$stages," in *",$name,"*) ;; *) return 0 ;; esac
  echo "==== test.sh: stage $name"
  local t0
  t0=$(date +%s)
  if "$@"; then
    echo "==== test.sh: stage $name passed in $(( $(date +%s) - t0 )) s"
  else
    echo "==== test.sh: stage $name FAILED after $(( $(date +%s) - t0 )) s"
    failed="$failed $name"
  fi
}

main_suite() {
  local build=${BUILD_DIR:-build} jobs=${JOBS:-$(nproc)}
  cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-} &&
    cmake --build "$build" -j "$jobs" &&
    ctest --test-dir "$build" --output-on-failure -j "$jobs"
}

stage fuzz env FUZZ_SECONDS="${FUZZ_SECONDS:-60}" bash scripts/fuzz.sh
stage sanitize env BUILD_DIR=build-asan CMAKE_ARGS= bash scripts/sanitize.sh
stage main main_suite
if [ -n "$failed" ]; then
  echo "test.sh: failed stages:$failed"
  exit 1
fi
