#!/usr/bin/env python3
"""Merges the raw benchmark outputs of scripts/gpu_run.sh (or gpu_check.sh) into a run of the
benchmarks/results format, {"device", "date", "commit", "note", "rows": [{"preset", "batch",
"precision", "ours_plain_us", "ours_graph_us", "torch_eager_us", "torch_compile_us",
"torch_graph_us", "jax_jit_us", ...}], "gemm", "ops", ...}, and prints a table with peer time /
our time for each row. The file keeps every run: {"device", "runs": [newest first]}; a run is
added in front of those already there (a file holding one bare run is converted)."""
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
    ap.add_argument("--out", required=True, help="results file; the run is added to its runs")
    ap.add_argument("--commit", help="the commit the binaries were built from (default: HEAD)")
    ap.add_argument("--note", help="where and how the run was made (the command, the stages)")
    args = ap.parse_args()
    raw = pathlib.Path(args.raw)
    rows, device = {}, None
    for f in sorted(raw.glob("step_*.json")):
        data = json.loads(f.read_text())
        device = device or data.get("device")
        for r in data["rows"]:
            key = (r["preset"], r["batch"], r["precision"])
            row = rows.setdefault(key, {"preset": key[0], "batch": key[1], "precision": key[2]})
            # The variant: the GEMM backend when not cuBLAS, "unfused" for bench_step
            # --unfused-act-backward; the default build's rows have none.
            parts = [r.get("gemm", "cublas"), "unfused" if r.get("fused_act_backward") is False
                     else ""]
            variant = "-".join(p for p in parts if p and p != "cublas")
            if not variant:
                row.update(ours_plain_us=r["ours_plain_us"], ours_graph_us=r["ours_graph_us"],
                           kernels_per_iter=r.get("kernels_per_iter"),
                           device_mem_bytes=r.get("device_mem_bytes"))
            else:  # a variant (bench_step --gemm tiled, --unfused-act-backward): its own columns
                row.update({f"ours_{variant}_plain_us": r["ours_plain_us"],
                            f"ours_{variant}_graph_us": r["ours_graph_us"],
                            f"ours_{variant}_kernels_per_iter": r.get("kernels_per_iter")})
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
    commit = args.commit
    try:
        commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                                          capture_output=True, text=True,
                                          check=True).stdout.strip()
    except Exception:  # noqa: BLE001 - best effort outside a checkout
        commit = "unknown"
    doc = {"device": device, "date": datetime.date.today().isoformat(), "commit": commit,
           "rows": out_rows}
    if args.note:
        doc["note"] = args.note
    # Kernel benchmarks ride along, so they come back from the device machine in this one file.
    # (gpu_run.sh names them bench_gemm.json and bench_ops.json, gpu_check.sh gemm.json, ops.json.)
    for name in ("gemm", "ops", "conv_cuda", "conv_torch_cuda"):
        f = next((g for g in (raw / f"{name}.json", raw / f"bench_{name}.json") if g.exists()), None)
        if f:
            text = f.read_text().strip()
            try:
                doc[name] = json.loads(text)
            except json.JSONDecodeError:  # JSON lines
                doc[name] = [json.loads(l) for l in text.splitlines() if l.strip().startswith("{")]
    out = pathlib.Path(args.out)
    runs = []
    if out.exists():
        old = json.loads(out.read_text())
        runs = old["runs"] if "runs" in old else [old]
    out.write_text(json.dumps({"device": device or (runs[0].get("device") if runs else None),
                               "runs": [doc] + runs}, indent=2) + "\n")
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
