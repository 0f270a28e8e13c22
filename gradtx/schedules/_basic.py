r"""Single-phase schedules: constant, polynomial, exponential and inverse-time decay.

A schedule maps the step count $t$ (an int32 scalar: a Python int or a traced jnp scalar) to a
scalar jnp array. Every schedule here is a pure `jnp` function of the count (no Python branch
looks at $t$), so `jax.jit(schedule)` traces once and `jax.vmap(schedule)` maps over counts.
Arguments are checked when the schedule is built; step arguments (`transition_steps`,
`transition_begin`, boundaries) must be concrete numbers there.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._base import Schedule
from .._validate import check_nonnegative, check_positive, check_range

"""A callable `schedule(count) -> value` from an int32 step count to a scalar array."""


def _float_count(count: jax.typing.ArrayLike) -> jax.Array:
    """The count as a weak float array (float32, or float64 under x64), so that it never wraps.

    `int * 1.0` gives the default float dtype, weakly typed: a schedule of Python floats then
    returns a weak scalar, which does not promote bfloat16 updates to float32.
    """
    count = jnp.asarray(count)
    if jnp.issubdtype(count.dtype, jnp.floating):
        return count
    return count * 1.0


def _steps(value: Any) -> Any:
    """A step argument (a concrete number, checked by the caller) that JAX can take: an int
    beyond int32 (``decay_steps=10**10``) would overflow where a jitted schedule meets it, so
    it becomes a float; smaller ints stay exact."""
    if isinstance(value, (int, np.integer)) and not -(2**31) <= value < 2**31:
        return float(value)
    return value


def _broadcast(value: Any, count: jax.typing.ArrayLike) -> jax.Array:
    """`value` as an array with the shape of `count` (a scalar for a scalar count)."""
    return jnp.broadcast_to(jnp.asarray(value), jnp.shape(count))


def constant_schedule(value: jax.typing.ArrayLike) -> Schedule:
    r"""A schedule that returns the same value at every step.

    $$ \eta_t = v $$

    where $v$ is `value`.

    Args:
        value: the value to return; a finite real scalar.

    Returns:
        A `Schedule` mapping any count to `value` (as an array shaped like the count).

    Example:
        >>> from gradtx.schedules import constant_schedule
        >>> float(constant_schedule(0.5)(1000))
        0.5
    """
    check_range("value", value)

    def schedule(count):
        return _broadcast(value, count)

    return schedule


def polynomial_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    power: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""A polynomial transition from `init_value` to `end_value`.

    $$ \eta_t = (\eta_0 - \eta_T)\left(1 - \frac{\min(\max(t - B, 0), T)}{T}\right)^{p}
       + \eta_T $$

    where $\eta_0$ is `init_value`, $\eta_T$ is `end_value`, $p$ is `power`, $T$ is
    `transition_steps` and $B$ is `transition_begin`: the value is held at $\eta_0$ until
    step $B$ and reaches $\eta_T$ at step $B + T$, where it stays.

    Args:
        init_value: value before and at step `transition_begin`.
        end_value: value from step `transition_begin + transition_steps` on.
        power: exponent $p \ge 0$ of the transition (1 is linear).
        transition_steps: length $T \ge 0$ of the transition. As in Optax, `0` disables the
            transition and the schedule is the constant `init_value`.
        transition_begin: step $B \ge 0$ at which the transition starts.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import polynomial_schedule
        >>> schedule = polynomial_schedule(1.0, 0.0, power=2, transition_steps=10)
        >>> [float(schedule(t)) for t in (0, 5, 10, 20)]
        [1.0, 0.25, 0.0, 0.0]
    """
    check_range("init_value", init_value)
    check_range("end_value", end_value)
    check_nonnegative("power", power)
    check_nonnegative("transition_steps", transition_steps)
    check_nonnegative("transition_begin", transition_begin)
    transition_steps, transition_begin = _steps(transition_steps), _steps(transition_begin)
    if transition_steps == 0:
        return constant_schedule(init_value)

    def schedule(count):
        elapsed = jnp.clip(_float_count(count) - transition_begin, 0, transition_steps)
        # Under jit XLA may divide by multiplying with 1/T, which can leave 1 - T/T slightly
        # below 0 and make a fractional power NaN at the end (Optax 0.2.8 has this bug).
        remaining = jnp.maximum(1 - elapsed / transition_steps, 0)
        return (init_value - end_value) * remaining**power + end_value

    return schedule


def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""A linear transition from `init_value` to `end_value`.

    $$ \eta_t = \eta_0 + (\eta_T - \eta_0)\,\frac{\min(\max(t - B, 0), T)}{T} $$

    where $\eta_0$ is `init_value`, $\eta_T$ is `end_value`, $T$ is `transition_steps` and
    $B$ is `transition_begin`. This is `polynomial_schedule` with `power=1`.

    Args:
        init_value: value before and at step `transition_begin`.
        end_value: value from step `transition_begin + transition_steps` on.
        transition_steps: length $T \ge 0$ of the transition. As in Optax, `0` disables the
            transition and the schedule is the constant `init_value`.
        transition_begin: step $B \ge 0$ at which the transition starts.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import linear_schedule
        >>> schedule = linear_schedule(1.0, 0.5, transition_steps=4, transition_begin=2)
        >>> [float(schedule(t)) for t in (0, 2, 4, 6, 9)]
        [1.0, 1.0, 0.75, 0.5, 0.5]
    """
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    r"""Exponential decay (or growth), continuous or in steps.

    $$ \eta_t = \begin{cases} \eta_0 & t \le B \\
       \eta_0\, \gamma^{\tau_t} & t > B \end{cases}, \qquad
       \tau_t = \frac{t - B}{T} \;\text{or}\; \left\lfloor\frac{t - B}{T}\right\rfloor $$

    where $\eta_0$ is `init_value`, $\gamma$ is `decay_rate`, $T$ is `transition_steps`, $B$
    is `transition_begin`, and the floor is taken when `staircase` is true. When `end_value`
    $\eta_\infty$ is given, the value is clipped to it: $\max(\eta_t, \eta_\infty)$ when
    $\gamma < 1$, $\min(\eta_t, \eta_\infty)$ otherwise.

    Args:
        init_value: value up to step `transition_begin`.
        transition_steps: number of steps $T \ge 0$ per factor of `decay_rate`. As in Optax,
            `0` gives the constant `init_value`.
        decay_rate: factor $\gamma > 0$ applied every `transition_steps` steps (below 1
            decays, above 1 grows). Unlike Optax, `0` is rejected rather than read as
            "constant".
        transition_begin: step $B \ge 0$ at which the decay starts.
        staircase: if true, decay in discrete jumps every `transition_steps` steps.
        end_value: optional bound the value never passes (a floor when decaying, a ceiling
            when growing).

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import exponential_decay
        >>> schedule = exponential_decay(1.0, transition_steps=10, decay_rate=0.5)
        >>> [float(schedule(t)) for t in (0, 10, 15, 20)]
        [1.0, 0.5, 0.3535533845424652, 0.25]
    """
    check_range("init_value", init_value)
    check_nonnegative("transition_steps", transition_steps)
    check_positive("decay_rate", decay_rate)
    check_nonnegative("transition_begin", transition_begin)
    transition_steps, transition_begin = _steps(transition_steps), _steps(transition_begin)
    if end_value is not None:
        check_range("end_value", end_value)
    if transition_steps == 0:
        return constant_schedule(init_value)

    def schedule(count):
        elapsed = _float_count(count) - transition_begin
        exponent = elapsed / transition_steps
        if staircase:
            exponent = jnp.floor(exponent)
        value = jnp.where(elapsed <= 0, init_value, init_value * jnp.power(decay_rate, exponent))
        if end_value is not None:
            floor, ceiling = jnp.maximum(value, end_value), jnp.minimum(value, end_value)
            value = jnp.where(decay_rate < 1, floor, ceiling)
        return value

    return schedule


def inverse_time_decay(
    init_value: jax.typing.ArrayLike,
    decay_rate: jax.typing.ArrayLike,
    transition_steps: int = 1,
    staircase: bool = False,
    transition_begin: int = 0,
) -> Schedule:
    r"""Inverse-time decay $\eta_0 / (1 + k t)$.

    $$ \eta_t = \frac{\eta_0}{1 + k\,\tau_t}, \qquad
       \tau_t = \frac{\max(t - B, 0)}{T} \;\text{or}\;
       \left\lfloor\frac{\max(t - B, 0)}{T}\right\rfloor $$

    where $\eta_0$ is `init_value`, $k$ is `decay_rate`, $T$ is `transition_steps`, $B$ is
    `transition_begin`, and the floor is taken when `staircase` is true. With $T = 1$ this is
    the classic $1/(1 + k t)$ step size, which satisfies the Robbins-Monro conditions
    $\sum_t \eta_t = \infty$, $\sum_t \eta_t^2 < \infty$. Optax has no such schedule.

    Args:
        init_value: value up to step `transition_begin`.
        decay_rate: rate $k \ge 0$; the value has halved once $\tau_t = 1/k$.
        transition_steps: time unit $T > 0$ in steps.
        staircase: if true, $\tau_t$ only changes every `transition_steps` steps.
        transition_begin: step $B \ge 0$ at which the decay starts.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import inverse_time_decay
        >>> print(f"{inverse_time_decay(0.1, decay_rate=1.0)(9):.4f}")
        0.0100
        >>> schedule = inverse_time_decay(1.0, 0.5, transition_steps=10, staircase=True)
        >>> [float(schedule(t)) for t in (0, 19, 20, 60)]
        [1.0, 0.6666666865348816, 0.5, 0.25]
    """
    check_range("init_value", init_value)
    check_nonnegative("decay_rate", decay_rate)
    check_positive("transition_steps", transition_steps)
    check_nonnegative("transition_begin", transition_begin)
    transition_steps, transition_begin = _steps(transition_steps), _steps(transition_begin)

    def schedule(count):
        elapsed = jnp.maximum(_float_count(count) - transition_begin, 0)
        tau = elapsed / transition_steps
        if staircase:
            tau = jnp.floor(tau)
        return init_value / (1 + decay_rate * tau)

    return schedule
