"""Cases of ``gradtx/optimizers/_sam.py``: SAM, which wraps two optimizers and has no
hyperparameter of its own to schedule, against ``optax.contrib.sam``."""

from __future__ import annotations

from typing import Any

import optax

import gradtx
from cases.common import Case
from gradtx.wrappers import _sam


def _sam_optax(optimizer, adv_optimizer, sync_period=None, reset_state=None):
    """optax.contrib.sam with its integer / boolean options defaulting to None, so that
    ``optax.inject_hyperparams`` (the float32 comparison) does not make them live arrays."""
    return optax.contrib.sam(
        optimizer,
        adv_optimizer,
        sync_period=2 if sync_period is None else sync_period,
        reset_state=True if reset_state is None else reset_state,
    )


# Plain SGD outer steps, normalized ascent of 0.05.
CASES: list[Case] = [
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
# SAM ends where its ascent radius allows: within ~rho of the minimizer on the quadratic.
QUADRATIC: dict[str, tuple[Any, ...]] = {"sam": (None, 1e-2, _SAM_ADAM)}  # (lr, tol, kwargs)
CONVERGENCE: dict[str, tuple[Any, ...]] = {"sam": (None, 1e-2, None, 1e-2, _SAM_ADAM)}
PRIMITIVES: list[Any] = [_sam.sam]
BAD_PRIMITIVES: list[tuple[Any, dict[str, Any], str]] = [
    (
        _sam.sam,
        {"optimizer": gradtx.sgd(0.1), "adv_optimizer": gradtx.sgd(0.1), "sync_period": 0},
        "sync_period must be an integer >= 1",
    ),
]

# Extreme gradients (tests/test_extremes.py): with an SGD outer step every other step is an
# outer step lr g (the ascent, normalized, is undone by it): a mean factor 1/2.
EXTREMES = {"sam": {"linear"}}
