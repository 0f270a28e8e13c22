"""Cases of ``gradtx/optimizers/_parameter_free.py``: COCOB, DoG and DoWG, against
``optax.contrib``."""

from __future__ import annotations

from typing import Any

import optax

import gradtx
from cases.common import Case, matrices_only

MASKED = {"mask": matrices_only, "weight_decay": 0.1}

CASES: list[Case] = [
    Case("cocob", {"learning_rate": 1.0}, optax.contrib.cocob, complex_ok=False),
    Case(
        "cocob",
        {"learning_rate": 0.5, "alpha": 10.0, **MASKED},
        optax.contrib.cocob,
        complex_ok=False,
        id_suffix="wd-masked",
    ),
    Case("dog", {"learning_rate": 1.0}, optax.contrib.dog),
    Case(
        "dog",
        {"init_step": ("learning_rate", 0.01), "weight_decay": 0.1},
        optax.contrib.dog,
        id_suffix="first-step-wd",
    ),
    Case(
        "dog",
        {"init_step": ("distance", 0.1), "eps": 1e-4, **MASKED},
        optax.contrib.dog,
        id_suffix="distance-masked",
    ),
    Case("dowg", {"learning_rate": 1.0}, optax.contrib.dowg),
    Case(
        "dowg",
        {"init_estim_sq_dist": 0.5, "eps": 1e-6, "weight_decay": 0.1},
        optax.contrib.dowg,
        id_suffix="guess-wd",
    ),
]
# Measured distances in comments (3000 and 5000 steps; the last 1000 steps of Rosenbrock).
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "cocob": (1.0, 1e-9),  # 4e-16
    "dog": (1.0, 1e-9),  # 4e-27
    "dowg": (1.0, 1e-9),  # 1e-211
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "cocob": (1.0, 1e-9, 1.0, 0.3),  # 4e-16; 0.18 (< 0.24)
    "dog": (1.0, 1e-9, 1.0, 0.5),  # 2e-45; 0.19 (< 0.35)
    "dowg": (1.0, 1e-9, 1.0, 0.2),  # 1e-307; 0.096 (< 0.15)
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("cocob", {"alpha": 0.0}, r"alpha must be in \(0, inf\)"),
    ("cocob", {"eps": 0.0}, r"eps must be in \(0, inf\)"),
    ("dog", {"init_step": ("guess", 1e-6)}, r"init_step\[0\] must be one of"),
    ("dog", {"init_step": ("distance", 0.0)}, r"init_step\[1\] must be in \(0, inf\)"),
    ("dog", {"init_step": 1e-6}, "init_step must be a pair"),
    ("dowg", {"init_estim_sq_dist": -1.0}, r"init_estim_sq_dist must be in \(0, inf\)"),
    ("dowg", {"eps": 0.0}, "eps .*must be in"),
]
PRIMITIVES: list[Any] = [gradtx.scale_by_dog, gradtx.scale_by_dowg, gradtx.scale_by_cocob]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_dog, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.scale_by_dowg, {"eps": float("nan")}, r"eps .*must be in"),
    (gradtx.scale_by_cocob, {"alpha": float("inf")}, "alpha must be in"),
]

# Extreme gradients (tests/test_extremes.py): DoG's sum of |g|² and DoWG's of r² |g|² are inf
# at |g| = 1e30, their steps exactly 0. COCOB's bet θ (L + R) / (L max(G + L, αL)) has
# L max(G + L, αL) ~ α |g|² in the denominator, formed in the step: inf, bet 0. DoG starts from
# r_eps ~ 1e-6: the training runs use its example.
EXTREMES = {
    "cocob": {"squares", "no_inf_kept"},
    "dog": {"squares", "warm_up"},
    "dowg": {"squares"},
}
