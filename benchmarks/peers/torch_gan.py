"""The engine's GAN training step in PyTorch: same models, same hyperparameters (see common.py).

  python torch_gan.py --check DIR        one step from bench_step --dump-first-step DIR's files
  python torch_gan.py --self-test        PyTorch against jax_gan.py on random inputs, every preset
  python torch_gan.py --bench [--device cpu --threads 2 --presets ... --batches ...]
      modes: eager, compile-reduce-overhead, compile-max-autotune-no-cudagraphs, cuda-graph
  python torch_gan.py --train --preset keras-mlp --data DIR --steps 30000 --seed S \
      --samples-at 10000,30000 --n-samples 10000 --out OUTDIR [--batch B --device cpu --threads 1]
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import common
import torch_model  # scripts/, on the path through common
from common import Preset


class BatchNorm(nn.Module):
    """Batch norm with the engine's conventions: running = keep * running + (1 - keep) * batch,
    running variance biased or unbiased as configured (Keras: biased), eps inside the sqrt.
    Statistics per feature over the batch ((B, F) input) or per channel over the batch and the
    positions ((B, C, H, W) input: BatchNorm2d)."""

    def __init__(self, width: int, keep: float, eps: float, unbiased: bool):
        super().__init__()
        self.keep, self.eps, self.unbiased = keep, eps, unbiased
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        self.register_buffer("running_mean", torch.zeros(width))
        self.register_buffer("running_var", torch.ones(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (0,) if x.dim() == 2 else (0, 2, 3)
        per_channel = (-1,) + (1,) * (x.dim() - 2)  # (C) -> broadcast over (B, C, ...)
        if self.training:
            mean = x.mean(dims)
            var = (x - mean.view(per_channel)).square().mean(dims)
            with torch.no_grad():
                n = x.numel() // x.shape[1]
                running = var * (n / (n - 1)) if self.unbiased and n > 1 else var
                self.running_mean.mul_(self.keep).add_(mean, alpha=1 - self.keep)
                self.running_var.mul_(self.keep).add_(running, alpha=1 - self.keep)
        else:
            mean, var = self.running_mean, self.running_var
        scale = torch.rsqrt(var + self.eps) * self.weight
        return ((x - mean.view(per_channel)) * scale.view(per_channel)
                + self.bias.view(per_channel))


def build(input_dim: int, layers: tuple) -> nn.Sequential:
    """nn.Sequential of the layer list: its state_dict names are the engine's tensor names.
    scripts/torch_model.py's modules (TensorFlow 'same' convolutions included), with this
    file's batch norm."""
    return torch_model.build(
        common.spec_json(input_dim, layers),
        batchnorm=lambda kind, width, l: BatchNorm(width, l["running_keep"], l["eps"],
                                                   l["unbiased_running_var"]))


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
        # --train: step() leaves (mean sigmoid(D(real)), mean sigmoid(D(fake))) of the D step here.
        self.track_outputs = False
        self.d_outputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def _record(self, prefix: str, m: nn.Module) -> None:
        if self.record is not None:
            self.record.append((prefix, {f"{prefix}.{k}": v.grad.detach().clone()
                                         for k, v in m.named_parameters()}))

    def step(self, real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor):
        G, D, opt_d, opt_g = self.G, self.D, self.opt_d, self.opt_g
        # D step: fakes from G (inference mode for Keras' predict), G's output treated as data.
        G.train(not self.p.g_eval_in_d_step)
        with torch.no_grad():  # images (B, 1, 28, 28) as flat rows (B, 784), as the engine's
            fake = G(z_d).flatten(1)
        G.train()
        opt_d.zero_grad(set_to_none=self.grads_to_none)
        logits_real = D(real)
        loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
        if self.p.d_update == "separate":  # two Keras train_on_batch calls: two Adam steps
            loss_real.backward()
            self._record("D", D)
            opt_d.step()
            opt_d.zero_grad(set_to_none=self.grads_to_none)
            logits_fake = D(fake)
            loss_fake = F.binary_cross_entropy_with_logits(logits_fake,
                                                           torch.zeros_like(logits_fake))
            loss_fake.backward()
        else:  # joint: one Adam step on the summed gradient
            logits_fake = D(fake)
            loss_fake = F.binary_cross_entropy_with_logits(logits_fake,
                                                           torch.zeros_like(logits_fake))
            (loss_real + loss_fake).backward()
        self._record("D", D)
        if self.track_outputs:
            self.d_outputs = (torch.sigmoid(logits_real.detach()).mean(),
                              torch.sigmoid(logits_fake.detach()).mean())
        opt_d.step()
        # G step: non-saturating loss through D (train mode); D's parameter gradients not computed.
        opt_g.zero_grad(set_to_none=self.grads_to_none)
        logits = D(G(z_g).flatten(1))
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

def noise(p: Preset, batch: int, device: torch.device) -> torch.Tensor:
    """A noise batch of the preset's distribution, N(0, 1) or U(-1, 1), drawn on the device."""
    if p.noise == "normal":
        return torch.randn(batch, p.z_dim, device=device)
    return torch.rand(batch, p.z_dim, device=device) * 2 - 1


def data_step(gan: TorchGan, images: torch.Tensor, batch: int):
    """One training iteration on uint8 images resident on the device (--bench, --train): a batch
    gathered by random indices (with replacement, as Keras' randint) and scaled to [-1, 1] there,
    both noise batches drawn there, as the engine does; then TorchGan.step."""
    p, device, n = gan.p, gan.device, images.shape[0]

    def train_step():
        idx = torch.randint(0, n, (batch,), device=device)
        real = (images[idx].float() - 127.5) / 127.5
        return gan.step(real, noise(p, batch, device), noise(p, batch, device))

    return train_step


def bench_one(p: Preset, batch: int, mode: str, images: torch.Tensor, device: torch.device,
              args) -> dict:
    torch.manual_seed(args.seed)
    gan = TorchGan(p, common.init_tensors(p, args.seed), device, capturable=mode == "cuda-graph")
    train_step = data_step(gan, images, batch)
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


# ---- training (quality comparison) -------------------------------------------------------------

@torch.no_grad()
def generate(gan: TorchGan, n: int, seed: int, step: int, chunk: int = 1000) -> np.ndarray:
    """n samples (n, 784) from G in inference mode (batch norm's running statistics, no dropout),
    as the engine's generate; the noise from common.sample_rng(seed, step). G back in train mode."""
    gan.G.eval()
    try:
        rng = common.sample_rng(seed, step)
        out = [gan.G(torch.from_numpy(common.sample_noise(gan.p, rng, min(chunk, n - i)))
                     .to(gan.device)).float().cpu().numpy() for i in range(0, n, chunk)]
    finally:
        gan.G.train()
    return np.concatenate(out).reshape(n, common.IMAGE_SIZE)


def train(args) -> None:
    """--train: the preset trained on real images for --steps steps (the step the first-step check
    verifies, dropout on as the preset has it), samples written at each --samples-at step."""
    p = common.PRESETS[args.preset]
    batch = args.batch or p.batch
    if args.data is None or args.out is None:
        raise SystemExit("--train needs --data DIR and --out OUTDIR")
    if args.steps < 1 or batch < 1 or args.n_samples < 1 or args.log_every < 1:
        raise SystemExit("--steps, --batch, --n-samples and --log-every must be positive")
    sample_at = set(common.sample_steps(args.samples_at, args.steps))
    device = pick_device(args.device)
    images_np = common.load_idx_images(args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    common.note(f"torch {torch.__version__} on {device} ({torch.get_num_threads()} threads): "
                f"{p.name}, batch {batch}, {args.steps} steps, seed {args.seed}, "
                f"{images_np.shape[0]} images from {args.data}")

    torch.manual_seed(args.seed)  # batch indices, training noise, dropout masks
    gan = TorchGan(p, common.init_tensors(p, args.seed), device)
    gan.track_outputs = True
    images = torch.from_numpy(images_np.copy()).to(device)  # uint8, resident
    train_step = data_step(gan, images, batch)
    meta = {"framework": f"torch {torch.__version__}", "preset": p.name, "seed": args.seed,
            "batch": batch}

    def samples(step: int) -> None:
        path = common.write_samples(args.out, step, generate(gan, args.n_samples, args.seed, step),
                                    meta)
        common.note(f"  wrote {path}")

    if 0 in sample_at:
        samples(0)
    # The interval's sums stay on the device (no synchronization per step): d_loss (the mean of
    # the real and fake BCE, as the engine logs it), g_loss, d_real, d_fake.
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    rows: list[tuple] = []
    last_step, t0 = 0, time.perf_counter()
    for step in range(1, args.steps + 1):
        loss_real, loss_fake, loss_g = train_step()
        sums += torch.stack([(loss_real + loss_fake) / 2, loss_g, *gan.d_outputs]).double()
        if step % args.log_every == 0 or step == args.steps:
            v = (sums / (step - last_step)).tolist()
            it_s = (step - last_step) / (time.perf_counter() - t0)
            common.note(f"{step}/{args.steps} d_loss {v[0]:.4f} g_loss {v[1]:.4f} "
                        f"d_real {v[2]:.4f} d_fake {v[3]:.4f}  ({it_s:.1f} it/s)")
            rows.append((step, *v))
            common.write_losses_csv(args.out, rows)
            if not np.isfinite(v).all():
                raise SystemExit(f"step {step}: non-finite losses, stopped")
            sums.zero_()
            last_step, t0 = step, time.perf_counter()
        if step in sample_at:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_sample = time.perf_counter()
            samples(step)
            t0 += time.perf_counter() - t_sample  # it/s leaves out the sampling


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible to PyTorch")
    return torch.device(name)


def main() -> None:
    ap = common.parser(__doc__, train=True)
    ap.add_argument("--modes", default=None, help="comma list (default: all for the device)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.bench:
        bench(args)
        return
    if args.train:
        train(args)
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
    common.pin_threads(common.peek_threads(sys.argv))
    main()
