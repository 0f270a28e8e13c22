"""Every optimizer, at its default settings and a suitable learning rate, converges.

Problems: an ill-conditioned quadratic (condition number 10) and the 2-D Rosenbrock
function from (-1.2, 1), 5000 full-batch steps in float64. The tolerance on the distance to
the minimizer is what each method reaches (with margin), so a regression shows up.
Weight-decay variants stop near, not at, the minimizer (the decay shifts the optimum).
"""

from __future__ import annotations

import inspect

import jax
import jax.numpy as jnp
import pytest
import registry  # noqa: F401 - first: tests/registry.py imports registry_breadth
import registry_breadth
from conftest import precision

import gradtx

A = jnp.array([1.0, 3.0, 10.0])


def quadratic(w):
    return 0.5 * jnp.sum(A * w**2)


def rosenbrock(w):
    return (1 - w[0]) ** 2 + 100 * (w[1] - w[0] ** 2) ** 2


# name: (quadratic lr, quadratic tol, rosenbrock lr, rosenbrock tol[, other kwargs]); the rate
# is passed as `learning_rate` (or `max_learning_rate`) where the optimizer takes one
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
    # The breadth optimizers. Sign methods move by a fixed step, so they stop within about a
    # step of the minimizer; RAdam's first steps are plain momentum SGD, and on Rosenbrock it
    # is still in the valley after 5000 steps (Optax's radam diverges at lr 0.01).
    "sign_sgd": (1e-3, 2e-3, 1e-3, 0.6),
    "signum": (1e-3, 3e-3, 1e-3, 0.05),
    "lion": (1e-3, 2e-3, 1e-3, 5e-3),
    "adabelief": (0.03, 1e-9, 0.01, 1e-5),
    "yogi": (0.03, 1e-9, 0.1, 1e-9),
    "radam": (0.03, 1e-9, 3e-3, 0.95),
    # Adan on Rosenbrock ends in a jitter band around the minimizer: over 40 starts moved by
    # 1e-12 the final distance spans 2.6e-6 to 5.2e-5 (median 2.3e-5), so 1e-4.
    "adan": (3e-3, 1e-4, 1e-3, 1e-4),
    "optimistic_adam": (0.01, 1e-9, 0.01, 0.01),
    "noisy_sgd": (0.1, 0.01, 1e-3, 0.2),
    "polyak_sgd": (1.0, 1e-7, 1.0, 1e-7),  # the rate is max_learning_rate; needs `value`
    "optimistic_gradient_descent": (0.05, 1e-9, 1e-3, 0.5),
    "lamb": (0.01, 1e-9, 0.01, 0.15),
    "lars": (1.0, 1e-9, 1.0, 2e-3),
    "fromage": (0.01, 1e-9, 0.01, 0.03),
    "novograd": (1e-3, 1e-3, 1e-3, 1e-3),
    "adafactor": (0.03, 1e-9, 0.01, 0.1),
    "sm3": (0.1, 1e-9, 1.0, 2e-3),
    # Matrix preconditioners on vectors: their diagonal forms. SOAP (Adam, b2 = 0.95) and
    # PSGD-Kron (noisy probes, trust region) end in a band around the minimizer.
    "shampoo": (0.03, 1e-9, 0.03, 1e-9),
    "soap": (0.03, 1e-3, 0.03, 3e-3, {"weight_decay": 0.0}),
    "psgd_kron": (0.003, 5e-3, 0.003, 5e-3),
}


for _family in registry_breadth.FAMILY_REGISTRIES:
    SETTINGS.update(_family.CONVERGENCE)


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
    assert set(SETTINGS) == set(gradtx.OPTIMIZERS)


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_converges(name, problem):
    q_lr, q_tol, r_lr, r_tol, *more = SETTINGS[name]  # a 5th item: other constructor kwargs
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
