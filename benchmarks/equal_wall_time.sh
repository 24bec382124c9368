#!/usr/bin/env bash
# Presets trained for the same wall time and scored alike (benchmarks/QUALITY.md): each preset as
# it is, stopped by SIGINT after MINUTES (the run checkpoints at the signal), then 64 samples as a
# grid and 10,000 scored by `mnist_gan evaluate`. One preset after the other, so each has the
# machine to itself.
#   MINUTES=12 (or SECONDS_EACH=...) PRESETS="dcgan keras-mlp" \
#     CLASSIFIER=fashion-classifier.safetensors bash benchmarks/equal_wall_time.sh OUTDIR
set -u
out=${1:?usage: equal_wall_time.sh OUTDIR}
bin=$(realpath "${MNIST_GAN:-build-cpu/mnist_gan}")
clf=${CLASSIFIER:+--classifier $(realpath "$CLASSIFIER")}
secs=${SECONDS_EACH:-$((${MINUTES:-12} * 60))}
mkdir -p "$out" && cd "$out"
for p in ${PRESETS:-dcgan keras-mlp}; do
  rm -rf "run-$p"
  start=$(date +%s)
  timeout -s INT "$secs" "$bin" train --preset "$p" --out "run-$p" --device "${DEVICE:-cpu}" \
    --seed "${SEED:-1}" --steps 1000000 --checkpoint-every 1000000 --log-every 50 >"log-$p.txt" 2>&1
  echo "$p: exit $? after $(($(date +%s) - start)) s" | tee -a times.txt
  ck=$(ls "run-$p"/checkpoints/*.ckpt | tail -1)
  "$bin" generate --checkpoint "$ck" --n 64 --columns 8 --out "grid-$p.png" --device cpu \
    >>"log-$p.txt" 2>&1
  # shellcheck disable=SC2086
  "$bin" evaluate --checkpoint "$ck" $clf --n 10000 --json "eval-$p.json" --device cpu \
    >"eval-$p.txt" 2>&1
  echo "$p: $ck" | tee -a times.txt
  tail -8 "eval-$p.txt"
done
