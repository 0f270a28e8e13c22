"""Cases of ``gradtx/optimizers/_adam.py``: Adam, AdamW, NAdam, NAdamW, AMSGrad, Adamax and
AdamaxW, each against its Optax counterpart."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

from cases.common import F32_TRAJECTORY, Case

LR = 0.01

CASES: list[Case] = [
    Case("adam", {"learning_rate": LR}, optax.adam),
    Case(
        "adam", {"learning_rate": LR, "eps_root": 1e-8, "b1": 0.5}, optax.adam, id_suffix="eps-root"
    ),
    Case("adamw", {"learning_rate": LR, "weight_decay": 0.1}, optax.adamw),
    Case("nadam", {"learning_rate": LR}, optax.nadam),
    # float32: a scalar leaf's update (step minus decay) is off by 5.3e-6 of itself with
    # the tests' fast compiler options (3.7e-6 with XLA's defaults).
    Case("nadamw", {"learning_rate": LR, "weight_decay": 0.1}, optax.nadamw, extra=F32_TRAJECTORY),
    Case("amsgrad", {"learning_rate": LR}, optax.amsgrad),
    Case("adamax", {"learning_rate": LR}, optax.adamax),
    Case("adamaxw", {"learning_rate": LR, "weight_decay": 0.1}, optax.adamaxw),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs]); measured distances
    "adam": (0.03, 1e-9),  # 2e-69
    "adamw": (0.03, 1e-9),  # 2e-69
    "nadam": (0.1, 1e-9),  # 8e-308
    "nadamw": (0.1, 1e-9),  # 1e-307
    "amsgrad": (0.1, 1e-9),  # 1e-69
    "adamax": (0.03, 1e-9),  # 5e-69
    "adamaxw": (0.03, 1e-9),  # 5e-69
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "adam": (0.03, 1e-9, 0.03, 1e-9),
    "adamw": (0.03, 1e-9, 0.03, 1e-3),
    "nadam": (0.1, 1e-9, 0.01, 1e-4),
    "nadamw": (0.1, 1e-9, 0.01, 1e-3),
    "amsgrad": (0.1, 1e-9, 1.0, 1e-3),
    "adamax": (0.03, 1e-9, 0.03, 1e-6),
    "adamaxw": (0.03, 1e-9, 0.03, 1e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("adam", {"learning_rate": 1e-3, "b1": -0.1}, r"b1 must be in \[0, 1\)"),
    ("adam", {"learning_rate": 1e-3, "b2": 1.0}, r"b2 must be in \[0, 1\)"),
    ("adam", {"learning_rate": 1e-3, "eps": -1e-8}, r"eps must be in \[0, inf\)"),
    ("adam", {"learning_rate": 1e-3, "eps_root": -1.0}, "eps_root must be in"),
    ("adam", {"learning_rate": "0.1"}, "learning_rate must be a real scalar"),
    ("adam", {"learning_rate": jnp.ones(2)}, "learning_rate must be a real scalar"),
    ("adam", {"learning_rate": 1e-3, "mu_dtype": "not-a-dtype"}, "mu_dtype"),
    ("adamw", {"learning_rate": 1e-3, "weight_decay": -1e-4}, "weight_decay must be in"),
    ("amsgrad", {"learning_rate": 1e-3, "b1": 2}, "b1 must be in"),
    ("adamax", {"learning_rate": 1e-3, "b2": -0.5}, "b2 must be in"),
]

# Extreme gradients (tests/test_extremes.py): at |g| = 1e30, g² overflows float32, the second
# moment is +inf and the update m / sqrt(inf) is exactly 0 (as in Optax and PyTorch).
EXTREMES = {name: {"squares"} for name in ("adam", "adamw", "nadam", "nadamw", "amsgrad")}
