"""Memory options, measured: state bytes, 8-bit quality, stochastic rounding, step time.

Six measurements for ``docs/memory.md`` (issue #18), each printed as a Markdown table:

* ``bytes``: bytes of state per parameter of every registered optimizer with each state
  option (default, ``mu_dtype``/``nu_dtype`` bfloat16, ``quantize_state`` 8 and 4 bits), by
  ``gradtx.state_bytes`` on a 1M-parameter tree (``jax.eval_shape``, nothing allocated);
* ``quality``: final training loss of float32 Adam against 8-bit (and 4-bit) Adam on the
  case study's digits MLP, over 3 seeds, and a 10,000-step run checked for NaN;
* ``transformer``: mean training loss over the last 100 of 1,000 steps and held-out
  perplexity of float32 Adam against 8-bit Adam on ``benchmarks/workloads``' tiny transformer,
  3 seeds;
* ``rounding``: bfloat16 least squares with updates below half a spacing of the weights:
  float32, bfloat16 rounded to nearest, bfloat16 rounded stochastically;
* ``time``: one jitted step of float32 Adam and of 8-bit Adam on ``benchmarks/step_time.py``'s
  24.8M-parameter transformer-like tree, interleaved repeats, ratio with its spread;
* ``floor``: 8-bit Adam written as one in-place pass over chunks (the best structure
  XLA:CPU can be given), built up piece by piece against one fused float32 Adam pass.

Usage::

    python benchmarks/memory.py                 # all six
    python benchmarks/memory.py --only time --repeats 20
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (HERE, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _trees import SHAPES, count, make_arrays  # noqa: E402

import gradtx  # noqa: E402

SDS = jax.ShapeDtypeStruct


# ---------------------------------------------------------------------------------------
# bytes per parameter


def _variants(name: str) -> dict:
    info = gradtx.OPTIMIZERS[name]
    args = set(info.hyperparams)
    out = {"default": {}}
    low = {k: jnp.bfloat16 for k in ("mu_dtype", "nu_dtype") if k in args}
    if low:
        out[" + ".join(sorted(low)) + " bf16"] = low
    return out


def bytes_table() -> list[str]:
    params = {"w": SDS((1024, 1024), jnp.float32), "b": SDS((1024,), jnp.float32)}
    rows = ["| optimizer | float32 | bf16 moments | 8-bit | 4-bit |", "|---|---|---|---|---|"]
    for name, info in gradtx.OPTIMIZERS.items():
        kw = dict(info.example)
        cells = []
        try:
            base = info.factory(**kw)
            cells.append(gradtx.state_bytes(base, params).bytes_per_param)
            low = {k: jnp.bfloat16 for k in ("mu_dtype", "nu_dtype") if k in info.hyperparams}
            cells.append(gradtx.state_bytes(info.factory(**kw, **low), params).bytes_per_param
                         if low else None)  # fmt: skip
            for bits in (8, 4):
                tx = gradtx.quantize_state(base, bits=bits)
                cells.append(gradtx.state_bytes(tx, params).bytes_per_param)
        except Exception as err:  # an optimizer that needs more (a value_fn): say so
            rows.append(f"| `{name}` | {type(err).__name__} | | | |")
            continue
        text = ["—" if c is None else f"{c:.2f}" for c in cells]
        if text[2] == text[0]:
            text[2] = text[3] = "— (nothing quantized)"
        rows.append(f"| `{name}` | " + " | ".join(text) + " |")
    return rows


# ---------------------------------------------------------------------------------------
# quality on the digits MLP


def _digits_run(tx, seed: int, steps: int, hidden: int):
    from casestudy import data

    ds = data.load_digits(seed)
    x, y = jnp.asarray(ds.x_train), jnp.asarray(ds.y_train)
    key = jax.random.key(seed)
    k1, k2 = jax.random.split(key)
    n_in = x.shape[1]
    params = {
        "w1": jax.random.normal(k1, (n_in, hidden)) / np.sqrt(n_in),
        "b1": jnp.zeros(hidden),
        "w2": jax.random.normal(k2, (hidden, 10)) / np.sqrt(hidden),
        "b2": jnp.zeros(10),
    }

    def loss(p):
        logits = jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

    def step(carry, _):
        p, s = carry
        value, g = jax.value_and_grad(loss)(p)
        u, s = tx.update(g, s, p)
        return (gradtx.apply_updates(p, u), s), value

    (params, _), losses = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), None, steps))(
        params
    )
    return float(loss(params)), bool(np.isfinite(np.asarray(losses)).all())


def quality_table(steps: int = 2000, long_steps: int = 10_000) -> list[str]:
    rows = ["| model | steps | seed | float32 Adam | 8-bit Adam | ratio | 4-bit Adam | ratio |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for hidden in (10, 128):
        for seed in range(3):
            lr = 1e-2
            ref, ok0 = _digits_run(gradtx.adam(lr), seed, steps, hidden)
            q8, ok8 = _digits_run(gradtx.quantize_state(gradtx.adam(lr), min_size=0), seed,
                                  steps, hidden)  # fmt: skip
            q4, ok4 = _digits_run(gradtx.quantize_state(gradtx.adam(lr), bits=4, min_size=0),
                                  seed, steps, hidden)  # fmt: skip
            assert ok0 and ok8 and ok4
            rows.append(f"| 64-{hidden}-10 | {steps} | {seed} | {ref:.5f} | {q8:.5f} | "
                        f"{q8 / ref:.3f} | {q4:.5f} | {q4 / ref:.3f} |")  # fmt: skip
    for bits in (8, 4):
        tx = gradtx.quantize_state(gradtx.adam(1e-2), bits=bits, min_size=0)
        final, finite = _digits_run(tx, 0, long_steps, 128)
        rows.append(f"| 64-128-10, {bits}-bit | {long_steps} | 0 | | {final:.2e} | "
                    f"finite: {finite} | | |")  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------
# stochastic rounding on least squares


def rounding_table(steps: int = 500) -> list[str]:
    key = jax.random.key(0)
    a = jax.random.normal(key, (256, 16))
    w_true = 1.2 + 0.1 * jax.random.normal(jax.random.fold_in(key, 1), (16,))
    b = a @ w_true
    loss = lambda w: 0.5 * jnp.mean((a @ w.astype(jnp.float32) - b) ** 2)
    lr = 2e-3  # updates < 1.5e-3 < 2**-8, half a bfloat16 spacing in [1, 2)

    def run(dtype, seed):
        def step(w, k):
            u = jax.tree.map(lambda g: -lr * g, jax.grad(loss)(w))
            return gradtx.apply_updates(w, u, rounding_key=None if seed is None else k), None

        keys = jax.random.split(jax.random.key(0 if seed is None else seed), steps)
        w, _ = jax.jit(lambda w: jax.lax.scan(step, w, keys))((w_true + 0.5).astype(dtype))
        return float(loss(w))

    start = float(loss(w_true + 0.5))
    f32 = run(jnp.float32, None)
    near = run(jnp.bfloat16, None)
    sr = [run(jnp.bfloat16, s) for s in range(5)]
    return [
        f"Least squares, 256x16, lr {lr}, {steps} steps, start loss {start:.4f}:",
        "",
        "| weights | final loss | / float32 |",
        "|---|---|---|",
        f"| float32 | {f32:.5f} | 1.000 |",
        f"| bfloat16, to nearest | {near:.5f} | {near / f32:.3f} |",
        f"| bfloat16, stochastic (5 keys: mean, min-max) | {np.mean(sr):.5f} | "
        f"{np.mean(sr) / f32:.3f} ({min(sr) / f32:.3f}-{max(sr) / f32:.3f}) |",
    ]


# ---------------------------------------------------------------------------------------
# 8-bit Adam on the tiny transformer


def transformer_table(steps: int = 1000, lr: float = 3e-3, seeds: int = 3) -> list[str]:
    from workloads import _workloads

    wl = _workloads.build("transformer")

    def run(tx, seed):
        def step(carry, i):
            p, s = carry
            batch = wl.sample(wl.data, jax.random.fold_in(jax.random.key(seed), i))
            loss, g = jax.value_and_grad(wl.loss)(p, batch)
            u, s = tx.update(g, s, p)
            return (gradtx.apply_updates(p, u), s), loss

        scan = lambda p: jax.lax.scan(step, (p, tx.init(p)), jnp.arange(steps))
        (p, _), losses = jax.jit(scan)(wl.init(seed))
        ppl = float(wl.evaluate(p, wl.data)["perplexity"])
        return float(jnp.mean(losses[-100:])), ppl, bool(jnp.all(jnp.isfinite(losses)))

    leaves = jax.tree.leaves(wl.init(0))
    n, nq = sum(x.size for x in leaves), sum(x.size for x in leaves if x.size >= 4096)
    rows = [f"{n:,} parameters, {nq:,} of them in leaves of >= 4096 entries (quantized); Adam, "
            f"learning rate {lr}, batch {wl.batch_size}, {steps} steps; source perplexity "
            f"{wl.notes['source_perplexity']:.3f}:", "",
            "| seed | float32 Adam loss | 8-bit Adam loss | ratio | float32 perplexity | "
            "8-bit perplexity |", "|---|---|---|---|---|---|"]  # fmt: skip
    for seed in range(seeds):
        (a, pa, fa), (b, pb, fb) = (
            run(gradtx.adam(lr), seed),
            run(gradtx.quantize_state(gradtx.adam(lr)), seed),
        )
        assert fa and fb, "a loss was not finite"
        rows.append(f"| {seed} | {a:.4f} | {b:.4f} | {b / a:.4f} | {pa:.3f} | {pb:.3f} |")
    return rows


# ---------------------------------------------------------------------------------------
# step time


def time_table(repeats: int = 10) -> list[str]:
    shape = SHAPES["transformer"]
    tree = shape.build(False)
    n_params, n_leaves = count(tree)
    params, grads = make_arrays(tree)
    params, grads = jax.tree.map(jnp.asarray, params), jax.tree.map(jnp.asarray, grads)
    contenders = {
        "adam float32": gradtx.adam(1e-3),
        "adam 8-bit": gradtx.quantize_state(gradtx.adam(1e-3)),
        "adam 4-bit": gradtx.quantize_state(gradtx.adam(1e-3), bits=4),
        "adam bf16 moments": gradtx.adam(1e-3, mu_dtype=jnp.bfloat16, nu_dtype=jnp.bfloat16),
    }
    runs = {}
    for name, tx in contenders.items():

        def step(p, s, g, tx=tx):
            u, s = tx.update(g, s, p)
            return gradtx.apply_updates(p, u), s

        fn = jax.jit(step, donate_argnums=(0, 1))
        p = jax.tree.map(jnp.copy, params)
        s = tx.init(p)
        p, s = fn(p, s, grads)  # compile
        jax.block_until_ready((p, s))
        runs[name] = [fn, p, s]
    samples = {name: [] for name in runs}
    names = list(runs)
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]  # rotate the start
        for name in order:
            fn, p, s = runs[name]
            t0 = time.perf_counter()
            p, s = fn(p, s, grads)
            jax.block_until_ready((p, s))
            samples[name].append(time.perf_counter() - t0)
            runs[name][1:] = [p, s]
    base = np.asarray(samples["adam float32"])
    rows = [f"{n_params / 1e6:.1f}M parameters in {n_leaves} leaves, {repeats} interleaved "
            f"repeats on {jax.devices()[0].platform} ({jax.devices()[0].device_kind}):", "",
            "| optimizer | median ms | min-max ms | ratio of medians | ratio per repeat "
            "(median, min-max) |", "|---|---|---|---|---|"]  # fmt: skip
    for name, t in samples.items():
        t = np.asarray(t)
        per = t / base
        rows.append(f"| {name} | {1e3 * np.median(t):.1f} | {1e3 * t.min():.1f}-"
                    f"{1e3 * t.max():.1f} | {np.median(t) / np.median(base):.2f} | "
                    f"{np.median(per):.2f} ({per.min():.2f}-{per.max():.2f}) |")  # fmt: skip
    return rows


# ---------------------------------------------------------------------------------------
# the floor of an 8-bit step on XLA:CPU


def floor_table(repeats: int = 7, chunks: int = 380, chunk_blocks: int = 256) -> list[str]:
    """8-bit Adam written as one pass: a ``fori_loop`` over chunks of 256 blocks of 256.

    Each iteration slices a chunk of the gradient, the parameters and the codes, decodes,
    updates, re-encodes and writes it back in place (everything donated), so no moment-sized
    float32 array is ever materialized: the best structure XLA:CPU can be given. Pieces are
    added one at a time (``a * 100`` codes stand in for an encoder that is not there yet);
    the float32 reference is the same Adam arithmetic in one fused elementwise pass.
    """
    from jax import lax

    from gradtx import _quantization as q

    bs, c = 256, chunk_blocks
    e, n = c * bs, chunks * c * bs
    rng = np.random.default_rng(0)
    g = jnp.asarray(rng.standard_normal(n, np.float32) * 1e-3)
    maps = [jnp.asarray(q.dynamic_map(8, signed)) for signed in (True, False)]

    def make(level: int):
        def one_pass(p, mc, ms, vc, vs, g):
            def body(i, carry):
                p, mc, ms, vc, vs = carry
                gi, pi = (lax.dynamic_slice(a, (i * e,), (e,)) for a in (g, p))
                cm, cv = (lax.dynamic_slice(a, (i * c, 0), (c, bs)) for a in (mc, vc))
                sm, sv = (lax.dynamic_slice(a, (i * c,), (c,)) for a in (ms, vs))
                m, v = gi, gi
                if level >= 1:  # decode by the map (a table lookup) and the block scale
                    m, v = ((t[k.astype(jnp.int32)] * sc[:, None]).ravel()
                            for t, k, sc in zip(maps, (cm, cv), (sm, sv)))  # fmt: skip
                m, v = 0.9 * m + 0.1 * gi, 0.999 * v + 0.001 * gi * gi
                u = -1e-3 * m / (jnp.sqrt(v) + 1e-8)
                cm, cv = ((x * 100).astype(jnp.uint8).reshape(c, bs) for x in (m, v))
                if level >= 2:  # the per-block maximum
                    sm, sv = (jnp.max(jnp.abs(x.reshape(c, bs)), axis=1) for x in (m, v))
                if level >= 3:  # the dynamic-map encoder (gradtx's quantize, whole)
                    qm, qv = q.quantize(m, 8, bs, True), q.quantize(v, 8, bs, False)
                    cm, sm, cv, sv = qm.codes, qm.scale, qv.codes, qv.scale
                p = lax.dynamic_update_slice(p, pi + u, (i * e,))
                mc, vc = (
                    lax.dynamic_update_slice(a, b, (i * c, 0)) for a, b in ((mc, cm), (vc, cv))
                )
                ms, vs = (lax.dynamic_update_slice(a, b, (i * c,)) for a, b in ((ms, sm), (vs, sv)))
                return p, mc, ms, vc, vs

            return lax.fori_loop(0, chunks, body, (p, mc, ms, vc, vs))

        return jax.jit(one_pass, donate_argnums=(0, 1, 2, 3, 4))

    def adam32(p, m, v, g):
        m, v = 0.9 * m + 0.1 * g, 0.999 * v + 0.001 * g * g
        return p - 1e-3 * m / (jnp.sqrt(v) + 1e-8), m, v

    names = ["float32 Adam, one fused pass", "one pass, 8-bit codes as `a * 100` (no map)",
             "... + decode by the map", "... + per-block maximum",
             "... + dynamic-map encoder: 8-bit Adam"]  # fmt: skip
    fns = [jax.jit(adam32, donate_argnums=(0, 1, 2))] + [make(k) for k in range(4)]
    codes = lambda: jnp.asarray(rng.integers(0, 256, (n // bs, bs), dtype=np.uint8))
    scales = lambda: jnp.asarray(rng.random(n // bs, np.float32) * 1e-3)
    states = [(jnp.ones(n), g * 0, g * 0)] + [
        (jnp.ones(n), codes(), scales(), codes(), scales()) for _ in range(4)
    ]
    states = [jax.block_until_ready(f(*s, g)) for f, s in zip(fns, states)]  # compile
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(repeats):
        for k in [*range(r % len(fns), len(fns)), *range(r % len(fns))]:
            start = time.process_time()
            states[k] = jax.block_until_ready(fns[k](*states[k], g))
            samples[k].append(time.process_time() - start)
    base = np.median(samples[0])
    rows = [f"{n / 1e6:.1f}M entries, {chunks} chunks of {e:,}; process CPU time, median of "
            f"{repeats} interleaved repeats:", "",
            "| one step | CPU ms | × float32 Adam |", "|---|---|---|"]  # fmt: skip
    for name, t in zip(names, samples):
        rows.append(f"| {name} | {1e3 * np.median(t):.1f} | {np.median(t) / base:.2f} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parts = ["bytes", "quality", "transformer", "rounding", "time", "floor"]
    ap.add_argument("--only", choices=parts, nargs="*")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--steps", type=int, default=2000)
    args = ap.parse_args(argv)
    parts = args.only or parts
    for part in parts:
        print(f"\n## {part}\n")
        if part == "bytes":
            rows = bytes_table()
        elif part == "quality":
            rows = quality_table(args.steps)
        elif part == "transformer":
            rows = transformer_table()
        elif part == "rounding":
            rows = rounding_table()
        elif part == "time":
            rows = time_table(args.repeats)
        else:
            rows = floor_table()
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
