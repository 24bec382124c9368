#!/usr/bin/env python3
"""Scores the quality-comparison runs with the engine's evaluator and prints the QUALITY.md table.

For each framework, each seed's samples at each step are scored by `mnist_gan evaluate` (the same
classifier, the same real test set, 10,000 samples); the table gives the mean and the standard
deviation over the seeds.

  ours:  runs/NAME-s<seed>/checkpoints/step_<step>.ckpt  (mnist_gan train ... --seed <seed>)
  torch: DIR-s<seed>/samples_step<step>.safetensors      (peers/torch_gan.py --train ...)

  python3 benchmarks/quality_table.py --mnist-gan build-cpu/mnist_gan \
      --classifier C.safetensors --ours runs/ours --torch runs/torch --seeds 1,2,3 \
      --steps 10000,30000 [--json-dir DIR]
"""
import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

METRICS = [("fd", "FD", "{:.2f}"), ("classifier_score", "classifier score", "{:.3f}"),
           ("classes_covered", "classes covered", "{:.1f}"), ("kl_to_uniform", "KL to uniform", "{:.4f}"),
           ("precision", "precision", "{:.3f}"),
           ("recall", "recall", "{:.3f}")]


def evaluate(args, source_flag: str, source: Path, out: Path) -> dict:
    cmd = [args.mnist_gan, "evaluate", source_flag, str(source), "--classifier", args.classifier,
           "--n", str(args.n), "--device", args.device, "--json", str(out)]
    if source_flag == "--samples":
        cmd += ["--data", args.data]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quality_table: {' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(out.read_text())


def mean_sd(values: list[float], fmt: str) -> str:
    m = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{fmt.format(m)} ± {fmt.format(sd)}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--mnist-gan", required=True)
    p.add_argument("--classifier", required=True)
    p.add_argument("--ours", required=True, help="run directory prefix (before -s<seed>)")
    p.add_argument("--torch", required=True, help="peer output prefix (before -s<seed>)")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--steps", default="10000,30000")
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json-dir", default="quality-json", help="where each evaluation's JSON goes")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    out = Path(args.json_dir)
    out.mkdir(parents=True, exist_ok=True)

    scores: dict[tuple[str, int], list[dict]] = {}
    real = None
    for step in steps:
        for seed in seeds:
            ckpt = Path(f"{args.ours}-s{seed}") / "checkpoints" / f"step_{step:08d}.ckpt"
            j = evaluate(args, "--checkpoint", ckpt, out / f"ours-s{seed}-{step}.json")
            scores.setdefault(("ours", step), []).append(j["generated"])
            real = j["real_vs_real"]
            samples = Path(f"{args.torch}-s{seed}") / f"samples_step{step:06d}.safetensors"
            j = evaluate(args, "--samples", samples, out / f"torch-s{seed}-{step}.json")
            scores.setdefault(("torch", step), []).append(j["generated"])

    print("| framework | steps | " + " | ".join(name for _, name, _ in METRICS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in METRICS) + " |")
    for step in steps:
        for fw, label in (("ours", "gan-engine (C++)"), ("torch", "PyTorch")):
            runs = scores[(fw, step)]
            cells = [mean_sd([float(r[key]) for r in runs], f) for key, _, f in METRICS]
            print(f"| {label} | {step:,} | " + " | ".join(cells) + " |")
    print("| real vs real (test halves; score and coverage: whole test set) | - | "
          + " | ".join(f.format(float(real[key])) for key, _, f in METRICS) + " |")
    print("\nper seed:")
    for (fw, step), runs in sorted(scores.items()):
        for seed, r in zip(seeds, runs):
            print(f"  {fw:5s} step {step:6d} seed {seed}: " +
                  ", ".join(f"{name} {f.format(float(r[key]))}" for key, name, f in METRICS))


if __name__ == "__main__":
    main()
