r"""Run a transform only at some steps: Optax's ``conditionally_transform`` and
``conditionally_mask``.

Both call ``should_transform_fn(step)`` with the number of earlier calls and run the inner
transform only when it returns True (``jax.lax.cond``: the other steps cost nothing). On the
other steps the inner state is kept as it was, and the updates either pass through unchanged
(:func:`conditionally_transform`) or become zeros (:func:`conditionally_mask`). Skipping the
steps whose updates are not finite is :func:`gradtx.apply_if_finite`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import GradientTransformation, as_transform, check_state_type


class ConditionallyTransformState(NamedTuple):
    """State of :func:`conditionally_transform` (Optax's fields and order).

    Attributes:
      inner_state: the state of the wrapped transform, as of the last step it ran.
      step: int32 number of calls to ``update`` so far (saturating).
    """

    inner_state: Any
    step: jax.Array


class ConditionallyMaskState(NamedTuple):
    """State of :func:`conditionally_mask` (Optax's fields and order).

    Attributes:
      step: int32 number of calls to ``update`` so far (saturating).
      inner_state: the state of the wrapped transform, as of the last step it ran.
    """

    step: jax.Array
    inner_state: Any


def _conditionally(inner, should_transform_fn, forward_extra_args, zero_when_off, state_type, who):
    """The common wrapper: ``inner`` runs when ``should_transform_fn(step, ...)`` holds."""
    inner = as_transform(inner, f"{who} inner")
    if not callable(should_transform_fn):
        raise ValueError(
            f"{who}: should_transform_fn must be a function of the step, "
            f"got {should_transform_fn!r}."
        )

    def init(params):
        return state_type(inner_state=inner.init(params), step=_tree.zero_count())

    def update(updates, state, params=None, **extra):
        check_state_type(state, state_type, who)
        # ``gradient`` is gradtx's own chain keyword, not one of the caller's arguments.
        kwargs = {k: v for k, v in extra.items() if k != "gradient"} if forward_extra_args else {}
        run = jnp.asarray(should_transform_fn(state.step, **kwargs))
        if run.shape != () or not (run.dtype == bool or jnp.issubdtype(run.dtype, jnp.integer)):
            raise ValueError(
                f"{who}: should_transform_fn must return a boolean scalar, got dtype "
                f"{run.dtype} and shape {run.shape}."
            )

        def on():
            new_updates, new_inner = inner.update(updates, state.inner_state, params, **extra)
            return new_updates, _tree.cast_like(new_inner, state.inner_state)

        def off():
            shapes = jax.eval_shape(on)[0]  # the inner output's dtypes, for both branches
            if zero_when_off:
                out = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
            else:
                out = jax.tree.map(lambda u, s: jnp.asarray(u).astype(s.dtype), updates, shapes)
            return out, state.inner_state

        new_updates, inner_state = jax.lax.cond(run, on, off)
        return new_updates, state_type(
            inner_state=inner_state, step=_tree.safe_increment(state.step)
        )

    return GradientTransformation(init, update)


def conditionally_transform(
    inner: GradientTransformation,
    should_transform_fn: Callable[..., Any],
    forward_extra_args: bool = False,
) -> GradientTransformation:
    r"""Apply ``inner`` at the steps where ``should_transform_fn`` holds; else pass through.

    $$(u_t, s_t) = \begin{cases} \mathrm{inner}(g_t, s_{t-1}) & f(t) \\
      (g_t,\ s_{t-1}) & \text{otherwise}\end{cases}$$

    with $f$ = ``should_transform_fn`` and $t = 0, 1, \dots$ the number of earlier calls.

    Args:
      inner: the transform to apply (gradtx or Optax).
      should_transform_fn: ``f(step) -> bool`` scalar, ``step`` an int32 array; with
        ``forward_extra_args`` it is called as ``f(step, **extra)`` with the extra keyword
        arguments of ``update`` (``value=``, ...; not gradtx's own ``gradient``).
      forward_extra_args: pass the extra arguments to ``should_transform_fn``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ConditionallyTransformState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import conditionally_transform
      >>> tx = conditionally_transform(gradtx.scale(2.0), lambda step: step < 2)
      >>> state = tx.init(jnp.zeros(1))
      >>> outs = []
      >>> for _ in range(3):
      ...     u, state = tx.update(jnp.ones(1), state)
      ...     outs.append(u.tolist())
      >>> outs
      [[2.0], [2.0], [1.0]]
    """
    return _conditionally(
        inner,
        should_transform_fn,
        forward_extra_args,
        False,
        ConditionallyTransformState,
        "conditionally_transform",
    )


def conditionally_mask(
    inner: GradientTransformation,
    should_transform_fn: Callable[..., Any],
    forward_extra_args: bool = False,
) -> GradientTransformation:
    r"""Apply ``inner`` at the steps where ``should_transform_fn`` holds; else return zeros.

    $$(u_t, s_t) = \begin{cases} \mathrm{inner}(g_t, s_{t-1}) & f(t) \\
      (0,\ s_{t-1}) & \text{otherwise}\end{cases}$$

    with $f$ = ``should_transform_fn`` and $t = 0, 1, \dots$ the number of earlier calls: a
    step where $f$ is False leaves the parameters and the inner state unchanged. Stop
    training on a condition of the loss with ``forward_extra_args=True`` and
    ``f(step, value, **_)``.

    Args:
      inner: the transform to apply (gradtx or Optax).
      should_transform_fn: ``f(step) -> bool`` scalar, ``step`` an int32 array; with
        ``forward_extra_args`` it is called as ``f(step, **extra)`` (see
        :func:`conditionally_transform`).
      forward_extra_args: pass the extra arguments to ``should_transform_fn``.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ConditionallyMaskState`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import conditionally_mask
      >>> tx = conditionally_mask(gradtx.sgd(0.1), lambda step, value: value > 0.5,
      ...                         forward_extra_args=True)
      >>> state = tx.init(jnp.zeros(1))
      >>> [tx.update(jnp.ones(1), state, value=v)[0].tolist() for v in (1.0, 0.2)]
      [[-0.10000000149011612], [0.0]]
    """
    return _conditionally(
        inner, should_transform_fn, forward_extra_args, True, ConditionallyMaskState,
        "conditionally_mask",
    )  # fmt: skip
