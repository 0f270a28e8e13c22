"""Live hyperparameters: readable and settable by name, never recompiling.

:func:`inject_hyperparams` turns a factory ``f(**hyperparams) -> GradientTransformation``
into one whose numeric hyperparameters live in the optimizer *state* as scalar arrays.
The factory is called again (at trace time only) inside every ``update`` with those
arrays, so the compiled step takes the hyperparameters as inputs: changing one between
steps changes an input value, not the program, and nothing is retraced or recompiled.
Every optimizer alias in gradtx is built this way (see :func:`optimizer`).

A hyperparameter given as a *schedule* (a callable of the step) is evaluated at the
state's step count before each update; its current value is readable like the others,
but it cannot be set (:func:`set_hyperparams` raises), because the schedule owns it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, check_state_type


class InjectState(NamedTuple):
    """State of a transform with live hyperparameters.

    Attributes:
      count: int32 number of updates applied so far (saturating).
      hyperparams: current value of every numeric hyperparameter, by name.
      scheduled: the names of the hyperparameters that follow a schedule (values ``None``;
        the dict's keys are part of the static tree structure, so they cost no memory).
      inner_state: the state of the transform built from the hyperparameters.
    """

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    scheduled: dict[str, None]
    inner_state: Any


def _is_numeric(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    if isinstance(value, (jax.Array, np.ndarray)):
        return np.ndim(value) == 0 and jnp.issubdtype(jnp.result_type(value), jnp.number)
    return False


def _takes_functions(sig: inspect.Signature, name: str) -> bool:
    """A static argument whose default is not a number (e.g. ``None``, a tree or a function,
    like Muon's ``muon_weight_dimension_numbers``) may be given as a function."""
    default = sig.parameters[name].default
    return default is not inspect.Parameter.empty and not _is_numeric(default)


def _never_live(name: str) -> bool:
    """Masks and dtypes are structural arguments, never live hyperparameters."""
    return name == "mask" or name.endswith(("_mask", "_dtype")) or name.startswith("dtype_")


def _float_dtype() -> Any:
    return jnp.result_type(float)


def inject_hyperparams(
    factory: Callable[..., GradientTransformation],
    static_args: Iterable[str] = (),
) -> Callable[..., GradientTransformation]:
    """Wrap ``factory`` so that its numeric hyperparameters are stored in the state.

    Args:
      factory: a function returning a :class:`GradientTransformation`; it must accept its
        numeric hyperparameters as traced scalars (gradtx factories do).
      static_args: names of arguments that must stay Python values even when numeric
        (they fix shapes or the state layout, or are used only in ``init``).

    Returns:
      A factory with the same signature whose transforms have an :class:`InjectState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.inject_hyperparams(gradtx.trace)(decay=0.9)
      >>> state = tx.init(jnp.zeros(3))
      >>> float(state.hyperparams["decay"])
      0.8999999761581421
    """
    static_args = frozenset(static_args)
    sig = inspect.signature(factory)
    unknown = static_args - set(sig.parameters)
    if unknown:
        raise ValueError(f"static_args {sorted(unknown)} are not arguments of {factory.__name__}")

    @functools.wraps(factory)
    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{factory.__name__}: {err}") from None
        bound.apply_defaults()
        static, numeric, schedules = {}, {}, {}
        for name, value in bound.arguments.items():
            if name in static_args or _never_live(name):
                if callable(value) and not _never_live(name) and not _takes_functions(sig, name):
                    raise ValueError(
                        f"{factory.__name__}: {name} must be a fixed number (it sets the "
                        f"initial state), not a schedule; got {value!r}."
                    )
                static[name] = value
            elif _is_numeric(value):
                numeric[name] = value
            elif callable(value):
                schedules[name] = value
            else:
                static[name] = value
        # Validate under the caller's own argument names ("b1", not the primitive's "decay").
        for name, value in {**numeric, **schedules}.items():
            _validate.check_hyperparam(name, value)
        for name, value in static.items():
            if name.endswith("_dtype"):
                _validate.check_dtype(name, value)
        # Build once with concrete values: the factory validates them (schedules at step 0).
        first = {n: fn(np.int32(0)) for n, fn in schedules.items()}
        factory(**static, **numeric, **first)

        def current(hyperparams):
            return factory(**static, **hyperparams)

        def init(params):
            dtype = _float_dtype()
            values = {n: jnp.asarray(v, dtype=dtype) for n, v in {**numeric, **first}.items()}
            values = {n: values[n] for n in bound.arguments if n in values}  # signature order
            inner = current(values).init(params)
            return InjectState(_tree.zero_count(), values, dict.fromkeys(schedules), inner)

        expected = sorted({*numeric, *schedules})

        def update(updates, state, params=None, **extra):
            check_state_type(state, InjectState, factory.__name__)
            if sorted(state.hyperparams) != expected:
                raise ValueError(
                    f"{factory.__name__} expects a state with hyperparameters {expected}, got one "
                    f"with {sorted(state.hyperparams)}: a state from another optimizer?"
                )
            values = dict(state.hyperparams)
            for name, fn in schedules.items():
                values[name] = jnp.asarray(fn(state.count), dtype=values[name].dtype)
            updates, inner = current(values).update(updates, state.inner_state, params, **extra)
            new_state = InjectState(
                _tree.safe_increment(state.count), values, state.scheduled, inner
            )
            return updates, new_state

        return GradientTransformation(init, update)

    return wrapped


# ---------------------------------------------------------------------------------------
# Reading and writing hyperparameters in a (possibly nested) state.


def _find(state: Any, path: str = "") -> list[tuple[str, InjectState]]:
    found = []
    if isinstance(state, InjectState):
        found.append((path, state))
        found += _find(state.inner_state, f"{path}.inner_state" if path else "inner_state")
    elif isinstance(state, dict):
        for k, v in state.items():
            found += _find(v, f"{path}.{k}" if path else str(k))
    elif isinstance(state, (tuple, list)):
        keys = state._fields if hasattr(state, "_fields") else range(len(state))
        for key, v in zip(keys, state):
            found += _find(v, f"{path}.{key}" if path else str(key))
    return found


def _index(state: Any) -> dict[str, tuple[str, str]]:
    """Map each public key to (path of its InjectState, hyperparameter name)."""
    entries = [(p, n) for p, s in _find(state) for n in s.hyperparams]
    counts: dict[str, int] = {}
    for _, n in entries:
        counts[n] = counts.get(n, 0) + 1
    return {(n if counts[n] == 1 else f"{p}/{n}"): (p, n) for p, n in entries}


def get_hyperparams(state: Any) -> dict[str, jax.Array]:
    """Return the current value of every live hyperparameter in ``state``, by name.

    Names that occur in several places of a nested state (two optimizers in one
    partition, say) are qualified by their path: ``"0/learning_rate"``.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.chain(gradtx.clip_by_global_norm(1.0), gradtx.adam(1e-3))
      >>> hp = gradtx.get_hyperparams(tx.init(jnp.zeros(2)))
      >>> sorted(hp)
      ['b1', 'b2', 'eps', 'eps_root', 'learning_rate']
    """
    by_path = dict(_find(state))
    return {key: by_path[p].hyperparams[n] for key, (p, n) in _index(state).items()}


def _replace(state: Any, path: list[str], fn: Callable[[InjectState], InjectState]) -> Any:
    if not path or path == [""]:
        return fn(state)
    head, rest = path[0], path[1:]
    if isinstance(state, InjectState) and head == "inner_state":
        return state._replace(inner_state=_replace(state.inner_state, rest, fn))
    if isinstance(state, dict):
        key = next(k for k in state if str(k) == head)
        return {**state, key: _replace(state[key], rest, fn)}
    if hasattr(state, "_fields"):
        return state._replace(**{head: _replace(getattr(state, head), rest, fn)})
    items = list(state)
    items[int(head)] = _replace(items[int(head)], rest, fn)
    return type(state)(items)


def set_hyperparams(state: Any, **values: Any) -> Any:
    """Return ``state`` with live hyperparameters replaced; the jitted step is not retraced.

    The new value is cast to the stored dtype and shape, so the compiled step sees an
    input of the same type. Concrete values are validated by name (a negative
    ``learning_rate`` or a ``b1`` outside [0, 1) raises ``ValueError``).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.sgd(0.1, momentum=0.9)
      >>> state = gradtx.set_hyperparams(tx.init(jnp.zeros(2)), learning_rate=0.01)
      >>> float(gradtx.get_hyperparams(state)["learning_rate"])
      0.009999999776482582
    """
    index = _index(state)
    for key, value in values.items():
        if key not in index:
            raise ValueError(
                f"set_hyperparams: no live hyperparameter named {key!r}; available: {sorted(index)}"
            )
        path, name = index[key]
        holder = dict(_find(state))[path]
        if name in holder.scheduled:
            raise ValueError(
                f"set_hyperparams: {key!r} follows a schedule and is recomputed every step; "
                "build the optimizer with a constant to set it by hand."
            )
        _validate.check_hyperparam(name, value)
        old = holder.hyperparams[name]
        new = jnp.asarray(value).astype(old.dtype).reshape(np.shape(old))

        def put(s, name=name, new=new):
            return s._replace(hyperparams={**s.hyperparams, name: new})

        state = _replace(state, path.split(".") if path else [], put)
    return state
