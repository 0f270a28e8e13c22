"""An experiment: is a hand-written single-pass Adam kernel (XLA FFI) faster than XLA's?

Not part of gradtx. It builds ``adam_kernel.cc`` with g++ against the XLA FFI headers that
ship with jaxlib, registers it as a CPU custom call, wraps it in an Optax-protocol
transform (``init``/``update`` returning updates, then ``optax.apply_updates``) and times
it interleaved with ``optax.adam``, ``gradtx.adam`` and ``gradtx.flatten(gradtx.adam)``
(all leaves, or only those of at most 64k elements) on the benchmark's trees (donated
params and state, as in ``step_time.py``). See "What limits a step on XLA:CPU" in
``benchmarks/README.md`` for the result::

    python benchmarks/ffi_experiment/run.py flat10m transformer tiny1000
"""

from __future__ import annotations

import ctypes
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import _trees  # noqa: E402

import gradtx  # noqa: E402


def build() -> ctypes.CDLL:
    out = Path(tempfile.mkdtemp()) / "libadam_kernel.so"
    cmd = ["g++", "-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-std=c++17",
           "-shared", "-fPIC", f"-I{jax.ffi.include_dir()}", str(HERE / "adam_kernel.cc"),
           "-o", str(out)]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True)
    return ctypes.cdll.LoadLibrary(str(out))


def kernel_adam(lr=1e-3, b1=0.9, b2=0.999, eps=1e-8) -> optax.GradientTransformation:
    """Adam with its per-leaf work in one custom call over all leaves (float32 only)."""

    def init(params):
        zeros = lambda p: jax.tree.map(jnp.zeros_like, p)
        return jnp.zeros([], jnp.int32), zeros(params), zeros(params)

    def update(updates, state, params=None):
        count, mu, nu = state
        count = count + 1
        g, treedef = jax.tree.flatten(updates)
        n, t = len(g), count.astype(jnp.float32)
        one = jnp.float32(1)
        scalars = jnp.stack(
            [jnp.float32(b1), jnp.float32(b2), jnp.float32(eps), jnp.float32(0.0),
             one - jnp.float32(b1) ** t, one - jnp.float32(b2) ** t]
        )  # fmt: skip
        operands = [*g, *jax.tree.leaves(mu), *jax.tree.leaves(nu)]
        shapes = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in operands]
        aliases = {1 + n + k: n + k for k in range(2 * n)}  # moments in place
        out = jax.ffi.ffi_call("gradtx_experiment_adam_f32", shapes, input_output_aliases=aliases)(
            scalars, *operands
        )
        u = [-lr * x for x in out[:n]]
        unflat = treedef.unflatten
        return unflat(u), (count, unflat(out[n : 2 * n]), unflat(out[2 * n :]))

    return optax.GradientTransformation(init, update)


def compiled_step(tx, params, grads):
    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s

    start = time.perf_counter()
    c = jax.jit(step, donate_argnums=(0, 1)).lower(params, tx.init(params), grads).compile()
    mem = c.memory_analysis()
    return c, time.perf_counter() - start, mem.temp_size_in_bytes


def _is_shape(x) -> bool:
    return isinstance(x, tuple)


def _draw(rng):
    return lambda shape: jnp.asarray(rng.standard_normal(shape, dtype=np.float32))


def main(shapes: list[str], repeats: int = 15) -> None:
    lib = build()
    jax.ffi.register_ffi_target(
        "gradtx_experiment_adam_f32", jax.ffi.pycapsule(lib.AdamF32), platform="cpu"
    )
    contenders = {
        "optax": optax.adam(1e-3),
        "gradtx": gradtx.adam(1e-3),
        "gradtx.flatten": gradtx.flatten(gradtx.adam(1e-3)),
        "flatten small": gradtx.flatten(gradtx.adam(1e-3), max_leaf_size=65536),
        "kernel": kernel_adam(),
    }
    print("| shape | contender | median ms [p10-p90] | compile s | temp MB | max diff vs optax |")
    print("|---|---|---|---|---|---|")
    for shape in shapes:
        tree = _trees.SHAPES[shape].build(False)
        params = jax.tree.map(_draw(np.random.default_rng(0)), tree, is_leaf=_is_shape)
        grads = jax.tree.map(lambda x: 0.1 * x + 0.01, params)
        runs, info, final = {}, {}, {}
        for name, tx in contenders.items():
            c, seconds, temp = compiled_step(tx, params, grads)
            p, s = jax.tree.map(jnp.array, params), tx.init(params)
            for _ in range(3):
                p, s = c(p, s, grads)
            final[name] = jax.tree.map(np.asarray, p)
            runs[name], info[name] = [c, p, s], (seconds, temp)
        samples = {name: [] for name in contenders}
        for _ in range(repeats):  # interleaved
            for name, run in runs.items():
                c, p, s = run
                jax.block_until_ready(p)
                start = time.perf_counter()
                p, s = c(p, s, grads)
                jax.block_until_ready(p)
                samples[name].append(1e3 * (time.perf_counter() - start))
                run[1:] = [p, s]
        for name in contenders:
            q = np.percentile(samples[name], [50, 10, 90])
            diff = max(np.max(np.abs(a - b)) for a, b in zip(
                jax.tree.leaves(final[name]), jax.tree.leaves(final["optax"])))  # fmt: skip
            print(f"| {shape} | {name} | {q[0]:.2f} [{q[1]:.2f}-{q[2]:.2f}] | {info[name][0]:.2f} "
                  f"| {info[name][1] / 1e6:.1f} | {diff:.1e} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:] or ["flat10m", "transformer", "tiny1000"])
