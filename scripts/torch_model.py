"""The PyTorch nn.Sequential of an engine model spec, so exported weights load with strict=True.

    import json, torch_model
    from safetensors.torch import load_file
    cfg = json.load(open("runs/NAME/config.json"))["config"]
    G = torch_model.build(cfg["generator"])
    G.load_state_dict(load_file("runs/NAME/generator.safetensors"), strict=True)
    G.eval()
    images = G(torch.randn(16, cfg["generator"]["input"])).view(-1, 28, 28)

Layer i of the spec is module i, so the tensor names match ("4.weight", "5.running_mean", ...).
Convolutions whose padding PyTorch's modules cannot express (TensorFlow's 'same' with an odd
total padding, which puts the extra pixel at the bottom / right) are subclasses of nn.Conv2d /
nn.ConvTranspose2d that pad or crop explicitly: the same parameters, the engine's outputs. The
geometry (model_shapes.py, beside this file) is written independently of the C++ one
(engine/nn/model.cpp), so the check below tests both.

    python torch_model.py --check DIR   DIR/spec.json, weights.safetensors, x.bin, y.bin (float32)
                                        from the C++ test: load strictly, compare eval outputs
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import model_shapes


class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d reading its input with explicit (left, right, top, bottom) zero padding."""

    def __init__(self, *args, pads: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, self.pads))


class CroppedConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d without padding, cropped to rows [top, top + oh), columns [left, left + ow)."""

    def __init__(self, *args, crop: tuple[int, int, int, int], **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.crop = crop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, left, oh, ow = self.crop
        return super().forward(x)[:, :, top:top + oh, left:left + ow]


def _activation(layer: dict) -> nn.Module:
    name, param = layer["activation"], layer["param"]
    return {"identity": lambda: nn.Identity(), "relu": lambda: nn.ReLU(),
            "leaky_relu": lambda: nn.LeakyReLU(param), "tanh": lambda: nn.Tanh(),
            "sigmoid": lambda: nn.Sigmoid(), "elu": lambda: nn.ELU(param)}[name]()


def _batchnorm(kind: str, channels: int, layer: dict) -> nn.Module:
    """PyTorch's batch norm of a "batchnorm" / "batchnorm2d" layer (eval outputs as the engine's;
    in training PyTorch's running variance is the unbiased one whatever the spec says)."""
    cls = nn.BatchNorm1d if kind == "batchnorm" else nn.BatchNorm2d
    return cls(channels, eps=layer["eps"], momentum=1 - layer["running_keep"])


def build(spec: dict, batchnorm=_batchnorm) -> nn.Sequential:
    """nn.Sequential of the spec (config.json's "generator" or "discriminator").

    batchnorm(kind, channels, layer) makes the module of a batch-norm layer (the peers of the
    training step pass one with the engine's running statistics)."""
    mods: list[nn.Module] = []
    for layer, ls in zip(spec["layers"], model_shapes.layer_shapes(spec)):
        kind = layer["kind"]
        if kind == "dense":
            mods.append(nn.Linear(ls.inp[0], layer["units"], bias=layer["bias"]))
        elif kind == "activation":
            mods.append(_activation(layer))
        elif kind in ("batchnorm", "batchnorm2d"):
            mods.append(batchnorm(kind, ls.inp[0], layer))
        elif kind == "dropout":
            mods.append(nn.Dropout(layer["rate"]))
        elif kind == "reshape":
            mods.append(nn.Unflatten(1, ls.out))
        elif kind == "flatten":
            mods.append(nn.Flatten())
        elif kind in ("conv", "conv_transpose"):
            (c, h, w), (_, oh, ow), (top, left) = ls.inp, ls.out, ls.pad
            (kh, kw), (sh, sw) = layer["kernel"], layer["stride"]
            args = (c, layer["units"], (kh, kw), (sh, sw))
            if kind == "conv":
                if (h + 2 * top - kh) // sh + 1 == oh and (w + 2 * left - kw) // sw + 1 == ow:
                    mods.append(nn.Conv2d(*args, padding=(top, left), bias=layer["bias"]))
                else:  # rows beyond the input up to the last one the output reads
                    bottom = (oh - 1) * sh + kh - h - top
                    right = (ow - 1) * sw + kw - w - left
                    mods.append(PaddedConv2d(*args, pads=(left, right, top, bottom),
                                             bias=layer["bias"]))
            else:
                op = (oh - ((h - 1) * sh - 2 * top + kh), ow - ((w - 1) * sw - 2 * left + kw))
                if 0 <= op[0] < sh and 0 <= op[1] < sw:
                    mods.append(nn.ConvTranspose2d(*args, padding=(top, left), output_padding=op,
                                                   bias=layer["bias"]))
                else:
                    mods.append(CroppedConvTranspose2d(*args, crop=(top, left, oh, ow),
                                                       bias=layer["bias"]))
        else:
            raise ValueError(f"layer kind {kind!r} has no PyTorch module here")
    return nn.Sequential(*mods)


def check(d: Path) -> bool:
    """The C++ test's files: load strictly, run in eval mode, compare with the engine's output."""
    from safetensors.torch import load_file
    spec = json.loads((d / "spec.json").read_text())
    model = build(spec)
    model.load_state_dict(load_file(str(d / "weights.safetensors")), strict=True)
    model.eval()
    x = torch.from_numpy(np.fromfile(d / "x.bin", dtype="<f4"))
    want = torch.from_numpy(np.fromfile(d / "y.bin", dtype="<f4"))
    with torch.no_grad():
        got = model(x.view(-1, spec["input"])).reshape(-1)
    if got.shape != want.shape:
        print(f"shape: PyTorch gives {tuple(got.shape)}, the engine {tuple(want.shape)}")
        return False
    err = (got - want).abs().max().item()
    scale = max(1.0, want.abs().max().item())
    print(f"{len(model)} modules loaded strictly; max |PyTorch - engine| = {err:.3g}")
    return err <= 1e-4 * scale


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", type=Path, required=True)
    ok = check(ap.parse_args().check)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
