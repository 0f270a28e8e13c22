"""Live hyperparameters: readable and settable by name, never recompiling.

:func:`inject_hyperparams` turns a factory ``f(**hyperparams) -> GradientTransformation``
into one whose live hyperparameters (see :mod:`gradtx._hyper`) are in the optimizer *state*
as scalar arrays. The factory is called again (at trace time only) inside every ``update``
with those arrays, so the compiled step takes the hyperparameters as inputs: changing one
between steps changes an input value, not the program, and nothing is retraced or
recompiled. Every optimizer alias in gradtx is built this way (see
:func:`gradtx._registry.optimizer`).

A hyperparameter given as a *schedule* (a callable of the step) is evaluated at the
state's step count before each update; its current value is readable like the others,
but it cannot be set (:func:`set_hyperparams` raises), because the schedule owns it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gradtx import _hyper, _tree, _validate
from gradtx._base import (
    GradientTransformation,
    GradientTransformationExtraArgs,
    check_state_type,
)


class InjectState(NamedTuple):
    """State of a transform with live hyperparameters.

    Attributes:
      count: int32 number of updates applied so far (saturating).
      hyperparams: current value of every live hyperparameter, by name.
      scheduled: the names of the hyperparameters that follow a schedule, with ``None``
        (a schedule of the step: it costs no memory) or the state of a stateful schedule
        (Optax's ``StatefulSchedule``, e.g. :class:`gradtx.schedules.WrappedSchedule`).
      inner_state: the state of the transform built from the hyperparameters.
      rules: the declarations of the live hyperparameters (static data, no leaves), read by
        :func:`set_hyperparams` to accept exactly the values the constructor accepts.
    """

    count: jax.Array
    hyperparams: dict[str, jax.Array]
    scheduled: dict[str, None]
    inner_state: Any
    rules: _hyper.Rules | None = None

    @property
    def hyperparams_states(self) -> dict[str, Any]:
        """Optax's name for the states of the schedules (``None`` for a schedule of the
        step, which reads ``count``)."""
        return dict(self.scheduled)

    # Optax's layout. An Optax alias's state is its chain's state (``optax.sgd(0.1, 0.9)``
    # gives ``(TraceState, EmptyState)``), and code reads it as ``state[0].trace``; a gradtx
    # optimizer's state is this NamedTuple *around* its chain's state. Indexing and unknown
    # attributes therefore reach ``inner_state``, so ``state[0]``, ``state["name"]`` and
    # ``state.m`` read what they read in Optax. The pytree, iteration and unpacking are the
    # NamedTuple's own five fields (checkpoints keep their layout); ``count``,
    # ``hyperparams`` and ``inner_state`` keep their meaning.

    def __getitem__(self, key: Any) -> Any:
        """``state[key]`` is ``state.inner_state[key]`` (Optax's alias layout)."""
        return tuple.__getitem__(self, 3)[key]

    def __getattr__(self, name: str) -> Any:
        """An attribute that is not a field is read from ``inner_state`` (e.g. ``state.m``
        of :func:`gradtx.mechanize`, as on Optax's ``MechanicState``)."""
        if name.startswith("_"):  # copy, pickle and NamedTuple internals: not forwarded
            raise AttributeError(name)
        try:
            return getattr(tuple.__getitem__(self, 3), name)
        except AttributeError:
            raise AttributeError(
                f"InjectState has no field {name!r} and neither has its inner_state "
                f"({type(tuple.__getitem__(self, 3)).__name__})"
            ) from None


def _name(factory: Any) -> str:
    """A factory's name for messages (``functools.partial`` and callables included)."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    return getattr(factory, "__name__", type(factory).__name__)


def is_stateful_schedule(value: Any) -> bool:
    """Optax's ``StatefulSchedule`` protocol: ``init() -> state``, ``update(state, **extra)
    -> state`` and ``__call__(state, **extra) -> value`` (a schedule that keeps a state and
    sees the update's extra arguments, e.g. the loss)."""
    return all(callable(getattr(value, a, None)) for a in ("init", "update", "__call__"))


def _is_number(value: Any) -> bool:
    """A real scalar (Python, NumPy or a 0-d array of a numeric dtype, bfloat16 included)."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        return False
    if isinstance(value, (int, float, np.number)):
        return True
    if isinstance(value, (jax.Array, np.ndarray)):
        return np.ndim(value) == 0 and jnp.issubdtype(jnp.result_type(value), jnp.number)
    return False


def _raw(factory: Any) -> Any:
    """The chain-building function under a gradtx optimizer (whose hyperparameters are live
    already), also inside ``functools.partial``; any other factory as it is."""
    if isinstance(factory, functools.partial):
        inner = _raw(factory.func)
        if inner is not factory.func:
            raw = functools.partial(inner, *factory.args, **factory.keywords)
            raw.__gradtx_hyperparams__ = getattr(inner, "__gradtx_hyperparams__", None)
            raw.__gradtx_joint__ = getattr(inner, "__gradtx_joint__", None)
            return raw
        return factory
    return getattr(factory, "__gradtx_raw__", factory)


def declarations(factory: Callable[..., Any]) -> dict[str, _hyper.Hyperparameter]:
    """Every argument's :class:`~gradtx._hyper.Hyperparameter`: those the factory declares
    (:func:`gradtx._registry.optimizer`), then the library-wide ones by name."""
    declared = getattr(factory, "__gradtx_hyperparams__", None) or {}
    sig = inspect.signature(factory)  # of a partial: the arguments it leaves free
    return {n: declared.get(n) or _hyper.standard(n, p.default) for n, p in sig.parameters.items()}


def inject_hyperparams(
    inner_factory: Callable[..., GradientTransformation],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any = None,
) -> Callable[..., GradientTransformation]:
    """Wrap ``inner_factory`` so that its live hyperparameters are stored in the state.

    Which arguments are live comes from the factory's declarations (every gradtx optimizer
    has them; for another factory, the library-wide names and the defaults: an integer
    default is a count, never a float). An argument is live when it is given a number or a
    schedule; ``None`` or a Python object keeps it static.

    Args:
      inner_factory: a function returning a :class:`GradientTransformation`; it must accept
        its live hyperparameters as traced scalars (gradtx and Optax factories do). A gradtx
        optimizer, whose hyperparameters are live already, is wrapped once, not twice.
      static_args: names (or one name) of arguments that must stay Python values even when
        numeric (they fix shapes or the state layout, or are used only in ``init``).
      hyperparam_dtype: the dtype of the stored values (default: JAX's default float).

    Returns:
      A factory with the same signature whose transforms have an :class:`InjectState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.inject_hyperparams(gradtx.trace)(decay=0.9)
      >>> state = tx.init(jnp.zeros(3))
      >>> float(state.hyperparams["decay"])
      0.8999999761581421
    """
    factory = _raw(inner_factory)  # a gradtx optimizer is live already: inject once
    who = _name(inner_factory)
    if isinstance(static_args, str):
        static_args = (static_args,)
    static_args = frozenset(static_args)
    specs = declarations(factory)
    unknown = static_args - set(specs)
    if unknown:
        raise ValueError(f"static_args {sorted(unknown)} are not arguments of {who}")
    declared = bool(getattr(factory, "__gradtx_hyperparams__", None))
    joint = getattr(factory, "__gradtx_joint__", None)
    if hyperparam_dtype is not None:
        hyperparam_dtype = _validate.check_dtype("hyperparam_dtype", hyperparam_dtype)
    sig = inspect.signature(factory)

    @functools.wraps(inner_factory)
    def wrapped(*args: Any, **kwargs: Any) -> GradientTransformation:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as err:
            raise TypeError(f"{who}: {err}") from None
        bound.apply_defaults()
        static, numeric, schedules, stateful = {}, {}, {}, {}
        for name, value in bound.arguments.items():
            spec = specs[name]
            live_kind = spec.kind == _hyper.LIVE and name not in static_args
            if live_kind and _is_number(value):
                numeric[name] = value
            elif live_kind and is_stateful_schedule(value):
                stateful[name] = value
            elif live_kind and callable(value):
                schedules[name] = value
            else:
                if declared or spec.kind == _hyper.LIVE or spec is _hyper.DTYPE:
                    spec.validate(name, value)
                static[name] = value
        # Validate under the caller's own argument names ("b1", not the primitive's "decay"),
        # schedules by their value at step 0, before anything else calls them.
        for name, value in {**numeric, **schedules}.items():
            specs[name].validate(name, value)
        # Build once with concrete values: the factory validates them too.
        first = {n: fn(np.int32(0)) for n, fn in schedules.items()}
        first.update({n: fn(fn.init()) for n, fn in stateful.items()})
        for name in stateful:
            specs[name].validate(f"{name} (stateful schedule, initial value)", first[name])
        if joint is not None:
            joint({**static, **numeric, **first})
        factory(**static, **numeric, **first)
        live = [n for n in bound.arguments if n in numeric or n in first]
        plain = (int, float, str, bool, type(None))
        fixed = tuple((n, v) for n, v in static.items() if isinstance(v, plain))
        rules = _hyper.Rules(who, tuple((n, specs[n]) for n in live), joint, fixed)

        def current(hyperparams):
            return factory(**static, **hyperparams)

        def init(params):
            dtype = hyperparam_dtype or jnp.result_type(float)
            given = {**numeric, **first}
            values = {n: jnp.asarray(given[n], dtype=dtype) for n in live}
            inner = current(values).init(params)
            scheduled = {
                n: stateful[n].init() if n in stateful else None for n in live if n in first
            }
            state = InjectState(_tree.zero_count(), values, scheduled, inner, rules)
            return _tree.distinct_buffers(state, params)  # donatable

        expected = sorted(live)

        def update(updates, state, params=None, **extra):
            check_state_type(state, InjectState, who)
            if sorted(state.hyperparams) != expected:
                raise ValueError(
                    f"{who} expects a state with hyperparameters {expected}, got one "
                    f"with {sorted(state.hyperparams)}: a state from another optimizer?"
                )
            values = dict(state.hyperparams)
            scheduled = dict(state.scheduled)
            for name, fn in schedules.items():
                values[name] = jnp.asarray(fn(state.count), dtype=values[name].dtype)
            for name, fn in stateful.items():  # Optax's StatefulSchedule: sees the extra args
                value = fn(state.scheduled[name], **extra)
                values[name] = jnp.asarray(value, dtype=values[name].dtype)
                scheduled[name] = fn.update(state.scheduled[name], **extra)
            updates, inner = current(values).update(updates, state.inner_state, params, **extra)
            count = _tree.safe_increment(state.count)
            new_state = InjectState(count, values, scheduled, inner, state.rules)
            return updates, new_state

        return GradientTransformationExtraArgs(init, update)

    try:  # the annotations as objects (``ScalarOrSchedule``), not strings: Optax's tests and
        # editors read them from the public factory's signature
        wrapped.__signature__ = inspect.signature(factory, eval_str=True)
    except Exception:  # an annotation that cannot be evaluated: keep the plain signature
        pass
    wrapped.__gradtx_raw__ = factory
    wrapped.__gradtx_hyperparams__ = getattr(factory, "__gradtx_hyperparams__", None)
    return wrapped


# ---------------------------------------------------------------------------------------
# Reading and writing hyperparameters in a (possibly nested) state.


def _find(state: Any, path: str = "") -> list[tuple[str, InjectState]]:
    found = []
    if isinstance(state, InjectState):
        found.append((path, state))
        found += _find(state.inner_state, f"{path}.inner_state" if path else "inner_state")
    elif isinstance(state, Mapping):
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
    if isinstance(state, Mapping):
        key = next(k for k in state if str(k) == head)
        return type(state)({**state, key: _replace(state[key], rest, fn)})
    if hasattr(state, "_fields"):
        return state._replace(**{head: _replace(getattr(state, head), rest, fn)})
    items = list(state)
    items[int(head)] = _replace(items[int(head)], rest, fn)
    return type(state)(items)


def set_hyperparams(state: Any, **values: Any) -> Any:
    """Return ``state`` with live hyperparameters replaced; the jitted step is not retraced.

    The new value is cast to the stored dtype and shape, so the compiled step sees an
    input of the same type. It is validated by the optimizer's own declaration: a value is
    accepted exactly when the constructor would accept it (with the other hyperparameters
    at their current values), so a ``b1`` outside [0, 1) raises ``ValueError``.

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
        if callable(value) or not (_is_number(value) or isinstance(value, jax.core.Tracer)):
            raise ValueError(f"set_hyperparams: {key} must be a real number, got {value!r}.")
        rules = holder.rules
        if rules is not None and name in dict(rules.specs):
            rules.validate(name, value, holder.hyperparams)
        else:  # a state built before the declarations existed: by the library-wide name
            _hyper.standard(name).validate(name, value)
        old = holder.hyperparams[name]
        new = jnp.asarray(value).astype(old.dtype).reshape(np.shape(old))

        def put(s, name=name, new=new):
            return s._replace(hyperparams={**s.hyperparams, name: new})

        state = _replace(state, path.split(".") if path else [], put)
    return state
