"""Cases of ``gradtx/optimizers/_sign.py``: signSGD, Signum and Lion."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax

import gradtx
from cases.common import Case

LR = 0.01

CASES: list[Case] = [
    Case("sign_sgd", {"learning_rate": LR}, optax.sign_sgd),
    Case("signum", {"learning_rate": LR, "beta": 0.8}, optax.signum),
    Case("lion", {"learning_rate": LR}, optax.lion),
    Case("lion", {"learning_rate": LR, "b1": 0.5, "weight_decay": 0.1}, optax.lion, id_suffix="wd"),
]
# Sign methods move by a fixed step: they end in a cycle of the order of the learning rate.
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "sign_sgd": (1e-3, 3e-3),
    "signum": (1e-3, 3e-3),
    "lion": (1e-3, 3e-3),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "sign_sgd": (1e-3, 2e-3, 1e-3, 0.6),
    "signum": (1e-3, 3e-3, 1e-3, 0.05),
    "lion": (1e-3, 2e-3, 1e-3, 5e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("sign_sgd", {"learning_rate": -1.0}, r"learning_rate must be in \[0, inf\)"),
    ("signum", {"learning_rate": 0.1, "beta": 1.0}, r"beta must be in \[0, 1\)"),
    ("signum", {"learning_rate": 0.1, "accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    ("lion", {"learning_rate": 0.1, "b2": 1.5}, r"b2 must be in \[0, 1\)"),
    ("lion", {"learning_rate": 0.1, "weight_decay": -1.0}, "weight_decay must be in"),
]
PRIMITIVES: list[Any] = [gradtx.interpolated_ema, gradtx.scale_by_lion]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.interpolated_ema, {"b1": 1.0}, r"b1 must be in \[0, 1\)"),
]

# Extreme gradients (tests/test_extremes.py): the step size does not depend on |g|.
EXTREMES = {name: {"sign"} for name in ("sign_sgd", "signum", "lion")}
