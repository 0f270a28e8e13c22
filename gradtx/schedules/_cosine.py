r"""Cosine, warmup, one-cycle and warm-restart schedules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from .._validate import check_nonnegative, check_positive, check_range
from ._basic import (
    Schedule,
    _float_count,
    _steps,
    constant_schedule,
    exponential_decay,
    linear_schedule,
)
from ._combine import join_schedules
from ._piecewise import _interpolated


def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    r"""Cosine decay from `init_value` to `alpha * init_value` over `decay_steps` steps.

    $$ \eta_t = \eta_0\left[(1 - \alpha)\left(\tfrac12\left(1 + \cos\frac{\pi \min(t, T)}{T}
       \right)\right)^{p} + \alpha\right] $$

    where $\eta_0$ is `init_value`, $T$ is `decay_steps`, $\alpha$ is `alpha` and $p$ is
    `exponent`. After step $T$ the value stays at $\alpha\eta_0$.

    Args:
        init_value: value at step 0.
        decay_steps: length $T > 0$ of the decay.
        alpha: final value as a fraction of `init_value`.
        exponent: power $p \ge 0$ applied to the cosine factor.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import cosine_decay_schedule
        >>> schedule = cosine_decay_schedule(1.0, decay_steps=100, alpha=0.5)
        >>> [round(float(schedule(t)), 4) for t in (0, 50, 100, 200)]
        [1.0, 0.75, 0.5, 0.5]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017, arXiv:1608.03983.
    """
    check_range("init_value", init_value)
    check_positive("decay_steps", decay_steps)
    check_range("alpha", alpha)
    check_nonnegative("exponent", exponent)
    decay_steps = _steps(decay_steps)

    def schedule(count):
        t = jnp.minimum(_float_count(count), decay_steps)
        cosine = 0.5 * (1 + jnp.cos(jnp.pi * t / decay_steps))
        return init_value * ((1 - alpha) * cosine**exponent + alpha)

    return schedule


def _check_warmup(warmup_steps: Any) -> None:
    check_nonnegative("warmup_steps", warmup_steps)


def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    r"""Linear warmup to `peak_value`, then cosine decay to `end_value`.

    $$ \eta_t = \begin{cases} \eta_0 + (\hat\eta - \eta_0)\, t / W & t < W \\
       \eta_T + (\hat\eta - \eta_T)\left(\tfrac12\left(1 + \cos\frac{\pi\min(t - W, T - W)}
       {T - W}\right)\right)^{p} & t \ge W \end{cases} $$

    where $\eta_0$ is `init_value`, $\hat\eta$ is `peak_value`, $W$ is `warmup_steps`, $T$ is
    `decay_steps` (which includes the warmup), $\eta_T$ is `end_value` and $p$ is `exponent`.
    As in Optax, a `peak_value` of 0 gives 0 after the warmup whatever `end_value` is.

    Args:
        init_value: value at step 0.
        peak_value: value at the end of the warmup.
        warmup_steps: length $W \ge 0$ of the linear warmup.
        decay_steps: total length $T > W$ of the schedule, warmup included.
        end_value: value from step `decay_steps` on.
        exponent: power $p \ge 0$ applied to the cosine factor.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import warmup_cosine_decay_schedule
        >>> schedule = warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=10, decay_steps=110)
        >>> [round(float(schedule(t)), 4) for t in (0, 5, 10, 60, 110, 500)]
        [0.0, 0.5, 1.0, 0.5, 0.0, 0.0]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017,
        arXiv:1706.02677 (warmup). Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent
        with Warm Restarts", ICLR 2017, arXiv:1608.03983 (cosine).
    """
    _check_warmup(warmup_steps)
    check_positive("decay_steps", decay_steps)
    if decay_steps <= warmup_steps:
        raise ValueError(
            f"decay_steps must be greater than warmup_steps={warmup_steps!r} (decay_steps "
            f"counts the warmup too), got {decay_steps!r}."
        )
    check_range("peak_value", peak_value)
    check_range("end_value", end_value)
    alpha = 0.0 if peak_value == 0 else end_value / peak_value
    warmup = linear_schedule(init_value, peak_value, warmup_steps)
    decay = cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)
    return join_schedules([warmup, decay], [warmup_steps])


def warmup_exponential_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    r"""Linear warmup to `peak_value`, then `exponential_decay`.

    $$ \eta_t = \begin{cases} \eta_0 + (\hat\eta - \eta_0)\, t / W & t < W \\
       \operatorname{exponential\_decay}(\hat\eta, T, \gamma, B)(t - W) & t \ge W \end{cases} $$

    where $\eta_0$ is `init_value`, $\hat\eta$ is `peak_value`, $W$ is `warmup_steps`, $T$ is
    `transition_steps`, $\gamma$ is `decay_rate` and $B$ is `transition_begin` (counted from
    the end of the warmup); `staircase` and `end_value` are as in `exponential_decay`.

    Args:
        init_value: value at step 0.
        peak_value: value at the end of the warmup, held for `transition_begin` more steps.
        warmup_steps: length $W \ge 0$ of the linear warmup.
        transition_steps: steps $T \ge 0$ per factor of `decay_rate` (0: constant peak).
        decay_rate: factor $\gamma > 0$ per `transition_steps` steps.
        transition_begin: steps $B \ge 0$ after the warmup before the decay starts.
        staircase: if true, decay in discrete jumps.
        end_value: optional floor (when decaying) or ceiling (when growing).

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import warmup_exponential_decay_schedule
        >>> schedule = warmup_exponential_decay_schedule(
        ...     0.0, 1.0, warmup_steps=10, transition_steps=10, decay_rate=0.5)
        >>> [float(schedule(t)) for t in (0, 5, 10, 20, 30)]
        [0.0, 0.5, 1.0, 0.5, 0.25]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017,
        arXiv:1706.02677.
    """
    _check_warmup(warmup_steps)
    warmup = linear_schedule(init_value, peak_value, warmup_steps)
    decay = exponential_decay(
        peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value
    )
    return join_schedules([warmup, decay], [warmup_steps])


def warmup_constant_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
) -> Schedule:
    r"""Linear warmup to `peak_value`, then constant.

    $$ \eta_t = \eta_0 + (\hat\eta - \eta_0)\,\frac{\min(t, W)}{W} $$

    where $\eta_0$ is `init_value`, $\hat\eta$ is `peak_value` and $W$ is `warmup_steps`.
    With $W = 0$ the schedule is the constant `peak_value` (Optax returns `init_value` there,
    which would leave a warmup from 0 stuck at 0).

    Args:
        init_value: value at step 0.
        peak_value: value from step `warmup_steps` on.
        warmup_steps: length $W \ge 0$ of the linear warmup.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import warmup_constant_schedule
        >>> schedule = warmup_constant_schedule(0.0, 1.0, warmup_steps=4)
        >>> [float(schedule(t)) for t in (0, 1, 4, 100)]
        [0.0, 0.25, 1.0, 1.0]

    References:
        Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour", 2017,
        arXiv:1706.02677.
    """
    _check_warmup(warmup_steps)
    warmup = linear_schedule(init_value, peak_value, warmup_steps)
    return join_schedules([warmup, constant_schedule(peak_value)], [warmup_steps])


def _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor):
    check_positive("transition_steps", transition_steps)
    check_range("peak_value", peak_value)
    check_range("pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    check_positive("div_factor", div_factor)
    check_positive("final_div_factor", final_div_factor)


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One-cycle schedule: cosine rise to `peak_value`, then cosine fall to near zero.

    With $S = \lfloor \rho T \rfloor$, $\eta_{\mathrm{start}} = \hat\eta / d$ and
    $\eta_{\mathrm{end}} = \hat\eta / (d f)$, and $c(a, b, x) = b + \tfrac12 (a - b)(1 + \cos
    \pi x)$ the half-cosine from $a$ at $x = 0$ to $b$ at $x = 1$:

    $$ \eta_t = \begin{cases} c(\eta_{\mathrm{start}}, \hat\eta, t / S) & t < S \\
       c(\hat\eta, \eta_{\mathrm{end}}, (t - S)/(T - S)) & S \le t < T \\
       \eta_{\mathrm{end}} & t \ge T \end{cases} $$

    where $T$ is `transition_steps`, $\hat\eta$ is `peak_value`, $\rho$ is `pct_start`, $d$
    is `div_factor` and $f$ is `final_div_factor`.

    Args:
        transition_steps: length $T > 0$ of the cycle.
        peak_value: value $\hat\eta$ reached at step $\lfloor \rho T \rfloor$.
        pct_start: fraction $\rho \in (0, 1)$ of the cycle spent rising.
        div_factor: the cycle starts at `peak_value / div_factor`.
        final_div_factor: the cycle ends at `peak_value / (div_factor * final_div_factor)`.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import cosine_onecycle_schedule
        >>> schedule = cosine_onecycle_schedule(100, 1.0, pct_start=0.5, div_factor=4.0,
        ...                                     final_div_factor=0.5)
        >>> [round(float(schedule(t)), 4) for t in (0, 25, 50, 75, 100, 200)]
        [0.25, 0.625, 1.0, 0.75, 0.5, 0.5]

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2018, arXiv:1708.07120.
    """
    _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    boundaries = (int(pct_start * transition_steps), int(transition_steps))
    scales = (div_factor, 1.0 / (div_factor * final_div_factor))
    return _interpolated("cosine", peak_value / div_factor, boundaries, scales)


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One-cycle schedule in three linear phases: up, down, then annihilation.

    With $S_1 = \lfloor \rho_1 T \rfloor$, $S_2 = \lfloor \rho_2 T \rfloor$ and
    $\eta_{\mathrm{start}} = \hat\eta / d$, the value goes linearly from
    $\eta_{\mathrm{start}}$ at step 0 to $\hat\eta$ at step $S_1$, back to
    $\eta_{\mathrm{start}}$ at step $S_2$, then to $\eta_{\mathrm{end}} = \hat\eta / (d f)$ at
    step $T$, and stays there:

    $$ \eta_t = \begin{cases}
       \eta_{\mathrm{start}} + (\hat\eta - \eta_{\mathrm{start}})\, t / S_1 & t < S_1 \\
       \hat\eta + (\eta_{\mathrm{start}} - \hat\eta)(t - S_1)/(S_2 - S_1) & S_1 \le t < S_2 \\
       \eta_{\mathrm{start}} + (\eta_{\mathrm{end}} - \eta_{\mathrm{start}})(t - S_2)/(T - S_2)
       & S_2 \le t < T \\
       \eta_{\mathrm{end}} & t \ge T \end{cases} $$

    where $T$ is `transition_steps`, $\hat\eta$ is `peak_value`, $\rho_1$ is `pct_start`,
    $\rho_2$ is `pct_final`, $d$ is `div_factor` and $f$ is `final_div_factor`. A phase whose
    steps round to zero length is skipped (a jump), rather than dropped as in Optax.

    Args:
        transition_steps: length $T > 0$ of the cycle.
        peak_value: value $\hat\eta$ reached at step $\lfloor \rho_1 T \rfloor$.
        pct_start: fraction $\rho_1 \in (0, 1)$ of the cycle spent rising.
        pct_final: fraction $\rho_2 \in (\rho_1, 1]$ of the cycle at which the value is back
            at `peak_value / div_factor`.
        div_factor: the cycle starts at `peak_value / div_factor`.
        final_div_factor: the cycle ends at `peak_value / (div_factor * final_div_factor)`.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import linear_onecycle_schedule
        >>> schedule = linear_onecycle_schedule(100, 1.0, pct_start=0.25, pct_final=0.75,
        ...                                     div_factor=4.0, final_div_factor=2.0)
        >>> [round(float(schedule(t)), 4) for t in (0, 25, 50, 75, 100, 200)]
        [0.25, 1.0, 0.625, 0.25, 0.125, 0.125]

    References:
        Smith & Topin, "Super-Convergence: Very Fast Training of Neural Networks Using Large
        Learning Rates", 2018, arXiv:1708.07120.
    """
    _check_onecycle(transition_steps, peak_value, pct_start, div_factor, final_div_factor)
    check_range("pct_final", pct_final, pct_start, 1.0, low_open=True)
    boundaries = (
        int(pct_start * transition_steps),
        int(pct_final * transition_steps),
        int(transition_steps),
    )
    scales = (div_factor, 1.0 / div_factor, 1.0 / final_div_factor)
    return _interpolated("linear", peak_value / div_factor, boundaries, scales)


def sgdr_schedule(cosine_kwargs: Iterable[Mapping[str, Any]]) -> Schedule:
    r"""SGD with warm restarts: warmup-cosine cycles joined end to end.

    Cycle $k$ is `warmup_cosine_decay_schedule(**cosine_kwargs[k])` and lasts its
    `decay_steps` $T_k$ steps; with $c_k = \sum_{j < k} T_j$ the start of cycle $k$,

    $$ \eta_t = \eta^{(k)}(t - c_k) \quad \text{for } c_k \le t < c_{k+1}, $$

    and the last cycle continues (at its `end_value`) after it ends.

    Args:
        cosine_kwargs: a non-empty iterable of dicts of `warmup_cosine_decay_schedule`
            arguments, one per cycle; each must include `decay_steps`.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import sgdr_schedule
        >>> cycle = dict(init_value=0.0, peak_value=1.0, warmup_steps=10, decay_steps=110)
        >>> schedule = sgdr_schedule([cycle, cycle])
        >>> [round(float(schedule(t)), 4) for t in (10, 60, 110, 115, 120, 170)]
        [1.0, 0.5, 0.0, 0.5, 1.0, 0.5]

    References:
        Loshchilov & Hutter, "SGDR: Stochastic Gradient Descent with Warm Restarts",
        ICLR 2017, arXiv:1608.03983.
    """
    cosine_kwargs = list(cosine_kwargs)
    if not cosine_kwargs:
        raise ValueError("cosine_kwargs must hold at least one cycle, got none.")
    schedules, boundaries, start = [], [], 0
    for i, kwargs in enumerate(cosine_kwargs):
        if not isinstance(kwargs, Mapping) or "decay_steps" not in kwargs:
            raise ValueError(
                f"cosine_kwargs[{i}] must be a dict of warmup_cosine_decay_schedule arguments "
                f"that includes decay_steps, got {kwargs!r}."
            )
        try:
            schedules.append(warmup_cosine_decay_schedule(**kwargs))
        except (TypeError, ValueError) as err:
            raise ValueError(f"cosine_kwargs[{i}]: {err}") from err
        start += kwargs["decay_steps"]
        boundaries.append(start)
    return join_schedules(schedules, boundaries[:-1])
