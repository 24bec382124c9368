#!/usr/bin/env bash
# The main job, for now: build the engine and train a small MLP on the CPU reference ops.
# (mnist_gan, the GAN trainer, replaces it in the next milestone.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-}
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target engine_demo
"$build/engine_demo" "$@"
