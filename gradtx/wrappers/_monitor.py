"""Cheap training diagnostics recorded in the optimizer state: norms, ratio, bad steps."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import GradientTransformation, as_transform, check_state_type, identity


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
        finite = _tree.all_finite(updates, new_updates)
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
