"""The shapes of an engine model spec (config.json's "generator" / "discriminator"), with no
framework imported: each layer's input and output shape and a convolution's leading padding.

Used by torch_model.py (nn.Sequential of a spec) and by the peers of the training step
(benchmarks/peers: tensor shapes, the JAX convolutions). The geometry is written independently of
the C++ one (engine/nn/model.cpp), so the checks against the engine test both.

Convolutions (kernels/conv.h): 'same' is TensorFlow's (output ceil(n / stride) for conv, n stride
for conv_transpose; of an odd total padding the extra pixel goes at the bottom / right), else
PyTorch's symmetric padding p (and output_padding for conv_transpose).
"""
from __future__ import annotations

from dataclasses import dataclass


def conv_side(transpose: bool, same: bool, n: int, k: int, s: int, p: int,
              op: int) -> tuple[int, int]:
    """(output size, padding before the first position) of one side."""
    if same:
        out = n * s if transpose else -(-n // s)
        big, small = (out, n) if transpose else (n, out)
        return out, max((small - 1) * s + k - big, 0) // 2
    if transpose:
        return (n - 1) * s - 2 * p + k + op, p
    return (n + 2 * p - k) // s + 1, p


@dataclass(frozen=True)
class LayerShape:
    inp: tuple[int, ...]  # (width,) or (c, h, w)
    out: tuple[int, ...]
    # Conv / conv_transpose: kernels/conv.h's PH, PW (zeros before the first row / column).
    pad: tuple[int, int] | None = None


def layer_shapes(spec: dict) -> list[LayerShape]:
    """One LayerShape per layer of the spec ({"input": n, "layers": [...]})."""
    out: list[LayerShape] = []
    shape: tuple[int, ...] = (spec["input"],)
    for layer in spec["layers"]:
        kind, pad, inp = layer["kind"], None, shape
        if kind == "dense":
            shape = (layer["units"],)
        elif kind == "reshape":
            shape = tuple(layer["shape"])
        elif kind == "flatten":
            shape = (shape[0] * shape[1] * shape[2],)
        elif kind in ("conv", "conv_transpose"):
            t = kind == "conv_transpose"
            _, h, w = shape
            (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
            same = layer["padding"] == "same"
            ph, pw = (0, 0) if same else layer["padding"]
            oph, opw = layer.get("output_padding", [0, 0])
            oh, top = conv_side(t, same, h, kh, sh, ph, oph)
            ow, left = conv_side(t, same, w, kw, sw, pw, opw)
            shape, pad = (layer["units"], oh, ow), (top, left)
        elif kind not in ("activation", "batchnorm", "batchnorm2d", "dropout"):
            raise ValueError(f"layer kind {kind!r} is not supported here")
        out.append(LayerShape(inp, shape, pad))
    return out
