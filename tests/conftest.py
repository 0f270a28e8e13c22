"""Shared fixtures: precision modes, test trees, and tolerance checks."""

from __future__ import annotations

import contextlib
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import settings

# Under CI the hypothesis tests replay a fixed sequence of examples (reproducible results);
# locally they draw new ones each run and keep failures in .hypothesis/.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

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


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    with precision(request.param) as dt:
        yield dt


def tree_max_abs(tree) -> float:
    """The largest magnitude in a tree (the scale of a norm-wise relative error)."""
    return max(float(np.max(np.abs(np.asarray(x)), initial=0.0)) for x in jax.tree.leaves(tree))
