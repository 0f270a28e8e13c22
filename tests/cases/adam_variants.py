"""Cases of ``gradtx/optimizers/_adam_variants.py``: AdaBelief, Yogi, RAdam, Adan and
ACProp, against Optax and/or the paper (``references/adam_variants.py``)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax
from references.adam_variants import (
    adan_reference,
    radam_reference,
    yogi_reference,
)

import gradtx
from cases.common import F32_TRAJECTORY, Case

LR = 0.01


def _yogi_optax(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    """Optax's yogi with its first moment started at 0 (the paper's m_0; Optax uses 1e-6)."""
    tx = optax.yogi(learning_rate, b1, b2, eps)

    def init(params):
        state = tx.init(params)
        inner = state[0]
        return (inner._replace(mu=jax.tree.map(jnp.zeros_like, inner.mu)), *state[1:])

    return optax.GradientTransformation(init, tx.update)


CASES: list[Case] = [
    Case(
        "acprop",
        {"learning_rate": LR},
        optax.contrib.acprop,
        extra={"rtol": {"float32": 1e-5}},  # Optax's float32 bias correction (see above)
    ),
    Case(
        "acprop",
        {"learning_rate": LR, "weight_decay": 0.1},
        optax.contrib.acprop,
        id_suffix="wd",
        extra={"rtol": {"float32": 1e-5}},
    ),
    Case("adabelief", {"learning_rate": LR}, optax.adabelief),
    Case("yogi", {"learning_rate": LR}, _yogi_optax),
    Case(
        "yogi",
        {"learning_rate": LR, "b1": 0.8},
        reference=yogi_reference,
        id_suffix="paper",
        extra=F32_TRAJECTORY,
    ),
    Case("radam", {"learning_rate": LR}, reference=radam_reference),
    Case(
        "radam",
        {"learning_rate": LR, "b2": 0.99, "nesterov": True, "eps_root": 1e-8},
        reference=radam_reference,
        id_suffix="nesterov",
    ),
    Case("adan", {"learning_rate": LR, "b2": 0.5}, optax.adan, id_suffix="b2-half"),
    Case(
        "adan",
        {"learning_rate": LR, "weight_decay": 0.1},
        reference=adan_reference,
        extra=F32_TRAJECTORY,
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "acprop": (0.01, 1e-9),
    "adabelief": (0.03, 1e-9),
    "yogi": (0.03, 1e-9),
    "radam": (0.03, 1e-9),
    "adan": (3e-3, 1e-4),  # ends in a cycle of the order of the learning rate
}
# RAdam's first steps are plain momentum SGD, and on Rosenbrock it is still in the valley
# after 5000 steps (Optax's radam diverges at lr 0.01).
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "acprop": (0.01, 1e-9, 0.01, 0.01),
    "adabelief": (0.03, 1e-9, 0.01, 1e-5),
    "yogi": (0.03, 1e-9, 0.1, 1e-9),
    "radam": (0.03, 1e-9, 3e-3, 0.95),
    # Adan on Rosenbrock ends in a jitter band around the minimizer: over 40 starts moved by
    # 1e-12 the final distance spans 2.6e-6 to 5.2e-5 (median 2.3e-5), so 1e-4.
    "adan": (3e-3, 1e-4, 1e-3, 1e-4),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("acprop", {"learning_rate": 0.1, "b2": 1.5}, r"b2 must be in \[0, 1\)"),
    ("adabelief", {"learning_rate": 0.1, "eps_root": -1.0}, "eps_root must be in"),
    ("adabelief", {"learning_rate": 0.1, "nesterov": True}, "nesterov=True is not available"),
    ("yogi", {"learning_rate": 0.1, "eps": -1.0}, r"eps must be in \[0, inf\)"),
    ("radam", {"learning_rate": 0.1, "threshold": float("nan")}, "threshold must be in"),
    ("adan", {"learning_rate": 0.1, "b3": 1.0}, r"b3 must be in \[0, 1\)"),
]
PRIMITIVES: list[Any] = [
    gradtx.scale_by_belief,
    gradtx.scale_by_yogi,
    gradtx.scale_by_radam,
    gradtx.scale_by_adan,
]

# Extreme gradients (tests/test_extremes.py): a g² (Yogi's, AdaBelief's (g - m)², Adan's) in
# the denominator overflows to inf and the update is 0. RAdam's first steps (rho_t <= 5) are
# momentum SGD before its g² takes over; ACProp's first step, with no previous second moment,
# is lr g (a mean factor 1/20 over 20 steps), then (g - m)² is inf.
EXTREMES = {
    "adabelief": {"squares"},
    "yogi": {"squares"},
    "adan": {"squares"},
    "radam": {"linear_then_frozen"},
    "acprop": {"linear_then_frozen"},
}
