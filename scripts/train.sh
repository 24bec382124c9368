#!/usr/bin/env bash
# The main job: install what is needed (Fashion-MNIST included), build, and train the Keras seed's
# MLP GAN (keras-mlp) on Fashion-MNIST. On a GPU: the seed's full 30,000 iterations; on a CPU: a
# default of 10,000 (about three minutes on 2 cores). Extra arguments go to `mnist_gan train`
# (e.g. --steps 500, --device cpu).
#   bash scripts/train.sh [mnist_gan train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh dataset-fashion-mnist
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target mnist_gan
steps=()
case " $* " in
  *" --steps "*) ;;
  *) if [[ " $* " != *" --device cpu "* ]] && "$build/mnist_gan" devices | grep -q '^cuda'; then
       steps=(--steps 30000)
     else
       steps=(--steps 10000)
     fi ;;
esac
run="runs/keras-mlp-$(date +%Y%m%d-%H%M%S)"
"$build/mnist_gan" train --preset keras-mlp --out "$run" "${steps[@]}" "$@"
echo
echo "sample grids: $run/samples/ (newest: $(ls "$run"/samples | tail -1))"
echo "metrics:      $run/metrics.csv    checkpoints: $run/checkpoints/"
