#!/usr/bin/env bash
# One toy experiment of the seed tutorials, end to end: install what is needed, build toy_gan, run
# the experiment into runs/EXPERIMENT-<time> and say where its pictures and numbers are. Extra
# arguments go to `toy_gan train` (variants: --wgan, --minibatch-stddev, --instance-noise S, ...).
#   bash scripts/toy.sh gauss1d|gauss1d-minibatch|parabola|ring|grid [toy_gan train flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $# -lt 1 || $1 == -* ]]; then
  echo "usage: bash scripts/toy.sh EXPERIMENT [toy_gan train flags...]" >&2
  echo "experiments: gauss1d gauss1d-minibatch parabola ring grid" >&2
  exit 2
fi
experiment=$1
shift
bash scripts/install_deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DGAN_CUDA="${GAN_CUDA:-AUTO}" ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build" -j "${JOBS:-$(nproc)}" --target toy_gan
run=${RUN_DIR:-runs/$experiment-$(date +%Y%m%d-%H%M%S)}
"$build/toy_gan" train --experiment "$experiment" --out "$run" "$@"
echo
echo "pictures: $run/samples/ (step 0 = before training) and $run/final.png"
echo "numbers:  $run/result.json, $run/toy_metrics.csv    curves: $run/curves.png $run/d_outputs.png"
echo "report:   $run/report.html (open it in a browser)"
