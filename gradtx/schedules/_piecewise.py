r"""Piecewise schedules: a value scaled at boundary steps, held constant or interpolated.

``boundaries_and_scales`` is a dict ``{step: scale}``; the value after a boundary is the
running product of the scales so far. The one-cycle schedules (``_cosine.py``) are built on
the same interpolation.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp

from .._base import Schedule
from .._validate import check_choice, check_nonnegative, check_range
from ._basic import _broadcast, _float_count, _steps


def _sorted_boundaries(
    boundaries_and_scales: Mapping[int, float] | None,
) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """Check `{boundary: scale}` (boundaries and scales >= 0); return both, sorted by step."""
    if not boundaries_and_scales:
        return (), ()
    if not isinstance(boundaries_and_scales, Mapping):
        raise ValueError(
            "boundaries_and_scales must be a dict {step: scale} or None, "
            f"got {type(boundaries_and_scales).__name__}."
        )
    for boundary, scale in boundaries_and_scales.items():
        check_nonnegative(f"boundaries_and_scales step {boundary!r}", boundary)
        check_nonnegative(f"boundaries_and_scales[{boundary!r}] (a scale)", scale)
    boundaries, scales = zip(*sorted(boundaries_and_scales.items()), strict=True)
    return tuple(_steps(b) for b in boundaries), scales


def piecewise_constant_schedule(
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Mapping[int, float] | None = None,
) -> Schedule:
    r"""A constant value multiplied by a scale at each boundary step.

    $$ \eta_t = \eta_0 \prod_{i \,:\, t \ge b_i} s_i $$

    where $\eta_0$ is `init_value` and `boundaries_and_scales` is the dict $\{b_i: s_i\}$.

    Args:
        init_value: value before the first boundary.
        boundaries_and_scales: dict from step $b_i \ge 0$ to the scale $s_i \ge 0$ that
            multiplies the value from that step on; `None` or `{}` gives a constant.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import piecewise_constant_schedule
        >>> schedule = piecewise_constant_schedule(1.0, {100: 0.5, 200: 0.5})
        >>> [float(schedule(t)) for t in (99, 100, 250)]
        [1.0, 0.5, 0.25]
    """
    check_range("init_value", init_value)
    boundaries, scales = _sorted_boundaries(boundaries_and_scales)

    def schedule(count):
        count = jnp.asarray(count)
        value = _broadcast(init_value, count)
        for boundary, scale in zip(boundaries, scales, strict=True):
            value = jnp.where(count >= boundary, value * scale, value)
        return value

    return schedule


def _linear_interpolate(start, end, fraction):
    """Straight line from `start` (fraction 0) to `end` (fraction 1)."""
    return (end - start) * fraction + start


def _cosine_interpolate(start, end, fraction):
    """Half cosine from `start` (fraction 0) to `end` (fraction 1), flat at both ends."""
    return end + (start - end) / 2 * (jnp.cos(jnp.pi * fraction) + 1)


_INTERPOLATORS = {"linear": _linear_interpolate, "cosine": _cosine_interpolate}


def _interpolated(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries: Sequence[int],
    scales: Sequence[float],
) -> Schedule:
    """Interpolate between the running products of `scales` at sorted `boundaries`.

    Boundaries may repeat (a zero-length segment is a jump). Used by the piecewise and
    one-cycle schedules.
    """
    interpolate = _INTERPOLATORS[interpolate_type]
    starts = (0, *boundaries)

    def schedule(count):
        count = jnp.asarray(count)
        t = _float_count(count)
        values = [jnp.asarray(init_value)]
        for scale in scales:
            values.append(values[-1] * scale)
        value = _broadcast(values[0], count)
        for i, (start, stop) in enumerate(itertools.pairwise(starts)):
            fraction = (t - start) / max(stop - start, 1)
            segment = interpolate(values[i], values[i + 1], fraction)
            value = jnp.where(count >= start, segment, value)
        return jnp.where(count >= starts[-1], values[-1], value)

    return schedule


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: Mapping[int, float] | None = None,
) -> Schedule:
    r"""Linear or cosine interpolation between scaled values at boundary steps.

    With $b_0 = 0$, $v_0 = \eta_0$ and $v_i = v_{i-1} s_i$, for $b_i \le t < b_{i+1}$:

    $$ \eta_t = \begin{cases} v_i + (v_{i+1} - v_i)\,f & \text{linear} \\
       v_{i+1} + \tfrac12 (v_i - v_{i+1})\left(1 + \cos \pi f\right) & \text{cosine}
       \end{cases}, \qquad f = \frac{t - b_i}{\max(b_{i+1} - b_i, 1)} $$

    and $\eta_t = v_n$ for $t \ge b_n$, where $\eta_0$ is `init_value` and
    `boundaries_and_scales` is $\{b_i: s_i\}$. Note that the schedule interpolates between the
    accumulated products $v_i$, not between the scales themselves.

    Args:
        interpolate_type: `"linear"` or `"cosine"`.
        init_value: value at step 0.
        boundaries_and_scales: dict from step $b_i \ge 0$ to scale $s_i \ge 0$; the value
            reaches $v_i$ at step $b_i$. `None` or `{}` gives a constant.

    Returns:
        A `Schedule`.

    Example:
        >>> from gradtx.schedules import piecewise_interpolate_schedule
        >>> schedule = piecewise_interpolate_schedule("linear", 1.0, {4: 0.5, 8: 0.5})
        >>> [float(schedule(t)) for t in (0, 2, 4, 6, 8, 10)]
        [1.0, 0.75, 0.5, 0.375, 0.25, 0.25]
    """
    check_choice("interpolate_type", interpolate_type, tuple(_INTERPOLATORS))
    check_range("init_value", init_value)
    boundaries, scales = _sorted_boundaries(boundaries_and_scales)
    return _interpolated(interpolate_type, init_value, boundaries, scales)
