"""The test registry: every public optimizer, its settings, and what it is checked against.

Each :class:`Case` pairs a gradtx configuration with either the Optax transform that
implements the same algorithm, or a NumPy reference written from the paper (where Optax
has none, or differs on purpose). Every parametrized test iterates over ``CASES``;
``test_registry.py`` fails if a public optimizer has no case here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optax

import gradtx


@dataclass(frozen=True)
class Case:
    """One optimizer configuration under test."""

    name: str  # gradtx.OPTIMIZERS key
    kwargs: dict[str, Any]
    optax_fn: Callable[..., Any] | None = None  # same kwargs (schedule substituted)
    reference: Callable[..., Any] | None = None  # NumPy reference: make(**kwargs) -> step
    complex_ok: bool = True
    id_suffix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.name + (f"-{self.id_suffix}" if self.id_suffix else "")

    def make(self, **override: Any) -> gradtx.GradientTransformation:
        return gradtx.OPTIMIZERS[self.name].factory(**{**self.kwargs, **override})

    def make_optax(self, **override: Any) -> Any:
        return self.optax_fn(**{**self.kwargs, **override})


def rprop_reference(
    learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0
):
    """iRprop- exactly as ``torch.optim.Rprop`` (PyTorch 2.x, non-foreach) writes it."""

    def init(p):
        return {"prev": np.zeros_like(p), "step": np.full_like(p, learning_rate)}

    def step(g, state, p):
        g = g.copy()
        sign = np.sign(g * state["prev"])
        factor = np.where(sign > 0, eta_plus, np.where(sign < 0, eta_minus, 1.0))
        state["step"] = np.clip(state["step"] * factor, min_step_size, max_step_size)
        g[sign < 0] = 0
        state["prev"] = g
        return -np.sign(g) * state["step"]

    return init, step


def _heavy_ball_optax(learning_rate, momentum=0.9):
    return optax.chain(optax.scale_by_learning_rate(learning_rate), optax.trace(momentum))


def _ema_momentum_optax(learning_rate, momentum=0.9, debias=False):
    return optax.chain(
        optax.ema(momentum, debias=debias), optax.scale_by_learning_rate(learning_rate)
    )


LR = 0.01
CASES: list[Case] = [
    Case("gd", {"learning_rate": 0.1}, optax.sgd),
    Case("sgd", {"learning_rate": 0.1}, optax.sgd),
    Case("sgd", {"learning_rate": 0.1, "momentum": 0.9}, optax.sgd, id_suffix="momentum"),
    Case(
        "sgd",
        {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
        optax.sgd,
        id_suffix="nesterov",
    ),
    Case("heavy_ball", {"learning_rate": 0.1, "momentum": 0.8}, _heavy_ball_optax),
    Case("ema_momentum", {"learning_rate": 0.1, "momentum": 0.8}, _ema_momentum_optax),
    Case(
        "ema_momentum",
        {"learning_rate": 0.1, "momentum": 0.8, "debias": True},
        _ema_momentum_optax,
        id_suffix="debias",
    ),
    Case("adagrad", {"learning_rate": 0.1}, optax.adagrad, complex_ok=True),
    Case("adadelta", {"learning_rate": 1.0}, optax.adadelta),
    Case("adadelta", {"learning_rate": 0.5, "weight_decay": 0.1}, optax.adadelta, id_suffix="wd"),
    Case("rmsprop", {"learning_rate": LR}, optax.rmsprop),
    Case(
        "rmsprop",
        {"learning_rate": LR, "centered": True, "momentum": 0.9},
        optax.rmsprop,
        id_suffix="centered-momentum",
    ),
    Case(
        "rmsprop",
        {
            "learning_rate": LR,
            "eps_in_sqrt": False,
            "momentum": 0.9,
            "nesterov": True,
            "bias_correction": True,
        },
        optax.rmsprop,
        id_suffix="eps-outside-nesterov",
    ),
    Case("rprop", {"learning_rate": 0.05}, None, reference=rprop_reference, complex_ok=False),
    Case("adam", {"learning_rate": LR}, optax.adam),
    Case(
        "adam", {"learning_rate": LR, "eps_root": 1e-8, "b1": 0.5}, optax.adam, id_suffix="eps-root"
    ),
    Case("adamw", {"learning_rate": LR, "weight_decay": 0.1}, optax.adamw),
    Case("nadam", {"learning_rate": LR}, optax.nadam),
    Case("nadamw", {"learning_rate": LR, "weight_decay": 0.1}, optax.nadamw),
    Case("amsgrad", {"learning_rate": LR}, optax.amsgrad),
    Case("adamax", {"learning_rate": LR}, optax.adamax),
    Case("adamaxw", {"learning_rate": LR, "weight_decay": 0.1}, optax.adamaxw),
]

CASE_IDS = [c.id for c in CASES]
ONE_CASE_PER_OPTIMIZER = list({c.name: c for c in reversed(CASES)}.values())


def _all_cases() -> list[Case]:
    """The core cases plus the breadth optimizers (tested by tests/test_breadth_*.py)."""
    from registry_breadth import BREADTH_CASES

    return CASES + BREADTH_CASES


def all_one_case_per_optimizer() -> list[Case]:
    """The first case of every registered optimizer (core and breadth families)."""
    return list({c.name: c for c in reversed(_all_cases())}.values())
