"""Where the compile time of an optimizer step on many leaves goes, on XLA:CPU.

Each variant is a jitted, donated step on the same tree (default ``tiny1000``: 1000 leaves
of 10 to 100 elements). It is compiled in a fresh Python process, so no in-process cache
helps, ``--repeats`` times; the minimum is kept. Besides the seconds, the table counts the
kernels XLA emits (fusions in the optimized HLO), how many of them are distinct, and the
instructions inside them: XLA:CPU compiles each distinct kernel once, and its cost grows
with their number and size.

Variants:

* ``apply``: ``p + u`` alone, the user's ``apply_updates`` (one kernel per leaf);
* ``slices``: one vector cut into the leaves' shapes, what any layout that keeps the
  leaves in one buffer must do to return per-leaf updates;
* ``optax``: ``optax.adam``; ``gradtx``: ``gradtx.adam`` (live hyperparameters);
* ``gradtx-static``: the same primitives with Python-number hyperparameters,
  ``chain(scale_by_adam(), scale_by_learning_rate(lr))``;
* ``gradtx-grouped``: ``gradtx.wrappers.flatten(gradtx.adam(lr), max_leaf_size=65536)``;
* ``optax-flatten``: ``optax.flatten(optax.adam(lr))``.

Usage::

    python benchmarks/compile_time.py                 # tiny1000, 3 processes per variant
    python benchmarks/compile_time.py --shape leaves1000 --repeats 1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

VARIANTS = (
    "apply",
    "slices",
    "optax",
    "gradtx",
    "gradtx-static",
    "gradtx-grouped",
    "optax-flatten",
)
LR = 1e-3


def _transform(variant: str):
    import optax

    import gradtx

    return {
        "optax": lambda: optax.adam(LR),
        "gradtx": lambda: gradtx.adam(LR),
        "gradtx-static": lambda: gradtx.chain(
            gradtx.scale_by_adam(), gradtx.scale_by_learning_rate(LR)
        ),
        "gradtx-grouped": lambda: gradtx.wrappers.flatten(gradtx.adam(LR), max_leaf_size=65536),
        "optax-flatten": lambda: optax.flatten(optax.adam(LR)),
    }[variant]()


def _step(variant: str, shape: str, quick: bool):
    """The jitted step of one variant and its arguments (params and state donated)."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    import optax
    from _trees import SHAPES, make_arrays

    params_np, _ = make_arrays(SHAPES[shape].build(quick))
    params = jax.tree.map(jnp.asarray, params_np)
    grads = jax.tree.map(jnp.ones_like, params)
    if variant == "apply":
        return jax.jit(optax.apply_updates, donate_argnums=0), (params, grads)
    if variant == "slices":
        leaves, treedef = jax.tree.flatten(params)
        ends = np.cumsum([x.size for x in leaves])[:-1]

        def split(flat):
            parts = jnp.split(flat, ends)
            return treedef.unflatten([p.reshape(x.shape) for p, x in zip(parts, leaves)])

        flat = jnp.concatenate([x.ravel() for x in leaves])
        return jax.jit(split), (flat,)
    tx = _transform(variant)

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    return jax.jit(step, donate_argnums=(0, 1)), (params, tx.init(params), grads)


def kernel_bodies(hlo_text: str) -> list[str]:
    """The fused computations of a compiled module's text, with instruction names and
    metadata stripped: equal strings are one kernel that XLA:CPU compiles once."""
    out = []
    for body in (b for b in hlo_text.split("\n\n") if b.startswith("%")):
        body = re.sub(r", metadata=\{[^}]*\}", "", body)
        body = re.sub(r"%[\w.\-]+", "%x", body)
        out.append(re.sub(r"param_\d+(\.\d+)?", "param", body))
    return out


def measure_one(variant: str, shape: str, quick: bool) -> dict:
    """Lower and compile one variant in this process; count its kernels."""
    fn, args = _step(variant, shape, quick)
    t0 = time.perf_counter()
    lowered = fn.lower(*args)
    t1 = time.perf_counter()
    compiled = lowered.compile()
    t2 = time.perf_counter()
    text = compiled.as_text()
    kernels = len(re.findall(r"^\s*\S+ = \S+ fusion\(", text, re.M))
    bodies = kernel_bodies(text)
    fused = sum(b.count("\n") - 1 for b in bodies)  # less each body's header and brace
    return {
        "lower_s": t1 - t0,
        "compile_s": t2 - t1,
        "kernels": kernels,
        "distinct": len(set(bodies)),
        "fused_lines": fused,
    }


def measure(variant: str, shape: str, quick: bool, repeats: int) -> dict:
    """The best of ``repeats`` fresh processes."""
    runs = []
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--one", variant, "--shape", shape]
        # the child imports this checkout's gradtx even where it is not installed
        root = str(Path(__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
        out = subprocess.run(
            cmd + (["--quick"] if quick else []),
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["compile_s"])
    return {**best, "all_compile_s": [r["compile_s"] for r in runs]}


def table(rows: dict[str, dict]) -> str:
    base = rows.get("optax", {}).get("compile_s")
    lines = [
        "| variant | XLA compile s (best) | / optax | trace + lower s | kernels | "
        "distinct kernels | instructions in kernels |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        ratio = f"{r['compile_s'] / base:.2f}" if base else "–"
        lines.append(
            f"| {name} | {r['compile_s']:.2f} | {ratio} | {r['lower_s']:.2f} | "
            f"{r['kernels']} | {r['distinct']} | {r['fused_lines']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", default="tiny1000", help="a tree from _trees.SHAPES")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--repeats", type=int, default=3, help="fresh processes per variant")
    ap.add_argument("--quick", action="store_true", help="the shape's small version")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure in this process
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one, args.shape, args.quick)))
        return {}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        ap.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    rows = {v: measure(v, args.shape, args.quick, args.repeats) for v in variants}
    print(f"{args.shape}{' (quick)' if args.quick else ''}, best of {args.repeats} processes")
    print(table(rows))
    return rows


if __name__ == "__main__":
    main()
