"""Validation of hyperparameters at construction time.

Every factory in gradtx checks its numeric arguments here, so that a bad value raises a
`ValueError` that names the argument and its allowed range *before* anything is traced.
Values that are not concrete (tracers inside `jax.jit`/`jax.vmap`, or schedules) are not
checked: they are only known while the step runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def concrete_value(value: Any) -> float | None:
    """Return `value` as a Python float if it is a concrete real scalar, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, jax.core.Tracer) or callable(value):
        return None
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.shape != () or not jnp.issubdtype(arr.dtype, jnp.number):
        return None
    if np.iscomplexobj(arr):
        return None
    return float(arr)


def interval_text(low, high, low_open, high_open) -> str:
    left = "(" if low_open or low is None else "["
    right = ")" if high_open or high is None else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    return f"{left}{lo}, {hi}{right}"


def check_range(
    name: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise `ValueError` unless the concrete scalar `value` lies in the interval.

    Non-finite values are always rejected. Tracers and schedules are skipped.
    """
    if value is None:
        raise ValueError(
            f"{name} must be a number in {interval_text(low, high, low_open, high_open)}, got None."
        )
    if not callable(value) and not isinstance(value, jax.core.Tracer):
        arr = np.asarray(value) if not isinstance(value, (int, float)) else None
        if isinstance(value, bool) or (arr is not None and arr.shape != ()):
            raise ValueError(f"{name} must be a real scalar, got {value!r}.")
        if arr is not None and not jnp.issubdtype(arr.dtype, jnp.number):
            raise ValueError(f"{name} must be a real scalar, got {value!r}.")
        if arr is not None and np.iscomplexobj(arr):
            raise ValueError(f"{name} must be a real scalar, got complex {value!r}.")
    v = concrete_value(value)
    if v is None:
        return
    interval = interval_text(low, high, low_open, high_open)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v < low or (low_open and v == low)
    if high is not None:
        bad |= v > high or (high_open and v == high)
    if bad:
        raise ValueError(f"{name} must be in {interval}, got {value!r}.")


def check_int(name: str, value: Any, low: int) -> int:
    """A Python (or NumPy) integer ``>= low`` (a count or a size), returned as ``int``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
    return int(value)


def check_nonnegative(name: str, value: Any) -> None:
    """`value` in [0, inf)."""
    check_range(name, value, 0.0, None)


def check_nonnegative_or_inf(name: str, value: Any) -> None:
    """`value` in [0, inf], infinity included (a bound that may be switched off)."""
    v = concrete_value(value)
    if v is not None and not v >= 0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, inf], got {value!r}.")
    if v is None and not callable(value) and not isinstance(value, jax.core.Tracer):
        check_range(name, value, 0.0, None)  # not a real scalar: the usual message


def check_positive(name: str, value: Any) -> None:
    """`value` in (0, inf)."""
    check_range(name, value, 0.0, None, low_open=True)


def check_decay(name: str, value: Any) -> None:
    """A decay rate or beta: `value` in [0, 1)."""
    check_range(name, value, 0.0, 1.0, high_open=True)


def check_finite(name: str, value: Any) -> None:
    """Any finite real number."""
    check_range(name, value)


def check_schedule_or_range(name: str, value: Any, checker: Callable[[str, Any], None]) -> None:
    """Check a constant with `checker`, or a schedule by its value at step 0."""
    if callable(value):
        try:
            first = value(np.int32(0))
        except Exception as err:
            raise ValueError(
                f"{name} is a schedule, so it must be callable as schedule(step) -> scalar; "
                f"calling it at step 0 raised {type(err).__name__}: {err}"
            ) from err
        if np.ndim(first) != 0:
            raise ValueError(
                f"{name} is a schedule and must return a scalar, got shape {np.shape(first)}."
            )
        checker(f"{name} (schedule at step 0)", first)
    else:
        checker(name, value)


def check_choice(name: str, value: Any, choices: tuple) -> None:
    """`value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices!r}, got {value!r}.")


def key_data(name: str, key: Any) -> Any:
    """An int seed, a typed JAX key or raw key data (``None``: seed 0), as raw ``uint32`` key
    data for a state; anything else raises ``ValueError`` naming the argument."""
    key = 0 if key is None else key
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return jax.random.key_data(jax.random.key(int(key)))
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(key)
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32:
        return jnp.asarray(key)
    raise ValueError(f"{name} must be an int seed or a JAX random key, got {key!r}.")


def check_dtype(name: str, dtype: Any) -> Any:
    """Canonicalize an optional accumulator dtype, with a clear error if it is not a float."""
    if dtype is None:
        return None
    try:
        dt = jnp.dtype(dtype)
    except TypeError as err:
        raise ValueError(f"{name} must be a floating dtype or None, got {dtype!r}.") from err
    if not jnp.issubdtype(dt, jnp.inexact):
        raise ValueError(f"{name} must be a floating dtype or None, got {dtype!r}.")
    return jax.dtypes.canonicalize_dtype(dt)
