#!/usr/bin/env bash
# The sanitizer stage: the whole CPU test suite (and the apps the CLI tests spawn) built with
# AddressSanitizer + UndefinedBehaviorSanitizer (-DGAN_SANITIZE=ON, CPU only) and run with ctest.
# Exits non-zero on any failing test, and any sanitizer report fails its test: a report aborts the
# process (SIGABRT, never an ordinary exit status a test could expect), and tests/cli_harness.h
# fails a test whose child printed one.
#   bash scripts/sanitize.sh                       # build dir: build-asan/
#   BUILD_DIR=... JOBS=... CTEST_ARGS="-R Toy" bash scripts/sanitize.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# g++ first; then the sanitizer runtimes (libasan, libubsan, liblsan), which come with the gcc
# version's libgcc-N-dev (a no-op where g++ is installed normally).
bash scripts/install_deps.sh
gcc_major=$(g++ -dumpversion | cut -d. -f1)
bash scripts/install_deps.sh "libgcc-${gcc_major}-dev"

build=${BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}

# Fail early and clearly if the toolchain cannot link a sanitized program.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int main() { return 0; }' > "$probe/p.cpp"
if ! g++ -fsanitize=address,undefined "$probe/p.cpp" -o "$probe/p" 2> "$probe/err"; then
  echo "sanitize.sh: g++ cannot link -fsanitize=address,undefined:" >&2
  cat "$probe/err" >&2
  exit 1
fi

# RelWithDebInfo (-O2 -g): sanitized code at -O0 runs the training tests several times slower.
t0=$(date +%s)
cmake -S . -B "$build" -G Ninja -DGAN_CUDA=OFF -DGAN_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  ${CMAKE_ARGS:-}
# Only what ctest runs (the test binaries, the apps they spawn, the fuzz targets replaying their
# corpus), not the demo or benchmarks.
cmake --build "$build" -j "$jobs" --target cpu_tests gpu_tests mnist_gan toy_gan \
  fuzz_idx fuzz_checkpoint fuzz_safetensors fuzz_config
t1=$(date +%s)

# abort_on_error: every report ends in SIGABRT, which no test accepts as an expected exit; the
# exitcode (99) applies only where a runtime exits instead of aborting. detect_leaks: LeakSanitizer
# at every process exit. The UBSan options repeat the common ones: with both runtimes in one
# process either variable may be the one read.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:exitcode=99:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:halt_on_error=1:print_summary=1:${ASAN_EXTRA_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:exitcode=99"
export LSAN_OPTIONS="exitcode=99"
# A sanitized child runs slower: cli_harness.h multiplies its per-child deadline by this.
export GAN_TEST_TIME_SCALE=${GAN_TEST_TIME_SCALE:-5}

status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 900 ${CTEST_ARGS:-} || status=$?
t2=$(date +%s)
echo "sanitize.sh: build $((t1 - t0)) s, tests $((t2 - t1)) s; ctest exit status $status"
exit $status
