"""Cases of ``gradtx/optimizers/_kronecker.py``: Shampoo, SOAP and PSGD-Kron, against the
NumPy references of ``references/kronecker.py`` (Optax has none of them).

The settings make the matrix machinery run within the battery's few steps: Shampoo
refreshes its roots every 3 steps from step 2 on blocks of 3; SOAP refreshes its basis every
3 steps and rotates only dimensions up to 2 (a larger first statistic of rank one has a
degenerate null space, where any basis is valid and the reference may pick another); the
PSGD-Kron case never refits (probability 0): it checks the chain around the preconditioner,
whose fitting ``tests/test_kronecker_integration.py`` checks against the same noise.
Complex parameters are not supported (Hermitian statistics are future work).
"""

from __future__ import annotations

from typing import Any

from references.kronecker import psgd_kron_reference, shampoo_reference, soap_reference

import gradtx
from cases.common import Case

LR = 0.01

CASES: list[Case] = [
    Case(
        "shampoo",
        {
            "learning_rate": LR,
            "block_size": 3,
            "precondition_frequency": 3,
            "start_preconditioning_step": 2,
        },
        reference=shampoo_reference,
        complex_ok=False,
        extra={"rtol": {"float32": 1e-5}},  # float32 eigh: jit and eager differ by ~3e-6
    ),
    Case(
        "soap",
        {"learning_rate": LR, "precondition_frequency": 3, "max_precond_dim": 2},
        reference=soap_reference,
        complex_ok=False,
        extra={"rtol": {"float32": 3e-5}},
    ),
    Case(
        "psgd_kron",
        {"learning_rate": LR, "preconditioner_update_probability": 0.0},
        reference=psgd_kron_reference,
        complex_ok=False,
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "shampoo": (0.03, 1e-9),
    "soap": (0.03, 1e-3, {"weight_decay": 0.0}),
    "psgd_kron": (0.003, 5e-3),
}
# On vectors these are their diagonal forms. SOAP (Adam, b2 = 0.95) and PSGD-Kron (noisy
# probes, trust region) end in a band around the minimizer.
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "shampoo": (0.03, 1e-9, 0.03, 1e-9),
    "soap": (0.03, 1e-3, 0.03, 3e-3, {"weight_decay": 0.0}),
    "psgd_kron": (0.003, 5e-3, 0.003, 5e-3),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("shampoo", {"learning_rate": LR, "block_size": 0}, "block_size must be"),
    ("shampoo", {"learning_rate": LR, "inverse_root": "svd"}, "inverse_root must be one of"),
    ("soap", {"learning_rate": LR, "b2": 1.0}, r"b2 must be in \[0, 1\)"),
    ("psgd_kron", {"learning_rate": LR, "preconditioner_update_probability": 1.5}, "must be in"),
]
PRIMITIVES: list[Any] = [
    gradtx.scale_by_shampoo,
    gradtx.kronecker_eigenbasis,
    gradtx.scale_by_psgd_kron,
    gradtx.soft_trust_region,
    gradtx.psgd_update_probability,
]

# Extreme gradients (tests/test_extremes.py): Shampoo and SOAP accumulate G Gᵀ, inf at
# |g| = 1e30, and the step is 0. PSGD's preconditioner is fitted to normalized probes and
# stays finite: a sane step.
EXTREMES = {"shampoo": {"squares"}, "soap": {"squares"}}
