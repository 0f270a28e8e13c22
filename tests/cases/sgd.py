"""Cases of ``gradtx/optimizers/_sgd.py``: gradient descent, with and without momentum."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

from cases.common import Case


def _heavy_ball_optax(learning_rate, momentum=0.9):
    return optax.chain(optax.scale_by_learning_rate(learning_rate), optax.trace(momentum))


def _ema_momentum_optax(learning_rate, momentum=0.9, debias=False):
    return optax.chain(
        optax.ema(momentum, debias=debias), optax.scale_by_learning_rate(learning_rate)
    )


CASES: list[Case] = [
    Case("gd", {"learning_rate": 0.1}, optax.sgd),
    Case("sgd", {"learning_rate": 0.1}, optax.sgd),
    Case("sgd", {"learning_rate": 0.1, "momentum": 0.9}, optax.sgd, id_suffix="momentum"),
    Case(
        "sgd",
        {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
        optax.sgd,
        id_suffix="nesterov",
    ),
    Case("heavy_ball", {"learning_rate": 0.1, "momentum": 0.8}, _heavy_ball_optax),
    Case("ema_momentum", {"learning_rate": 0.1, "momentum": 0.8}, _ema_momentum_optax),
    Case(
        "ema_momentum",
        {"learning_rate": 0.1, "momentum": 0.8, "debias": True},
        _ema_momentum_optax,
        id_suffix="debias",
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs]); measured distances
    "gd": (0.1, 1e-9),  # 5e-138
    "sgd": (0.1, 1e-9),  # 5e-138
    "heavy_ball": (0.3, 1e-9),  # 5e-69
    "ema_momentum": (0.3, 1e-9),  # 2e-69
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "gd": (0.1, 1e-9, 1e-3, 0.2),
    "sgd": (0.1, 1e-9, 1e-3, 0.2),
    "heavy_ball": (0.3, 1e-9, 3e-3, 1e-9),
    "ema_momentum": (0.3, 1e-9, 3e-2, 1e-9),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("sgd", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("sgd", {"learning_rate": float("nan")}, "learning_rate must be in"),
    ("sgd", {"learning_rate": float("inf")}, "learning_rate must be in"),
    ("sgd", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("sgd", {"learning_rate": 0.1, "nesterov": True}, "nesterov=True needs a momentum"),
    ("sgd", {"learning_rate": 0.1, "accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    ("sgd", {"learning_rate": lambda t: -0.1}, r"learning_rate \(schedule at step 0\)"),
    ("sgd", {"learning_rate": lambda: 0.1}, "must be callable as schedule"),
]

# Extreme gradients (tests/test_extremes.py): the update is linear in the gradient,
# |Δw| = lr |g| x a momentum factor, at |g| = 1e30 and 1e-30 alike.
EXTREMES = {name: {"linear"} for name in ("gd", "sgd", "heavy_ball", "ema_momentum")}
