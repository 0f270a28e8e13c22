"""Cases of ``gradtx/optimizers/_loss_driven.py``: the bold driver, random search and SPSA.

Optax has none of these optimizers: each case is checked against a NumPy reference written
from the paper's pseudo-code (``references/loss_driven.py``), given the loss
``value = 1 + 0.5 |w|^2`` and that function as ``value_fn``.
"""

from __future__ import annotations

from typing import Any

from references.loss_driven import (
    bold_driver_reference,
    random_search_reference,
    spsa_reference,
)

from cases.common import F32_TRAJECTORY, Case
from gradtx.transforms import _gradient_free as gf
from gradtx.transforms import _loss_driven as ld

CASES: list[Case] = [
    # Against the harness's random gradients about half the steps raise the loss: with the
    # default increase the scale shrinks until the steps are at float32's rounding of the loss.
    Case("bold_driver", {"learning_rate": 0.01, "increase": 2.0}, reference=bold_driver_reference),
    Case(
        "bold_driver",
        {"learning_rate": 0.005, "decrease": 0.7, "tolerance": 0.05, "momentum": 0.6},
        reference=bold_driver_reference,
        id_suffix="tolerance-momentum",
    ),
    # Step sizes that are powers of 2 (x 2 or x 1/2): float32's pow and NumPy's differ by an
    # ulp for other factors, which the step size accumulates (to 6e-7 in 50 steps).
    Case(
        "random_search",
        {"learning_rate": 0.1, "increase": 2.0, "target_rate": 0.5, "key": 3},
        reference=random_search_reference,
    ),
    # A large perturbation: in float32 the difference of two losses near 20 then has a
    # relative error of 1e-7 (the reference and XLA round the sums differently).
    Case(
        "spsa",
        {"learning_rate": 0.02, "perturbation": 1.0, "stability": 10.0, "gamma": 1 / 6, "key": 1},
        reference=spsa_reference,
        extra=F32_TRAJECTORY,
    ),
]
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "bold_driver": (0.01, 1e-9),
    "random_search": (0.1, 1e-9),
    "spsa": (1.0, 1e-9),
}
# (q_lr, q_tol, r_lr, r_tol[, kwargs]). On Rosenbrock, random search and the bold driver
# reach the valley's end within 0.03; SPSA's decaying gains (alpha = 0.602) crawl along the
# valley (its error halves in 5000 steps) and diverge at twice the rate: the gap is why
# gradients win. Its stability constant A is Spall's "a tenth of the iterations", doubled.
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "bold_driver": (0.01, 1e-9, 0.01, 0.03),
    "random_search": (0.1, 1e-9, 0.01, 0.05),
    "spsa": (3.0, 1e-12, 0.03, 1.0, {"perturbation": 1e-3, "stability": 1000.0}),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("bold_driver", {"learning_rate": 0.1, "increase": 0.9}, r"increase must be in \[1, inf\)"),
    ("bold_driver", {"learning_rate": 0.1, "decrease": 0.0}, r"decrease must be in \(0, 1\]"),
    ("bold_driver", {"learning_rate": 0.1, "tolerance": -0.1}, r"tolerance must be in \[0, inf"),
    ("bold_driver", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("bold_driver", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("random_search", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("random_search", {"learning_rate": 0.1, "increase": 0.5}, r"increase must be in \[1, inf"),
    ("random_search", {"learning_rate": 0.1, "target_rate": 1.0}, r"target_rate must be in \(0, 1"),
    ("random_search", {"learning_rate": 0.1, "key": "seed"}, "key must be an int seed"),
    ("spsa", {"learning_rate": 0.1, "perturbation": 0.0}, r"perturbation must be in \(0, inf"),
    ("spsa", {"learning_rate": 0.1, "stability": -1.0}, r"stability must be in \[0, inf\)"),
    ("spsa", {"learning_rate": 0.1, "alpha": -0.5}, r"alpha must be in \[0, inf\)"),
    ("spsa", {"learning_rate": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
]
PRIMITIVES: list[Any] = [
    ld.scale_by_bold_driver,
    ld.reduce_on_plateau,
    gf.random_search_step,
    gf.spsa_gradient,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (ld.scale_by_bold_driver, {"decrease": 1.5}, r"decrease must be in \(0, 1\]"),
    (ld.reduce_on_plateau, {"factor": 1.0}, r"factor must be in \(0, 1\)"),
    (ld.reduce_on_plateau, {"patience": 0}, "patience must be an integer >= 1"),
    (ld.reduce_on_plateau, {"cooldown": 1.5}, "cooldown must be an integer >= 0"),
    (ld.reduce_on_plateau, {"accumulation_size": 0}, "accumulation_size must be an integer"),
    (ld.reduce_on_plateau, {"rtol": 1.5}, r"rtol must be in \[0, 1\]"),
    (ld.reduce_on_plateau, {"rtol": 0.0, "atol": 0.0}, "must not both be 0"),
    (ld.reduce_on_plateau, {"min_scale": -1.0}, r"min_scale must be in \[0, inf\)"),
    (gf.random_search_step, {"target_rate": 0.0}, r"target_rate must be in \(0, 1\)"),
    (gf.spsa_gradient, {"perturbation": -1.0}, r"perturbation must be in \(0, inf\)"),
]

# Extreme gradients (tests/test_extremes.py). These read the test's linear loss 1 + g·w, which
# overflows float32 once |w| > 3e8 at |g| = 1e30 and is exactly 1 at 1e-30. The bold driver
# steps lr s g with s set by the loss: at 1e-30 s = 1 (plain GD); at 1e30 the loss is -inf from
# the first step on, -inf against -inf counts as a rise, every other step is undone and s
# halves. Random search ignores g: a Gaussian step of lr s is kept if it lowers the loss (a
# coordinate may move against g); at 1e-30 no step changes the loss, none is kept. SPSA's
# slope (f(w + cΔ) - f(w - cΔ)) / 2c is ∝ |g|: a first step ~lr |g|, then both probes
# overflow and a non-finite difference gives no step; at 1e-30 both losses are 1, no step.
EXTREMES = {
    "bold_driver": {"loss_scaled"},
    "random_search": {"gradient_free", "loss_only", "tiny_no_step"},
    "spsa": {"loss_only", "tiny_no_step"},
}
