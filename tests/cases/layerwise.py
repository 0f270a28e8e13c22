"""Cases of ``gradtx/optimizers/_layerwise.py``: LAMB, LARS, Fromage and NovoGrad."""

from __future__ import annotations

from typing import Any

import optax

import gradtx
from cases.common import F32_TRAJECTORY, Case, matrices_only

LR = 0.01

CASES: list[Case] = [
    Case("lamb", {"learning_rate": LR}, optax.lamb),
    Case("lamb", {"learning_rate": LR, "weight_decay": 0.1, "b1": 0.5}, optax.lamb, id_suffix="wd"),
    Case("lars", {"learning_rate": 1.0}, optax.lars),
    Case(
        "lars",
        {
            "learning_rate": 0.1,
            "weight_decay": 0.1,
            "trust_coefficient": 0.1,
            "eps": 1e-3,
            "trust_ratio_mask": matrices_only,
            "nesterov": True,
        },
        optax.lars,
        id_suffix="masked-nesterov",
    ),
    Case("fromage", {"learning_rate": LR}, optax.fromage),
    Case(
        "fromage",
        {"learning_rate": 0.5, "min_norm": 1.0},
        optax.fromage,
        id_suffix="min-norm",
        extra=F32_TRAJECTORY,
    ),
    Case("novograd", {"learning_rate": LR}, optax.novograd),
    Case(
        "novograd",
        {"learning_rate": LR, "b2": 0.9, "weight_decay": 0.1, "eps_root": 1e-8},
        optax.novograd,
        id_suffix="wd",
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "lamb": (0.01, 1e-9),
    "lars": (1.0, 1e-9),
    "fromage": (0.01, 1e-9),
    "novograd": (0.01, 1e-2),  # normalized steps: a cycle of the order of the learning rate
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "lamb": (0.01, 1e-9, 0.01, 0.15),
    "lars": (1.0, 1e-9, 1.0, 2e-3),
    "fromage": (0.01, 1e-9, 0.01, 0.03),
    "novograd": (1e-3, 1e-3, 1e-3, 1e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("lamb", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("lars", {"learning_rate": 0.1, "trust_coefficient": 0.0}, "trust_coefficient must be in"),
    ("lars", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("fromage", {"learning_rate": 0.1, "min_norm": -1.0}, r"min_norm must be in \[0, inf\)"),
    ("novograd", {"learning_rate": 0.1, "b2": 2.0}, r"b2 must be in \[0, 1\)"),
]
PRIMITIVES: list[Any] = [gradtx.scale_by_trust_ratio, gradtx.scale_by_layerwise_rms]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_layerwise_rms, {"eps_root": -1.0}, "eps_root must be in"),
]

# Extreme gradients (tests/test_extremes.py): a squared norm (LAMB's Adam moments, Fromage's
# and NovoGrad's norms) overflows at |g| = 1e30 and the update is 0; LAMB's and Fromage's
# inf is formed in the step, not kept in the state. LARS's first step has trust ratio 1
# (zero weights), then both norms overflow and the ratio is 0, and momentum carries the first
# step on. Trust ratios are relative to |w|: their training runs start at w = 0.5.
EXTREMES = {
    "lamb": {"squares", "no_inf_kept", "relative"},
    "fromage": {"squares", "no_inf_kept", "relative"},
    "novograd": {"squares"},
    "lars": {"linear_then_frozen", "relative"},
}
