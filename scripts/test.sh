#!/usr/bin/env bash
# The test command: installs what it needs, configures (CUDA when nvcc is found, unless
# GAN_CUDA is set), builds everything and runs the whole suite with ctest.
#   bash scripts/test.sh                 # build dir: build/
#   GAN_CUDA=OFF BUILD_DIR=build-cpu bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-}
cmake --build "$build" -j "$jobs"
ctest --test-dir "$build" --output-on-failure -j "$jobs"
