"""The optimizers the benchmark runs, one line each: a factory and its search space.

To add one, add a line to :data:`OPTIMIZERS`, e.g. ``"shampoo": Spec(gradtx.shampoo,
ADAM_LIKE)``. The factory is called with ``fixed`` and one trial's point; hyperparameters
named in ``static`` rebuild (and recompile) the step, all others are set live in the state
with :func:`gradtx.set_hyperparams`, so the trials of one optimizer share one compiled step.

Unless ``schedule=False``, the updates are multiplied by a linear warm-up (the first
``WARMUP`` of the budget) then a cosine decay to zero at the budget: the same
schedule for every optimizer, equal to scheduling the learning rate for any optimizer whose
update is proportional to it (all of those here except schedule-free, which warms up by
itself and is evaluated at its average, and L-BFGS, whose line search sets the step).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradtx

from ._search import Choice, Log, OneMinusLog, Uniform

WARMUP = 0.05  # fraction of the step budget


@dataclass(frozen=True)
class Spec:
    """How to build, tune and run one optimizer."""

    factory: Callable[..., Any]
    space: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    static: tuple[str, ...] = ()  # hyperparameters of `space` that change the program
    schedule: bool = True  # multiply the updates by warm-up + cosine decay
    warmup_arg: str | None = None  # the factory's own warm-up length argument, if any
    eval_params: Callable[[Any, Any], Any] | None = None  # (state, params) -> evaluated params
    full_batch_only: bool = False  # run on the full-batch (convex) workloads only
    linesearch: bool = False  # update(..., value=, grad=, value_fn=)


ADAM_LIKE = {"learning_rate": Log(3e-4, 1e-1), "b1": OneMinusLog(0.02, 0.3)}

OPTIMIZERS: dict[str, Spec] = {
    "adamw": Spec(gradtx.adamw, ADAM_LIKE),
    "nadamw": Spec(gradtx.nadamw, ADAM_LIKE),
    "sgd_nesterov": Spec(
        functools.partial(gradtx.sgd, nesterov=True),
        {"learning_rate": Log(1e-3, 1.0), "momentum": OneMinusLog(0.02, 0.3)},
    ),
    "schedule_free_adamw": Spec(
        gradtx.schedule_free_adamw,
        ADAM_LIKE,
        schedule=False,
        warmup_arg="warmup_steps",
        eval_params=gradtx.schedule_free_eval_params,
    ),
    "lion": Spec(gradtx.lion, {"learning_rate": Log(3e-5, 1e-2), "b1": OneMinusLog(0.02, 0.3)}),
    "adafactor": Spec(
        gradtx.adafactor, {"learning_rate": Log(1e-3, 1.0), "decay_rate": Uniform(0.6, 1.0)}
    ),
    "muon": Spec(gradtx.muon, {"learning_rate": Log(1e-3, 3e-1), "beta": OneMinusLog(0.02, 0.3)}),
    "shampoo": Spec(gradtx.shampoo, ADAM_LIKE),
    "soap": Spec(gradtx.soap, ADAM_LIKE),
    "psgd_kron": Spec(
        gradtx.psgd_kron, {"learning_rate": Log(1e-4, 3e-2), "b1": OneMinusLog(0.02, 0.3)}
    ),
    "lbfgs": Spec(
        gradtx.second_order.lbfgs,
        {"memory_size": Choice((3, 5, 10, 20, 40))},
        static=("memory_size",),
        schedule=False,
        full_batch_only=True,
        linesearch=True,
    ),
}

QUICK = ("adamw", "sgd_nesterov", "lion", "lbfgs")
FULL = tuple(OPTIMIZERS)


def describe_space(spec: Spec) -> str:
    """``name: dimension`` for each tuned hyperparameter, for the report."""
    return "; ".join(f"{k}: {d.describe()}" for k, d in spec.space.items()) or "nothing tuned"
