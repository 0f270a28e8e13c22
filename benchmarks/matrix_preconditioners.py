"""Matrix preconditioners: where they pay, what they cost.

    python benchmarks/matrix_preconditioners.py lsq     # Kronecker least squares: steps to 1e-4
    python benchmarks/matrix_preconditioners.py cost    # MLP step time and compile time vs AdamW
    python benchmarks/matrix_preconditioners.py bytes   # optimizer-state bytes per parameter

``lsq``: ``f(W) = 0.5 <W - W*, A (W - W*) B>`` with ``A`` (32 x 32) and ``B`` (24 x 24)
symmetric positive definite, eigenvalues log-spaced over ``--cond`` each, in random bases: the
Hessian ``B kron A`` is ill-conditioned and not diagonal in any coordinate basis. Full batch,
float32, every optimizer at each learning rate of one grid; the number of steps to reach
``f / f(0) <= 1e-4`` at its best rate. Writes ``docs/figures/matrix_preconditioners_lsq.png``.

``cost``: a 784-512-512-10 MLP, batch 2048, one jitted training step (forward, backward,
update) per optimizer, interleaved and repeated in one process (the median of the per-round
ratios to AdamW is reported, with the load average); and trace + compile time of one step on
the 196-leaf transformer tree of ``benchmarks/_trees.py``. On a shared or small CPU machine
run it with ``OPENBLAS_NUM_THREADS=1``: JAX's CPU ``eigh``/``qr`` call OpenBLAS, whose
spinning threads made Shampoo's step 2.9x AdamW's instead of 1.5x at a load of 7-10 (see
``docs/matrix_preconditioners.md``, "Cost"); the value used is in the printed results.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import gradtx

GRID = [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0]
OPTIMIZERS = {
    "adam": lambda lr: gradtx.adam(lr),
    "shampoo": lambda lr: gradtx.shampoo(lr, start_preconditioning_step=1),
    "soap": lambda lr: gradtx.soap(lr, weight_decay=0.0),
    "psgd_kron": lambda lr: gradtx.psgd_kron(lr),
}


def _spd(rng, n, cond):
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.logspace(0, -np.log10(cond), n)) @ q.T


def lsq(cond: float, steps: int, out: str) -> dict:
    rng = np.random.default_rng(0)
    a = jnp.asarray(_spd(rng, 32, cond), jnp.float32)
    b = jnp.asarray(_spd(rng, 24, cond), jnp.float32)
    w_star = jnp.asarray(rng.standard_normal((32, 24)), jnp.float32)

    def loss(w):
        e = w - w_star
        return 0.5 * jnp.sum(e * (a @ e @ b))

    w0 = jnp.zeros((32, 24))
    f0 = loss(w0)

    def curve(tx):
        def body(carry, _):
            w, s = carry
            u, s = tx.update(jax.grad(loss)(w), s, w)
            w = gradtx.apply_updates(w, u)
            return (w, s), loss(w) / f0

        run = jax.jit(lambda w: jax.lax.scan(body, (w, tx.init(w)), None, length=steps)[1])
        return np.asarray(run(w0))

    results = {}
    for name, make in OPTIMIZERS.items():
        best = None
        for lr in GRID:
            c = curve(make(lr))
            hit = np.nonzero(np.isfinite(c) & (c <= 1e-4))[0]
            n = int(hit[0]) + 1 if hit.size else None
            print(f"{name:10s} lr {lr:<6g} steps to 1e-4: {n}", flush=True)
            if n is not None and (best is None or n < best[0]):
                best = (n, lr, c)
        results[name] = best
    table = {k: (None if v is None else {"steps": v[0], "lr": v[1]}) for k, v in results.items()}
    adam = table["adam"]["steps"] if table["adam"] else None
    for v in table.values():
        if v and adam:
            v["fraction_of_adam"] = round(v["steps"] / adam, 3)
    print(json.dumps(table, indent=1))
    _plot(results, out, cond)
    return table


def _plot(results, out, cond):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, best in results.items():
        if best is None:
            continue
        n, lr, c = best
        ax.semilogy(
            np.arange(1, len(c) + 1), np.maximum(c, 1e-12), label=f"{name} (lr {lr:g}): {n}"
        )
    ax.axhline(1e-4, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("step")
    ax.set_ylabel("f(W) / f(W0)")
    ax.set_title(f"Kronecker least squares (32x24, condition {cond:g} per factor), best lr each")
    ax.set_xlim(0, max(b[0] for b in results.values() if b) * 3)
    ax.set_ylim(1e-8, 2)
    ax.legend(title="steps to 1e-4")
    fig.tight_layout()
    os.makedirs(os.path.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=120)


# ---------------------------------------------------------------------------------------
# Cost.


def _mlp_step(tx, batch=2048, seed=0):
    rng = np.random.default_rng(seed)
    sizes = [784, 512, 512, 10]
    params = {
        f"l{i}": {
            "w": jnp.asarray(rng.standard_normal((m, n)) / np.sqrt(m), jnp.float32),
            "b": jnp.zeros(n, jnp.float32),
        }
        for i, (m, n) in enumerate(itertools.pairwise(sizes))
    }
    x = jnp.asarray(rng.standard_normal((batch, 784)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 10, batch))

    def loss(p):
        h = x
        for i in range(3):
            h = h @ p[f"l{i}"]["w"] + p[f"l{i}"]["b"]
            h = jax.nn.relu(h) if i < 2 else h
        return -jnp.mean(jax.nn.log_softmax(h)[jnp.arange(batch), y])

    @jax.jit
    def step(p, s):
        g = jax.grad(loss)(p)
        u, s = tx.update(g, s, p)
        return gradtx.apply_updates(p, u), s

    return step, params, tx.init(params)


def _six_products() -> gradtx.GradientTransformation:
    """SOAP's per-step matrix products alone, as a floor: for each matrix leaf the rotation
    $Q_L^T G Q_R$, the rotation back and the statistics $GG^T$, $G^TG$ (fixed orthogonal
    bases, no Adam, no refresh); the updates pass through (plus 0 times the result)."""

    def init(params):
        def one(x):
            if x.ndim != 2:
                return ()
            q = [jnp.linalg.qr(jnp.ones((n, n)) + jnp.eye(n))[0] for n in x.shape]
            return (*q, jnp.zeros((x.shape[0],) * 2), jnp.zeros((x.shape[1],) * 2))

        return jax.tree.map(one, params)

    def update(updates, state, params=None):
        leaves, treedef = jax.tree.flatten(updates)
        states = treedef.flatten_up_to(state)
        out, new = [], []
        for g, s in zip(leaves, states):
            if s:
                ql, qr, left, right = s
                back = ql @ ((ql.T @ g @ qr) * 0.5) @ qr.T
                g, s = g + 0.0 * back, (ql, qr, left + g @ g.T, right + g.T @ g)
            out.append(g)
            new.append(s)
        return treedef.unflatten(out), treedef.unflatten(new)

    return gradtx.GradientTransformation(init, update)


def cost(rounds: int, steps: int, extra: bool = False) -> dict:
    contenders = {
        "adamw": gradtx.adamw(1e-3),
        "shampoo": gradtx.shampoo(1e-3),
        "soap": gradtx.soap(1e-3),
        "psgd_kron": gradtx.psgd_kron(1e-3),
    }
    if extra:  # how block_size and precondition_frequency move the cost
        contenders["shampoo-f100"] = gradtx.shampoo(1e-3, precondition_frequency=100)
        contenders["shampoo-b128"] = gradtx.shampoo(1e-3, block_size=128)
        contenders["soap-b256"] = gradtx.soap(1e-3, block_size=256)
        # psgd_kron's default probability anneals from 1 (first 250 steps) to 0.03: its
        # steps after that, where a training run spends nearly all of its time
        contenders["psgd_kron-p0.03"] = gradtx.psgd_kron(
            1e-3, preconditioner_update_probability=0.03
        )
        # SOAP's floor: its six products per matrix on top of AdamW, and SOAP never refreshed
        contenders["adamw+soap-products"] = gradtx.chain(_six_products(), gradtx.adamw(1e-3))
        contenders["soap-no-refresh"] = gradtx.soap(1e-3, precondition_frequency=10**9)
        # the cached preconditioner (Q^T Q kept in the state): both phases
        contenders["psgd_kron-cached"] = gradtx.psgd_kron(1e-3, cache_preconditioner=True)
        contenders["psgd_kron-cached-p0.03"] = gradtx.psgd_kron(
            1e-3, preconditioner_update_probability=0.03, cache_preconditioner=True
        )
    runs = {}
    for name, tx in contenders.items():
        step, p, s = _mlp_step(tx)
        p, s = step(p, s)
        jax.block_until_ready(p)
        runs[name] = [step, p, s]
    times: dict[str, list[float]] = {k: [] for k in contenders}
    names = list(contenders)
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            step, p, s = runs[name]
            t = time.perf_counter()
            for _ in range(steps):  # a multiple of the refresh periods: refreshes amortised
                p, s = step(p, s)
            jax.block_until_ready(p)
            times[name].append((time.perf_counter() - t) / steps)
            runs[name][1:] = [p, s]
        print(
            f"round {r}: " + ", ".join(f"{k} {1e3 * v[-1]:.1f} ms" for k, v in times.items()),
            "load",
            os.getloadavg(),
            flush=True,
        )
    ratios = {k: float(np.median([t / a for t, a in zip(times[k], times["adamw"])])) for k in times}
    ms = {k: 1e3 * float(np.median(v)) for k, v in times.items()}
    result = {
        "ms_per_step": ms,
        "ratio_to_adamw": ratios,
        "load": os.getloadavg(),
        "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "unset"),
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def stack_layers(tree: dict) -> dict:
    """The transformer tree with its ``layerNN`` subtrees stacked: each per-layer leaf
    becomes one ``(layers, *shape)`` leaf (as ``nnx.scan`` or a vmapped init stores them)."""
    layers = [v for k, v in tree.items() if k.startswith("layer")]
    rest = {k: v for k, v in tree.items() if not k.startswith("layer")}
    stacked = jax.tree.map(
        lambda s: (len(layers), *s), layers[0], is_leaf=lambda x: isinstance(x, tuple)
    )
    return {**rest, "layers": stacked}


def compile_time(repeats: int, stacked: bool = False) -> dict:
    """Trace + compile of one step on the 196-leaf transformer tree; ``stacked``: also on
    the same tree with its layers stacked (20 leaves), the Kronecker methods with
    ``batch_dims=1`` on the stack, each against AdamW on the 196-leaf tree."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _trees import _transformer

    as_params = lambda shapes: jax.tree.map(
        lambda s: jax.ShapeDtypeStruct(s, jnp.float32),
        shapes,
        is_leaf=lambda x: isinstance(x, tuple),
    )
    params = as_params(_transformer(False))
    contenders = {
        "adamw": (lambda: gradtx.adamw(1e-3), params),
        "shampoo": (lambda: gradtx.shampoo(1e-3), params),
        "soap": (lambda: gradtx.soap(1e-3), params),
        "psgd_kron": (lambda: gradtx.psgd_kron(1e-3), params),
    }
    if stacked:
        tree = as_params(stack_layers(_transformer(False)))
        bd = {k: 1 if k == "layers" else 0 for k in tree}
        contenders |= {
            "adamw, stacked": (lambda: gradtx.adamw(1e-3), tree),
            "shampoo, stacked": (lambda: gradtx.shampoo(1e-3, batch_dims=bd), tree),
            "soap, stacked": (lambda: gradtx.soap(1e-3, batch_dims=bd), tree),
            "psgd_kron, stacked": (lambda: gradtx.psgd_kron(1e-3, batch_dims=bd), tree),
        }
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for name, (make, p) in contenders.items():
            tx = make()
            state = jax.eval_shape(tx.init, p)

            def step(p, s, g, tx=tx):
                u, s = tx.update(g, s, p)
                return gradtx.apply_updates(p, u), s

            t = time.perf_counter()
            jax.jit(step).lower(p, state, p).compile()
            times[name].append(time.perf_counter() - t)
    med = {k: float(np.median(v)) for k, v in times.items()}
    result = {
        "leaves": {k: len(jax.tree.leaves(p)) for k, (_, p) in contenders.items()},
        "seconds": med,
        "ratio_to_adamw": {k: v / med["adamw"] for k, v in med.items()},
        "load": os.getloadavg(),
    }
    print(json.dumps(result, indent=1), flush=True)
    return result


def state_bytes() -> dict:
    shapes = {"l0": (784, 512), "b0": (512,), "l1": (512, 512), "b1": (512,), "l2": (512, 10),
              "b2": (10,)}  # fmt: skip
    params = {k: jax.ShapeDtypeStruct(s, jnp.float32) for k, s in shapes.items()}
    n = sum(np.prod(s) for s in shapes.values())
    out = {}
    for name, tx in {
        "adamw": gradtx.adamw(1e-3),
        "shampoo": gradtx.shampoo(1e-3),
        "shampoo (block 128)": gradtx.shampoo(1e-3, block_size=128),
        "shampoo (no blocks)": gradtx.shampoo(1e-3, block_size=None),
        "soap": gradtx.soap(1e-3),
        "soap (block 256)": gradtx.soap(1e-3, block_size=256),
        "psgd_kron": gradtx.psgd_kron(1e-3),
        "psgd_kron (cached)": gradtx.psgd_kron(1e-3, cache_preconditioner=True),
    }.items():
        state = jax.eval_shape(tx.init, params)
        total = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))
        out[name] = round(total / n, 2)
    print(json.dumps({"bytes_per_parameter (784-512-512-10 MLP)": out}, indent=1))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["lsq", "cost", "compile", "bytes"])
    ap.add_argument("--cond", type=float, default=1e3)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cost-steps", type=int, default=20)
    ap.add_argument("--extra", action="store_true", help="cost: block_size/frequency variants")
    ap.add_argument("--stacked", action="store_true", help="compile: also with stacked layers")
    ap.add_argument("--out", default="docs/figures/matrix_preconditioners_lsq.png")
    args = ap.parse_args(argv)
    if args.what == "lsq":
        return lsq(args.cond, args.steps, args.out)
    if args.what == "cost":
        return cost(args.rounds, args.cost_steps, args.extra)
    if args.what == "compile":
        return compile_time(args.rounds, args.stacked)
    return state_bytes()


if __name__ == "__main__":
    main()
