"""Cases of ``gradtx/optimizers/_schedule_free.py``: schedule-free SGD and AdamW.

The counterparts are ``optax.contrib``'s through ``optax.inject_hyperparams``, which reads a
scheduled rate once per step for both the base optimizer and the weights (plain Optax reads
the weight's one step ahead, see ``gradtx.schedule_free``) and keeps ``b1`` an array (plain
Optax's Python ``b1`` times a bfloat16 ``z`` rounds to bfloat16). Warm-ups are compared with
the authors' PyTorch code in NumPy (``references/schedule_free.py``); so is float32
schedule-free AdamW, where Optax's float32 bias correction ``1 - b**t`` is off by up to 1e-5.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from references.schedule_free import schedule_free_reference

import gradtx
from cases.common import F32_TRAJECTORY, Case


def _schedule_free_optax(name):
    """``optax.contrib.<name>`` through ``optax.inject_hyperparams`` (see the docstring)."""
    fn = getattr(optax.contrib, name)

    @functools.wraps(fn)
    def make(**kwargs):
        if any(isinstance(v, jax.Array) for v in kwargs.values()):
            return fn(**kwargs)  # already inside the float32 test's inject_hyperparams
        static = [k for k in ("warmup_steps", "state_dtype") if k in kwargs]
        return optax.inject_hyperparams(fn, static_args=static)(**kwargs)

    return make


BASE = gradtx.adam(0.1)
SF_SGD = _schedule_free_optax("schedule_free_sgd")
SF_ADAMW = _schedule_free_optax("schedule_free_adamw")
SF_ADAMW_REF = functools.partial(schedule_free_reference, b2=0.999)

# Every schedule-free case interpolates between y and z: see F32_TRAJECTORY.
CASES: list[Case] = [
    Case("schedule_free_sgd", {"learning_rate": 0.1}, SF_SGD, extra=F32_TRAJECTORY),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "b1": 0.5, "weight_decay": 0.1, "weight_lr_power": 1.0},
        SF_SGD,
        id_suffix="wd-b1",
        extra=F32_TRAJECTORY,
    ),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "state_dtype": np.dtype(jnp.bfloat16)},
        SF_SGD,
        id_suffix="bf16-z",
        extra=F32_TRAJECTORY,
    ),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "warmup_steps": 10, "weight_decay": 0.1},
        reference=schedule_free_reference,
        id_suffix="warmup",
        extra=F32_TRAJECTORY,
    ),
    Case(
        "schedule_free_adamw",
        {"learning_rate": 0.1},
        SF_ADAMW,
        reference=SF_ADAMW_REF,
        extra=F32_TRAJECTORY,
    ),
    Case(
        "schedule_free_adamw",
        {"learning_rate": 0.1, "b1": 0.7, "b2": 0.99, "eps": 1e-3, "weight_decay": 0.1},
        SF_ADAMW,
        reference=SF_ADAMW_REF,
        id_suffix="wd",
        extra=F32_TRAJECTORY,
    ),
    Case(
        "schedule_free_adamw",
        {"learning_rate": 0.1, "warmup_steps": 7, "b2": 0.99, "weight_decay": 0.1},
        reference=SF_ADAMW_REF,
        id_suffix="warmup",
        extra=F32_TRAJECTORY,
    ),
]
# Measured distances in comments (3000 and 5000 steps; the last 1000 steps of Rosenbrock).
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "schedule_free_sgd": (1.0, 1e-9),  # 5e-42
    "schedule_free_adamw": (0.1, 1e-9),  # 2e-19
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "schedule_free_sgd": (1.0, 1e-9, 1e-3, 0.5),  # 3e-45; 0.055 (last 1000: < 0.26)
    "schedule_free_adamw": (0.1, 1e-9, 0.03, 0.2),  # 2e-22; 0.041 (< 0.097)
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("schedule_free_sgd", {"b1": 0.0}, r"b1 must be in \(0, 1\)"),
    ("schedule_free_sgd", {"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
    ("schedule_free_sgd", {"weight_lr_power": -1.0}, r"weight_lr_power must be in \[0, inf\)"),
    ("schedule_free_adamw", {"b2": 1.0}, r"b2 must be in \[0, 1\)"),
    ("schedule_free_adamw", {"state_dtype": jnp.int32}, "state_dtype must be a floating"),
]
PRIMITIVES: list[Any] = [gradtx.schedule_free, gradtx.schedule_free_eval_params]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.schedule_free, {"base_optimizer": BASE, "learning_rate": 1.0, "b1": 1.0}, r"\(0, 1\)"),
    (gradtx.schedule_free, {"base_optimizer": BASE, "learning_rate": -1.0}, "learning_rate must"),
]

# Extreme gradients (tests/test_extremes.py): schedule-free SGD is SGD on z, handed back at
# y = b1 x + (1 - b1) z with x the average of z: after 20 equal steps y = (0.9 * 10.5 + 0.1 *
# 20) lr g, a factor 0.57 per step. Schedule-free AdamW's ν is inf at |g| = 1e30, the step 0.
EXTREMES = {"schedule_free_sgd": {"linear"}, "schedule_free_adamw": {"squares"}}
