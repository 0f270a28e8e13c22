"""Cases of ``gradtx/optimizers/_orthogonal.py``: Muon, against ``optax.contrib.muon`` and
``references/orthogonal.py``.

The counterpart keeps ``ns_steps`` a Python int (in float32 the parity test wraps the
counterpart in ``optax.inject_hyperparams``, which would make an int default a traced loop
bound).
"""

from __future__ import annotations

from typing import Any

import optax
from references.orthogonal import muon_reference

from cases.common import Case, first_axis_three
from gradtx.transforms import _orthogonal as orthogonal

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
    """``optax.contrib.muon`` with a Python-int ``ns_steps`` (see the module docstring). The
    arguments are spelled out: ``optax.inject_hyperparams`` reads them from the signature."""
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


# Muon for ``dense.w`` (as a transposed matrix), Adam for everything else: a prefix tree of
# the test tree of ``helpers.nested_params``, with Optax's MuonDimensionNumbers (gradtx takes
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
# float64). Read by the parity and jit-vs-eager tests.
_NS_RTOL = {"rtol": {"float32": 3e-5}}


CASES: list[Case] = [
    Case("muon", {"learning_rate": LR}, _muon_optax, reference=muon_reference, extra=_NS_RTOL),
    Case(
        "muon",
        {
            "learning_rate": LR,
            "beta": 0.9,
            "nesterov": False,
            "weight_decay": 0.1,
            "weight_decay_mask": first_axis_three,
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
]
# 3000 float64 steps on 0.5 * sum(A w^2): a vector, so muon is its Adam fallback (NAdamW);
# muon on matrices is in test_orthogonal.py.
QUADRATIC: dict[str, tuple[Any, ...]] = {"muon": (0.03, 1e-9)}  # (lr, tol[, kwargs])
CONVERGENCE: dict[str, tuple[Any, ...]] = {"muon": (0.1, 1e-9, 0.01, 1e-4)}
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
]
PRIMITIVES: list[Any] = [
    orthogonal.orthogonalize_via_newton_schulz,
    orthogonal.scale_by_newton_schulz,
    orthogonal.scale_by_shape,
    orthogonal.scale_by_muon,
]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (orthogonal.scale_by_newton_schulz, {"eps": -1.0}, r"eps must be in \[0, inf\)"),
    (orthogonal.scale_by_newton_schulz, {"ns_coeffs": ((1.0, 2.0, 3.0),) * 6}, "has 6 rows"),
    (orthogonal.scale_by_muon, {"beta": 1.5}, r"beta must be in \[0, 1\)"),
    (orthogonal.scale_by_shape, {"consistent_rms": float("nan")}, "consistent_rms must be in"),
]

# Extreme gradients (tests/test_extremes.py): Muon sends vectors, like that test's (4,) one,
# to its Adam (NAdamW) fallback, whose ν is inf at |g| = 1e30. (Matrices freeze too, as in
# Optax: Newton-Schulz on G / |G|_F is scale-free, but |G|_F overflows and G / inf = 0.)
EXTREMES = {"muon": {"squares"}}
