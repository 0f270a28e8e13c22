"""Cases of ``gradtx/optimizers/_adaptive.py``: AdaGrad, AdaDelta, RMSProp and Rprop."""

from __future__ import annotations

from typing import Any

import optax
from references.adaptive import rprop_reference

import gradtx
from cases.common import Case

LR = 0.01

CASES: list[Case] = [
    Case("adagrad", {"learning_rate": 0.1}, optax.adagrad, complex_ok=True),
    Case("adadelta", {"learning_rate": 1.0}, optax.adadelta),
    Case("adadelta", {"learning_rate": 0.5, "weight_decay": 0.1}, optax.adadelta, id_suffix="wd"),
    Case("rmsprop", {"learning_rate": LR}, optax.rmsprop),
    Case(
        "rmsprop",
        {"learning_rate": LR, "centered": True, "momentum": 0.9},
        optax.rmsprop,
        id_suffix="centered-momentum",
    ),
    Case(
        "rmsprop",
        {
            "learning_rate": LR,
            "eps_in_sqrt": False,
            "momentum": 0.9,
            "nesterov": True,
            "bias_correction": True,
        },
        optax.rmsprop,
        id_suffix="eps-outside-nesterov",
    ),
    Case("rprop", {"learning_rate": 0.05}, None, reference=rprop_reference, complex_ok=False),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs]); measured distances
    "adagrad": (1.0, 1e-9),  # 0
    "adadelta": (1.0, 0.05),  # 0.025: slow by design
    "rmsprop": (1e-3, 2e-3),  # 5e-4: a cycle of the order of the rate
    "rprop": (1.0, 1e-9),  # 0
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "adagrad": (1.0, 1e-9, 1.0, 0.05),
    "adadelta": (1.0, 0.05, 0.1, 0.15),  # slow by design: its first steps are ~sqrt(eps)
    "rmsprop": (1e-3, 2e-3, 3e-3, 0.02),
    "rprop": (1.0, 1e-9, 1e-3, 3e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("rmsprop", {"learning_rate": 1e-3, "decay": 1.5}, "decay must be in"),
    ("rmsprop", {"learning_rate": 1e-3, "nesterov": True}, "nesterov=True needs a momentum"),
    ("rmsprop", {"learning_rate": 1e-3, "initial_scale": -1.0}, "initial_scale must be in"),
    (
        "adagrad",
        {"learning_rate": 0.1, "initial_accumulator_value": -1.0},
        "initial_accumulator_value must be in",
    ),
    ("adadelta", {"rho": 1.0}, r"rho must be in \[0, 1\)"),
    ("rprop", {"learning_rate": 0.0}, r"learning_rate must be in \(0, inf\)"),
    ("rprop", {"learning_rate": 0.1, "eta_minus": 1.5}, r"eta_minus must be in \(0, 1\]"),
    ("rprop", {"learning_rate": 0.1, "eta_plus": 0.5}, "eta_plus must be in"),
    (
        "rprop",
        {"learning_rate": 0.1, "min_step_size": 2.0, "max_step_size": 1.0},
        "max_step_size must be >= min_step_size",
    ),
    ("rprop", {"learning_rate": lambda t: 0.1}, "learning_rate must be a fixed number"),
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_rms, {"source": "grads"}, "source must be one of"),
]

# Extreme gradients (tests/test_extremes.py): the accumulated g² overflows float32 to inf at
# |g| = 1e30 and the update is exactly 0; Rprop's step does not depend on |g|.
EXTREMES = {
    "rmsprop": {"squares"},
    "adagrad": {"squares"},
    "adadelta": {"squares"},
    "rprop": {"sign"},
}
