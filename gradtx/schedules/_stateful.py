"""Stateful schedules: a schedule that keeps a state and sees the update's extra arguments.

A schedule of the step is enough for most uses. A *stateful* schedule (Optax's
``StatefulSchedule`` protocol) keeps a state of its own, updated at every step from the extra
arguments of ``update`` (the loss, say), so a hyperparameter can follow what happens in
training. :func:`gradtx.inject_hyperparams` (and every gradtx optimizer) takes one wherever it
takes a schedule; its state is kept in ``InjectState.scheduled``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from .. import _tree
from ._basic import Schedule


class StatefulSchedule(Protocol):
    """The protocol of a stateful schedule (Optax's ``base.StatefulSchedule``).

    ``init() -> state``; ``update(state, **extra) -> state`` after each step;
    ``__call__(state, **extra) -> value``, the value used at the current step.
    """

    def init(self) -> Any: ...

    def update(self, state: Any, **extra: Any) -> Any: ...

    def __call__(self, state: Any, **extra: Any) -> jax.typing.ArrayLike: ...


class WrappedScheduleState(NamedTuple):
    """The step count of a :class:`WrappedSchedule`."""

    count: jax.Array


class WrappedSchedule:
    r"""A schedule of the step as a stateful schedule: its state is the step count.

    $$\text{value}_t = \eta(t),\qquad t \leftarrow t + 1 \text{ after each step}$$

    Args:
      schedule_fn: a schedule ``schedule_fn(count) -> value``.

    Example:
      >>> import gradtx
      >>> wrapped = gradtx.schedules.WrappedSchedule(gradtx.linear_schedule(1.0, 0.0, 4))
      >>> state = wrapped.init()
      >>> state = wrapped.update(wrapped.update(state))
      >>> float(wrapped(state))
      0.5
    """

    def __init__(self, schedule_fn: Schedule):
        if not callable(schedule_fn):
            raise ValueError(f"schedule_fn must be a schedule of the step, got {schedule_fn!r}.")
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra: Any) -> WrappedScheduleState:
        del extra
        return WrappedScheduleState(_tree.safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra: Any) -> jax.typing.ArrayLike:
        del extra
        return self.schedule_fn(state.count)
