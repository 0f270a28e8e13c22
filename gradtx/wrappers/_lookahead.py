"""Lookahead: fast weights driven by an inner optimizer, slow weights that follow them."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, Scalar, as_transform, check_state_type
from gradtx._validate import check_int


class LookaheadParams(NamedTuple):
    """The fast and slow weights of :func:`lookahead` (Optax's layout).

    Attributes:
      fast: the weights the gradient is computed at.
      slow: the slow weights, for evaluation.
    """

    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params: Any) -> LookaheadParams:
        """Fast and slow weights both equal to ``params``."""
        return cls(fast=params, slow=params)


class LookaheadState(NamedTuple):
    """State of :func:`lookahead`: the fast optimizer's state and the steps since the sync."""

    fast_state: Any
    steps_since_sync: jax.Array


def lookahead(
    fast_optimizer: GradientTransformation,
    sync_period: int,
    slow_step_size: Scalar,
    reset_state: bool = False,
) -> GradientTransformation:
    r"""Lookahead: k fast steps forward, then move the slow weights part of the way there.

    $$\phi_{t+1} = \phi_t + \alpha\,(\theta_{t,k} - \phi_t),\qquad \theta_{t+1,0} = \phi_{t+1}$$

    where $\theta_{t,i}$ are the fast weights after $i$ steps of ``fast_optimizer``,
    $\phi$ the slow weights, $k$ = ``sync_period`` and $\alpha$ = ``slow_step_size``.
    The parameters are a :class:`LookaheadParams`; compute the gradient at ``params.fast``
    and apply the returned :class:`LookaheadParams` updates unmodified (Optax's semantics).
    ``init`` also accepts plain parameters (taken as the fast ones), as Optax's does.

    Args:
      fast_optimizer: the inner optimizer (gradtx or Optax).
      sync_period: $k \ge 1$.
      slow_step_size: $\alpha \in [0, 1]$.
      reset_state: re-initialise the fast optimizer's state at every synchronisation.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`LookaheadState`.

    References:
      Zhang, Lucas, Hinton & Ba, "Lookahead Optimizer: k steps forward, 1 step back",
      NeurIPS 2019, arXiv:1907.08610.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx.wrappers import LookaheadParams, lookahead
      >>> tx = lookahead(gradtx.sgd(1.0), sync_period=2, slow_step_size=0.5)
      >>> params = LookaheadParams.init_synced(jnp.zeros(1))
      >>> state = tx.init(params)
      >>> for _ in range(2):
      ...     u, state = tx.update(jnp.array([-1.0]), state, params)
      ...     params = gradtx.apply_updates(params, u)
      >>> params.fast.tolist(), params.slow.tolist()
      ([1.0], [1.0])
    """
    fast_optimizer = as_transform(fast_optimizer, "lookahead fast_optimizer")
    sync_period = check_int("sync_period", sync_period, 1)
    _validate.check_range("slow_step_size", slow_step_size, 0.0, 1.0)

    def init(params):
        fast = params.fast if hasattr(params, "fast") else params  # plain params: the fast ones
        return LookaheadState(fast_optimizer.init(fast), _tree.zero_count())

    def update(updates, state, params=None, **extra):
        check_state_type(state, LookaheadState, "lookahead")
        if not (hasattr(params, "fast") and hasattr(params, "slow")):
            raise ValueError(
                "lookahead needs `params` with `fast` and `slow` weights (a LookaheadParams), "
                f"got {type(params).__name__}."
            )
        fast_updates, fast_state = fast_optimizer.update(
            updates, state.fast_state, params.fast, **extra
        )
        sync = state.steps_since_sync == sync_period - 1
        alpha = jnp.asarray(slow_step_size)

        def step(u, f, s):
            diff = f + u - s  # the fast weights after this step, minus the slow ones
            a, on = alpha.astype(_tree.real_dtype(diff.dtype)), sync.astype(diff.dtype)
            return (u - on * (1 - a) * diff).astype(u.dtype), (a * on * diff).astype(s.dtype)

        new_fast, new_slow = _two_outputs(step, fast_updates, params.fast, params.slow)
        if reset_state:
            fresh = _tree.cast_like(fast_optimizer.init(params.fast), fast_state)
            fast_state = jax.tree.map(lambda new, old: jnp.where(sync, new, old), fresh, fast_state)
        steps = ((state.steps_since_sync + 1) % sync_period).astype(jnp.int32)
        return LookaheadParams(fast=new_fast, slow=new_slow), LookaheadState(fast_state, steps)

    return GradientTransformation(init, update)


def _two_outputs(step: Any, updates: Any, *others: Any) -> tuple[Any, Any]:
    """Apply ``step(u, *other_leaves) -> (a, b)`` per trainable leaf; two trees out.

    ``None`` and untrained leaves of ``updates`` pass through to both outputs.
    """
    names = ("updates", *(f"params[{i}]" for i in range(len(others))))
    _tree.check_same_structure(names, (updates, *others))
    flat, treedef = jax.tree.flatten(updates, is_leaf=_tree.is_none)
    rest = [_tree.leaves_with_none(t) for t in others]
    first, second = [], []
    for u, *more in zip(flat, *rest):
        if u is None or not _tree.is_trainable(u):
            first.append(u)
            second.append(u)
            continue
        a, b = step(u, *more)
        first.append(a)
        second.append(b)
    return jax.tree.unflatten(treedef, first), jax.tree.unflatten(treedef, second)
