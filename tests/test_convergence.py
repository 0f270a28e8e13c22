"""Every optimizer, at its default settings and a suitable learning rate, converges.

Problems: an ill-conditioned quadratic (condition number 10) and the 2-D Rosenbrock
function from (-1.2, 1), 5000 full-batch steps in float64 (``cases.CONVERGENCE``); and the
quadratic in 3000 steps at another rate (``cases.QUADRATIC``). The tolerance on the distance
to the minimizer is what each method reaches (with margin), so a regression shows up.
Weight-decay variants stop near, not at, the minimizer (the decay shifts the optimum); sign
methods and other fixed-size steps end in a cycle of the order of the learning rate.
"""

from __future__ import annotations

import inspect

import cases
import jax
import jax.numpy as jnp
import pytest
from helpers import precision, solve

import gradtx

A = jnp.array([1.0, 3.0, 10.0])


def quadratic(w):
    return 0.5 * jnp.sum(A * w**2)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


def _solve(tx, f, w0, steps=5000):
    def body(carry, _):
        w, s = carry
        value, grad = jax.value_and_grad(f)(w)
        # `value` for Polyak's step, `value_fn` for the loss-driven methods; others ignore them
        u, s = tx.update(grad, s, w, value=value, value_fn=f)
        return (gradtx.apply_updates(w, u), s), None

    (w, _), _ = jax.lax.scan(body, (w0, tx.init(w0)), None, length=steps)
    return w


def test_every_optimizer_has_settings():
    """Every optimizer but those that take per-example gradients (DP-SGD)."""
    assert set(cases.CONVERGENCE) == set(cases.NAMES)
    assert set(cases.QUADRATIC) == set(cases.NAMES)


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(cases.CONVERGENCE))
def test_converges(name, problem):
    q_lr, q_tol, r_lr, r_tol, *more = cases.CONVERGENCE[name]  # a 5th item: other kwargs
    with precision("float64"):
        if problem == "quadratic":
            f, w0, solution, lr, tol = quadratic, jnp.ones(3), jnp.zeros(3), q_lr, q_tol
        else:
            f, w0, solution, lr, tol = rosenbrock, jnp.array([-1.2, 1.0]), jnp.ones(2), r_lr, r_tol
        factory = gradtx.OPTIMIZERS[name].factory
        parameters = inspect.signature(factory).parameters
        rate = [k for k in ("learning_rate", "max_learning_rate") if k in parameters]
        kwargs = {**({rate[0]: lr} if rate else {}), **(more[0] if more else {})}
        w = _solve(factory(**kwargs), f, w0)
        error = float(jnp.max(jnp.abs(w - solution)))
        assert error <= tol, f"{name} on {problem}: |w - w*| = {error:.3g} > {tol:g}"


@pytest.mark.parametrize("case", cases.ONE_CASE_PER_OPTIMIZER, ids=lambda c: c.name)
def test_converges_on_a_quadratic(case):
    """3000 full-batch float64 steps on the quadratic at ``cases.QUADRATIC``'s rate (passed
    as the case's scheduled hyperparameter; ``None``: it has no rate of its own)."""
    lr, tol, *more = cases.QUADRATIC[case.name]  # a 3rd item: other constructor kwargs
    with precision("float64"):
        rate = case.extra.get("schedule", "learning_rate")
        kwargs = {**({rate: lr} if rate else {}), **(more[0] if more else {})}
        tx = gradtx.OPTIMIZERS[case.name].factory(**kwargs)
        w = solve(tx, quadratic, jnp.ones(3), 3000, gradtx.OPTIMIZERS[case.name].needs_value)
        error = float(jnp.max(jnp.abs(w)))
        assert error <= tol, f"{case.name}: |w - w*| = {error:.3g} > {tol:g}"
