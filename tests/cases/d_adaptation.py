"""Cases of ``gradtx/optimizers/_d_adaptation.py``: Prodigy and D-Adapt AdamW, against
``optax.contrib`` in float64 and the authors' algorithms in NumPy
(``references/d_adaptation.py``) in float32, where Optax's float32 bias correction
``1 - b**t`` is off by up to 1e-5."""

from __future__ import annotations

from typing import Any

import optax
from references.d_adaptation import dadapt_reference, prodigy_reference

import gradtx
from cases.common import F32_TRAJECTORY, Case

PRODIGY = {"betas": (0.8, 0.99), "beta3": 0.9, "estim_lr0": 1e-3, "estim_lr_coef": 2.0}

CASES: list[Case] = [
    Case("prodigy", {"learning_rate": 1.0}, optax.contrib.prodigy, reference=prodigy_reference),
    Case(
        "prodigy",
        {"learning_rate": 0.5, **PRODIGY, "weight_decay": 0.1, "safeguard_warmup": True},
        optax.contrib.prodigy,
        reference=prodigy_reference,
        id_suffix="safeguard-wd",
    ),
    Case(
        "dadapt_adamw",
        {"learning_rate": 1.0},
        optax.contrib.dadapt_adamw,
        reference=dadapt_reference,
    ),
    Case(
        "dadapt_adamw",
        {"learning_rate": 0.5, "betas": (0.5, 0.99), "estim_lr0": 1e-3, "weight_decay": 0.1},
        optax.contrib.dadapt_adamw,
        reference=dadapt_reference,
        id_suffix="wd",
        extra=F32_TRAJECTORY,
    ),
]
# Measured distances in comments. At rate 1 Prodigy and D-Adaptation end in a cycle (d never
# decreases; the authors pair them with a decaying schedule), chaotic on Rosenbrock (0.05 to
# 1 when the start moves by 1e-12), so they run at 0.3 and 0.05-0.1; test_parameter_free.py
# checks that at rate 1 they reach 1e-8 on the quadratic.
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "prodigy": (0.3, 1e-9),  # 2e-68
    "dadapt_adamw": (0.3, 1e-9),  # 1e-67
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "prodigy": (0.3, 1e-9, 0.05, 0.05),  # 2e-109; 4e-4 to 3e-3 (< 0.023)
    "dadapt_adamw": (0.3, 1e-9, 0.1, 5e-3),  # 3e-113; 6e-7 (< 1.4e-3)
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("prodigy", {"betas": (0.9, 1.0)}, r"betas\[1\] must be in \[0, 1\)"),
    ("prodigy", {"betas": 0.9}, "betas must be a pair"),
    ("prodigy", {"beta3": 1.5}, r"beta3 must be in \[0, 1\)"),
    ("prodigy", {"estim_lr0": 0.0}, r"estim_lr0 must be in \(0, inf\)"),
    ("prodigy", {"estim_lr_coef": -1.0}, r"estim_lr_coef must be in \(0, inf\)"),
    ("dadapt_adamw", {"weight_decay": -0.1}, r"weight_decay must be in \[0, inf\)"),
    ("dadapt_adamw", {"betas": (-0.1, 0.9)}, r"betas\[0\] must be in \[0, 1\)"),
]
PRIMITIVES: list[Any] = [gradtx.scale_by_prodigy, gradtx.scale_by_dadapt_adam]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.scale_by_prodigy, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.scale_by_dadapt_adam, {"estim_lr0": -1.0}, r"estim_lr0 must be in \(0, inf\)"),
]

# Extreme gradients (tests/test_extremes.py): Prodigy's and D-Adaptation's v (of d² g², of g²)
# is inf at |g| = 1e30, the step exactly 0. At |g| = 1e-30 Prodigy's step γ m / (√v + dε) with
# m ~ d g (γ m ~ 1e-6 * 3e-7 * 1e-31) is below float32's smallest normal, flushed to 0. Both
# start from d0 ~ 1e-6 and grow geometrically, so the training runs use their examples.
EXTREMES = {
    "prodigy": {"squares", "tiny_no_step", "warm_up"},
    "dadapt_adamw": {"squares", "warm_up"},
}
