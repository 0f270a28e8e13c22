"""Cases of ``gradtx/optimizers/_factored.py``: Adafactor and SM3."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from references.factored import sm3_reference

import gradtx
from cases.common import F32_TRAJECTORY, Case

LR = 0.01


def _sm3_optax(learning_rate, momentum=0.9):
    """Optax's sm3 (whose ``scale(-learning_rate)`` takes no schedule: inject one)."""
    if callable(learning_rate):
        return optax.inject_hyperparams(optax.sm3)(learning_rate, momentum)
    return optax.sm3(learning_rate, momentum)


def _adafactor_optax(
    learning_rate=None,
    min_dim_size_to_factor=128,
    decay_rate=0.8,
    multiply_by_parameter_scale=True,
    clipping_threshold=1.0,
    momentum=None,
    dtype_momentum=jnp.float32,
    weight_decay_rate=None,
    eps=1e-30,
    factored=True,
):
    """Optax's adafactor chain (alias.py), with two changes: its second-moment decay
    ``1 - (t+1)**-c`` is computed in the working precision (Optax forms it in float32 even
    with float64 parameters), and ``learning_rate=None`` is the paper's relative step size
    ``min(1e-2, 1/sqrt(t))``, gradtx's default."""

    def decay_rate_fn(step, exponent):
        return 1 - (jnp.asarray(step).astype(jnp.result_type(float)) + 1) ** -exponent

    if learning_rate is None:
        learning_rate = lambda count: jnp.minimum(1e-2, jax.lax.rsqrt(count + 1.0))
    tx = [
        optax.scale_by_factored_rms(
            factored, decay_rate, 0, min_dim_size_to_factor, eps, decay_rate_fn=decay_rate_fn
        )
    ]
    if clipping_threshold is not None:
        tx.append(optax.clip_by_block_rms(clipping_threshold))
    tx.append(optax.scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(optax.scale_by_param_block_rms())
    if momentum is not None:
        tx.append(optax.ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(optax.add_decayed_weights(weight_decay_rate))
    tx.append(optax.scale(-1.0))
    return optax.chain(*tx)


CASES: list[Case] = [
    Case(
        "adafactor",
        {"learning_rate": LR, "min_dim_size_to_factor": 2},
        _adafactor_optax,
        id_suffix="factored",
    ),
    Case(
        "adafactor",
        # A float64 momentum: Optax multiplies a float32 one by a weakly typed decay in
        # float32, gradtx in the gradient's precision (float64).
        {
            "min_dim_size_to_factor": 2,
            "momentum": 0.9,
            "dtype_momentum": np.dtype("float64"),
            "weight_decay_rate": 0.01,
        },
        _adafactor_optax,
        id_suffix="relative-step-momentum",
    ),
    Case(
        "adafactor",
        {
            "learning_rate": LR,
            "factored": False,
            "clipping_threshold": None,
            "multiply_by_parameter_scale": False,
            "decay_rate": 0.5,
        },
        _adafactor_optax,
        id_suffix="unfactored",
    ),
    Case("sm3", {"learning_rate": 0.1}, _sm3_optax, extra={"no_scalar_leaves": True}),
    Case(
        "sm3",
        {"learning_rate": 0.1, "momentum": 0.5},
        reference=sm3_reference,
        id_suffix="paper",
        extra=F32_TRAJECTORY,
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "adafactor": (0.03, 1e-9),
    "sm3": (0.1, 1e-9),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "adafactor": (0.03, 1e-9, 0.01, 0.1),
    "sm3": (0.1, 1e-9, 1.0, 2e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("adafactor", {"clipping_threshold": 0.0}, r"clipping_threshold must be in \(0, inf\)"),
    ("adafactor", {"weight_decay_rate": -0.1}, "weight_decay_rate must be in"),
    ("adafactor", {"min_dim_size_to_factor": 0}, "min_dim_size_to_factor must be"),
    ("adafactor", {"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("sm3", {"learning_rate": 0.1, "momentum": -0.1}, r"momentum must be in \[0, 1\)"),
]
PRIMITIVES: list[Any] = [
    gradtx.scale_by_factored_rms,
    gradtx.scale_by_param_block_rms,
    gradtx.scale_by_cover_rss,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_factored_rms, {"epsilon": -1.0}, "epsilon must be in"),
    (gradtx.scale_by_param_block_rms, {"min_scale": -1.0}, "min_scale must be in"),
    (gradtx.scale_by_cover_rss, {"decay": 1.5}, r"decay must be in \[0, 1\]"),
]

# Extreme gradients (tests/test_extremes.py): the factored/cover second moments of g² are
# inf at |g| = 1e30, the update 0. At 1e-30 SM3's accumulator underflows to 0 and it skips
# entries with a zero accumulator. Adafactor's step is relative to |w|: its training runs
# start at w = 0.5.
EXTREMES = {
    "adafactor": {"squares", "relative"},
    "sm3": {"squares", "tiny_no_step"},
}
