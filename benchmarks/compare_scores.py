#!/usr/bin/env python3
"""Two `mnist_gan evaluate --json` files of the same checkpoint (one scored on the GPU, one on
the CPU) agree: FD to 1e-3 relative, the classifier score to 1e-3, precision and recall to 0.002
(a k-NN membership may flip at a tie). Exit 0 when they agree, 1 otherwise.

    python3 benchmarks/compare_scores.py cuda.json cpu.json
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    a, b = (json.load(open(p))["generated"] for p in sys.argv[1:3])
    print(f"{sys.argv[1]}: {a}\n{sys.argv[2]}: {b}")
    ok = (abs(a["fd"] - b["fd"]) <= 1e-3 * max(1.0, b["fd"])
          and abs(a["classifier_score"] - b["classifier_score"]) <= 1e-3
          and abs(a["precision"] - b["precision"]) <= 0.002
          and abs(a["recall"] - b["recall"]) <= 0.002)
    print("scores:", "agree" if ok else "DISAGREE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
