"""Training checks of the breadth optimizers (one case each): zero gradients for 3000 steps
stay finite, 3000 float64 steps converge on an ill-conditioned quadratic, and bf16
parameters train at the optimizer's example settings. Each run is one jitted ``lax.scan``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import registry  # noqa: F401 - first: tests/registry.py imports registry_breadth
from conftest import precision
from registry_breadth import BREADTH_ONE_CASE_PER_OPTIMIZER as CASES
from registry_breadth import BREADTH_SETTINGS
from test_breadth_battery import extra_args, fast_jit

import gradtx

IDS = [c.name for c in CASES]


def solve(tx, loss, w0, steps, with_value):
    """``steps`` full-batch steps on ``loss`` from ``w0`` (given ``value`` and ``value_fn``
    if needed)."""

    def body(carry, _):
        w, s = carry
        value, grad = jax.value_and_grad(loss)(w)
        extra = {"value": value, "value_fn": loss} if with_value else {}
        u, s = tx.update(grad, s, w, **extra)
        return (gradtx.apply_updates(w, u), s), None

    return fast_jit(lambda w: jax.lax.scan(body, (w, tx.init(w)), None, length=steps)[0][0])(w0)


def test_every_breadth_optimizer_has_convergence_settings():
    assert {c.name for c in CASES} == set(BREADTH_SETTINGS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_zero_gradients_for_many_steps_stay_finite(case):
    params = {"w": jnp.ones(4), "m": jnp.ones((3, 2)), "b": jnp.zeros(())}
    tx = case.make()
    zeros = jax.tree.map(jnp.zeros_like, params)

    def body(carry, _):
        p, s = carry
        u, s = tx.update(zeros, s, p, **extra_args(case, p))
        return (gradtx.apply_updates(p, u), s), None

    run = fast_jit(lambda p: jax.lax.scan(body, (p, tx.init(p)), None, length=3000)[0])
    final = run(params)
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(final)), case.name


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_converges_on_a_quadratic(case):
    """3000 full-batch float64 steps on 0.5 * sum(A w^2), A = (1, 3, 10), from w = 1."""
    lr, tol, *more = BREADTH_SETTINGS[case.name]  # a 3rd item: other constructor kwargs
    scale = jnp.array([1.0, 3.0, 10.0])
    with precision("float64"):
        loss = lambda w: 0.5 * jnp.sum(scale * w**2)
        rate = case.extra.get("schedule", "learning_rate")  # None: no rate of its own (sam)
        kwargs = {**({rate: lr} if rate else {}), **(more[0] if more else {})}
        tx = gradtx.OPTIMIZERS[case.name].factory(**kwargs)
        w = solve(tx, loss, jnp.ones(3), 3000, gradtx.OPTIMIZERS[case.name].needs_value)
        error = float(jnp.max(jnp.abs(w)))
        assert error <= tol, f"{case.name}: |w - w*| = {error:.3g} > {tol:g}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bfloat16_params_train(case):
    """A bf16 quadratic goes down at the optimizer's example settings (the MLP's).

    Unlike test_battery's, it starts from 0.5, not 0: the trust-ratio and parameter-scale
    methods (LAMB, Fromage, Adafactor) take steps relative to the weights, which barely
    move weights that start at exactly zero.
    """
    target = jnp.linspace(-1.0, 1.0, 8).astype(jnp.bfloat16)
    params = {"w": jnp.full(8, 0.5, jnp.bfloat16)}
    loss = lambda p: jnp.sum((p["w"].astype(jnp.float32) - target) ** 2)
    info = gradtx.OPTIMIZERS[case.name]
    tx = info.factory(**info.example)
    start = float(loss(params))
    params = solve(tx, loss, params, 100, info.needs_value)
    assert params["w"].dtype == jnp.bfloat16
    assert float(loss(params)) < 0.5 * start, case.name
