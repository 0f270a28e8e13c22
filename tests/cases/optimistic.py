"""Cases of ``gradtx/optimizers/_optimistic.py``: Optimistic Adam (both of Optax's
interfaces), against Optax and the paper (``references/adam_variants.py``)."""

from __future__ import annotations

import warnings
from typing import Any

import optax
from references.adam_variants import optimistic_adam_reference

from cases.common import F32_TRAJECTORY, Case

LR = 0.01


def _optimistic_adam_optax(
    learning_rate, optimism=None, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, nesterov=True
):
    """Optax's (deprecated) optimistic_adam; a scheduled rate goes through inject_hyperparams,
    since optimistic_adam itself rejects schedules."""
    kwargs = dict(optimism=optimism, b1=b1, b2=b2, eps=eps, eps_root=eps_root, nesterov=nesterov)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if callable(learning_rate):
            inject = optax.inject_hyperparams(optax.optimistic_adam, static_args=("nesterov",))
            return inject(learning_rate, **kwargs)
        return optax.optimistic_adam(learning_rate, **kwargs)


CASES: list[Case] = [
    Case(
        "optimistic_adam",
        {"learning_rate": LR},
        _optimistic_adam_optax,
        reference=optimistic_adam_reference,
        extra=F32_TRAJECTORY,
    ),
    Case(
        "optimistic_adam",
        {"learning_rate": LR, "optimism": 0.02, "nesterov": False},
        _optimistic_adam_optax,
        reference=optimistic_adam_reference,
        id_suffix="optimism",
        extra=F32_TRAJECTORY,
    ),
    Case(
        "optimistic_adam_v2", {"learning_rate": LR}, optax.optimistic_adam_v2, extra=F32_TRAJECTORY
    ),
    Case(
        "optimistic_adam_v2",
        {"learning_rate": LR, "alpha": 0.5, "beta": 2.0, "nesterov": False},
        optax.optimistic_adam_v2,
        id_suffix="alpha-beta",
        extra=F32_TRAJECTORY,
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "optimistic_adam": (0.01, 1e-9),
    "optimistic_adam_v2": (0.01, 1e-9),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "optimistic_adam": (0.01, 1e-9, 0.01, 0.01),
    "optimistic_adam_v2": (0.01, 1e-9, 0.01, 0.01),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("optimistic_adam", {"learning_rate": 0.1, "b1": -0.5}, r"b1 must be in \[0, 1\)"),
]

# Extreme gradients (tests/test_extremes.py): Adam's ν is inf at |g| = 1e30, the update 0.
EXTREMES = {"optimistic_adam": {"squares"}, "optimistic_adam_v2": {"squares"}}
