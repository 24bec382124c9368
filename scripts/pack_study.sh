#!/usr/bin/env bash
# PacGAN on the 2D mixtures: toy_gan runs of every (experiment, pack, seed), then one table of the
# modes captured, the high-quality share and the reverse KL, per run and averaged over the seeds,
# beside PacGAN2's figures (Lin et al. 2018; their setup, not ours).
#   bash scripts/pack_study.sh [OUT_DIR]
# Settings by environment: EXPERIMENTS ("ring grid"), PACKS ("2 3 4"), SEEDS ("1 2 3"), BATCH (512,
# the experiments' own; a pack that does not divide it trains on the largest multiple below, e.g.
# 510 for pack 3), EXTRA (more toy_gan train flags for every run), TOY_GAN (the binary; default
# build/toy_gan), JOBS (runs at once; 1). A finished run (its result.json exists) is not run again,
# so the study can be resumed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/pack-study}
toy_gan=${TOY_GAN:-build/toy_gan}
[[ -x $toy_gan ]] || { echo "no $toy_gan: build it (cmake --build build --target toy_gan)" >&2; exit 1; }
mkdir -p "$out"
runs=()
for e in ${EXPERIMENTS:-ring grid}; do
  for p in ${PACKS:-2 3 4}; do
    for s in ${SEEDS:-1 2 3}; do runs+=("$e $p $s"); done
  done
done
one_run() {
  local e=$1 p=$2 s=$3 dir="$out/$1-pack$2-seed$3"
  [[ -f $dir/result.json ]] && return 0
  rm -rf "$dir"
  local batch=$((${BATCH:-512} / p * p))
  # shellcheck disable=SC2086
  "$toy_gan" train --experiment "$e" --out "$dir" --pack "$p" --seed "$s" --batch "$batch" \
    --device cpu ${EXTRA:-} \
    >"$dir.log" 2>&1 || { echo "FAILED: $e pack $p seed $s (see $dir.log)" >&2; return 1; }
  echo "done: $e pack $p seed $s: $(grep -o 'modes captured.*' "$dir.log" | tail -1)"
}
export -f one_run
export out toy_gan EXTRA BATCH
printf '%s\n' "${runs[@]}" | xargs -P "${JOBS:-1}" -I{} bash -c 'one_run {}'

python3 - "$out" <<'EOF'
import json, os, sys, collections
out = sys.argv[1]
# PacGAN2's figures as issue 14 quotes them (their table: their models and training, not ours).
paper = {("ring", 2): "PacGAN2: 7.9 of 8 modes, 95.6%", ("grid", 2): "PacGAN2: 23.8 of 25, 91.3%"}
rows = collections.defaultdict(list)
for d in sorted(os.listdir(out)):
    f = os.path.join(out, d, "result.json")
    if not os.path.isfile(f): continue
    e, p, s = d.rsplit("-", 2)
    r = json.load(open(f))["result"]
    rows[(e, int(p[4:]))].append((int(s[4:]), r["modes_captured"], r["modes"],
                                  r["high_quality_fraction"], r["reverse_kl"]))
print("| experiment | pack | seeds: modes, high quality, reverse KL | mean modes | mean high quality | PacGAN's table |")
print("| --- | --- | --- | --- | --- | --- |")
for (e, p), rs in sorted(rows.items()):
    each = "; ".join(f"{s}: {m}/{k}, {100*h:.1f}%, {'-' if kl is None else f'{kl:.2f}'}"
                     for s, m, k, h, kl in sorted(rs))
    mm = sum(r[1] for r in rs) / len(rs)
    hh = 100 * sum(r[3] for r in rs) / len(rs)
    print(f"| {e} | {p} | {each} | {mm:.1f} | {hh:.1f}% | {paper.get((e, p), '')} |")
EOF
