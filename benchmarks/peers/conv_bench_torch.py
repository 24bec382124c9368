"""PyTorch timings of the DCGAN convolutions that bench_conv times (same shapes, same rows): on the
CPU, or with --device cuda through cuDNN (benchmark mode on, TF32 off: float32 like the engine).

  python conv_bench_torch.py [--device cpu|cuda] [--threads 2] [--batches 64,256] [--repeats 20]
                             [--json PATH]

Forward: F.conv2d / F.conv_transpose2d under no_grad. Backward: aten.convolution_backward with
every gradient (input, weight, bias), the kernel autograd runs. Median milliseconds of --repeats
calls after warm-up (the JSON rows also give the fastest call). GFLOP/s counts 2 flops per nominal
multiply-add (padding included); backward (dx and dW; db is negligible) counts twice the forward's
flops. bench_conv counts the same way.
"""
from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

# name, transposed, IN, H, OUT, OH, kernel, stride, padding, output_padding (square images)
SHAPES = [
    ("G convT 256->128 k5 s1 7->7", True, 256, 7, 128, 7, 5, 1, 2, 0),
    ("G convT 128->64 k5 s2 7->14", True, 128, 7, 64, 14, 5, 2, 2, 1),
    ("G convT 64->1 k5 s2 14->28", True, 64, 14, 1, 28, 5, 2, 2, 1),
    ("D conv 1->64 k5 s2 28->14", False, 1, 28, 64, 14, 5, 2, 2, 0),
    ("D conv 64->128 k5 s2 14->7", False, 64, 14, 128, 7, 5, 2, 2, 0),
]


def time_ms(fn, repeats: int, cuda: bool) -> tuple[float, float]:
    """Median and fastest milliseconds per call after warm-up (CUDA: events around each call)."""
    for _ in range(3):
        fn()
    ts = []
    for _ in range(repeats):
        if cuda:
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            stop.record()
            stop.synchronize()
            ts.append(start.elapsed_time(stop))
        else:
            t0 = time.perf_counter()
            fn()
            ts.append(1e3 * (time.perf_counter() - t0))
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batches", default="64,256")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--json", default="")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cuda = a.device == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device(a.device)
    rows = []
    print(f"torch {torch.__version__}, " + (torch.cuda.get_device_name() if cuda else
                                            f"{torch.get_num_threads()} threads"))
    print(f"{'shape':<30} {'B':>4} {'fwd ms':>9} {'GFLOP/s':>8} {'bwd ms':>9} {'GFLOP/s':>8}")
    for B in [int(b) for b in a.batches.split(",")]:
        for name, tr, IN, H, OUT, OH, k, s, pad, opad in SHAPES:
            x = torch.randn(B, IN, H, H, device=dev)
            w = torch.randn(*((IN, OUT) if tr else (OUT, IN)), k, k, device=dev)
            b = torch.randn(OUT, device=dev)
            dy = torch.randn(B, OUT, OH, OH, device=dev)
            if tr:
                fwd = lambda: F.conv_transpose2d(x, w, b, s, pad, opad)
            else:
                fwd = lambda: F.conv2d(x, w, b, s, pad)
            with torch.no_grad():
                assert fwd().shape == dy.shape, (name, fwd().shape)
                fwd_ms, fwd_min = time_ms(fwd, a.repeats, cuda)
                bwd = lambda: torch.ops.aten.convolution_backward(
                    dy, x, w, [OUT], [s, s], [pad, pad], [1, 1], tr, [opad, opad], 1,
                    [True, True, True])
                bwd_ms, bwd_min = time_ms(bwd, a.repeats, cuda)
            # Multiply-adds: every (input pixel or output pixel, IN, OUT, kh, kw) product once.
            macs = B * IN * OUT * k * k * (H * H if tr else OH * OH)
            fwd_gf, bwd_gf = 2 * macs / (fwd_ms * 1e6), 4 * macs / (bwd_ms * 1e6)
            print(f"{name:<30} {B:>4} {fwd_ms:>9.3f} {fwd_gf:>8.1f} {bwd_ms:>9.3f} {bwd_gf:>8.1f}",
                  flush=True)
            rows.append(dict(shape=name, batch=B, fwd_ms=fwd_ms, bwd_ms=bwd_ms, fwd_min_ms=fwd_min,
                             bwd_min_ms=bwd_min, fwd_gflops=fwd_gf, bwd_gflops=bwd_gf))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(framework="torch", version=torch.__version__, device=a.device,
                           threads=a.threads, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
