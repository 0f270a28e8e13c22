"""Hyperparameter declarations: what each argument of a factory accepts, written once.

Every argument of a registered optimizer has one :class:`Hyperparameter`: its kind and the
values it accepts. The kinds are

* **live** -- a real number (or a schedule of the step) stored in the optimizer state: read
  it with :func:`gradtx.get_hyperparams`, change it with :func:`gradtx.set_hyperparams`
  without recompiling. Live values are floats (the default float dtype, or
  ``inject_hyperparams(..., hyperparam_dtype=)``); an integer is never live.
* **static** -- a Python value fixed at construction: a flag, a choice, a count or size, or a
  number that sets the initial state. It is checked once and never traced.
* **structural** -- an object that is not a number: a mask, a dtype, a random key, a
  function, a tree or another transform.

The same declaration is read by the factory's validation (at construction),
:func:`gradtx.inject_hyperparams`, :func:`gradtx.set_hyperparams` (through the state), the
registry (:attr:`gradtx.OptimizerInfo.hyperparams`) and the documentation tables, so a
value is accepted by ``set_hyperparams`` exactly when the constructor accepts it.

Names have one meaning across the library (:data:`STANDARD`): ``learning_rate`` is always
$\\ge 0$, ``b1`` always in $[0, 1)$. An optimizer declares only its other arguments.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from gradtx import _validate

LIVE, STATIC, STRUCTURAL = "live", "static", "structural"


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """The declaration of one argument.

    Attributes:
      kind: ``"live"``, ``"static"`` or ``"structural"`` (see the module docstring).
      low, high, low_open, high_open: the interval a number must lie in (``None``: no
        bound); non-finite numbers are always refused.
      optional: ``None`` is accepted too (it turns the feature off, so it is never live).
      check: a validator ``check(name, value)`` for what an interval cannot say (a choice,
        an integer, a dtype, a key); it raises ``ValueError`` naming the argument.
      allowed: the accepted values in words, for messages and the documentation.
    """

    kind: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    check: Callable[[str, Any], None] | None = None
    allowed: str = ""

    @property
    def is_interval(self) -> bool:
        return self.check is None and self.kind != STRUCTURAL

    def describe(self) -> str:
        """The accepted values in words: ``"[0, 1)"``, ``"True or False"``, ..."""
        text = self.allowed or (
            _validate.interval_text(self.low, self.high, self.low_open, self.high_open)
            if self.is_interval
            else ""
        )
        return f"{text} or None" if self.optional and text else text

    def validate(self, name: str, value: Any) -> None:
        """Raise ``ValueError`` naming ``name`` unless ``value`` is accepted.

        A schedule (live only) is checked at step 0; tracers are not checked.
        """
        if value is None and self.optional:
            return
        if self.check is not None:
            self.check(name, value)
            return
        if self.kind == STRUCTURAL:
            return
        if self.kind == STATIC and callable(value):
            raise ValueError(
                f"{name} must be a fixed number in {self.describe()} (it is fixed at "
                f"construction), not a schedule; got {value!r}."
            )
        checker = lambda n, v: _validate.check_range(
            n, v, self.low, self.high, low_open=self.low_open, high_open=self.high_open
        )
        _validate.check_schedule_or_range(name, value, checker)


def live(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Hyperparameter:
    """A live real number in the interval (a schedule is accepted too)."""
    return Hyperparameter(LIVE, low, high, low_open, high_open, optional)


def fixed(
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    optional: bool = False,
) -> Hyperparameter:
    """A real number fixed at construction (it sets the initial state or a shape)."""
    return Hyperparameter(STATIC, low, high, low_open, high_open, optional)


def _check_flag(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")


def _choice_check(choices: tuple[Any, ...]) -> Callable[[str, Any], None]:
    return lambda name, value: _validate.check_choice(name, value, choices)


def choice(*choices: Any, optional: bool = False) -> Hyperparameter:
    """One of ``choices`` (strings), fixed at construction."""
    allowed = " or ".join(repr(c) for c in choices)
    return Hyperparameter(STATIC, optional=optional, check=_choice_check(choices), allowed=allowed)


def _count_check(low: int) -> Callable[[str, Any], None]:
    return lambda name, value: _validate.check_int(name, value, low)


def count(low: int = 0, *, optional: bool = False) -> Hyperparameter:
    """A Python integer ``>= low`` (a number of steps, a size), fixed at construction."""
    return Hyperparameter(
        STATIC, optional=optional, check=_count_check(low), allowed=f"an integer >= {low}"
    )


def function_of_step(low: float | None = None, *, optional: bool = False) -> Hyperparameter:
    """A function of the step (or a constant) with values ``>= low``, fixed at construction:
    unlike a schedule of a live hyperparameter, its value is not kept in the state."""

    def check(name: str, value: Any) -> None:
        _validate.check_schedule_or_range(
            name, value, lambda n, v: _validate.check_range(n, v, low)
        )

    text = "a function of the step" + (f" with values >= {low:g}" if low is not None else "")
    return Hyperparameter(STRUCTURAL, optional=optional, check=check, allowed=text)


def structural(
    check: Callable[[str, Any], None] | None = None, allowed: str = "", optional: bool = False
) -> Hyperparameter:
    """An object that is not a number (checked by ``check``, if given)."""
    return Hyperparameter(STRUCTURAL, optional=optional, check=check, allowed=allowed)


def _check_dtype(name: str, value: Any) -> None:
    _validate.check_dtype(name, value)


def _check_key(name: str, value: Any) -> None:
    _validate.key_data(name, value)


def _check_callable(name: str, value: Any) -> None:
    if not callable(value):
        raise ValueError(f"{name} must be a function, got {value!r}.")


def _check_transform(name: str, value: Any) -> None:
    if not (callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))):
        raise ValueError(
            f"{name} must be a gradient transformation with `init` and `update`, got {value!r}."
        )


def _check_betas(name: str, value: Any) -> None:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2), got {value!r}.")
    for i, beta in enumerate(value):
        _validate.check_decay(f"{name}[{i}]", beta)


def _check_whole(name: str, value: Any) -> None:
    v = _validate.concrete_value(value)
    if isinstance(value, bool) or v is None or not np.isfinite(v) or v < 0 or v != int(v):
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}.")


def _check_batch_dims(name: str, value: Any) -> None:
    from gradtx.transforms._batch_dims import check_batch_dims  # (imports transforms)

    check_batch_dims(value, name)


def positive_unless(name: str, other: str) -> Callable[[dict[str, Any]], None]:
    """A joint check: ``values[name] > 0`` when ``values[other]`` is ``None`` (``name`` then
    stands in for ``other``)."""

    def check(values: dict[str, Any]) -> None:
        if values.get(other) is None:
            what = f"{name} (used for {other}, which is None)"
            _validate.check_range(what, values.get(name), 0.0, None, low_open=True)

    return check


def ordered(low_name: str, high_name: str) -> Callable[[dict[str, Any]], None]:
    """A joint check: ``values[low_name] <= values[high_name]`` (when both are known)."""

    def check(values: dict[str, Any]) -> None:
        lo = _validate.concrete_value(values.get(low_name))
        hi = _validate.concrete_value(values.get(high_name))
        if lo is not None and hi is not None and hi < lo:
            raise ValueError(f"{high_name} must be >= {low_name}, got {hi!r} < {lo!r}.")

    return check


NONNEGATIVE = live(0.0)
POSITIVE = live(0.0, low_open=True)
DECAY = live(0.0, 1.0, high_open=True)
FRACTION = live(0.0, 1.0)
FINITE = live()
FLAG = Hyperparameter(STATIC, check=_check_flag, allowed="True or False")
MASK = structural(allowed="a tree of bools, or a function params -> tree of bools", optional=True)
DTYPE = structural(_check_dtype, "a floating dtype", optional=True)
KEY = structural(_check_key, "an int seed or a JAX random key", optional=True)
FUNCTION = structural(_check_callable, "a function")
TRANSFORM = structural(_check_transform, "a gradient transformation")
ANY = structural()
BETAS = structural(_check_betas, "a pair of numbers in [0, 1)")
WHOLE = Hyperparameter(STATIC, check=_check_whole, allowed="a whole number >= 0")
BATCH_DIMS = structural(_check_batch_dims, "an integer >= 0, a tree of them, or a function", True)

# The library-wide names (see STYLE.md): an argument with one of these names means the same
# thing in every optimizer, so it needs no declaration of its own.
STANDARD: dict[str, Hyperparameter] = {
    "learning_rate": NONNEGATIVE,
    "b1": DECAY,
    "b2": DECAY,
    "decay": DECAY,
    "rho": DECAY,
    "momentum": live(0.0, 1.0, high_open=True, optional=True),
    "eps": NONNEGATIVE,
    "eps_root": NONNEGATIVE,
    "weight_decay": NONNEGATIVE,
    "nesterov": FLAG,
    "mask": MASK,
    "weight_decay_mask": MASK,
    "mu_dtype": DTYPE,
    "nu_dtype": DTYPE,
    "accumulator_dtype": DTYPE,
    "state_dtype": DTYPE,
    "key": KEY,
    "batch_dims": BATCH_DIMS,
}


def standard(name: str, default: Any = inspect.Parameter.empty) -> Hyperparameter:
    """The declaration of an argument that its factory does not declare.

    A library-wide name has its :data:`STANDARD` meaning. Otherwise: masks and dtypes are
    structural; an integer default marks a count or a size (static); a real default a live
    number (any finite value); anything else is structural.
    """
    if name in STANDARD:
        return STANDARD[name]
    if name.endswith("_mask"):
        return MASK
    if name.endswith("_dtype") or name.startswith("dtype_"):
        return DTYPE
    if isinstance(default, (bool, np.bool_)):
        return FLAG
    if isinstance(default, (int, np.integer)):
        return Hyperparameter(STATIC)
    if isinstance(default, (float, np.floating)) or default is inspect.Parameter.empty:
        return FINITE
    return ANY


@jax.tree_util.register_static
@dataclasses.dataclass(frozen=True)
class Rules:
    """The declarations of a factory's live hyperparameters, kept in its state.

    It is a pytree node with no leaves (static data), so it costs nothing in the state and a
    checkpoint does not store it; :func:`gradtx.set_hyperparams` reads it to validate a new
    value exactly as the constructor would.

    Attributes:
      owner: the factory's name, for messages.
      specs: ``(name, Hyperparameter)`` of every argument that is live in this state.
      joint: an optional check of several values together, ``joint(values)`` with a dict
        of the values by name (e.g. ``min_step_size <= max_step_size``); it skips values
        that are not concrete.
      fixed: ``(name, value)`` of the static arguments that are plain numbers, strings or
        ``None``, which a joint check may need (DoWG's ``eps`` must be positive when
        ``init_estim_sq_dist`` is ``None``).
    """

    owner: str
    specs: tuple[tuple[str, Hyperparameter], ...]
    joint: Callable[[dict[str, Any]], None] | None = None
    fixed: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        return f"Rules({self.owner})"

    def validate(self, name: str, value: Any, current: dict[str, Any]) -> None:
        """Validate ``value`` for ``name`` given the other current values."""
        dict(self.specs)[name].validate(name, value)
        if self.joint is not None:
            self.joint({**dict(self.fixed), **current, name: value})
