#!/usr/bin/env python3
"""Per-kernel device time from an `ncu --csv --metrics gpu__time_duration.sum` log (lines that are
not CSV, such as the profiled program's own output and ncu's ==PROF== lines, are skipped): the
kernels' total time per step and the kernels ranked by their share, names shortened.

    python3 benchmarks/kernel_times.py profile.csv --steps 3 [--top 12]
"""
import argparse
import collections
import csv
import re
import sys

UNITS_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3,
            "second": 1e6, "s": 1e6}


def short(name: str) -> str:
    """A kernel's name without its template arguments and parameter list."""
    name = re.sub(r"\(.*$", "", name)  # parameters
    depth, out = 0, []
    for ch in name:  # drop <...>, nested
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace("void ", "").strip()[:70]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv")
    ap.add_argument("--steps", type=int, default=1, help="steps the profiled kernels span")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args()
    with open(args.csv, errors="replace") as f:
        lines = [line for line in f if line.startswith('"')]
    rows = [r for r in csv.DictReader(lines) if r.get("Metric Name") == "gpu__time_duration.sum"]
    if not rows:
        print(f"{args.csv}: no gpu__time_duration.sum rows (did ncu run?)")
        return 1
    by = collections.defaultdict(float)
    count = collections.Counter()
    for r in rows:
        us = float(r["Metric Value"].replace(",", "")) * UNITS_US.get(r["Metric Unit"], 1.0)
        by[short(r["Kernel Name"])] += us
        count[short(r["Kernel Name"])] += 1
    total = sum(by.values())
    print(f"ncu: {len(rows)} kernels over {args.steps} step(s): {len(rows) / args.steps:.0f} "
          f"kernels and {total / args.steps:.1f} us of kernel time a step")
    for name, us in sorted(by.items(), key=lambda kv: -kv[1])[:args.top]:
        print(f"  {us / args.steps:8.1f} us {100 * us / total:5.1f}%  x{count[name] / args.steps:<4.0f} "
              f"{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
