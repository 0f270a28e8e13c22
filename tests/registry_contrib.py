"""Test cases of ``gradtx.optimizers._contrib``, merged into ``registry_breadth``.

The same formats as ``registry_breadth`` (``CASES``, ``SETTINGS``), ``test_convergence``
(``CONVERGENCE``) and ``test_breadth_errors`` (``BAD``, ``PRIMITIVES``, ``BAD_PRIMITIVES``), so
every optimizer registered here goes through the common battery, parity, training, errors,
checkpoint and convergence tests.

Muon's counterpart is ``optax.contrib.muon`` with ``ns_steps`` kept a Python int (in float32
the parity test wraps the counterpart in ``optax.inject_hyperparams``, which would make an
int default a traced loop bound). Sophia's is ``optax.contrib.sophia`` given the battery's
``value_fn`` as its ``obj_fn``; both estimators start from seed 0, so their Rademacher probes
agree (``test_contrib.py`` checks it on an objective whose Hessian is not diagonal). SAM wraps
two optimizers and has no hyperparameter of its own, so it is a wrapper tested in
``test_contrib.py``, not a registered optimizer.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import optax
from registry import Case
from test_breadth_references import _hp, _lr, _one_minus_power

import gradtx
from gradtx.transforms import _hessian_diagonal as hessian_diagonal
from gradtx.transforms import _orthogonal as orthogonal
from gradtx.wrappers import _sam

LR = 0.01


def _muon_optax(
    learning_rate,
    ns_steps=None,
    beta=0.95,
    eps=1e-8,
    weight_decay=0.0,
    weight_decay_mask=None,
    nesterov=True,
    adaptive=False,
    adam_b1=0.9,
    adam_b2=0.999,
    adam_eps_root=0.0,
    adam_weight_decay=0.0,
    adam_learning_rate=None,
    muon_weight_dimension_numbers=None,
    consistent_rms=None,
):
    """``optax.contrib.muon`` with a Python-int ``ns_steps`` (see the module docstring)."""
    return optax.contrib.muon(
        learning_rate,
        ns_steps=5 if ns_steps is None else ns_steps,
        beta=beta,
        eps=eps,
        weight_decay=weight_decay,
        weight_decay_mask=weight_decay_mask,
        nesterov=nesterov,
        adaptive=adaptive,
        adam_b1=adam_b1,
        adam_b2=adam_b2,
        adam_eps_root=adam_eps_root,
        adam_weight_decay=adam_weight_decay,
        adam_learning_rate=adam_learning_rate,
        muon_weight_dimension_numbers=muon_weight_dimension_numbers,
        consistent_rms=consistent_rms,
    )


def _newton_schulz_reference(x, rows, eps):
    """The quintic Newton-Schulz iteration in float64, on the wide side of ``x``."""
    transposed = x.shape[0] > x.shape[1]
    x = x.T if transposed else x
    x = x / (np.linalg.norm(x) + eps)
    for c0, c1, c2 in rows:
        a = x @ x.T
        x = c0 * x + (c1 * a + c2 * a @ a) @ x
    return x.T if transposed else x


def muon_reference(
    learning_rate,
    ns_steps=5,
    beta=0.95,
    eps=1e-8,
    weight_decay=0.0,
    weight_decay_mask=None,
    nesterov=True,
    adaptive=False,
    adam_b1=0.9,
    adam_b2=0.999,
    adam_eps_root=0.0,
    adam_weight_decay=0.0,
    adam_learning_rate=None,
    consistent_rms=None,
):
    """Muon (Jordan et al. 2024) with Optax's debiased momentum and shape scaling for the
    2-D leaves, NAdamW/AdamW for the others; float64, hyperparameters rounded as gradtx
    stores them. In float32 Newton-Schulz amplifies the last-bit differences of Optax's
    float32 bias correction ``1 - b**t`` (its quintic has slope ~480 at 0) to ~1e-5."""
    rows = [(3.4445, -4.775, 2.0315)] * ns_steps

    def init(p):
        names = {"beta": beta, "eps": eps, "wd": weight_decay, "b1": adam_b1, "b2": adam_b2}
        names.update(eps_root=adam_eps_root, awd=adam_weight_decay, rms=consistent_rms or 0.0)
        h = {k: _hp(p, v) for k, v in names.items()}
        decay = weight_decay_mask is None or bool(weight_decay_mask(p))
        state = {"t": 0, "m": np.zeros(p.shape), "v": np.zeros(p.shape), "decay": decay}
        return {**state, **h}

    def momentum(s, g, b, t):
        s["m"] = (1 - b) * g + b * s["m"]
        if nesterov:
            return b * s["m"] / _one_minus_power(b, t + 1) + (1 - b) * g / _one_minus_power(b, t)
        return s["m"] / _one_minus_power(b, t)

    def step(g, s, p):
        g, t = g.astype(np.float64), s["t"] + 1
        lr = _lr(p, learning_rate, s["t"])
        s["t"] = t
        if p.ndim == 2:
            m_hat = momentum(s, g, s["beta"], t)
            o = _newton_schulz_reference(m_hat, rows, s["eps"])
            if adaptive:
                o = np.sum(m_hat * o) * o
            fan_in, fan_out = p.shape
            if consistent_rms is None:
                o = np.sqrt(max(1.0, fan_out / fan_in)) * o
            else:
                o = np.sqrt(max(fan_in, fan_out)) * s["rms"] * o
            return -lr * (o + (s["wd"] * p if s["decay"] else 0.0))
        if adam_learning_rate is not None:
            lr = _lr(p, adam_learning_rate, t - 1)
        m_hat = momentum(s, g, s["b1"], t)
        s["v"] = (1 - s["b2"]) * g**2 + s["b2"] * s["v"]
        v_hat = s["v"] / _one_minus_power(s["b2"], t)
        return -lr * (m_hat / (np.sqrt(v_hat + s["eps_root"]) + s["eps"]) + s["awd"] * p)

    return init, step


def _sophia_optax(
    learning_rate,
    b1=0.965,
    b2=0.99,
    eps=1e-8,
    weight_decay=1e-4,
    weight_decay_mask=None,
    gamma=0.01,
    clip_threshold=1.0,
    update_interval=10,
):
    """``optax.contrib.sophia`` whose update takes the objective as ``value_fn``."""
    tx = optax.contrib.sophia(
        learning_rate,
        b1,
        b2,
        eps,
        weight_decay,
        weight_decay_mask,
        gamma,
        clip_threshold,
        update_interval,
        hessian_diagonal_fn=optax.contrib.hutchinson_estimator_diag_hessian(),
    )

    def update(updates, state, params=None, *, value_fn=None, **extra):
        del extra
        return tx.update(updates, state, params, obj_fn=value_fn)

    return optax.GradientTransformationExtraArgs(tx.init, update)


def _first_axis_three(params):
    """A mask: the leaves whose first axis has length 3 (``dense.w`` of the test tree)."""
    return jax.tree.map(lambda x: x.ndim > 0 and x.shape[0] == 3, params)


# Muon for ``dense.w`` (as a transposed matrix), Adam for everything else: a prefix tree of
# the test tree of ``conftest.nested_params``, with Optax's MuonDimensionNumbers (gradtx takes
# them as its own, so the same tree configures both). (A function of the params works in the
# primitives; in the alias it waits for the change to ``_hyper.py`` described in the report.)
_DENSE_ONLY = {
    "dense": {"w": optax.contrib.MuonDimensionNumbers(reduction_axis=1, output_axis=0), "b": None},
    "pair": None,
    "emb": None,
    "frozen": None,
}


# Newton-Schulz has slope ~480 at 0 (3.4445**5): a last-bit difference of the float32 momentum
# (Optax's or the reference's bias correction, or an FMA fused under jit but not eagerly)
# moves a muon update by up to ~1.7e-5 relative (measured over the parity runs; 2.5e-14 in
# float64). Read by the parity and jit-vs-eager tests (see the contrib report).
_NS_RTOL = {"rtol": {"float32": 3e-5}}


def _sam_optax(optimizer, adv_optimizer, sync_period=None, reset_state=None):
    """optax.contrib.sam with its integer / boolean options defaulting to None, so that
    ``optax.inject_hyperparams`` (the float32 comparison) does not make them live arrays."""
    return optax.contrib.sam(
        optimizer,
        adv_optimizer,
        sync_period=2 if sync_period is None else sync_period,
        reset_state=True if reset_state is None else reset_state,
    )


CASES: list[Case] = [
    Case("muon", {"learning_rate": LR}, _muon_optax, reference=muon_reference, extra=_NS_RTOL),
    Case(
        "muon",
        {
            "learning_rate": LR,
            "beta": 0.9,
            "nesterov": False,
            "weight_decay": 0.1,
            "weight_decay_mask": _first_axis_three,
            "adaptive": True,
            "ns_steps": 4,
            "consistent_rms": 0.2,
            "adam_b1": 0.8,
            "adam_eps_root": 1e-8,
            "adam_learning_rate": 0.003,
            "adam_weight_decay": 0.05,
        },
        _muon_optax,
        reference=muon_reference,
        id_suffix="options",
        extra=_NS_RTOL,
    ),
    # Optax only (float64 and float32): a reference sees one leaf at a time, not its path.
    Case(
        "muon",
        {"learning_rate": LR, "muon_weight_dimension_numbers": _DENSE_ONLY},
        _muon_optax,
        id_suffix="dims",
        extra=_NS_RTOL,
    ),
    Case("sophia", {"learning_rate": LR}, _sophia_optax, complex_ok=False),
    Case(
        "sophia",
        {
            "learning_rate": LR,
            "b1": 0.9,
            "b2": 0.95,
            "gamma": 0.05,
            "clip_threshold": 0.5,
            "update_interval": 3,
            "weight_decay": 0.1,
            "weight_decay_mask": _first_axis_three,
        },
        _sophia_optax,
        complex_ok=False,
        id_suffix="options",
    ),
    Case(
        "sophia",
        {"learning_rate": LR, "clip_threshold": None, "eps": 1.0, "update_interval": 1},
        _sophia_optax,
        complex_ok=False,
        id_suffix="no-clip",
    ),
    # SAM: plain SGD outer steps, normalized ascent of 0.05; no rate of its own to schedule.
    Case(
        "sam",
        {
            "optimizer": gradtx.sgd(0.01),
            "adv_optimizer": gradtx.chain(_sam.normalize(), gradtx.sgd(0.05)),
        },
        _sam_optax,
        extra={"schedule": None},
    ),
    Case(
        "sam",
        {
            "optimizer": gradtx.adam(0.01),
            "adv_optimizer": gradtx.chain(_sam.normalize(), gradtx.sgd(0.05)),
            "sync_period": 3,
            "reset_state": False,
        },
        _sam_optax,
        id_suffix="adam-sync3",
        extra={"schedule": None},
    ),
]

_SAM_ADAM = {
    "optimizer": gradtx.adam(0.03),
    "adv_optimizer": gradtx.chain(_sam.normalize(), gradtx.sgd(1e-3)),
}

# name: (lr, tolerance on |w - w*|) after 3000 float64 steps on 0.5 * sum(A w^2) (a vector,
# so muon is its Adam fallback, NAdamW; muon on matrices is in test_contrib.py).
SETTINGS: dict[str, tuple[Any, ...]] = {
    "muon": (0.03, 1e-9),
    "sophia": (0.01, 1e-9),
    # SAM ends where its ascent radius allows: within ~rho of the minimizer on this quadratic.
    "sam": (None, 1e-2, _SAM_ADAM),
}
# (q_lr, q_tol, r_lr, r_tol[, kwargs]): test_convergence's quadratic and Rosenbrock.
CONVERGENCE: dict[str, tuple[Any, ...]] = {
    "muon": (0.1, 1e-9, 0.01, 1e-4),
    # Without weight decay: the default 1e-4 moves Rosenbrock's minimizer by ~1e-3.
    "sophia": (0.01, 1e-9, 0.03, 1e-9, {"weight_decay": 0.0}),
    "sam": (None, 1e-2, None, 1e-2, _SAM_ADAM),
}
BAD: list[tuple[str, dict[str, Any], str]] = [
    ("muon", {"learning_rate": 0.1, "beta": 1.0}, r"beta must be in \[0, 1\)"),
    ("muon", {"learning_rate": 0.1, "ns_steps": 0}, "ns_steps must be an integer >= 1"),
    ("muon", {"learning_rate": 0.1, "ns_coeffs": (1.0, 2.0)}, r"ns_coeffs must be finite"),
    ("muon", {"learning_rate": 0.1, "ns_coeffs": "polar"}, "ns_coeffs must be one of"),
    ("muon", {"learning_rate": 0.1, "preconditioning": "svd"}, "preconditioning must be one of"),
    ("muon", {"learning_rate": 0.1, "adam_b2": 1.0}, r"adam_b2 must be in \[0, 1\)"),
    ("muon", {"learning_rate": 0.1, "adam_learning_rate": -1.0}, "adam_learning_rate must be"),
    ("muon", {"learning_rate": 0.1, "consistent_rms": -0.2}, "consistent_rms must be in"),
    ("muon", {"learning_rate": 0.1, "weight_decay": -1.0}, "weight_decay must be in"),
    ("sophia", {"learning_rate": 0.1, "b1": 1.0}, r"b1 must be in \[0, 1\)"),
    ("sophia", {"learning_rate": 0.1, "gamma": -1.0}, r"gamma must be in \[0, inf\)"),
    ("sophia", {"learning_rate": 0.1, "clip_threshold": 0.0}, r"clip_threshold must be in \(0"),
    ("sophia", {"learning_rate": 0.1, "update_interval": 0}, "update_interval must be an integer"),
    ("sophia", {"learning_rate": 0.1, "verbose": True}, "print_win_rate_every_n_steps must be"),
]
PRIMITIVES: list[Any] = [
    orthogonal.orthogonalize_via_newton_schulz,
    orthogonal.scale_by_newton_schulz,
    orthogonal.scale_by_shape,
    orthogonal.scale_by_muon,
    hessian_diagonal.hutchinson_estimator_diag_hessian,
    hessian_diagonal.scale_by_hessian_diagonal,
    hessian_diagonal.scale_by_sophia,
    _sam.sam,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (orthogonal.scale_by_newton_schulz, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (orthogonal.scale_by_newton_schulz, {"ns_coeffs": ((1.0, 2.0, 3.0),) * 6}, "has 6 rows"),
    (orthogonal.scale_by_muon, {"beta": 1.5}, r"beta must be in \[0, 1\)"),
    (orthogonal.scale_by_shape, {"consistent_rms": float("nan")}, "consistent_rms must be in"),
    (hessian_diagonal.hutchinson_estimator_diag_hessian, {"random_seed": "a"}, "random_seed"),
    (hessian_diagonal.scale_by_hessian_diagonal, {"b2": 1.0}, r"b2 must be in \[0, 1\)"),
    (hessian_diagonal.scale_by_hessian_diagonal, {"update_interval": 2.5}, "update_interval"),
    (hessian_diagonal.scale_by_sophia, {"clip_threshold": -1.0}, "clip_threshold must be in"),
    (
        _sam.sam,
        {"optimizer": gradtx.sgd(0.1), "adv_optimizer": gradtx.sgd(0.1), "sync_period": 0},
        "sync_period must be an integer >= 1",
    ),
]
