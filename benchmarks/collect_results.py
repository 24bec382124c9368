#!/usr/bin/env python3
"""Merges the raw benchmark outputs of scripts/gpu_check.sh into the benchmarks/results format:
{"device", "date", "commit", "rows": [{"preset", "batch", "precision", "ours_plain_us",
"ours_graph_us", "torch_eager_us", "torch_compile_us", "torch_graph_us", "jax_jit_us", ...}]}
and prints a table with peer time / our time for each row."""
import argparse
import datetime
import json
import pathlib
import subprocess


def load_jsonl(path):
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True, help="directory with step_*.json and peers_*.jsonl")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    raw = pathlib.Path(args.raw)
    rows, device = {}, None
    for f in sorted(raw.glob("step_*.json")):
        data = json.loads(f.read_text())
        device = device or data.get("device")
        for r in data["rows"]:
            key = (r["preset"], r["batch"], r["precision"])
            rows.setdefault(key, {"preset": key[0], "batch": key[1], "precision": key[2]}).update(
                ours_plain_us=r["ours_plain_us"], ours_graph_us=r["ours_graph_us"],
                kernels_per_iter=r.get("kernels_per_iter"),
                device_mem_bytes=r.get("device_mem_bytes"))
    # Peer rows: {"framework", "mode", "preset", "batch", "precision", "us_per_iter"}.
    columns = {("torch", "eager"): "torch_eager_us",
               ("torch", "compile-reduce-overhead"): "torch_compile_us",
               ("torch", "compile-max-autotune-no-cudagraphs"): "torch_compile_nocg_us",
               ("torch", "cuda-graph"): "torch_graph_us", ("jax", "jit"): "jax_jit_us"}
    for f in sorted(raw.glob("peers_*.jsonl")):
        for r in load_jsonl(f):
            col = columns.get((r.get("framework"), r.get("mode")))
            if col is None:
                continue
            key = (r["preset"], r["batch"], r["precision"])
            rows.setdefault(key, {"preset": key[0], "batch": key[1], "precision": key[2]})[col] = \
                r["us_per_iter"]
    keys = ["ours_plain_us", "ours_graph_us", "torch_eager_us", "torch_compile_us",
            "torch_compile_nocg_us", "torch_graph_us", "jax_jit_us"]
    out_rows = []
    for key in sorted(rows):
        r = rows[key]
        for k in keys:
            r.setdefault(k, None)
        out_rows.append(r)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - best effort outside a checkout
        commit = "unknown"
    doc = {"device": device, "date": datetime.date.today().isoformat(), "commit": commit,
           "rows": out_rows}
    # Kernel benchmarks ride along, so they come back from the device machine in this one file.
    for name in ("gemm", "ops", "conv_cuda", "conv_torch_cuda"):
        f = raw / f"{name}.json"
        if f.exists():
            text = f.read_text().strip()
            try:
                doc[name] = json.loads(text)
            except json.JSONDecodeError:  # JSON lines
                doc[name] = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
    pathlib.Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"{'preset':<10} {'batch':>6} {'prec':>5} {'ours us':>9} " +
          " ".join(f"{c.replace('_us', ''):>14}" for c in keys[2:]))
    for r in out_rows:
        ours = min(x for x in (r["ours_plain_us"], r["ours_graph_us"]) if x) if (
            r["ours_plain_us"] or r["ours_graph_us"]) else None
        cells = []
        for c in keys[2:]:
            v = r[c]
            cells.append(f"{v:8.1f} ({v / ours:4.1f}x)" if v and ours else f"{'-':>14}")
        print(f"{r['preset']:<10} {r['batch']:>6} {r['precision']:>5} "
              f"{(f'{ours:9.1f}' if ours else '        -')} " + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
