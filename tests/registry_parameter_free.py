"""Test cases of ``gradtx.optimizers._parameter_free``, merged into ``registry_breadth``.

The formats of ``registry_breadth``, ``test_convergence`` and ``test_breadth_errors``. The
counterparts are ``optax.contrib``'s; the schedule-free ones go through
``optax.inject_hyperparams``, which reads a scheduled rate once per step for both the base
optimizer and the weights (plain Optax reads the weight's one step ahead, see
``gradtx.schedule_free``) and keeps ``b1`` an array (plain Optax's
Python ``b1`` times a bfloat16 ``z`` rounds to bfloat16). Warm-ups are compared with the
authors' PyTorch code in NumPy. Mechanize wraps the same gradtx base optimizer on both sides
and schedules its ``weight_decay`` (it has no rate).
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from registry import Case
from test_breadth_references import _hp, _lr

import gradtx


def _schedule_free_optax(name):
    """``optax.contrib.<name>`` through ``optax.inject_hyperparams`` (see the docstring)."""
    fn = getattr(optax.contrib, name)

    @functools.wraps(fn)
    def make(**kwargs):
        if any(isinstance(v, jax.Array) for v in kwargs.values()):
            return fn(**kwargs)  # already inside the float32 test's inject_hyperparams
        static = [k for k in ("warmup_steps", "state_dtype") if k in kwargs]
        return optax.inject_hyperparams(fn, static_args=static)(**kwargs)

    return make


def schedule_free_reference(
    learning_rate=1.0,
    warmup_steps=None,
    b1=0.9,
    b2=None,
    eps=1e-8,
    weight_decay=None,
    weight_lr_power=2.0,
    state_dtype=None,
):
    """The authors' SGDScheduleFree / AdamWScheduleFree step (AdamW if ``b2`` is given),
    with y updated in place as in their code: y <- (1-c) y + c z + lr (b1 (1-c) - 1) d."""
    del state_dtype

    def init(p):
        raw = dict(b1=b1, b2=b2 or 0.0, eps=eps, wd=weight_decay or 0.0, pow=weight_lr_power)
        h = {k: _hp(p, v) for k, v in raw.items()}
        zeros = np.zeros(p.shape)
        return {"k": 0, "lr_max": 0.0, "wsum": 0.0, "z": p.astype(np.float64), "v": zeros, **h}

    def step(g, s, p):
        g, y, k = g.astype(np.float64), p.astype(np.float64), s["k"]
        lr = _lr(p, learning_rate, k)
        if warmup_steps and k < warmup_steps:
            lr = lr * (k + 1) / warmup_steps
        s["lr_max"] = max(s["lr_max"], lr)
        weight = s["lr_max"] ** s["pow"]
        s["wsum"] += weight
        c = weight / s["wsum"] if s["wsum"] else 0.0
        if b2 is not None:
            s["v"] = s["b2"] * s["v"] + (1 - s["b2"]) * g**2
            g = g / (np.sqrt(s["v"] / (1 - s["b2"] ** (k + 1))) + s["eps"])
        d = g + s["wd"] * y
        new_y = (1 - c) * y + c * s["z"] + lr * (s["b1"] * (1 - c) - 1) * d
        s["z"] = s["z"] - lr * d
        s["k"] = k + 1
        return new_y - y

    return init, step


class _Deferred:
    """One leaf's update of a whole-tree reference step, computed when first read."""

    def __init__(self, value):
        self._value = value

    def __array__(self, dtype=None, copy=None):
        out = np.asarray(self._value())
        return out if dtype is None else out.astype(dtype)


def _whole_tree(make_step):
    """The per-leaf ``(init, step)`` protocol for a reference that needs the whole tree (the
    D-adaptation sums): the parity test calls ``step`` on every leaf, then reads the updates;
    each ``step`` records its leaf and returns a value computed, by ``step_all``, on read."""
    params0: list = []
    rounds: list = []
    step_all = None

    def init(p):
        params0.append(p.astype(np.float64))
        return {"index": len(params0) - 1}

    def step(g, s, p):
        nonlocal step_all
        if step_all is None:
            step_all = make_step(params0, p.dtype)
        if s["index"] == 0:
            rounds.append({"gs": [], "ps": [], "us": None})
        r = rounds[-1]
        r["gs"].append(g.astype(np.float64))
        r["ps"].append(p.astype(np.float64))

        def value(i=s["index"]):
            if r["us"] is None:
                r["us"] = step_all(r["gs"], r["ps"])
            return r["us"][i]

        return _Deferred(value)

    return init, step


def _betas_terms(betas, k):
    (b1, b2), t = betas, k + 1
    return b1, b2, np.sqrt(1 - b2**t) / (1 - b1**t)


def prodigy_reference(
    learning_rate=1.0,
    betas=(0.9, 0.999),
    beta3=None,
    eps=1e-8,
    estim_lr0=1e-6,
    estim_lr_coef=1.0,
    weight_decay=0.0,
    safeguard_warmup=False,
):
    """The authors' ProdigyReference (arXiv:2306.06101) with use_bias_correction=True and
    decoupled decay, d kept when sum |s| = 0; in float64, live values rounded as stored."""

    def make_step(params0, dtype):
        q = np.zeros((), dtype)
        h = {k: _hp(q, v) for k, v in dict(eps=eps, d0=estim_lr0, c=estim_lr_coef).items()}
        h["wd"], st = _hp(q, weight_decay), {"k": 0, "d": _hp(q, estim_lr0), "num": 0.0}
        b3 = np.sqrt(betas[1]) if beta3 is None else _hp(q, beta3)
        zeros = [np.zeros_like(p) for p in params0]
        st.update(m=list(zeros), v=list(zeros), s=list(zeros))

        def step_all(gs, ps):
            b1, b2, bc = _betas_terms(betas, st["k"])
            d, d0 = st["d"], h["d0"]
            dlr = d * _lr(q, learning_rate, st["k"]) * bc
            acc = sum(np.dot(g.ravel(), (p0 - p).ravel()) for g, p0, p in zip(gs, params0, ps))
            st["num"] = b3 * st["num"] + (d / d0) * dlr * acc
            gain = d if safeguard_warmup else dlr
            for i, g in enumerate(gs):
                st["m"][i] = b1 * st["m"][i] + (1 - b1) * d * g
                st["v"][i] = b2 * st["v"][i] + (1 - b2) * d**2 * g**2
                st["s"][i] = b3 * st["s"][i] + (d / d0) * gain * g
            denom = sum(np.abs(s).sum() for s in st["s"])
            st["d"] = max(d, h["c"] * st["num"] / denom) if denom > 0 else d
            st["k"] += 1
            return [
                -dlr * h["wd"] * p - dlr * m / (np.sqrt(v) + st["d"] * h["eps"])
                for p, m, v in zip(ps, st["m"], st["v"])
            ]

        return step_all

    return _whole_tree(make_step)


def dadapt_reference(
    learning_rate=1.0, betas=(0.9, 0.999), eps=1e-8, estim_lr0=1e-6, weight_decay=0.0
):
    """The authors' DAdaptAdam (arXiv:2301.07733, sqrt(b2) averaging) with Optax's bias
    correction and decoupled decay, d kept when sum |s| = 0; float64, live values rounded."""

    def make_step(params0, dtype):
        q = np.zeros((), dtype)
        eps_, wd = _hp(q, eps), _hp(q, weight_decay)
        zeros = [np.zeros_like(p) for p in params0]
        st = {"k": 0, "d": _hp(q, estim_lr0), "num": 0.0, "m": list(zeros), "v": list(zeros)}
        st["s"] = list(zeros)

        def step_all(gs, ps):
            b1, b2, bc = _betas_terms(betas, st["k"])
            sb2, d = np.sqrt(b2), st["d"]
            dlr = d * _lr(q, learning_rate, st["k"]) * bc
            acc = sum(
                np.dot(g.ravel(), (s / (np.sqrt(v) + eps_)).ravel())
                for g, s, v in zip(gs, st["s"], st["v"])
            )
            st["num"] = sb2 * st["num"] + (1 - sb2) * dlr * acc
            for i, g in enumerate(gs):
                st["m"][i] = b1 * st["m"][i] + (1 - b1) * dlr * g
                st["v"][i] = b2 * st["v"][i] + (1 - b2) * g**2
                st["s"][i] = sb2 * st["s"][i] + (1 - sb2) * dlr * g
            l1 = sum(np.abs(s).sum() for s in st["s"])
            st["d"] = max(d, st["num"] / ((1 - sb2) * l1)) if l1 > 0 else d
            st["k"] += 1
            return [
                -wd * dlr * p - m / (np.sqrt(v) + eps_) for p, m, v in zip(ps, st["m"], st["v"])
            ]

        return step_all

    return _whole_tree(make_step)


def _matrices_only(params):
    return jax.tree.map(lambda x: x.ndim > 1, params)


BASE, SGD_BASE = gradtx.adam(0.1), gradtx.sgd(1.0, momentum=0.9)
SF_SGD = _schedule_free_optax("schedule_free_sgd")
SF_ADAMW = _schedule_free_optax("schedule_free_adamw")
SF_ADAMW_REF = functools.partial(schedule_free_reference, b2=0.999)
PRODIGY = {"betas": (0.8, 0.99), "beta3": 0.9, "estim_lr0": 1e-3, "estim_lr_coef": 2.0}
MASKED = {"mask": _matrices_only, "weight_decay": 0.1}

# Float32 schedule_free_adamw, prodigy and dadapt_adamw run against the NumPy references:
# Optax's float32 bias correction 1 - b**t is off by up to 1e-5 (see registry_breadth).
CASES: list[Case] = [
    Case("schedule_free_sgd", {"learning_rate": 0.1}, SF_SGD),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "b1": 0.5, "weight_decay": 0.1, "weight_lr_power": 1.0},
        SF_SGD,
        id_suffix="wd-b1",
    ),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "state_dtype": np.dtype(jnp.bfloat16)},
        SF_SGD,
        id_suffix="bf16-z",
    ),
    Case(
        "schedule_free_sgd",
        {"learning_rate": 0.1, "warmup_steps": 10, "weight_decay": 0.1},
        reference=schedule_free_reference,
        id_suffix="warmup",
    ),
    Case("schedule_free_adamw", {"learning_rate": 0.1}, SF_ADAMW, reference=SF_ADAMW_REF),
    Case(
        "schedule_free_adamw",
        {"learning_rate": 0.1, "b1": 0.7, "b2": 0.99, "eps": 1e-3, "weight_decay": 0.1},
        SF_ADAMW,
        reference=SF_ADAMW_REF,
        id_suffix="wd",
    ),
    Case(
        "schedule_free_adamw",
        {"learning_rate": 0.1, "warmup_steps": 7, "b2": 0.99, "weight_decay": 0.1},
        reference=SF_ADAMW_REF,
        id_suffix="warmup",
    ),
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
    ),
    Case(
        "mechanize",
        {"base_optimizer": BASE, "num_betas": 6},
        optax.contrib.mechanize,
        extra={"schedule": "weight_decay"},
    ),
    Case(
        "mechanize",
        {"base_optimizer": SGD_BASE, "weight_decay": 0.1, "s_init": 1e-2, "num_betas": 3},
        optax.contrib.mechanize,
        id_suffix="sgd-3-betas",
        extra={"schedule": "weight_decay"},
    ),
    Case("cocob", {"learning_rate": 1.0}, optax.contrib.cocob, complex_ok=False),
    Case(
        "cocob",
        {"learning_rate": 0.5, "alpha": 10.0, **MASKED},
        optax.contrib.cocob,
        complex_ok=False,
        id_suffix="wd-masked",
    ),
    Case("dog", {"learning_rate": 1.0}, optax.contrib.dog),
    Case(
        "dog",
        {"init_step": ("learning_rate", 0.01), "weight_decay": 0.1},
        optax.contrib.dog,
        id_suffix="first-step-wd",
    ),
    Case(
        "dog",
        {"init_step": ("distance", 0.1), "eps": 1e-4, **MASKED},
        optax.contrib.dog,
        id_suffix="distance-masked",
    ),
    Case("dowg", {"learning_rate": 1.0}, optax.contrib.dowg),
    Case(
        "dowg",
        {"init_estim_sq_dist": 0.5, "eps": 1e-6, "weight_decay": 0.1},
        optax.contrib.dowg,
        id_suffix="guess-wd",
    ),
]

# (lr, tol[, kwargs]): 3000 float64 steps on registry_breadth's quadratic, measured distances.
SETTINGS: dict[str, tuple[Any, ...]] = {
    "schedule_free_sgd": (1.0, 1e-9),  # 5e-42
    "schedule_free_adamw": (0.1, 1e-9),  # 2e-19
    "prodigy": (0.3, 1e-9),  # 2e-68
    "dadapt_adamw": (0.3, 1e-9),  # 1e-67
    "mechanize": (0.01, 0.05, {"base_optimizer": gradtx.adam(1.0)}),  # weight_decay; 5e-3
    "cocob": (1.0, 1e-9),  # 4e-16
    "dog": (1.0, 1e-9),  # 4e-27
    "dowg": (1.0, 1e-9),  # 1e-211
}
# (q_lr, q_tol, r_lr, r_tol[, kwargs]): 5000 float64 steps, measured distances in comments;
# the tolerances bound the last 1000 steps. At rate 1 Prodigy and D-Adaptation end in a
# cycle (d never decreases; the authors pair them with a decaying schedule), chaotic on
# Rosenbrock (0.05 to 1 when the start moves by 1e-12), so they run at 0.3 and 0.05-0.1;
# test_parameter_free.py checks that at rate 1 they reach 1e-8 on the quadratic.
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "schedule_free_sgd": (1.0, 1e-9, 1e-3, 0.5),  # 3e-45; 0.055 (last 1000: < 0.26)
    "schedule_free_adamw": (0.1, 1e-9, 0.03, 0.2),  # 2e-22; 0.041 (< 0.097)
    "prodigy": (0.3, 1e-9, 0.05, 0.05),  # 2e-109; 4e-4 to 3e-3 (< 0.023)
    "dadapt_adamw": (0.3, 1e-9, 0.1, 5e-3),  # 3e-113; 6e-7 (< 1.4e-3)
    "mechanize": (None, 0.01, None, 0.8, {"base_optimizer": gradtx.adam(1.0)}),  # 2e-3; 0.49
    "cocob": (1.0, 1e-9, 1.0, 0.3),  # 4e-16; 0.18 (< 0.24)
    "dog": (1.0, 1e-9, 1.0, 0.5),  # 2e-45; 0.19 (< 0.35)
    "dowg": (1.0, 1e-9, 1.0, 0.2),  # 1e-307; 0.096 (< 0.15)
}

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("schedule_free_sgd", {"b1": 0.0}, r"b1 must be in \(0, 1\)"),
    ("schedule_free_sgd", {"warmup_steps": -1}, "warmup_steps must be an integer >= 0"),
    ("schedule_free_sgd", {"weight_lr_power": -1.0}, r"weight_lr_power must be in \[0, inf\)"),
    ("schedule_free_adamw", {"b2": 1.0}, r"b2 must be in \[0, 1\)"),
    ("schedule_free_adamw", {"state_dtype": jnp.int32}, "state_dtype must be a floating"),
    ("prodigy", {"betas": (0.9, 1.0)}, r"betas\[1\] must be in \[0, 1\)"),
    ("prodigy", {"betas": 0.9}, "betas must be a pair"),
    ("prodigy", {"beta3": 1.5}, r"beta3 must be in \[0, 1\)"),
    ("prodigy", {"estim_lr0": 0.0}, r"estim_lr0 must be in \(0, inf\)"),
    ("prodigy", {"estim_lr_coef": -1.0}, r"estim_lr_coef must be in \(0, inf\)"),
    ("dadapt_adamw", {"weight_decay": -0.1}, r"weight_decay must be in \[0, inf\)"),
    ("dadapt_adamw", {"betas": (-0.1, 0.9)}, r"betas\[0\] must be in \[0, 1\)"),
    ("mechanize", {"base_optimizer": BASE, "s_init": 0.0}, r"s_init must be in \(0, inf\)"),
    ("mechanize", {"base_optimizer": BASE, "num_betas": 0}, "num_betas must be an integer >= 1"),
    ("mechanize", {"base_optimizer": BASE, "eps": -1.0}, r"eps must be in \[0, inf\)"),
    ("cocob", {"alpha": 0.0}, r"alpha must be in \(0, inf\)"),
    ("cocob", {"eps": 0.0}, r"eps must be in \(0, inf\)"),
    ("dog", {"init_step": ("guess", 1e-6)}, r"init_step\[0\] must be one of"),
    ("dog", {"init_step": ("distance", 0.0)}, r"init_step\[1\] must be in \(0, inf\)"),
    ("dog", {"init_step": 1e-6}, "init_step must be a pair"),
    ("dowg", {"init_estim_sq_dist": -1.0}, r"init_estim_sq_dist must be in \(0, inf\)"),
    ("dowg", {"eps": 0.0}, "eps .*must be in"),
]
PRIMITIVES: list[Any] = [
    gradtx.scale_by_prodigy,
    gradtx.scale_by_dadapt_adam,
    gradtx.scale_by_dog,
    gradtx.scale_by_dowg,
    gradtx.schedule_free,
    gradtx.schedule_free_eval_params,
    gradtx.scale_by_mechanic,
    gradtx.scale_by_cocob,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (gradtx.schedule_free, {"base_optimizer": BASE, "learning_rate": 1.0, "b1": 1.0}, r"\(0, 1\)"),
    (gradtx.schedule_free, {"base_optimizer": BASE, "learning_rate": -1.0}, "learning_rate must"),
    (gradtx.scale_by_prodigy, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.scale_by_dadapt_adam, {"estim_lr0": -1.0}, r"estim_lr0 must be in \(0, inf\)"),
    (gradtx.scale_by_dog, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (gradtx.scale_by_dowg, {"eps": float("nan")}, r"eps .*must be in"),
    (gradtx.scale_by_mechanic, {"base_optimizer": BASE, "weight_decay": -1.0}, "weight_decay"),
    (gradtx.scale_by_cocob, {"alpha": float("inf")}, "alpha must be in"),
]
