"""Cases of ``gradtx/optimizers/_mechanic.py``: Mechanic, against ``optax.contrib.mechanize``
wrapping the same gradtx base optimizer. It has no rate: its ``weight_decay`` is the
hyperparameter the scheduled tests schedule."""

from __future__ import annotations

from typing import Any

import optax

import gradtx
from cases.common import F32_TRAJECTORY, Case

BASE, SGD_BASE = gradtx.adam(0.1), gradtx.sgd(1.0, momentum=0.9)

CASES: list[Case] = [
    Case(
        "mechanize",
        {"base_optimizer": BASE, "num_betas": 6},
        optax.contrib.mechanize,
        extra={"schedule": "weight_decay"},
    ),
    Case(
        "mechanize",
        {"base_optimizer": SGD_BASE, "weight_decay": 0.1, "s_init": 1e-2, "num_betas": 3},
        optax.contrib.mechanize,
        id_suffix="sgd-3-betas",
        extra={"schedule": "weight_decay", **F32_TRAJECTORY},
    ),
]
# The scheduled rate is weight_decay. Measured distances: 5e-3 after 3000 steps; 2e-3 and 0.49
# after 5000 (quadratic, Rosenbrock).
_ADAM = {"base_optimizer": gradtx.adam(1.0)}
QUADRATIC: dict[str, tuple[Any, ...]] = {"mechanize": (0.01, 0.05, _ADAM)}
CONVERGENCE: dict[str, tuple[Any, ...]] = {"mechanize": (None, 0.01, None, 0.8, _ADAM)}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("mechanize", {"base_optimizer": BASE, "s_init": 0.0}, r"s_init must be in \(0, inf\)"),
    ("mechanize", {"base_optimizer": BASE, "num_betas": 0}, "num_betas must be an integer >= 1"),
    ("mechanize", {"base_optimizer": BASE, "eps": -1.0}, r"eps must be in \[0, inf\)"),
]
PRIMITIVES: list[Any] = [gradtx.scale_by_mechanic]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_mechanic, {"base_optimizer": BASE, "weight_decay": -1.0}, "weight_decay"),
]

# Extreme gradients (tests/test_extremes.py): Mechanic tunes the scale of its base optimizer
# (Adam here), which freezes at |g| = 1e30; its own |g| and |x| are norms computed without
# overflow. Its scale starts at ~1e-8 and grows geometrically: the training runs use its
# example (an Adam(1) base).
EXTREMES = {"mechanize": {"squares", "warm_up"}}
