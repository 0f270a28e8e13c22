"""Cases of ``gradtx/optimizers/_hessian_diagonal.py``: Sophia, against
``optax.contrib.sophia`` given the battery's ``value_fn`` as its ``obj_fn``. Both Hutchinson
estimators start from seed 0, so their Rademacher probes agree (``test_contrib.py`` checks
it on an objective whose Hessian is not diagonal)."""

from __future__ import annotations

from typing import Any

import optax

from cases.common import Case, first_axis_three
from gradtx.transforms import _hessian_diagonal as hessian_diagonal

LR = 0.01


def _sophia_optax(
    learning_rate,
    b1=0.965,
    b2=0.99,
    eps=1e-8,
    weight_decay=1e-4,
    weight_decay_mask=None,
    gamma=0.01,
    clip_threshold=1.0,
    update_interval=10,
):
    """``optax.contrib.sophia`` whose update takes the objective as ``value_fn``."""
    tx = optax.contrib.sophia(
        learning_rate,
        b1,
        b2,
        eps,
        weight_decay,
        weight_decay_mask,
        gamma,
        clip_threshold,
        update_interval,
        hessian_diagonal_fn=optax.contrib.hutchinson_estimator_diag_hessian(),
    )

    def update(updates, state, params=None, *, value_fn=None, **extra):
        del extra
        return tx.update(updates, state, params, obj_fn=value_fn)

    return optax.GradientTransformationExtraArgs(tx.init, update)


CASES: list[Case] = [
    Case("sophia", {"learning_rate": LR}, _sophia_optax, complex_ok=False),
    Case(
        "sophia",
        {
            "learning_rate": LR,
            "b1": 0.9,
            "b2": 0.95,
            "gamma": 0.05,
            "clip_threshold": 0.5,
            "update_interval": 3,
            "weight_decay": 0.1,
            "weight_decay_mask": first_axis_three,
        },
        _sophia_optax,
        complex_ok=False,
        id_suffix="options",
    ),
    Case(
        "sophia",
        {"learning_rate": LR, "clip_threshold": None, "eps": 1.0, "update_interval": 1},
        _sophia_optax,
        complex_ok=False,
        id_suffix="no-clip",
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {"sophia": (0.01, 1e-9)}  # (lr, tol[, kwargs])
# (q_lr, q_tol, r_lr, r_tol[, kwargs]); without weight decay: the default 1e-4 moves
# Rosenbrock's minimizer by ~1e-3.
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "sophia": (0.01, 1e-9, 0.03, 1e-9, {"weight_decay": 0.0}),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("sophia", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("sophia", {"learning_rate": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
    ("sophia", {"learning_rate": 0.1, "clip_threshold": 0.0}, r"clip_threshold must be in \(0"),
    ("sophia", {"learning_rate": 0.1, "update_interval": 0}, "update_interval must be an integer"),
    ("sophia", {"learning_rate": 0.1, "verbose": True}, "print_win_rate_every_n_steps must be"),
]
PRIMITIVES: list[Any] = [
    hessian_diagonal.hutchinson_estimator_diag_hessian,
    hessian_diagonal.scale_by_hessian_diagonal,
    hessian_diagonal.scale_by_sophia,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (hessian_diagonal.hutchinson_estimator_diag_hessian, {"random_seed": "a"}, "random_seed"),
    (hessian_diagonal.scale_by_hessian_diagonal, {"b2": 1.0}, r"b2 must be in \[0, 1\)"),
    (hessian_diagonal.scale_by_hessian_diagonal, {"update_interval": 2.5}, "update_interval"),
    (hessian_diagonal.scale_by_sophia, {"clip_threshold": -1.0}, "clip_threshold must be in"),
]

# Extreme gradients (tests/test_extremes.py): Sophia's step clip(m / max(γ h, ε), ±ρ) is
# ±ρ = ±1 at |g| = 1e30 (sign-like, lr per step; its Hessian estimate of the linear loss is
# 0), and m / ε at 1e-30.
EXTREMES = {"sophia": {"clipped"}}
