"""The engine's GAN training step in JAX: same models, same hyperparameters (see common.py).

  python jax_gan.py --check DIR        one step from bench_step --dump-first-step DIR's files
  python jax_gan.py --self-test        JAX against torch_gan.py on random inputs, every preset
  python jax_gan.py --bench [--device cpu --threads 2 --presets ... --batches ...]
      mode: jit (the whole step, parameters and Adam states donated)

Models are pure functions of parameter dicts named as the engine's tensors ("0.weight", ...);
Adam is written out (the engine's formula: p -= lr * m_hat / (sqrt(v_hat) + eps)).
"""
from __future__ import annotations

import sys

import common

if __name__ == "__main__":  # before XLA creates its CPU thread pool
    common.pin_threads(common.peek_threads(sys.argv))

import os
import tempfile
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import model_shapes  # scripts/, on the path through common
from common import Preset

Params = dict[str, jax.Array]


def conv_layer(params: Params, i: int, l: tuple, ls, x: jax.Array) -> jax.Array:
    """Layer i, a conv or conv_transpose (kernels/conv.h) of x: (B, C, H, W); ls: its
    model_shapes.LayerShape (output size, zeros before the first row / column)."""
    (_, h, w), (_, oh, ow), (top, left) = ls.inp, ls.out, ls.pad
    (kh, kw), (sh, sw) = l[2], l[3]
    weight = params[f"{i}.weight"]
    if l[0] == "conv":  # explicit (before, after) padding: TensorFlow's 'same' is asymmetric
        pads = [(top, (oh - 1) * sh + kh - h - top), (left, (ow - 1) * sw + kw - w - left)]
        y = jax.lax.conv_general_dilated(x, weight, (sh, sw), pads,
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
    else:  # the adjoint: the input dilated by the stride, a stride-1 conv with the kernel flipped
        pads = [(kh - 1 - top, oh - 1 - (h - 1) * sh + top),
                (kw - 1 - left, ow - 1 - (w - 1) * sw + left)]
        y = jax.lax.conv_general_dilated(x, weight[:, :, ::-1, ::-1], (1, 1), pads,
                                         lhs_dilation=(sh, sw),
                                         dimension_numbers=("NCHW", "IOHW", "NCHW"))
    if l[-1]:
        y = y + params[f"{i}.bias"][:, None, None]
    return y


def forward(params: Params, state: Params, x: jax.Array, layers: tuple, training: bool,
            key: jax.Array) -> tuple[jax.Array, Params]:
    """y = model(x); returns y and the batch-norm running statistics after this call."""
    state = dict(state)
    shapes = model_shapes.layer_shapes(common.spec_json(x.shape[1], layers))
    for i, (l, ls) in enumerate(zip(layers, shapes)):
        if l[0] == "dense":
            x = x @ params[f"{i}.weight"].T
            if l[2]:
                x = x + params[f"{i}.bias"]
        elif l[0] in ("conv", "conv_transpose"):
            x = conv_layer(params, i, l, ls, x)
        elif l[0] == "reshape":
            x = x.reshape(x.shape[0], *l[1:])
        elif l[0] == "flatten":
            x = x.reshape(x.shape[0], -1)
        elif l[0] == "leaky_relu":
            x = jnp.where(x > 0, x, l[1] * x)
        elif l[0] == "tanh":
            x = jnp.tanh(x)
        elif l[0] in ("batchnorm", "batchnorm2d"):
            # Per feature over the batch, or per channel over the batch and the positions.
            keep, eps, unbiased = l[1], l[2], l[3]
            axes = (0,) if x.ndim == 2 else (0, 2, 3)
            per_channel = lambda v: v.reshape((-1,) + (1,) * (x.ndim - 2))
            rm, rv = f"{i}.running_mean", f"{i}.running_var"
            if training:
                mean = x.mean(axes)
                var = jnp.square(x - per_channel(mean)).mean(axes)
                n = x.size // x.shape[1]
                running = var * (n / (n - 1)) if unbiased and n > 1 else var
                state[rm] = keep * state[rm] + (1 - keep) * jax.lax.stop_gradient(mean)
                state[rv] = keep * state[rv] + (1 - keep) * jax.lax.stop_gradient(running)
            else:
                mean, var = state[rm], state[rv]
            scale = jax.lax.rsqrt(var + eps) * params[f"{i}.weight"]
            x = (x - per_channel(mean)) * per_channel(scale) + per_channel(params[f"{i}.bias"])
        elif l[0] == "dropout":
            if training and l[1] > 0:  # inverted scaling, as the engine
                kept = jax.random.uniform(jax.random.fold_in(key, i), x.shape) >= l[1]
                x = jnp.where(kept, x * np.float32(1 / (1 - l[1])), 0.0)
        else:
            raise ValueError(f"unknown layer {l}")
    return x, state


def bce(logits: jax.Array, target: float) -> jax.Array:
    """Mean BCE with logits, computed stably (kernels/scalar.h)."""
    z = logits
    return jnp.mean(jnp.maximum(z, 0) - z * target + jnp.log1p(jnp.exp(-jnp.abs(z))))


def adam(params: Params, grads: Params, opt: dict, a: common.Adam) -> tuple[Params, dict]:
    t = opt["t"] + 1
    bc1 = 1 - a.beta1 ** t.astype(jnp.float32)
    bc2 = 1 - a.beta2 ** t.astype(jnp.float32)
    m = {k: a.beta1 * opt["m"][k] + (1 - a.beta1) * grads[k] for k in params}
    v = {k: a.beta2 * opt["v"][k] + (1 - a.beta2) * jnp.square(grads[k]) for k in params}
    new = {k: params[k] - a.lr * (m[k] / bc1) / (jnp.sqrt(v[k] / bc2) + a.eps) for k in params}
    return new, {"m": m, "v": v, "t": t}


def init_carry(p: Preset, tensors: dict[str, np.ndarray]) -> dict:
    """Parameters, running statistics and Adam states of G and D, as one pytree."""
    carry = {}
    for prefix in ("G", "D"):
        specs = common.model_specs(p)[prefix]
        params = {n: jnp.asarray(tensors[f"{prefix}.{n}"]) for n, _, st in specs if not st}
        state = {n: jnp.asarray(tensors[f"{prefix}.{n}"]) for n, _, st in specs if st}
        zeros = {k: jnp.zeros_like(v) for k, v in params.items()}
        carry[prefix] = {"params": params, "state": state,
                         "opt": {"m": zeros, "v": {k: jnp.zeros_like(v) for k, v in params.items()},
                                 "t": jnp.zeros((), jnp.int32)}}
    return carry


def train_step(p: Preset, carry: dict, real: jax.Array, z_d: jax.Array, z_g: jax.Array,
               key: jax.Array):
    """One step of gan_trainer.cpp. Returns (carry, (d_loss_real, d_loss_fake, g_loss), grads)."""
    G, D = carry["G"], carry["D"]
    g_params, g_state, d_params, d_state = G["params"], G["state"], D["params"], D["state"]
    opt_g, opt_d = G["opt"], D["opt"]
    k_gd, k_real, k_fake, k_gg, k_dg = jax.random.split(key, 5)

    # D step: fakes from G (inference mode for Keras' predict), treated as data.
    fake, g_state = forward(g_params, g_state, z_d, p.g_layers, not p.g_eval_in_d_step, k_gd)
    fake = jax.lax.stop_gradient(fake)

    def d_loss(dp, ds, x, target, k):
        logits, ds = forward(dp, ds, x, p.d_layers, True, k)
        return bce(logits, target), ds

    d_grad = jax.value_and_grad(d_loss, has_aux=True)
    d_grads = []
    if p.d_update == "separate":  # two Adam steps: after the real batch, after the fake batch
        (loss_real, d_state), gr = d_grad(d_params, d_state, real, 1.0, k_real)
        d_params, opt_d = adam(d_params, gr, opt_d, p.adam)
        (loss_fake, d_state), gf = d_grad(d_params, d_state, fake, 0.0, k_fake)
        d_params, opt_d = adam(d_params, gf, opt_d, p.adam)
        d_grads = [gr, gf]
    else:  # joint: one Adam step on the summed gradient

        def joint(dp, ds):
            lr, ds = d_loss(dp, ds, real, 1.0, k_real)
            lf, ds = d_loss(dp, ds, fake, 0.0, k_fake)
            return lr + lf, (lr, lf, ds)

        (_, (loss_real, loss_fake, d_state)), g = jax.value_and_grad(joint, has_aux=True)(
            d_params, d_state)
        d_params, opt_d = adam(d_params, g, opt_d, p.adam)
        d_grads = [g]

    # G step: non-saturating loss through D in train mode; only G's gradient is taken.
    def g_loss(gp, gs, ds):
        x, gs = forward(gp, gs, z_g, p.g_layers, True, k_gg)
        logits, ds = forward(d_params, ds, x, p.d_layers, True, k_dg)
        return bce(logits, 1.0), (gs, ds)

    (loss_g, (g_state, d_state)), gg = jax.value_and_grad(g_loss, has_aux=True)(
        g_params, g_state, d_state)
    g_params, opt_g = adam(g_params, gg, opt_g, p.adam)
    carry = {"G": {"params": g_params, "state": g_state, "opt": opt_g},
             "D": {"params": d_params, "state": d_state, "opt": opt_d}}
    return carry, (loss_real, loss_fake, loss_g), {"D": d_grads, "G": [gg]}


def tensors_of(carry: dict) -> dict[str, np.ndarray]:
    return {f"{prefix}.{k}": np.asarray(v, dtype=np.float32)
            for prefix in ("G", "D") for part in ("params", "state")
            for k, v in carry[prefix][part].items()}


def run_first_step(p: Preset, init: dict, inputs: dict, dropout: bool):
    run_p = p if dropout else common.without_dropout(p)
    carry = init_carry(run_p, init)
    with jax.default_matmul_precision("float32"):
        step = jax.jit(partial(train_step, run_p))
        real, z_d, z_g = (jnp.asarray(inputs[k]) for k in ("real", "z_d", "z_g"))
        carry, losses, grads = step(carry, real, z_d, z_g, jax.random.key(0))
    losses = dict(zip(common.LOSS_NAMES, (float(x) for x in losses)))
    return carry, losses, grads


def check(d: Path, label: str = "jax") -> bool:
    init, inputs, after, meta = common.read_exchange(d)
    p = common.PRESETS[meta["preset"]]
    if meta.get("dropout", True) and common.has_dropout(p):
        raise SystemExit(f"{d}: dumped with dropout on; masks cannot match across frameworks "
                         "(dump with --no-dropout)")
    carry, losses, grads = run_first_step(p, init, inputs, False)
    by_name: dict[str, list[np.ndarray]] = {}
    for prefix, gs in grads.items():
        for g in gs:
            for k, v in g.items():
                by_name.setdefault(f"{prefix}.{k}", []).append(np.asarray(v))
    ok, lines = common.compare_step(p, after, meta, tensors_of(carry), losses, by_name)
    print(f"{label} vs {d}: preset {p.name}, batch {meta['batch']}, dropout disabled (rate 0: "
          f"masks cannot match across frameworks) -> {'PASS' if ok else 'FAIL'}")
    print("\n".join(lines))
    return ok


def dump(d: Path, p: Preset, batch: int, dropout: bool, seed: int) -> None:
    """Exchange files from this implementation (random init, perturbed batch-norm statistics)."""
    init = common.init_tensors(p, seed, perturb_bn=True)
    inputs = common.random_inputs(p, batch, seed + 1)
    carry, losses, _ = run_first_step(p, init, inputs, dropout)
    common.write_exchange(d, p.name, batch, init, inputs, tensors_of(carry), losses,
                          dropout and common.has_dropout(p))


def self_test() -> bool:
    import torch
    import torch_gan
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name, p in common.PRESETS.items():
            for batch in (p.batch, 7):
                d = Path(tmp) / f"{name}-{batch}"
                dump(d / "jax", p, batch, False, 30 + batch)
                ok &= torch_gan.check(d / "jax", torch.device("cpu"), label="torch")
    print("self-test", "PASS" if ok else "FAIL")
    return ok


# ---- timing -----------------------------------------------------------------------------------

def bench_one(p: Preset, batch: int, images: jax.Array, args) -> dict:
    carry = init_carry(p, common.init_tensors(p, args.seed))
    n = images.shape[0]

    def noise(k):
        if p.noise == "normal":
            return jax.random.normal(k, (batch, p.z_dim))
        return jax.random.uniform(k, (batch, p.z_dim), minval=-1.0, maxval=1.0)

    @partial(jax.jit, donate_argnums=(0, 1))
    def step(carry, key, images):
        # The batch is gathered and scaled on the device, the noise drawn there, as the engine does.
        key, k_idx, k_zd, k_zg, k_drop = jax.random.split(key, 5)
        idx = jax.random.randint(k_idx, (batch,), 0, n)
        real = (images[idx].astype(jnp.float32) - 127.5) / 127.5
        carry, losses, _ = train_step(p, carry, real, noise(k_zd), noise(k_zg), k_drop)
        return carry, key, losses

    key = jax.random.key(args.seed)
    for _ in range(args.warmup):
        carry, key, losses = step(carry, key, images)
    jax.block_until_ready(losses)
    chunks = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        for _ in range(args.inner):
            carry, key, losses = step(carry, key, images)
        jax.block_until_ready((carry, losses))
        chunks.append(time.perf_counter() - t0)
    # A sanity check that the timed step computes something finite.
    return {**common.median_us(chunks, args.inner),
            "last_losses": [round(float(x), 5) for x in losses]}


def bench(args) -> None:
    platform = {"auto": None, "cuda": "gpu", "cpu": "cpu"}[args.device]
    device = jax.devices(platform)[0] if platform else jax.devices()[0]
    on_gpu = device.platform == "gpu"
    if not on_gpu:
        common.note("cpu: tf32 skipped")
    info = {"framework": "jax", "version": jax.__version__, "mode": "jit",
            "device": "cuda" if on_gpu else "cpu", "device_name": device.device_kind,
            "threads": len(os.sched_getaffinity(0)), "dropout": True, "warmup": args.warmup,
            "inner": args.inner, "reps": args.reps}
    with jax.default_device(device):
        images = jax.device_put(common.random_images(args.seed), device)
        for precision in common.split_list(args.precisions):
            if precision == "tf32" and not on_gpu:
                continue
            # "float32" is full precision; "tensorfloat32" lets the GEMMs use TF32 tensor cores.
            with jax.default_matmul_precision("tensorfloat32" if precision == "tf32"
                                              else "float32"):
                for name in common.split_list(args.presets):
                    for batch in (int(b) for b in common.split_list(args.batches)):
                        rec = {**info, "preset": name, "batch": batch, "precision": precision}
                        try:
                            rec.update(bench_one(common.PRESETS[name], batch, images, args))
                            rec["images_per_s"] = round(batch / rec["us_per_iter"] * 1e6, 1)
                        except Exception as e:  # one failing config must not stop the others
                            rec["error"] = f"{type(e).__name__}: {e}"[:500]
                        common.emit(rec, args.json)


def main() -> None:
    args = common.parser(__doc__).parse_args()
    if args.bench:
        bench(args)
    elif args.check:
        raise SystemExit(0 if check(args.check) else 1)
    elif args.dump:
        p = common.PRESETS[args.preset]
        dump(args.dump, p, args.batch or p.batch, not args.no_dropout, args.seed)
        print(f"wrote {args.dump}")
    else:
        raise SystemExit(0 if self_test() else 1)


if __name__ == "__main__":
    main()
