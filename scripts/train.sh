#!/usr/bin/env bash
# The main job: install what is needed (Fashion-MNIST included), build, and train the Keras seed's
# MLP GAN (keras-mlp) on Fashion-MNIST. On a GPU: the seed's full 30,000 iterations; on a CPU: a
# default of 10,000 (about three minutes on 2 cores). Extra arguments go to `mnist_gan train`
# (e.g. --steps 500, --device cpu); another --preset trains that one for its own number of steps.
#   bash scripts/train.sh [mnist_gan train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh dataset-fashion-mnist
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target mnist_gan
# Flags this script adds unless given: the preset, and keras-mlp's number of steps.
preset=keras-mlp defaults=(--preset keras-mlp)
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --preset) preset=${args[i + 1]:-} defaults=() ;;
    --preset=*) preset=${args[i]#--preset=} defaults=() ;;
  esac
done
if [[ $preset == keras-mlp && " $* " != *" --steps "* ]]; then
  if [[ " $* " != *" --device cpu "* ]] && "$build/mnist_gan" devices | grep -q '^cuda'; then
    defaults+=(--steps 30000)
  else
    defaults+=(--steps 10000)
  fi
fi
run="runs/$preset-$(date +%Y%m%d-%H%M%S)"
"$build/mnist_gan" train --out "$run" "${defaults[@]}" "$@"
echo
echo "sample grids: $run/samples/ (newest: $(ls "$run"/samples | tail -1)), $run/progress.gif"
echo "metrics:      $run/metrics.csv    checkpoints: $run/checkpoints/"
echo "report:       $run/report.html (open it in a browser)"
