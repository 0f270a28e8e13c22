"""Every optimizer, at its default settings and a suitable learning rate, converges.

Problems: an ill-conditioned quadratic (condition number 10) and the 2-D Rosenbrock
function from (-1.2, 1), 5000 full-batch steps in float64. The tolerance on the distance to
the minimizer is what each method reaches (with margin), so a regression shows up.
Weight-decay variants stop near, not at, the minimizer (the decay shifts the optimum).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
from conftest import precision

import gradtx

A = jnp.array([1.0, 3.0, 10.0])


def quadratic(w):
    return 0.5 * jnp.sum(A * w**2)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


# name: (quadratic lr, quadratic tol, rosenbrock lr, rosenbrock tol)
SETTINGS = {
    "gd": (0.1, 1e-9, 1e-3, 0.2),
    "sgd": (0.1, 1e-9, 1e-3, 0.2),
    "heavy_ball": (0.3, 1e-9, 3e-3, 1e-9),
    "ema_momentum": (0.3, 1e-9, 3e-2, 1e-9),
    "adagrad": (1.0, 1e-9, 1.0, 0.05),
    "adadelta": (1.0, 0.05, 0.1, 0.15),  # slow by design: its first steps are ~sqrt(eps)
    "rmsprop": (1e-3, 2e-3, 3e-3, 0.02),
    "rprop": (1.0, 1e-9, 1e-3, 3e-3),
    "adam": (0.03, 1e-9, 0.03, 1e-9),
    "adamw": (0.03, 1e-9, 0.03, 1e-3),
    "nadam": (0.1, 1e-9, 0.01, 1e-4),
    "nadamw": (0.1, 1e-9, 0.01, 1e-3),
    "amsgrad": (0.1, 1e-9, 1.0, 1e-3),
    "adamax": (0.03, 1e-9, 0.03, 1e-6),
    "adamaxw": (0.03, 1e-9, 0.03, 1e-3),
}


def _solve(tx, f, w0, steps=5000):
    def body(carry, _):
        w, s = carry
        u, s = tx.update(jax.grad(f)(w), s, w)
        return (gradtx.apply_updates(w, u), s), None

    (w, _), _ = jax.lax.scan(body, (w0, tx.init(w0)), None, length=steps)
    return w


def test_every_optimizer_has_settings():
    assert set(SETTINGS) == set(gradtx.OPTIMIZERS)


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_converges(name, problem):
    q_lr, q_tol, r_lr, r_tol = SETTINGS[name]
    with precision("float64"):
        if problem == "quadratic":
            f, w0, solution, lr, tol = quadratic, jnp.ones(3), jnp.zeros(3), q_lr, q_tol
        else:
            f, w0, solution, lr, tol = rosenbrock, jnp.array([-1.2, 1.0]), jnp.ones(2), r_lr, r_tol
        w = _solve(gradtx.OPTIMIZERS[name].factory(learning_rate=lr), f, w0)
        error = float(jnp.max(jnp.abs(w - solution)))
        assert error <= tol, f"{name} on {problem}: |w - w*| = {error:.3g} > {tol:g}"
