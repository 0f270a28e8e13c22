"""Cases of ``gradtx/optimizers/_sgd_variants.py``: noisy SGD, Polyak's step size, optimistic
gradient descent and ASGD (against ``torch.optim.ASGD``, ``references/sgd_variants.py``)."""

from __future__ import annotations

from typing import Any

import optax
from references.sgd_variants import asgd_reference

from cases.common import Case

CASES: list[Case] = [
    Case("noisy_sgd", {"learning_rate": 0.1, "key": 3}, optax.noisy_sgd),
    Case("polyak_sgd", {}, optax.polyak_sgd, extra={"schedule": "max_learning_rate"}),
    Case(
        "polyak_sgd",
        {"max_learning_rate": 0.3, "f_min": 1.5, "variant": "sps+", "eps": 1e-3},
        optax.polyak_sgd,
        id_suffix="sps+",
        extra={"schedule": "max_learning_rate"},
    ),
    Case("optimistic_gradient_descent", {"learning_rate": 0.1}, optax.optimistic_gradient_descent),
    Case(
        "optimistic_gradient_descent",
        {"learning_rate": 0.1, "alpha": 0.5, "beta": 2.0},
        optax.optimistic_gradient_descent,
        id_suffix="alpha-beta",
    ),
    Case("asgd", {"learning_rate": 0.05}, reference=asgd_reference),
    Case(
        "asgd",
        {"learning_rate": 0.1, "lambd": 0.5, "alpha": 0.5, "t0": 5, "weight_decay": 0.1},
        reference=asgd_reference,
        id_suffix="decay-average",
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "noisy_sgd": (0.1, 1e-2),
    "polyak_sgd": (1.0, 1e-7),
    "optimistic_gradient_descent": (0.05, 1e-9),
    "asgd": (0.1, 1e-9),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "noisy_sgd": (0.1, 0.01, 1e-3, 0.2),
    "polyak_sgd": (1.0, 1e-7, 1.0, 1e-7),  # the rate is max_learning_rate; needs `value`
    "optimistic_gradient_descent": (0.05, 1e-9, 1e-3, 0.5),
    "asgd": (0.1, 1e-9, 1e-3, 0.2),  # plain SGD on Rosenbrock (as sgd's settings)
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("noisy_sgd", {"learning_rate": 0.1, "eta": -0.1}, r"eta must be in \[0, inf\)"),
    ("noisy_sgd", {"learning_rate": 0.1, "key": "seed"}, "key must be an int seed"),
    ("noisy_sgd", {"learning_rate": 0.1, "key": 1, "seed": 2}, "not both"),
    ("polyak_sgd", {"max_learning_rate": -1.0}, "max_learning_rate must be in"),
    ("polyak_sgd", {"variant": "sps++"}, "variant must be one of"),
    ("optimistic_gradient_descent", {"learning_rate": 0.1, "alpha": float("inf")}, "alpha"),
    ("asgd", {"t0": 10.5}, "t0 must be a whole number >= 0"),
    ("asgd", {"t0": -1}, "t0 must be a whole number >= 0"),
    ("asgd", {"lambd": -1.0}, r"lambd must be in \[0, inf\)"),
    ("asgd", {"alpha": -0.5}, r"alpha must be in \[0, inf\)"),
    ("asgd", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
]

# Extreme gradients (tests/test_extremes.py): linear in the gradient, except Polyak's step
# (f - f*) / |g|² g: |g|² is inf at 1e30 (formed in the step), the step 0; at 1e-30 a step whose
# |g|² + eps is below 2.2e-16 is 0 (as in Optax). Noisy SGD's step at 1e-30 is its noise.
EXTREMES = {
    "optimistic_gradient_descent": {"linear"},
    "asgd": {"linear"},
    "noisy_sgd": {"linear", "tiny_noise"},
    "polyak_sgd": {"squares", "no_inf_kept", "tiny_no_step"},
}
