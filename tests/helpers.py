"""The helpers every test module shares: precision modes, test trees, tolerance checks, a fast
compiler, and the loss given to the optimizers that need one.

``conftest.py`` registers this module for pytest's assertion rewriting, so a failing
:func:`assert_trees_close` reports its operands like an assert written in the test.
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

import gradtx

# Per-dtype tolerances for step-by-step parity (max error relative to the leaf's scale).
RTOL = {"float32": 1e-6, "float64": 1e-12}


@contextlib.contextmanager
def precision(dtype: str):
    """Run with x64 on for float64 tests and off for float32 ones (the user's default)."""
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", dtype == "float64")
    try:
        yield jnp.dtype(dtype)
    finally:
        jax.config.update("jax_enable_x64", old)


def nested_params(dtype, seed: int = 0, with_none: bool = True):
    """A nested pytree: dicts, tuples, a scalar and (optionally) a ``None`` leaf."""
    rng = np.random.default_rng(seed)

    def arr(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype=dtype)

    tree = {"dense": {"w": arr(3, 4), "b": arr(4)}, "pair": (arr(2), arr()), "emb": arr(5, 2)}
    if with_none:
        tree["frozen"] = None
    return tree


def gradient_stream(params, steps: int, seed: int = 1):
    """Deterministic gradients of varying scale and sign, one tree per step."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(steps):
        scale = 10.0 ** rng.uniform(-2, 1)

        def leaf(p, scale=scale, t=t):
            if p is None:
                return None
            g = rng.normal(size=p.shape) * scale
            if jnp.iscomplexobj(p):
                g = g + 1j * rng.normal(size=p.shape) * scale
            return jnp.asarray(g + 0.1 * np.sin(t), dtype=p.dtype)

        out.append(jax.tree.map(leaf, params, is_leaf=lambda x: x is None))
    return out


def assert_trees_close(actual, expected, rtol: float, what: str = "", floor: float = 0.0):
    """Each leaf: max|a - e| <= rtol * scale, scale = max(|e|, |floor|, tiny).

    ``floor`` (a number, e.g. the largest initial parameter) keeps the scale of a leaf that
    passes near zero at the size of the trajectory: a norm-wise relative error.
    ``None`` must match ``None``.
    """
    flat_a, tree_a = jax.tree_util.tree_flatten_with_path(actual, is_leaf=lambda x: x is None)
    flat_e, tree_e = jax.tree_util.tree_flatten_with_path(expected, is_leaf=lambda x: x is None)
    assert tree_a == tree_e, f"{what}: structures differ\n{tree_a}\n{tree_e}"
    for (path, a), (_, e) in zip(flat_a, flat_e):
        where = f"{what}{jax.tree_util.keystr(path)}"
        if e is None:
            assert a is None, where
            continue
        a, e = np.asarray(a), np.asarray(e)
        assert a.dtype == e.dtype, f"{where}: dtype {a.dtype} != {e.dtype}"
        scale = max(float(np.max(np.abs(e), initial=0.0)), floor or 0.0)
        scale = max(scale, float(np.finfo(e.dtype).tiny))
        err = float(np.max(np.abs(a.astype(np.complex128) - e), initial=0.0))
        assert err <= rtol * scale, f"{where}: max error {err:.3g} > {rtol:g} * {scale:.3g}"


def tree_max_abs(tree) -> float:
    """The largest magnitude in a tree (the scale of a norm-wise relative error)."""
    return max(float(np.max(np.abs(np.asarray(x)), initial=0.0)) for x in jax.tree.leaves(tree))


def _fast_compile_options() -> dict:
    """XLA CPU options that compile the small test steps about three times as fast (no
    fusion emitters, no LLVM optimization); both sides of every comparison are compiled
    the same way. Options this jaxlib does not know are left out."""
    wanted = {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    }
    lowered = jax.jit(lambda x: x + 1).lower(np.float32(0))
    known: dict = {}
    for key, value in wanted.items():
        try:
            lowered.compile({**known, key: value})
        except Exception:  # an option this XLA does not have
            continue
        known[key] = value
    return known


FAST_COMPILE = _fast_compile_options()


def fast_jit(fn):
    """``jax.jit`` with the faster compiler options of :data:`FAST_COMPILE`."""
    return jax.jit(fn, compiler_options=FAST_COMPILE)


def value_fn(params):
    """The loss given to the optimizers that need one, ``1 + 0.5 |w|^2`` (always above
    Polyak's ``f_min = 0``)."""
    leaves = [x for x in jax.tree.leaves(params) if x is not None]
    return 1.0 + 0.5 * sum(jnp.sum(jnp.abs(x) ** 2) for x in leaves)


def needs_value(case) -> bool:
    """Whether the case's optimizer needs ``value`` (and gets ``value_fn`` with it)."""
    return gradtx.OPTIMIZERS[case.name].needs_value


def extra_args(case, params) -> dict:
    """``value`` and ``value_fn`` at ``params`` for the optimizers that need them, else none."""
    return {"value": value_fn(params), "value_fn": value_fn} if needs_value(case) else {}


def solve(tx, loss, w0, steps: int, with_value: bool):
    """``steps`` full-batch steps of ``tx`` on ``loss`` from ``w0``, in one jitted
    ``lax.scan`` (given ``value`` and ``value_fn`` if ``with_value``); the final point."""

    def body(carry, _):
        w, s = carry
        value, grad = jax.value_and_grad(loss)(w)
        extra = {"value": value, "value_fn": loss} if with_value else {}
        u, s = tx.update(grad, s, w, **extra)
        return (gradtx.apply_updates(w, u), s), None

    return fast_jit(lambda w: jax.lax.scan(body, (w, tx.init(w)), None, length=steps)[0][0])(w0)


def factory_ids(rows) -> list[str]:
    """Test ids ``name-i`` for table rows whose first item is a function: the i-th row of it."""
    seen: dict[str, int] = {}
    ids = []
    for row in rows:
        name = row[0].__name__
        seen[name] = seen.get(name, -1) + 1
        ids.append(f"{name}-{seen[name]}")
    return ids


def run_jitted(tx, params, grads, with_value=False, **extra):
    """(updates, params) after each step of one jitted step (compiled with :data:`FAST_COMPILE`:
    cheaper than a scan). ``extra`` goes to every ``update`` (an objective, say); with
    ``with_value`` also the loss :func:`value_fn` at the current parameters, and the function."""

    def step(g, s, p):
        more = {"value": value_fn(p), "value_fn": value_fn} if with_value else {}
        u, s = tx.update(g, s, p, **extra, **more)
        return u, s, gradtx.apply_updates(p, u)

    state, out = tx.init(params), []
    step = jax.jit(step).lower(grads[0], state, params).compile(FAST_COMPILE)
    for g in grads:
        u, state, params = step(g, state, params)
        out.append((u, params))
    return out


def assert_run_close(ours, theirs, params, rtol):
    """Params within ``rtol`` of the largest parameter, updates of the largest update."""
    floor, step_size = tree_max_abs(params), max(tree_max_abs(u) for u, _ in theirs)
    for t, ((u, p), (u_ref, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, rtol, what=f"step {t} params", floor=floor)
        assert_trees_close(u, u_ref, rtol, what=f"step {t} updates", floor=step_size)
