"""The engine's GAN training step in PyTorch: same models, same hyperparameters (see common.py).

  python torch_gan.py --check DIR        one step from bench_step --dump-first-step DIR's files
  python torch_gan.py --self-test        PyTorch against jax_gan.py on random inputs, every preset
  python torch_gan.py --bench [--device cpu --threads 2 --presets ... --batches ...]
      modes: eager, compile-reduce-overhead, compile-max-autotune-no-cudagraphs, cuda-graph
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import common
from common import Preset


class BatchNorm(nn.Module):
    """Batch norm with the engine's conventions: running = keep * running + (1 - keep) * batch,
    running variance biased or unbiased as configured (Keras: biased), eps inside the sqrt."""

    def __init__(self, width: int, keep: float, eps: float, unbiased: bool):
        super().__init__()
        self.keep, self.eps, self.unbiased = keep, eps, unbiased
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean = x.mean(0)
            var = (x - mean).square().mean(0)
            with torch.no_grad():
                n = x.shape[0]
                running = var * (n / (n - 1)) if self.unbiased and n > 1 else var
                self.running_mean.mul_(self.keep).add_(mean, alpha=1 - self.keep)
                self.running_var.mul_(self.keep).add_(running, alpha=1 - self.keep)
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def build(input_dim: int, layers: tuple) -> nn.Sequential:
    """nn.Sequential of the layer list: its state_dict names are the engine's tensor names."""
    mods: list[nn.Module] = []
    width = input_dim
    for l in layers:
        if l[0] == "dense":
            mods.append(nn.Linear(width, l[1], bias=l[2]))
            width = l[1]
        elif l[0] == "leaky_relu":
            mods.append(nn.LeakyReLU(l[1]))
        elif l[0] == "tanh":
            mods.append(nn.Tanh())
        elif l[0] == "batchnorm":
            mods.append(BatchNorm(width, l[1], l[2], l[3]))
        elif l[0] == "dropout":
            mods.append(nn.Dropout(l[1]))
        else:
            raise ValueError(f"unknown layer {l}")
    return nn.Sequential(*mods)


class TorchGan:
    """G, D and their Adam optimizers; step() is one training step of gan_trainer.cpp."""

    def __init__(self, p: Preset, tensors: dict[str, np.ndarray], device: torch.device,
                 capturable: bool = False):
        self.p, self.device = p, device
        self.G = build(p.z_dim, p.g_layers).to(device)
        self.D = build(common.IMAGE_SIZE, p.d_layers).to(device)
        for prefix, m in (("G", self.G), ("D", self.D)):
            m.load_state_dict({k[2:]: torch.from_numpy(v) for k, v in tensors.items()
                               if k.startswith(prefix + ".")}, strict=True)
        a = p.adam
        opt = lambda m: torch.optim.Adam(m.parameters(), lr=a.lr, betas=(a.beta1, a.beta2),
                                         eps=a.eps, capturable=capturable)
        self.opt_g, self.opt_d = opt(self.G), opt(self.D)
        self.g_params = list(self.G.parameters())
        # Graph capture needs the gradients at fixed addresses: zero them instead of freeing them.
        self.grads_to_none = not capturable
        self.record: list[tuple[str, dict[str, torch.Tensor]]] | None = None  # --check only

    def _record(self, prefix: str, m: nn.Module) -> None:
        if self.record is not None:
            self.record.append((prefix, {f"{prefix}.{k}": v.grad.detach().clone()
                                         for k, v in m.named_parameters()}))

    def step(self, real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor):
        G, D, opt_d, opt_g = self.G, self.D, self.opt_d, self.opt_g
        # D step: fakes from G (inference mode for Keras' predict), G's output treated as data.
        G.train(not self.p.g_eval_in_d_step)
        with torch.no_grad():
            fake = G(z_d)
        G.train()
        opt_d.zero_grad(set_to_none=self.grads_to_none)
        logits = D(real)
        loss_real = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        if self.p.d_update == "separate":  # two Keras train_on_batch calls: two Adam steps
            loss_real.backward()
            self._record("D", D)
            opt_d.step()
            opt_d.zero_grad(set_to_none=self.grads_to_none)
            logits = D(fake)
            loss_fake = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
            loss_fake.backward()
        else:  # joint: one Adam step on the summed gradient
            logits = D(fake)
            loss_fake = F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))
            (loss_real + loss_fake).backward()
        self._record("D", D)
        opt_d.step()
        # G step: non-saturating loss through D (train mode); D's parameter gradients not computed.
        opt_g.zero_grad(set_to_none=self.grads_to_none)
        logits = D(G(z_g))
        loss_g = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        loss_g.backward(inputs=self.g_params)
        self._record("G", G)
        opt_g.step()
        return loss_real.detach(), loss_fake.detach(), loss_g.detach()

    def tensors(self) -> dict[str, np.ndarray]:
        return {f"{prefix}.{k}": v.detach().cpu().numpy().astype(np.float32)
                for prefix, m in (("G", self.G), ("D", self.D))
                for k, v in m.state_dict().items()}


def first_step(p: Preset, init: dict, inputs: dict, device: torch.device):
    """One step with dropout disabled, on the given init and inputs.
    Returns (after tensors, losses, gradients by name (one per Adam step))."""
    gan = TorchGan(common.without_dropout(p), init, device)
    gan.record = []
    t = {k: torch.from_numpy(v).to(device) for k, v in inputs.items()}
    losses = gan.step(t["real"], t["z_d"], t["z_g"])
    grads: dict[str, list[np.ndarray]] = {}
    for _, g in gan.record:
        for k, v in g.items():
            grads.setdefault(k, []).append(v.cpu().numpy())
    return gan.tensors(), dict(zip(common.LOSS_NAMES, (float(x) for x in losses))), grads


def check(d: Path, device: torch.device, label: str = "torch") -> bool:
    init, inputs, after, meta = common.read_exchange(d)
    p = common.PRESETS[meta["preset"]]
    if meta.get("dropout", True) and common.has_dropout(p):
        raise SystemExit(f"{d}: dumped with dropout on; masks cannot match across frameworks "
                         "(dump with --no-dropout)")
    ours, losses, grads = first_step(p, init, inputs, device)
    ok, lines = common.compare_step(p, after, meta, ours, losses, grads)
    print(f"{label} vs {d}: preset {p.name}, batch {meta['batch']}, dropout disabled (rate 0: "
          f"masks cannot match across frameworks) -> {'PASS' if ok else 'FAIL'}")
    print("\n".join(lines))
    return ok


def dump(d: Path, p: Preset, batch: int, dropout: bool, seed: int, device: torch.device) -> None:
    """Exchange files from this implementation (random init, perturbed batch-norm statistics)."""
    init = common.init_tensors(p, seed, perturb_bn=True)
    inputs = common.random_inputs(p, batch, seed + 1)
    run_p = p if dropout else common.without_dropout(p)
    gan = TorchGan(run_p, init, device)
    t = {k: torch.from_numpy(v).to(device) for k, v in inputs.items()}
    losses = dict(zip(common.LOSS_NAMES, (float(x) for x in gan.step(t["real"], t["z_d"],
                                                                       t["z_g"]))))
    common.write_exchange(d, p.name, batch, init, inputs, gan.tensors(), losses,
                          dropout and common.has_dropout(p))


def self_test(device: torch.device) -> bool:
    """PyTorch and JAX agree: each dumps a step, the other checks it. Negative controls: steps
    with a deliberately different semantics must fail the check."""
    import dataclasses

    import jax_gan
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, p in common.PRESETS.items():
            for batch in (p.batch, 7):
                d = Path(tmp) / f"{name}-{batch}"
                dump(d / "torch", p, batch, False, 10 + batch, device)
                ok &= jax_gan.check(d / "torch", label="jax")
                jax_gan.dump(d / "jax", p, batch, False, 20 + batch)
                ok &= check(d / "jax", device, label="torch")
        keras = common.PRESETS["keras-mlp"]
        controls = {"joint D update": dataclasses.replace(keras, d_update="joint"),
                    "G in train mode in the D step":
                        dataclasses.replace(keras, g_eval_in_d_step=False),
                    "Adam eps 1e-8": dataclasses.replace(keras, adam=common.Adam(
                        lr=2e-4, beta1=0.5, eps=1e-8))}
        for what, wrong in controls.items():
            d = Path(tmp) / f"control-{len(what)}"
            dump(d, wrong, keras.batch, False, 99, device)  # labelled keras-mlp
            print(f"negative control ({what}; must FAIL):")
            failed = not jax_gan.check(d, label="jax")
            print(f"negative control ({what}): {'failed as it must' if failed else 'PASSED: BAD'}")
            ok &= failed
    print("self-test", "PASS" if ok else "FAIL")
    return ok


# ---- timing -----------------------------------------------------------------------------------

def bench_one(p: Preset, batch: int, mode: str, images: torch.Tensor, device: torch.device,
              args) -> dict:
    torch.manual_seed(args.seed)
    gan = TorchGan(p, common.init_tensors(p, args.seed), device, capturable=mode == "cuda-graph")
    B, n = batch, images.shape[0]

    def noise() -> torch.Tensor:
        if p.noise == "normal":
            return torch.randn(B, p.z_dim, device=device)
        return torch.rand(B, p.z_dim, device=device) * 2 - 1

    def train_step():
        # The batch is gathered and scaled on the device, the noise drawn there, as the engine does.
        idx = torch.randint(0, n, (B,), device=device)
        real = (images[idx].float() - 127.5) / 127.5
        return gan.step(real, noise(), noise())

    run = train_step
    if mode.startswith("compile-"):
        torch._dynamo.reset()
        run = torch.compile(train_step, mode=mode[len("compile-"):])
    elif mode == "cuda-graph":
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the graph creates grads and Adam states
            for _ in range(3):
                train_step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):  # randint/randn/dropout: graph-safe Philox offsets
            static_losses = train_step()
        run = graph.replay

    cuda = device.type == "cuda"
    for _ in range(args.warmup):
        run()
    chunks: list[float] = []
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(args.reps):
        if cuda:
            start.record()
            for _ in range(args.inner):
                run()
            end.record()
            end.synchronize()
            chunks.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            for _ in range(args.inner):
                run()
            chunks.append(time.perf_counter() - t0)
    # The losses of one more step: a sanity check that the timed step computes something finite.
    losses = run()
    if mode == "cuda-graph":
        losses = static_losses
    return {**common.median_us(chunks, args.inner),
            "last_losses": [round(float(x), 5) for x in losses]}


def bench(args) -> None:
    device = pick_device(args.device)
    modes = ["eager", "compile-reduce-overhead", "compile-max-autotune-no-cudagraphs"]
    if device.type == "cuda":
        modes.append("cuda-graph")
    else:
        common.note("cpu: cuda-graph mode and tf32 skipped; compile modes run on the CPU backend")
    modes = common.split_list(args.modes) if args.modes else modes
    images = torch.from_numpy(common.random_images(args.seed)).to(device)
    info = {"framework": "torch", "version": torch.__version__, "device": device.type,
            "device_name": (torch.cuda.get_device_name(device) if device.type == "cuda"
                            else "cpu"), "threads": torch.get_num_threads(), "dropout": True,
            "warmup": args.warmup, "inner": args.inner, "reps": args.reps}
    for precision in common.split_list(args.precisions):
        if precision == "tf32" and device.type != "cuda":
            continue
        tf32 = precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
        for mode in modes:
            for name in common.split_list(args.presets):
                for batch in (int(b) for b in common.split_list(args.batches)):
                    rec = {**info, "mode": mode, "preset": name, "batch": batch,
                           "precision": precision}
                    try:
                        rec.update(bench_one(common.PRESETS[name], batch, mode, images, device,
                                             args))
                        rec["images_per_s"] = round(batch / rec["us_per_iter"] * 1e6, 1)
                    except Exception as e:  # one failing mode must not stop the others
                        rec["error"] = f"{type(e).__name__}: {e}"[:500]
                    common.emit(rec, args.json)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible to PyTorch")
    return torch.device(name)


def main() -> None:
    ap = common.parser(__doc__)
    ap.add_argument("--modes", default=None, help="comma list (default: all for the device)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bench:
        bench(args)
        return
    device = pick_device(args.device)
    if args.check:
        raise SystemExit(0 if check(args.check, device) else 1)
    if args.dump:
        p = common.PRESETS[args.preset]
        dump(args.dump, p, args.batch or p.batch, not args.no_dropout, args.seed, device)
        print(f"wrote {args.dump}")
        return
    raise SystemExit(0 if self_test(device) else 1)


if __name__ == "__main__":
    common.pin_threads(common.peek_threads(__import__("sys").argv))
    main()
