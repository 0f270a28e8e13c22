"""Step-by-step parity of the breadth optimizers with Optax or a NumPy reference.

Same protocol and tolerances as ``test_parity.py``: 50 steps on a nested pytree, float64
against plain Optax (here) and float32 against ``optax.inject_hyperparams``, which stores
hyperparameters the same way (``test_breadth_parity_f32.py``), with a constant and with a
scheduled rate. Optimizers that need the loss get ``value = 0.5 * |w|^2 + 1`` at the
current parameters.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import registry  # noqa: F401 - first: tests/registry.py imports registry_breadth
from conftest import (
    RTOL,
    assert_trees_close,
    gradient_stream,
    nested_params,
    precision,
    tree_max_abs,
)
from registry_breadth import BREADTH_CASES
from test_parity import STEPS, _schedule

import gradtx

# Optax's optimistic_adam (the counterpart of gradtx's) warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")


def _fast_compile_options():
    """XLA CPU options that compile the small test steps about three times as fast (no
    fusion emitters, no LLVM optimization); both sides of every comparison are compiled
    the same way. Options this jaxlib does not know are left out."""
    wanted = {
        "xla_cpu_use_fusion_emitters": False,
        "xla_backend_optimization_level": 0,
        "xla_llvm_disable_expensive_passes": True,
    }
    lowered = jax.jit(lambda x: x + 1).lower(np.float32(0))
    known = {}
    for key, value in wanted.items():
        try:
            lowered.compile({**known, key: value})
        except Exception:  # an option this XLA does not have
            continue
        known[key] = value
    return known


FAST_COMPILE = _fast_compile_options()


def value_fn(params):
    """A loss value for the optimizers that need one (always above Polyak's f_min = 0)."""
    leaves = [x for x in jax.tree.leaves(params) if x is not None]
    return 1.0 + 0.5 * sum(jnp.sum(jnp.abs(x) ** 2) for x in leaves)


def needs_value(case) -> bool:
    return gradtx.OPTIMIZERS[case.name].needs_value


def run(tx, params, grads, with_value=False):
    """(updates, params) after each step; one jitted step (cheaper to compile than a scan)."""

    def step(g, s, p):
        extra = {"value": value_fn(p), "value_fn": value_fn} if with_value else {}
        u, s = tx.update(g, s, p, **extra)
        return u, s, gradtx.apply_updates(p, u)

    state, out = tx.init(params), []
    step = jax.jit(step).lower(grads[0], state, params).compile(FAST_COMPILE)
    for g in grads:
        u, state, params = step(g, state, params)
        out.append((u, params))
    return out


def run_reference(case, params, grads, override):
    """The NumPy reference, leaf by leaf; a schedule is evaluated once per step."""
    override = {k: functools.cache(fn) for k, fn in override.items()}
    init, step = case.reference(**{**case.kwargs, **override})
    leaves, treedef = jax.tree.flatten(params)
    ps = [np.asarray(p) for p in leaves]
    states = [init(p) for p in ps]
    out = []
    for g in grads:
        us = [step(np.asarray(gi), s, p) for gi, s, p in zip(jax.tree.leaves(g), states, ps)]
        ps = [(p + u).astype(p.dtype) for p, u in zip(ps, us)]
        unflat = lambda xs: jax.tree.unflatten(
            treedef, [jnp.asarray(x, dtype=lk.dtype) for x, lk in zip(xs, leaves)]
        )
        out.append((unflat(us), unflat(ps)))
    return out


def optax_counterpart(case, dtype, override):
    """Plain Optax in float64; ``optax.inject_hyperparams`` in float32 (see test_parity).

    Optax takes schedules only for some arguments; another scheduled argument (Polyak's
    ``max_learning_rate``) goes through ``inject_hyperparams`` in float64 too.
    """
    kwargs = {**case.kwargs, **override}
    if dtype == jnp.float64 and not set(override) - {"learning_rate"}:
        return case.optax_fn(**kwargs)
    static = [k for k, v in kwargs.items() if k not in override and not isinstance(v, float)]
    return optax.inject_hyperparams(case.optax_fn, static_args=static)(**kwargs)


def check_close(ours, theirs, params, rtol):
    """test_parity's check: params within ``rtol`` of the largest initial parameter, updates
    within ``5 * rtol``, here of the largest reference update of the trajectory: an update
    that is a small difference of two terms (optimism's ``2 d_t - d_{t-1}``, a step minus a
    weight decay) has an error of the size of the terms, not of the difference."""
    floor = tree_max_abs(params)
    step_size = max(tree_max_abs(u) for u, _ in theirs)
    for t, ((u, p), (u_ref, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, rtol, what=f"step {t} params", floor=floor)
        assert_trees_close(u, u_ref, 5 * rtol, what=f"step {t} updates", floor=step_size)


def parity_runs(dtype_name):
    """Every case with a constant rate; the first case of each optimizer also with a
    scheduled one (its ``learning_rate``, or the hyperparameter ``extra["schedule"]``)."""
    seen, runs = set(), []
    for case in BREADTH_CASES:
        runs.append(pytest.param(case, False, id=f"{dtype_name}-{case.id}-constant-lr"))
        if case.name not in seen and case.extra.get("schedule", "learning_rate"):
            runs.append(pytest.param(case, True, id=f"{dtype_name}-{case.id}-scheduled-lr"))
        seen.add(case.name)
    return runs


def check_parity(case, dtype_name, scheduled):
    """50 steps of gradtx against Optax (float64, or float32 without a reference) or against
    the case's NumPy reference."""
    name = case.extra.get("schedule", "learning_rate")
    with precision(dtype_name) as dtype:
        params = nested_params(dtype, with_none=case.optax_fn is not None)
        if case.extra.get("no_scalar_leaves"):
            params["pair"] = (params["pair"][0], params["pair"][0] + 1)
        grads = gradient_stream(params, STEPS)
        override = {name: _schedule} if scheduled else {}
        ours = run(case.make(**override), params, grads, needs_value(case))
        if case.optax_fn is not None and (case.reference is None or dtype == jnp.float64):
            tx = optax_counterpart(case, dtype, override)
            theirs = run(tx, params, grads, needs_value(case))
        else:
            theirs = run_reference(case, params, grads, override)
        # A case may loosen a tolerance with extra["rtol"] (Muon: Newton-Schulz amplifies a
        # last-bit difference ~480x, so float32 agrees to ~2e-5, whatever the implementation).
        check_close(ours, theirs, params, {**RTOL, **case.extra.get("rtol", {})}[dtype_name])


@pytest.mark.parametrize("case, scheduled", parity_runs("float64"))
def test_parity_float64(case, scheduled):
    """Against plain Optax (or the reference) in float64, to 1e-12; float32 is in
    ``test_breadth_parity_f32.py``."""
    check_parity(case, "float64", scheduled)
