"""Cases of ``gradtx/optimizers/_gain_adaptation.py``: local gains, delta-bar-delta and vSGD.

Optax has none of these methods: every case is checked against a NumPy reference written
from the paper's pseudo-code (``references/gain_adaptation.py``, one leaf at a time, in
float64 with the hyperparameters rounded as gradtx stores them). vSGD-g couples the leaves,
so its reference (whole-tree) is in ``test_gain_adaptation.py``.
"""

from __future__ import annotations

from typing import Any

from references.gain_adaptation import (
    delta_bar_delta_reference,
    local_gains_reference,
    vsgd_reference,
)

from cases.common import F32_TRAJECTORY, Case
from gradtx.transforms import _gain_adaptation as gains
from gradtx.transforms import _vsgd as vsgd_tx

CASES: list[Case] = [
    Case("local_gains", {"learning_rate": 0.1}, reference=local_gains_reference, complex_ok=False),
    Case(
        "local_gains",
        {"learning_rate": 0.05, "increase": 0.2, "decrease": 0.8, "max_gain": 3.0, "momentum": 0.9},
        reference=local_gains_reference,
        complex_ok=False,
        id_suffix="momentum",
    ),
    Case(
        "delta_bar_delta",
        {"learning_rate": 0.05, "kappa": 0.01},
        reference=delta_bar_delta_reference,
        complex_ok=False,
    ),
    Case(
        "delta_bar_delta",
        {"learning_rate": 0.05, "kappa": 0.02, "phi": 0.3, "theta": 0.5, "momentum": 0.5},
        reference=delta_bar_delta_reference,
        complex_ok=False,
        id_suffix="momentum",
        extra=F32_TRAJECTORY,
    ),
    Case("vsgd", {}, reference=vsgd_reference, complex_ok=False, extra=F32_TRAJECTORY),
    Case(
        "vsgd",
        {"variant": "b", "n0": 3.0, "c": 1.5, "outlier_threshold": 1.0, "learning_rate": 0.5},
        reference=vsgd_reference,
        complex_ok=False,
        id_suffix="block",
        extra=F32_TRAJECTORY,
    ),
]
# (lr, tol[, kwargs]) for 3000 full-batch float64 steps on 0.5 * sum((1, 3, 10) * w**2)
# vSGD reads the shrinking gradient of a deterministic problem as noise and anneals: it
# converges, but sublinearly (5e-6 after 3000 steps).
QUADRATIC: dict[str, tuple[Any, ...]] = {
    "local_gains": (0.05, 1e-9),
    "delta_bar_delta": (0.05, 1e-9, {"kappa": 0.01}),
    "vsgd": (1.0, 2e-5),
}
# (q_lr, q_tol, r_lr, r_tol[, kwargs]): 5000 float64 steps on the quadratic and Rosenbrock
# vSGD's rate multiplier stays 1; its first step, 1 / (C^2 h0), assumes a curvature h0 (1 by
# default), which Rosenbrock's ~1200 at (-1.2, 1) exceeds: h0 = 1000 there (with h0 = 1 the
# first step lands at w = (52.7, 23) and the run never comes back).
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "local_gains": (0.05, 1e-9, 1e-3, 5e-3),
    "delta_bar_delta": (0.05, 1e-9, 1e-3, 5e-3, {"kappa": 1e-5}),
    "vsgd": (1.0, 1e-5, 1.0, 2e-3, {"initial_curvature": 1000.0}),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("local_gains", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("local_gains", {"learning_rate": 0.1, "decrease": 0.0}, r"decrease must be in \(0, 1\]"),
    ("local_gains", {"learning_rate": 0.1, "increase": -1.0}, r"increase must be in \[0, inf\)"),
    ("local_gains", {"learning_rate": 0.1, "max_gain": 0.01}, "max_gain must be >= min_gain"),
    ("local_gains", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("delta_bar_delta", {"learning_rate": -1.0, "kappa": 0.1}, r"learning_rate must be in \[0"),
    ("delta_bar_delta", {"learning_rate": 0.1, "kappa": -0.1}, r"kappa must be in \[0, inf\)"),
    (
        "delta_bar_delta",
        {"learning_rate": 0.1, "kappa": 0.1, "phi": 1.0},
        r"phi must be in \[0, 1\)",
    ),
    ("delta_bar_delta", {"learning_rate": 0.1, "kappa": 0.1, "theta": -0.1}, "theta must be in"),
    ("vsgd", {"variant": "x"}, "variant must be one of"),
    ("vsgd", {"curvature": "bbprop"}, "curvature must be one of"),
    ("vsgd", {"n0": 0.5}, r"n0 must be in \[1, inf\)"),
    ("vsgd", {"c": 0.5}, r"c must be in \[1, inf\)"),
    ("vsgd", {"initial_curvature": 0.0}, r"initial_curvature must be in \(0, inf\)"),
    ("vsgd", {"outlier_threshold": -1.0}, r"outlier_threshold must be in \[0, inf\)"),
    ("vsgd", {"eps": float("nan")}, r"eps must be in \[0, inf\)"),
]
PRIMITIVES: list[Any] = [gains.scale_by_local_gains, vsgd_tx.scale_by_vsgd]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gains.scale_by_local_gains, {"decay": 1.0}, r"decay must be in \[0, 1\)"),
    (gains.scale_by_local_gains, {"source": "grad"}, "source must be one of"),
    (gains.scale_by_local_gains, {"min_gain": -1.0}, r"min_gain must be in \[0, inf\)"),
    (vsgd_tx.scale_by_vsgd, {"variant": "global"}, "variant must be one of"),
    (vsgd_tx.scale_by_vsgd, {"c": float("inf")}, r"c must be in \[1, inf\)"),
]

# Extreme gradients (tests/test_extremes.py): gain adaptation multiplies g by per-weight gains
# that only see signs: Hinton's local gains (+0.05 per agreeing step, clipped to [0.1, 10])
# average 1.475 over 20 steps; delta-bar-delta adds kappa / lr = 0.2 per step without a bound
# (Jacobs' rule), 2.9 on average. vSGD's rate (ḡ² / v̄)(h̄ / q̄): v̄ = C g² is inf at 1e30, the
# rate 0 (not inf / inf = NaN); at 1e-30 ḡ² / (v̄ + ε), ε = 1e-9, underflows to 0.
EXTREMES = {
    "local_gains": {"linear"},
    "delta_bar_delta": {"linear"},
    "vsgd": {"squares", "tiny_no_step"},
}
