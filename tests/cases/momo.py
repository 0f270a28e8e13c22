"""Cases of ``gradtx/optimizers/_momo.py``: MoMo and MoMo-Adam, against ``optax.contrib``."""

from __future__ import annotations

from typing import Any

import optax

from cases.common import Case

CASES: list[Case] = [
    Case("momo", {"learning_rate": 0.1}, optax.contrib.momo),
    Case("momo_adam", {"learning_rate": 0.1}, optax.contrib.momo_adam),
]
# MoMo's step is capped by (loss - lower bound) / |d|^2: near the minimum it stalls at a
# distance of ~1e-8 (measured: 1.0e-8 on the quadratic, 3e-9 on Rosenbrock at rate 0.1).
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "momo": (0.1, 1e-7),
    "momo_adam": (0.1, 1e-8),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "momo": (0.1, 1e-7, 0.1, 1e-7),
    "momo_adam": (0.1, 1e-8, 0.1, 1e-7),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("momo", {"learning_rate": -1.0}, r"learning_rate must be in \[0, inf\)"),
    ("momo_adam", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
]

# Extreme gradients (tests/test_extremes.py): MoMo's step min(lr, (f - f*) / |d|²) d: |d|² is
# inf at |g| = 1e30 (formed in the step for MoMo, kept in MoMo-Adam's ν), the step 0. At 1e-30
# the loss never moves from 1 in float32 and |d|² underflows to 0, a zero denominator, which
# MoMo (as Optax) turns into no step.
EXTREMES = {
    "momo": {"squares", "no_inf_kept", "tiny_no_step"},
    "momo_adam": {"squares", "tiny_no_step"},
}
