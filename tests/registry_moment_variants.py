"""Test cases of ``gradtx.optimizers._moment_variants``, merged into ``registry_breadth``.

The same formats as ``registry_breadth`` (``CASES``, ``SETTINGS``), ``test_convergence``
(``CONVERGENCE``) and ``test_breadth_errors`` (``BAD``, ``PRIMITIVES``, ``BAD_PRIMITIVES``), so
every optimizer registered here goes through the common battery, parity, training, errors,
checkpoint and convergence tests.

ADOPT and the two AdEMAMix are compared with ``optax.contrib``. MADGRAD, ASGD and lazy Adam
with NumPy references (``(init, step)`` protocol of ``registry.rprop_reference``): MADGRAD
transcribed from the authors' PyTorch code (Optax 0.2.8 computes $\\sqrt{k+1}$ in float32 even
in float64; ``test_moment_variants.py`` compares with Optax in float32), ASGD from
``torch.optim.ASGD`` (single-tensor path) and lazy Adam from ``torch.optim.SparseAdam``;
``test_moment_variants.py`` also runs the two PyTorch optimizers when torch is installed.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
import optax
from registry import Case
from test_breadth_references import _hp, _lr, _one_minus_power

from gradtx import identity
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


def ademamix_reference(
    learning_rate,
    b1=0.9,
    b2=0.999,
    b3=0.9999,
    alpha=5.0,
    eps=1e-8,
    eps_root=0.0,
    weight_decay=0.0,
):
    """Pagliardini et al. 2024, Algorithm 1, with Optax's eps, eps_root and decoupled decay.
    Compared in float32, where Optax's ``1 - b**t`` is off by up to 7e-6 (registry_breadth)."""

    def init(p):
        names = {"b1": b1, "b2": b2, "eps": eps, "eps_root": eps_root, "wd": weight_decay}
        h = {k: _hp(p, v) for k, v in names.items()}
        return {
            "t": 0,
            "m1": np.zeros(p.shape),
            "m2": np.zeros(p.shape),
            "nu": np.zeros(p.shape),
            **h,
        }

    def step(g, st, p):
        g, t = g.astype(np.float64), st["t"]
        lr, b3_t, alpha_t = (_lr(p, v, t) for v in (learning_rate, b3, alpha))
        st["t"] += 1
        st["m1"] = st["b1"] * st["m1"] + (1 - st["b1"]) * g
        st["m2"] = b3_t * st["m2"] + (1 - b3_t) * g
        st["nu"] = st["b2"] * st["nu"] + (1 - st["b2"]) * g * g
        m_hat = st["m1"] / _one_minus_power(st["b1"], st["t"])
        nu_hat = st["nu"] / _one_minus_power(st["b2"], st["t"])
        direction = (m_hat + alpha_t * st["m2"]) / (np.sqrt(nu_hat + st["eps_root"]) + st["eps"])
        return -lr * (direction + st["wd"] * p.astype(np.float64))

    return init, step


def madgrad_reference(learning_rate, momentum=0.9, weight_decay=0.0, eps=1e-6):
    """``madgrad.MADGRAD.step`` of facebookresearch/madgrad (dense, coupled weight decay),
    one leaf at a time; with ``momentum == 0`` it recovers x0 from the current iterate."""

    def init(p):
        h = {k: _hp(p, v) for k, v in {"mom": momentum, "wd": weight_decay, "eps": eps}.items()}
        return {"k": 0, "nu": np.zeros(p.shape), "s": np.zeros(p.shape), "x0": p.copy(), **h}

    def step(g, st, p):
        g, x = g.astype(np.float64), p.astype(np.float64)
        lr = _lr(p, learning_rate, st["k"]) + st["eps"]
        lamb = lr * np.sqrt(st["k"] + 1)
        g = g + st["wd"] * x
        if st["mom"] == 0:
            x0 = x + st["s"] / (np.cbrt(st["nu"]) + st["eps"])
        else:
            x0 = st["x0"]
        st["nu"] = st["nu"] + lamb * g * g
        st["s"] = st["s"] + lamb * g
        z = x0 - st["s"] / (np.cbrt(st["nu"]) + st["eps"])
        st["k"] += 1
        ck = 1 - st["mom"]
        return x * (1 - ck) + z * ck - x

    return init, step


def asgd_reference(learning_rate=0.01, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0.0):
    """``torch.optim.ASGD``, single-tensor path: eta and mu are those computed at the end of
    the previous step (eta_0 = lr, mu_0 = 1); a scheduled lr enters eta at the current step."""

    def init(p):
        h = {k: _hp(p, v) for k, v in {"lambd": lambd, "alpha": alpha, "wd": weight_decay}.items()}
        return {"step": 0, "ax": np.zeros(p.shape), "t0": float(t0), **h}

    def step(g, st, p):
        g, x = g.astype(np.float64), p.astype(np.float64)
        lr, t = _lr(p, learning_rate, st["step"]), st["step"]
        eta = lr / (1 + st["lambd"] * lr * t) ** st["alpha"]
        mu = 1 / max(1, t - st["t0"])
        st["step"] += 1
        g = g + st["wd"] * x
        new = x * (1 - st["lambd"] * eta) - eta * g
        st["ax"] = new.copy() if mu == 1 else st["ax"] + (new - st["ax"]) * mu
        return new - x

    return init, step


def lazy_adam_reference(learning_rate, b1=0.9, b2=0.999, eps=1e-8, row_axis=0):
    """``torch.optim.SparseAdam`` on the rows whose gradient is not all zero (one global
    step count; eps added to the uncorrected root; the step size carries the corrections)."""

    def init(p):
        h = {k: _hp(p, v) for k, v in {"b1": b1, "b2": b2, "eps": eps}.items()}
        return {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), **h}

    def step(g, st, p):
        g = g.astype(np.float64)
        lr = _lr(p, learning_rate, st["t"])
        st["t"] += 1
        if g.ndim == 0 or row_axis is None:
            rows = np.asarray(np.any(g != 0))
        else:
            others = tuple(i for i in range(g.ndim) if i != row_axis % g.ndim)
            rows = np.any(g != 0, axis=others, keepdims=True)
        m = st["m"] + (g - st["m"]) * (1 - st["b1"])
        v = st["v"] + (g * g - st["v"]) * (1 - st["b2"])
        st["m"], st["v"] = np.where(rows, m, st["m"]), np.where(rows, v, st["v"])
        size = (
            lr * np.sqrt(_one_minus_power(st["b2"], st["t"])) / _one_minus_power(st["b1"], st["t"])
        )
        return np.where(rows, -size * m / (np.sqrt(v) + st["eps"]), 0.0)

    return init, step


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
    ),
    Case("simplified_ademamix", {"learning_rate": LR}, optax.contrib.simplified_ademamix),
    Case(
        "simplified_ademamix",
        {"learning_rate": LR, "b1": 0.9, "alpha": _alpha_schedule, "weight_decay": 0.1},
        optax.contrib.simplified_ademamix,
        id_suffix="alpha-wd",
    ),
    Case("madgrad", {"learning_rate": LR}, reference=madgrad_reference),
    Case(
        "madgrad",
        {"learning_rate": 0.05, "momentum": 0.0, "weight_decay": 0.1},
        reference=madgrad_reference,
        id_suffix="no-momentum-wd",
    ),
    Case("asgd", {"learning_rate": 0.05}, reference=asgd_reference),
    Case(
        "asgd",
        {"learning_rate": 0.1, "lambd": 0.5, "alpha": 0.5, "t0": 5, "weight_decay": 0.1},
        reference=asgd_reference,
        id_suffix="decay-average",
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
SETTINGS: dict[str, tuple[Any, ...]] = {  # (lr, tol[, kwargs]): registry_breadth
    "adopt": (0.03, 1e-9),
    "ademamix": (0.1, 1e-8, _ADEMAMIX),
    "simplified_ademamix": (3e-3, 1e-9, _SIMPLIFIED),
    "madgrad": (0.01, 1e-9),
    "asgd": (0.1, 1e-9),
    "lazy_adam": (0.03, 1e-9),
}
CONVERGENCE: dict[str, tuple[Any, ...]] = {  # (q_lr, q_tol, r_lr, r_tol[, kwargs])
    "adopt": (0.03, 1e-9, 1.0, 1e-6),
    "ademamix": (0.1, 1e-12, 0.03, 1e-8, _ADEMAMIX),
    "simplified_ademamix": (3e-3, 1e-9, 3e-3, 1e-9, _SIMPLIFIED),
    "madgrad": (0.01, 1e-9, 0.01, 1e-9),
    "asgd": (0.1, 1e-9, 1e-3, 0.2),  # plain SGD on Rosenbrock (as sgd's settings)
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
    ("asgd", {"t0": 10.5}, "t0 must be a whole number >= 0"),
    ("asgd", {"t0": -1}, "t0 must be a whole number >= 0"),
    ("asgd", {"lambd": -1.0}, r"lambd must be in \[0, inf\)"),
    ("asgd", {"alpha": -0.5}, r"alpha must be in \[0, inf\)"),
    ("asgd", {"learning_rate": -0.1}, r"learning_rate must be in \[0, inf\)"),
    ("lazy_adam", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("lazy_adam", {"learning_rate": 0.1, "row_axis": "rows"}, "row_axis must be an int"),
]
PRIMITIVES: list[Any] = [
    mv.scale_by_lagged_rms,
    mv.add_slow_ema,
    mv.add_scaled_gradient,
    mv.scale_by_dual_averaging,
    mv.lazy_rows,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (mv.scale_by_lagged_rms, {"decay": 1.0}, r"decay must be in \[0, 1\)"),
    (mv.scale_by_lagged_rms, {"clip_value_fn": -1.0}, r"clip_value_fn must be in \[0, inf\)"),
    (mv.scale_by_lagged_rms, {"source": "grad"}, "source must be one of"),
    (mv.add_slow_ema, {"decay": lambda t: 1.5}, r"decay \(schedule at step 0\) must be in"),
    (mv.add_slow_ema, {"accumulator_dtype": jnp.int32}, "accumulator_dtype"),
    (mv.add_scaled_gradient, {"alpha": float("inf")}, "alpha must be in"),
    (mv.scale_by_dual_averaging, {"learning_rate": -1.0}, "learning_rate must be in"),
    (mv.lazy_rows, {"inner": identity(), "row_axis": 0.5}, "row_axis must be an int"),
]
