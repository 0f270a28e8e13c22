"""The :class:`Case` record, and the masks that several families' cases use."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax

import gradtx


@dataclass(frozen=True)
class Case:
    """One optimizer configuration under test (see :mod:`cases`)."""

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

    @property
    def family(self) -> str:
        return gradtx.OPTIMIZERS[self.name].family

    def make(self, **override: Any) -> gradtx.GradientTransformation:
        return gradtx.OPTIMIZERS[self.name].factory(**{**self.kwargs, **override})

    def make_optax(self, **override: Any) -> Any:
        return self.optax_fn(**{**self.kwargs, **override})


def matrices_only(params):
    """A mask: the leaves with two or more axes."""
    return jax.tree.map(lambda x: x.ndim > 1, params)


def first_axis_three(params):
    """A mask: the leaves whose first axis has length 3 (``dense.w`` of the test tree)."""
    return jax.tree.map(lambda x: x.ndim > 0 and x.shape[0] == 3, params)


# ``Case.extra`` of the cases whose float32 updates the parity test compares on the scale of
# the run (``test_parity.check_close``): a leaf's update that nearly cancels (a step minus a
# decay, ``2 d_t - d_{t-1}``, a schedule-free interpolation, a rate set by the loss) differs
# from the counterpart's by more than 5e-6 of that step's update (first failing steps
# measured on the per-step scale: 5.1e-6 to 5.6e-4 relative, from float32 rounding alone).
F32_TRAJECTORY = {"f32_trajectory_scale": True}
