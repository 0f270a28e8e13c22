"""Differentially private aggregation of per-example gradients (DP-SGD's primitive)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import GradientTransformation, KeyLike, Scalar, check_state_type


class DifferentiallyPrivateAggregateState(NamedTuple):
    """The random key of the noise (raw ``uint32`` key data, so the state is plain arrays)."""

    rng_key: jax.Array


def _batch_leaves(grads: Any, who: str) -> list[Any]:
    """The leaves of ``grads``, checked to share one leading (batch) axis."""
    leaves = jax.tree.leaves(grads)
    shapes = [jnp.shape(g) for g in leaves]
    if not leaves or not shapes[0] or any(not s or s[0] != shapes[0][0] for s in shapes):
        raise ValueError(
            f"{who} expects per-example gradients: every leaf with the same batch axis "
            f"first (e.g. from jax.vmap(jax.grad(loss))); got shapes "
            f"{jax.tree.map(jnp.shape, grads)}."
        )
    return leaves


def _clipped_sum(leaves: list[Any], l2_norm_clip: Any) -> list[Any]:
    r"""$\sum_b g_b \min(1, C/\lVert g_b\rVert)$ for each leaf (no 0/0 at a zero gradient).

    The same rule as Optax's ``per_example_global_norm_clip``; the per-example norms are
    summed in at least float32.
    """
    acc = lambda g: jnp.promote_types(_tree.real_dtype(g.dtype), jnp.float32)
    sq = [jnp.sum(_tree.abs_sq(g).astype(acc(g)), axis=tuple(range(1, g.ndim))) for g in leaves]
    norms = jnp.sqrt(sum(sq))
    factors = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    return [jnp.tensordot(factors.astype(_tree.real_dtype(g.dtype)), g, axes=1) for g in leaves]


def differentially_private_aggregate(
    l2_norm_clip: Scalar, noise_multiplier: Scalar, key: KeyLike = None, *, seed: KeyLike = None
) -> GradientTransformation:
    r"""Average per-example gradients after clipping each and adding Gaussian noise (DP-SGD).

    $$u_t = \frac{1}{B}\Big(\sum_{b=1}^{B} g_b\,\min\!\Big(1, \frac{C}{\lVert g_b\rVert_2}
    \Big) + \sigma C\,\xi_t\Big),\qquad \xi_t \sim \mathcal N(0, I)$$

    $g_b$ is example $b$'s gradient, the leading axis of every leaf of the updates (so the
    output drops that axis), $B$ the batch size, $\lVert g_b\rVert_2$ the l2 norm over all
    leaves, $C$ = ``l2_norm_clip`` and $\sigma$ = ``noise_multiplier``. The key is split
    into one key for the next step and one per leaf (in the order of ``jax.tree.leaves``),
    so the noise is that of Optax's transform for the same key. It must come first in a
    chain, and gradient accumulation (``MultiSteps``) around it breaks its guarantee.

    Args:
      l2_norm_clip: $C \ge 0$, the largest norm of one example's gradient.
      noise_multiplier: $\sigma \ge 0$, the noise's standard deviation over $C$.
      key: an int seed or a JAX random key; ``None`` means seed 0 (Optax warns).
      seed: Optax's deprecated name for ``key``; give one or the other.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a
      :class:`DifferentiallyPrivateAggregateState`.

    Raises:
      ValueError: at ``update``, when the leaves do not share a leading batch axis.

    References:
      Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
      Differential Privacy", ACM CCS 2016, arXiv:1607.00133.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.differentially_private_aggregate(1.0, 0.0, key=0)
      >>> per_example = jnp.array([[3.0, 4.0], [0.3, 0.4]])      # norms 5 and 0.5
      >>> u, _ = tx.update(per_example, tx.init(jnp.zeros(2)))    # ((0.6, 0.8) + (0.3, 0.4)) / 2
      >>> [round(x, 4) for x in u.tolist()]
      [0.45, 0.6]
    """
    _validate.check_nonnegative("l2_norm_clip", l2_norm_clip)
    _validate.check_nonnegative("noise_multiplier", noise_multiplier)
    if seed is not None:
        if key is not None:
            raise ValueError(
                "differentially_private_aggregate: give `key` or its deprecated name `seed`, "
                "not both."
            )
        key = seed
    key = _validate.key_data("key", key)

    def init(params):
        del params
        return DifferentiallyPrivateAggregateState(key)

    def update(updates, state, params=None, **extra):
        del params, extra
        check_state_type(
            state, DifferentiallyPrivateAggregateState, "differentially_private_aggregate"
        )
        leaves = _batch_leaves(updates, "differentially_private_aggregate")
        batch = leaves[0].shape[0]
        clipped = _clipped_sum(leaves, l2_norm_clip)
        new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
        std = jnp.asarray(l2_norm_clip) * jnp.asarray(noise_multiplier)
        noised = [
            (g + std.astype(_tree.real_dtype(g.dtype)) * jax.random.normal(k, g.shape, g.dtype))
            / batch
            for g, k in zip(clipped, keys)
        ]
        treedef = jax.tree.structure(updates)
        return jax.tree.unflatten(treedef, noised), DifferentiallyPrivateAggregateState(new_key)

    return GradientTransformation(init, update)
