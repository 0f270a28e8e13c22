r"""Schedules built from others: joining schedules end to end, and momentum ramps."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import jax.numpy as jnp

from .._validate import check_choice, check_decay, check_nonnegative
from ._basic import Schedule, _float_count, _steps


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    r"""Run several schedules one after the other, each restarted at its boundary.

    $$ \eta_t = \begin{cases} \eta^{(0)}(t) & t < b_1 \\
       \eta^{(i)}(t - b_i) & b_i \le t < b_{i+1} \\
       \eta^{(n)}(t - b_n) & t \ge b_n \end{cases} $$

    where $\eta^{(i)}$ is `schedules[i]` and $b_i$ is `boundaries[i - 1]`: each schedule after
    the first sees the number of steps since its own boundary, as in Optax.

    Args:
        schedules: a non-empty sequence of schedules.
        boundaries: `len(schedules) - 1` steps $0 \le b_1 \le \dots \le b_n$ at which to
            switch to the next schedule. Unlike Optax, unsorted or negative boundaries raise.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import constant_schedule, join_schedules, linear_schedule
        >>> schedule = join_schedules(
        ...     [constant_schedule(1.0), linear_schedule(0.5, 0.0, transition_steps=10)], [5])
        >>> [float(schedule(t)) for t in (0, 4, 5, 10, 20)]
        [1.0, 1.0, 0.5, 0.25, 0.0]
    """
    schedules = tuple(schedules)
    boundaries = tuple(boundaries)
    if not schedules:
        raise ValueError("schedules must be a non-empty sequence of schedules, got none.")
    for i, schedule in enumerate(schedules):
        if not callable(schedule):
            raise ValueError(f"schedules[{i}] must be a callable schedule, got {schedule!r}.")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries must have len(schedules) - 1 = {len(schedules) - 1} entries, "
            f"got {len(boundaries)}: {boundaries!r}."
        )
    for i, boundary in enumerate(boundaries):
        check_nonnegative(f"boundaries[{i}]", boundary)
    if any(later < earlier for earlier, later in itertools.pairwise(boundaries)):
        raise ValueError(f"boundaries must be sorted in non-decreasing order, got {boundaries!r}.")
    boundaries = tuple(_steps(b) for b in boundaries)

    def joined(count):
        count = jnp.asarray(count)
        value = jnp.asarray(schedules[0](count))
        for boundary, schedule in zip(boundaries, schedules[1:], strict=True):
            value = jnp.where(count < boundary, value, schedule(count - boundary))
        return value

    return joined


_MOMENTUM_KINDS = ("linear", "step", "exponential")


def momentum_ramp(
    init_value: float = 0.5,
    end_value: float = 0.9,
    *,
    transition_steps: int,
    transition_begin: int = 0,
    kind: str = "linear",
) -> Schedule:
    r"""A momentum coefficient that rises from `init_value` to `end_value`.

    Early in training gradients are large and change quickly, so a small momentum such as 0.5
    is safer; once training settles a momentum of 0.9 or 0.99 averages over more steps
    (Sutskever et al., 2013; Hinton, Coursera lecture 6c). With
    $p_t = \min(\max((t - B)/T, 0), 1)$:

    $$ \mu_t = \begin{cases}
       \mu_0 + (\mu_1 - \mu_0)\, p_t & \texttt{kind="linear"} \\
       \mu_0 \text{ if } t < B + T \text{, else } \mu_1 & \texttt{kind="step"} \\
       1 - (1 - \mu_0)^{1 - p_t} (1 - \mu_1)^{p_t} & \texttt{kind="exponential"}
       \end{cases} $$

    where $\mu_0$ is `init_value`, $\mu_1$ is `end_value`, $T$ is `transition_steps` and $B$
    is `transition_begin`. `"exponential"` interpolates the gap $1 - \mu_t$ geometrically, so
    the averaging horizon $1/(1 - \mu_t)$ grows by the same factor every step, from
    $1/(1-\mu_0)$ to $1/(1-\mu_1)$ (from 2 to 10 steps for 0.5 to 0.9). Sutskever et al. use
    $\mu_t = \min(1 - 2^{-1-\log_2(\lfloor t/250\rfloor + 1)}, \mu_{\max})$, i.e.
    $1 - \mu_t = 1 / (2(\lfloor t/250\rfloor + 1))$, a gap that shrinks like $1/t$ until the
    cap $\mu_{\max}$ is reached; `"exponential"` also shrinks the gap to 1 multiplicatively,
    but at a constant rate, and ends exactly at $\mu_1$ at step $B + T$. The paper's rule
    itself is `lambda t: jnp.minimum(1 - 0.5 / (t // 250 + 1), mu_max)`. With $T = 0$ every
    kind jumps from $\mu_0$ to $\mu_1$ at step $B$.

    Args:
        init_value: momentum $\mu_0 \in [0, 1)$ before step `transition_begin`.
        end_value: momentum $\mu_1 \in [0, 1)$ from step `transition_begin + transition_steps`
            on. It may be below `init_value` (a ramp down).
        transition_steps: length $T \ge 0$ of the ramp; keyword-only and required.
        transition_begin: step $B \ge 0$ at which the ramp starts.
        kind: `"linear"`, `"step"` or `"exponential"`.

    Returns:
        A `Schedule` for a momentum hyperparameter.

    Example:
        >>> from gradtx.schedules import momentum_ramp
        >>> ramp = momentum_ramp(0.5, 0.875, transition_steps=100, kind="exponential")
        >>> [round(float(ramp(t)), 4) for t in (0, 50, 100, 1000)]
        [0.5, 0.75, 0.875, 0.875]

    References:
        Sutskever, Martens, Dahl & Hinton, "On the importance of initialization and momentum
        in deep learning", ICML 2013. Hinton, "Neural Networks for Machine Learning",
        Coursera, lecture 6c (2012).
    """
    check_choice("kind", kind, _MOMENTUM_KINDS)
    check_decay("init_value", init_value)
    check_decay("end_value", end_value)
    check_nonnegative("transition_steps", transition_steps)
    check_nonnegative("transition_begin", transition_begin)
    transition_steps, transition_begin = _steps(transition_steps), _steps(transition_begin)

    def schedule(count):
        elapsed = _float_count(count) - transition_begin
        if kind == "step" or transition_steps == 0:
            return jnp.where(elapsed >= transition_steps, end_value, init_value)
        progress = jnp.clip(elapsed / transition_steps, 0, 1)
        if kind == "linear":
            return init_value + (end_value - init_value) * progress
        gap_ratio = (1 - end_value) / (1 - init_value)
        return 1 - (1 - init_value) * jnp.power(gap_ratio, progress)

    return schedule
