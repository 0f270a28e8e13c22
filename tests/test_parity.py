"""Step-by-step parity with Optax (or a NumPy reference from the paper) for every case.

50 steps on a nested pytree, with a constant and with a scheduled rate, in float64 against
plain Optax (or the reference) to 1e-12, and in float32 against
``optax.inject_hyperparams(optax_fn)``, which stores hyperparameters as float32 arrays as
gradtx does (or against the reference, exact for the same float32 hyperparameters), to 1e-6;
with a constant rate in float32, also against plain (constant-folded) Optax, to 2e-5.
Optimizers that need the loss get ``value = 1 + 0.5 |w|^2`` at the current parameters, and
that function as ``value_fn``. ``tests/cases/__init__.py`` describes the table.
"""

from __future__ import annotations

import functools

import cases
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import (
    RTOL,
    assert_trees_close,
    gradient_stream,
    needs_value,
    nested_params,
    precision,
    run_jitted,
    tree_max_abs,
)

import gradtx

# Optax's optimistic_adam (the counterpart of gradtx's) warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`optimistic_adam` is deprecated:DeprecationWarning")

STEPS = 50


def _schedule(t):
    return 0.1 * jnp.power(0.97, t) + 0.01 * jnp.sin(0.3 * t) ** 2


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
    """Plain Optax in float64; in float32, Optax's own live-hyperparameter form.

    gradtx keeps hyperparameters in the state as arrays of JAX's default float dtype (so
    that changing one never recompiles). In float32 that stores f32(0.999), and 1 - b2 then
    differs from Optax's double-precision 1 - 0.999 by 1.3e-5 relative: a difference in the
    hyperparameter, not in the algorithm. ``optax.inject_hyperparams`` stores them the same
    way, so it is the like-for-like counterpart; :func:`check_against_constant_optax` bounds
    the remaining difference from plain Optax. Optax takes schedules only for some
    arguments; another scheduled argument (Polyak's ``max_learning_rate``) goes through
    ``inject_hyperparams`` in float64 too.
    """
    kwargs = {**case.kwargs, **override}
    if dtype == jnp.float64 and not set(override) - {"learning_rate"}:
        return case.optax_fn(**kwargs)
    static = [k for k, v in kwargs.items() if k not in override and not isinstance(v, float)]
    return optax.inject_hyperparams(case.optax_fn, static_args=static)(**kwargs)


def check_close(case, ours, theirs, params, dtype_name):
    """Params within ``rtol`` of the largest initial parameter; updates within ``5 * rtol``
    (a few ulps more room) of the leaf's largest update at that step or, in float32 for the
    cases marked ``f32_trajectory_scale``, of the largest reference update of the trajectory:
    an update that is a small difference of two terms (optimism's ``2 d_t - d_{t-1}``, a step
    minus a weight decay, a schedule-free interpolation) has an error of the size of the
    terms, not of the difference, and float32 rounding alone exceeds the per-step scale.

    A case may loosen a tolerance with ``extra["rtol"]`` (Muon: Newton-Schulz amplifies a
    last-bit difference ~480x, so float32 agrees to ~2e-5, whatever the implementation)."""
    rtol = {**RTOL, **case.extra.get("rtol", {})}[dtype_name]
    floor = tree_max_abs(params)
    trajectory = dtype_name == "float32" and case.extra.get("f32_trajectory_scale", False)
    step_size = max(tree_max_abs(u) for u, _ in theirs) if trajectory else 0.0
    for t, ((u, p), (u_ref, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, rtol, what=f"step {t} params", floor=floor)
        assert_trees_close(u, u_ref, 5 * rtol, what=f"step {t} updates", floor=step_size)


def _runs():
    """Every case in float32 and float64, with a constant and a scheduled rate (its
    ``learning_rate``, or the hyperparameter ``extra["schedule"]``; none where that is
    ``None``)."""
    out = []
    for dtype_name in ("float32", "float64"):
        for case in cases.CASES:
            if case.optax_fn is None and case.reference is None:
                continue  # compared in a test file of its own (see its cases module)
            for scheduled in (False, True):
                if scheduled and case.extra.get("schedule", "learning_rate") is None:
                    continue
                kind = "scheduled" if scheduled else "constant"
                out.append(
                    pytest.param(
                        case, dtype_name, scheduled, id=f"{dtype_name}-{case.id}-{kind}-lr"
                    )
                )
    return out


@pytest.mark.parametrize("case, dtype_name, scheduled", _runs())
def test_parity(case, dtype_name, scheduled):
    """50 steps of gradtx against Optax (float64, or float32 without a reference) or against
    the case's NumPy reference."""
    name = case.extra.get("schedule", "learning_rate")
    if scheduled and name in gradtx.OPTIMIZERS[case.name].static_args:
        pytest.skip(f"{case.name}'s {name} is fixed at construction")
    with precision(dtype_name) as dtype:
        params = nested_params(dtype, with_none=case.optax_fn is not None)
        if case.extra.get("no_scalar_leaves"):
            params["pair"] = (params["pair"][0], params["pair"][0] + 1)
        grads = gradient_stream(params, STEPS)
        override = {name: _schedule} if scheduled else {}
        ours = run_jitted(case.make(**override), params, grads, needs_value(case))
        if case.optax_fn is not None and (case.reference is None or dtype == jnp.float64):
            tx = optax_counterpart(case, dtype, override)
            theirs = run_jitted(tx, params, grads, needs_value(case))
        else:
            theirs = run_reference(case, params, grads, override)
        check_close(case, ours, theirs, params, dtype_name)
        if dtype == jnp.float32 and not scheduled and case.reference is None and case.optax_fn:
            check_against_constant_optax(case, ours, params, grads)


def check_against_constant_optax(case, ours, params, grads):
    """Against plain (constant-folded) Optax in float32 the trajectory stays within 2e-5."""
    theirs = run_jitted(case.make_optax(), params, grads, needs_value(case))
    for t, ((_, p), (_, p_ref)) in enumerate(zip(ours, theirs)):
        assert_trees_close(p, p_ref, 2e-5, what=f"step {t} params", floor=tree_max_abs(params))


def test_bias_correction_is_more_exact_than_the_direct_power():
    """1 - b**t in float32 loses up to ~7e-6; gradtx's -expm1(t log b) stays near 1 ulp."""
    from gradtx.transforms._momentum import one_minus_power

    with precision("float32"):
        b2, t = np.float32(0.999), np.arange(1, 200)
        truth = 1 - np.float64(b2) ** t
        ours = np.asarray(one_minus_power(jnp.float32(b2), jnp.asarray(t, jnp.int32)), np.float64)
        direct = np.asarray(1 - jnp.float32(b2) ** jnp.asarray(t, jnp.int32), np.float64)
        worst_ours = np.max(np.abs(ours - truth) / truth)
        worst_direct = np.max(np.abs(direct - truth) / truth)
        assert worst_ours < 3e-7 < worst_direct
