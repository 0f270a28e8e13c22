"""Cases of ``gradtx/optimizers/_galore.py``: GaLore. Its step-by-step parity with
``optax.contrib.galore`` (which fails on ``None`` leaves and transposes complex leaves
without conjugating) is in ``tests/test_optax_contrib_names.py``."""

from __future__ import annotations

from typing import Any

from cases.common import Case

CASES: list[Case] = [
    Case(
        "galore",
        {"learning_rate": 0.01, "rank": 2, "update_proj_gap": 3},
    ),
]
# On vectors GaLore is Adam (only matrices are projected).
QUADRATIC: dict[str, tuple[Any, ...]] = {"galore": (0.03, 1e-9)}  # (lr, tol[, kwargs])
CONVERGENCE: dict[str, tuple[Any, ...]] = {"galore": (0.03, 1e-9, 0.03, 1e-9)}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("galore", {"learning_rate": 0.1, "rank": 0}, "rank must be an integer >= 1"),
]

# Extreme gradients (tests/test_extremes.py): GaLore is Adam on its projected gradients (and
# on vectors, as in that test): its ν is inf at |g| = 1e30, the update 0.
EXTREMES = {"galore": {"squares"}}
