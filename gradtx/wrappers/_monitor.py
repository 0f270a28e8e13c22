"""Training diagnostics recorded in the optimizer state: norms, ratio, bad steps
(:func:`monitor_norms`), and Optax's user-defined measurements: :func:`snapshot`,
:func:`monitor` and :func:`measure_with_ema`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _vectors
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    ScalarOrSchedule,
    as_transform,
    chain,
    check_state_type,
    identity,
    stateless,
)
from gradtx.transforms._momentum import ema


class MonitorNormsState(NamedTuple):
    """State of :func:`monitor_norms`: a few scalars about the last step, and the inner state.

    Attributes:
      count: int32 number of steps seen.
      grad_norm: $\\lVert g\\rVert_2$ of the last step's incoming updates (the gradient).
      update_norm: $\\lVert u\\rVert_2$ of the last step's outgoing updates.
      param_norm: $\\lVert w\\rVert_2$ of the parameters before the last step (NaN when
        ``update`` got no ``params``).
      update_ratio: ``update_norm / param_norm`` (NaN without ``params``; ``inf`` for zero
        parameters and a nonzero update, 0 when both are zero).
      notfinite_count: int32 number of steps whose gradient or update had a NaN or an Inf.
      inner_state: the state of the monitored transform.
    """

    count: jax.Array
    grad_norm: jax.Array
    update_norm: jax.Array
    param_norm: jax.Array
    update_ratio: jax.Array
    notfinite_count: jax.Array
    inner_state: Any


def monitor_norms(inner: GradientTransformation = None) -> GradientTransformation:
    r"""Record the gradient norm, the update norm and their ratio to the weights in the state.

    $$\text{grad\_norm} = \lVert g\rVert_2,\quad \text{update\_norm} = \lVert u\rVert_2,\quad
      \text{update\_ratio} = \frac{\lVert u\rVert_2}{\lVert w\rVert_2}$$

    with $g$ the incoming updates, $u = \mathrm{inner}(g)$ the outgoing ones (returned
    unchanged) and $w$ the parameters; the norms are global l2 norms over all trainable
    leaves, accumulated in at least float32. A healthy ``update_ratio`` is often around
    $10^{-3}$ per step (much larger: the learning rate is too high; much smaller: too low).
    ``notfinite_count`` counts steps whose $g$ or $u$ had a NaN or an Inf.

    It stores scalars only: no parameter-sized buffer. Wrap the whole optimizer
    (``monitor_norms(adam(lr))``) to see the gradient and the final update, or put
    ``monitor_norms()`` anywhere in a chain to look at the updates at that point.

    Args:
      inner: the transform to monitor; ``None`` monitors the updates at this point of a
        chain (then ``grad_norm == update_norm``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`MonitorNormsState`.

    References:
      Karpathy, "CS231n: Babysitting the learning process" (the update/weight ratio,
      ~1e-3), Stanford, 2016.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import monitor_norms
      >>> tx = monitor_norms(gradtx.sgd(0.1))
      >>> w = jnp.array([3.0, 4.0])
      >>> _, state = tx.update(jnp.array([0.0, 1.0]), tx.init(w), w)
      >>> [round(float(x), 4) for x in (state.grad_norm, state.update_norm, state.update_ratio)]
      [1.0, 0.1, 0.02]
    """
    inner = identity() if inner is None else as_transform(inner, "monitor_norms inner")

    def init(params):
        zero = jnp.zeros([], jnp.result_type(float))
        return MonitorNormsState(
            _tree.zero_count(), zero, zero, zero, zero, _tree.zero_count(), inner.init(params)
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, MonitorNormsState, "monitor_norms")
        new_updates, inner_state = inner.update(updates, state.inner_state, params, **extra)
        dtype = state.grad_norm.dtype
        g_norm = _tree.global_norm(updates).astype(dtype)
        u_norm = _tree.global_norm(new_updates).astype(dtype)
        if params is None:
            p_norm = ratio = jnp.full([], jnp.nan, dtype)
        else:
            p_norm = _tree.global_norm(params).astype(dtype)
            safe = jnp.where(p_norm > 0, p_norm, 1)
            ratio = jnp.where(p_norm > 0, u_norm / safe, jnp.where(u_norm > 0, jnp.inf, 0)).astype(
                dtype
            )
        finite = _vectors.all_finite(updates, new_updates)
        bad = jnp.where(finite, state.notfinite_count, _tree.safe_increment(state.notfinite_count))
        new_state = MonitorNormsState(
            _tree.safe_increment(state.count),
            g_norm,
            u_norm,
            p_norm,
            ratio,
            bad.astype(jnp.int32),
            inner_state,
        )
        return new_updates, new_state

    return GradientTransformation(init, update)


class SnapshotState(NamedTuple):
    """State of :func:`snapshot` (Optax's): ``{measure_name: measurement}``."""

    measurement: dict[str, Any]


def snapshot(measure_name: str, measure: Callable[[Any], Any]) -> GradientTransformation:
    r"""Store a measurement of the updates at this point of a chain in the state.

    $$m_t = \mathrm{measure}(u_t),\qquad u_t \text{ passed through unchanged}$$

    Read it with ``optax.tree.get(state, measure_name)`` (or find the
    :class:`SnapshotState` in the chain's state). ``init`` stores ``measure(params)``, so
    the state has the same structure before and after the first step.

    Args:
      measure_name: the key of the measurement in the state.
      measure: a function of the updates returning an array or a tree of arrays (for
        instance ``optax.tree.norm``).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SnapshotState`.

    Example:
      >>> import jax.numpy as jnp, gradtx, optax
      >>> from gradtx import snapshot
      >>> tx = gradtx.chain(gradtx.sgd(0.5), snapshot("update_norm", optax.tree.norm))
      >>> _, state = tx.update(jnp.array([3.0, 4.0]), tx.init(jnp.zeros(2)))
      >>> float(optax.tree.get(state, "update_norm"))
      2.5
    """
    if not callable(measure):
        raise ValueError(f"snapshot: measure must be a function of the updates, got {measure!r}.")

    def update(updates, state, params=None, **extra):
        del state, params, extra
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(lambda params: SnapshotState({measure_name: measure(params)}),
                                  update)  # fmt: skip


class MonitorState(NamedTuple):
    """State of :func:`monitor` (Optax's fields).

    Attributes:
      measurements: ``{name: measurement}``, the last step's (zeros before the first step).
      measure_states: the state of each stateful measure, in the order of the names.
    """

    measurements: dict[str, Any]
    measure_states: tuple[Any, ...]


def monitor(measures: Mapping[str, Any]) -> GradientTransformation:
    r"""Store several measurements of the updates in the state; stateful ones allowed.

    $$(m^{(k)}_t, s^{(k)}_t) = M_k(u_t, s^{(k)}_{t-1}),\qquad u_t \text{ passed through}$$

    Each measure $M_k$ is a function of the updates (as in :func:`snapshot`) or a
    transform whose *output* is the measurement, such as :func:`measure_with_ema`. Read a
    measurement with ``optax.tree.get(state, name)``. Unlike Optax's, the measurements are
    in the state from ``init`` on (as zeros shaped like the first measurement), so the
    state's structure does not change at the first step and ``monitor`` works in
    ``jax.lax.scan``.

    Args:
      measures: a mapping from name to a function of the updates or a transform.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`MonitorState`.

    Example:
      >>> import jax.numpy as jnp, gradtx, optax
      >>> from gradtx import measure_with_ema, monitor
      >>> tx = monitor({"norm": optax.tree.norm,
      ...               "norm_ema": measure_with_ema(optax.tree.norm, decay=0.5, debias=False)})
      >>> state = tx.init(jnp.zeros(2))
      >>> for g in ([3.0, 4.0], [6.0, 8.0]):
      ...     _, state = tx.update(jnp.array(g), state)
      >>> float(optax.tree.get(state, "norm")), float(optax.tree.get(state, "norm_ema"))
      (10.0, 6.25)
    """
    if not isinstance(measures, Mapping):
        raise ValueError(f"monitor: measures must be a mapping name -> measure, got {measures!r}.")
    members = {}
    for name, m in measures.items():
        if callable(m):  # a function of the updates
            members[name] = stateless(lambda u, _, m=m: m(u))
        else:
            members[name] = as_transform(m, f"monitor measure {name!r}")

    def init(params):
        states = tuple(m.init(params) for m in members.values())
        zeros = {}
        for (name, m), s in zip(members.items(), states):
            try:
                shapes = jax.eval_shape(lambda m=m, s=s: m.update(params, s, params)[0])
            except Exception:  # it needs update's extra arguments: absent until then (Optax)
                continue
            zeros[name] = jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), shapes)
        return MonitorState(zeros, states)

    def update(updates, state, params=None, **extra):
        check_state_type(state, MonitorState, "monitor")
        measurements, states = {}, []
        for (name, m), old in zip(members.items(), state.measure_states):
            value, new = m.update(updates, old, params, **extra)
            if name in state.measurements:  # the dtypes of init's zeros (a scan's carry)
                value = _tree.cast_like(value, state.measurements[name])
            measurements[name] = value
            states.append(_tree.cast_like(new, old))
        return updates, MonitorState(measurements, tuple(states))

    return GradientTransformation(init, update)


def measure_with_ema(
    measure: Callable[[Any], Any],
    decay: ScalarOrSchedule,
    debias: bool = True,
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""A measure for :func:`monitor`: the exponential moving average of a measurement.

    $$a_t = \beta a_{t-1} + (1-\beta)\,\mathrm{measure}(u_t),\qquad
      \text{output } \frac{a_t}{1-\beta^t}\ \text{(debias) or } a_t$$

    It is ``chain(stateless(measure), ema(decay, debias, accumulator_dtype))`` with
    :func:`gradtx.ema`, the average started at zeros shaped like ``measure(params)``; a
    boolean or integer measurement (a clipping indicator) is averaged as a float (at least
    float32), giving a frequency.

    Args:
      measure: a function of the updates returning an array or a tree of arrays.
      decay: $\beta \in [0, 1)$.
      debias: divide by $1-\beta^t$.
      accumulator_dtype: dtype of $a$ (default: the measurement's).

    Returns:
      A :class:`~gradtx.GradientTransformation` whose output is the averaged measurement.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import measure_with_ema
      >>> tx = measure_with_ema(lambda u: jnp.max(u) > 1.0, decay=0.5, debias=False)
      >>> state = tx.init(jnp.zeros(2))
      >>> for g in ([2.0, 0.0], [0.5, 0.0]):
      ...     freq, state = tx.update(jnp.array(g), state)
      >>> float(freq)                                   # 0.5 * 0.5 * 1 + 0.5 * 0
      0.25
    """
    if not callable(measure):
        raise ValueError(f"measure_with_ema: measure must be a function, got {measure!r}.")
    average = ema(decay, debias, accumulator_dtype)

    def as_float(tree):
        def cast(x):
            x = jnp.asarray(x)
            return x if _tree.is_trainable(x) else x.astype(jnp.promote_types(x.dtype, jnp.float32))

        return jax.tree.map(cast, tree)

    measured = stateless(lambda u, _: as_float(measure(u)))
    start = lambda params: average.init(as_float(measure(params)))  # zeros like a measurement
    return chain(measured, average._replace(init=start))
