"""Cases of ``gradtx/optimizers/_moment_variants.py``: ADOPT and the two AdEMAMix against
``optax.contrib``; MADGRAD (the authors' PyTorch code) and lazy Adam
(``torch.optim.SparseAdam``) against ``references/moment_variants.py``.

Optax 0.2.8 computes MADGRAD's $\\sqrt{k+1}$ in float32 even in float64, so
``test_moment_variants.py`` compares MADGRAD with Optax in float32 only; it also runs the
PyTorch optimizers when torch is installed.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import optax
from references.moment_variants import (
    ademamix_reference,
    lazy_adam_reference,
    madgrad_reference,
)

from cases.common import F32_TRAJECTORY, Case
from gradtx.transforms import _moment_variants as mv

LR = 0.01


def _b3_schedule(t):
    """A warm-up of AdEMAMix's slow decay (the paper warms b3 up to its final value)."""
    return 0.999 - 0.5 * jnp.power(0.9, t)


def _alpha_schedule(t):
    return 5.0 * jnp.minimum(1.0, (t + 1) / 20.0)


def _clip_schedule(t):
    return 0.5 + 0.1 * t


def _adopt_optax(
    learning_rate,
    b1=0.9,
    b2=0.9999,
    eps=1e-6,
    *,
    nesterov=False,
    use_clipping=True,
    clip_value_fn=None,
):
    """Optax's adopt, whose default ``clip_value_fn`` is hidden from
    ``optax.inject_hyperparams`` (which would take the function for a schedule)."""
    fn = mv.quarter_power if clip_value_fn is None else clip_value_fn
    kwargs = dict(nesterov=nesterov, use_clipping=use_clipping, clip_value_fn=fn)
    return optax.contrib.adopt(learning_rate, b1, b2, eps, **kwargs)


CASES: list[Case] = [
    Case("adopt", {"learning_rate": LR}, _adopt_optax),
    Case(
        "adopt",
        {"learning_rate": LR, "b1": 0.8, "b2": 0.99, "nesterov": True},
        _adopt_optax,
        id_suffix="nesterov",
    ),
    Case(
        "adopt",
        {"learning_rate": LR, "b2": 0.5, "use_clipping": False, "eps": 1e-3},
        _adopt_optax,
        id_suffix="no-clipping",
    ),
    Case(
        "adopt",
        {"learning_rate": LR, "clip_value_fn": _clip_schedule},
        _adopt_optax,
        id_suffix="clip-fn",
    ),
    Case("ademamix", {"learning_rate": LR}, optax.contrib.ademamix, reference=ademamix_reference),
    Case(
        "ademamix",
        {
            "learning_rate": LR,
            "b3": _b3_schedule,
            "alpha": _alpha_schedule,
            "eps_root": 1e-8,
            "weight_decay": 0.1,
        },
        optax.contrib.ademamix,
        reference=ademamix_reference,
        id_suffix="schedules-wd",
        extra=F32_TRAJECTORY,
    ),
    Case("simplified_ademamix", {"learning_rate": LR}, optax.contrib.simplified_ademamix),
    Case(
        "simplified_ademamix",
        {"learning_rate": LR, "b1": 0.9, "alpha": _alpha_schedule, "weight_decay": 0.1},
        optax.contrib.simplified_ademamix,
        id_suffix="alpha-wd",
    ),
    # MADGRAD's step size is lr + eps (the authors' code): a rate of 0 moves by ~eps.
    Case(
        "madgrad",
        {"learning_rate": LR},
        reference=madgrad_reference,
        extra={"moves_at_zero_rate": True, **F32_TRAJECTORY},
    ),
    Case(
        "madgrad",
        {"learning_rate": 0.05, "momentum": 0.0, "weight_decay": 0.1},
        reference=madgrad_reference,
        id_suffix="no-momentum-wd",
        extra=F32_TRAJECTORY,
    ),
    Case("lazy_adam", {"learning_rate": LR}, reference=lazy_adam_reference),
    Case(
        "lazy_adam",
        {"learning_rate": LR, "b1": 0.5, "eps": 1e-3, "row_axis": None},
        reference=lazy_adam_reference,
        id_suffix="whole-leaf",
    ),
]

# AdEMAMix's default slow EMA (b3 = 0.9999) remembers more steps than these runs take, and
# simplified AdEMAMix's default b2 = 0.95 ends in a cycle of the order of the rate: both are
# run with settings under which they converge to round-off.
_ADEMAMIX = {"b3": 0.999}
_SIMPLIFIED = {"b1": 0.9, "b2": 0.999}
QUADRATIC: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs])
    "adopt": (0.03, 1e-9),
    "ademamix": (0.1, 1e-8, _ADEMAMIX),
    "simplified_ademamix": (3e-3, 1e-9, _SIMPLIFIED),
    "madgrad": (0.01, 1e-9),
    "lazy_adam": (0.03, 1e-9),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "adopt": (0.03, 1e-9, 1.0, 1e-6),
    "ademamix": (0.1, 1e-12, 0.03, 1e-8, _ADEMAMIX),
    "simplified_ademamix": (3e-3, 1e-9, 3e-3, 1e-9, _SIMPLIFIED),
    "madgrad": (0.01, 1e-9, 0.01, 1e-9),
    "lazy_adam": (0.03, 1e-9, 0.03, 1e-9),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("adopt", {"learning_rate": 0.1, "b2": 1.0}, r"b2 must be in \[0, 1\)"),
    ("adopt", {"learning_rate": 0.1, "eps": -1.0}, r"eps must be in \[0, inf\)"),
    ("adopt", {"learning_rate": 0.1, "clip_value_fn": lambda t: jnp.ones(2)}, "must return a"),
    ("ademamix", {"learning_rate": 0.1, "b3": 1.0}, r"b3 must be in \[0, 1\)"),
    ("ademamix", {"learning_rate": 0.1, "b3": lambda t: 1.5}, r"b3 .*must be in \[0, 1\), got 1.5"),
    ("ademamix", {"learning_rate": 0.1, "alpha": float("nan")}, "alpha must be in"),
    ("simplified_ademamix", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("simplified_ademamix", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("madgrad", {"learning_rate": 0.1, "momentum": 1.0}, r"momentum must be in \[0, 1\)"),
    ("madgrad", {"learning_rate": 0.1, "weight_decay": -1.0}, "weight_decay must be in"),
    ("lazy_adam", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("lazy_adam", {"learning_rate": 0.1, "row_axis": "rows"}, "row_axis must be an int"),
]
PRIMITIVES: list[Any] = [
    mv.scale_by_lagged_rms,
    mv.add_slow_ema,
    mv.add_scaled_gradient,
    mv.scale_by_dual_averaging,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (mv.scale_by_lagged_rms, {"decay": 1.0}, r"decay must be in \[0, 1\)"),
    (mv.scale_by_lagged_rms, {"clip_value_fn": -1.0}, r"clip_value_fn must be in \[0, inf\)"),
    (mv.scale_by_lagged_rms, {"source": "grad"}, "source must be one of"),
    (mv.add_slow_ema, {"decay": lambda t: 1.5}, r"decay \(schedule at step 0\) must be in"),
    (mv.add_slow_ema, {"accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    (mv.add_scaled_gradient, {"alpha": float("inf")}, "alpha must be in"),
    (mv.scale_by_dual_averaging, {"learning_rate": -1.0}, "learning_rate must be in"),
]

# Extreme gradients (tests/test_extremes.py): every one keeps a moment of g², inf at
# |g| = 1e30, and the update is 0.
EXTREMES = {
    name: {"squares"}
    for name in ("adopt", "ademamix", "simplified_ademamix", "madgrad", "lazy_adam")
}
