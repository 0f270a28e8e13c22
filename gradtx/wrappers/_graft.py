r"""Grafting: the direction of one transform with the step length of another.

A preconditioner such as Shampoo's gives a good direction but a step length that depends on
the statistics' scale, the ridge and the root; a diagonal method (Adam, AdaGrad) gives a
well-tuned step length. :func:`graft` takes the direction of the first and, leaf by leaf
(or block by block), the norm of the second, so that a learning rate tuned for the second
carries over.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree
from gradtx._base import BatchDims, GradientTransformation, as_transform, check_state_type
from gradtx.transforms import _kronecker as kron
from gradtx.transforms._batch_dims import check_batch_dims
from gradtx.transforms._shampoo import check_kronecker_args


class GraftState(NamedTuple):
    """The states of the direction transform and of the magnitude transform."""

    direction: Any
    magnitude: Any


def _block_norms(xb: jax.Array) -> jax.Array:
    return jnp.sqrt(jnp.sum(xb * xb, axis=tuple(range(1, xb.ndim)), keepdims=True))


def graft(
    direction: GradientTransformation,
    magnitude: GradientTransformation,
    *,
    block_size: int | None = None,
    max_precond_dim: int = 1024,
    batch_dims: BatchDims = None,
) -> GradientTransformation:
    r"""Take the direction from ``direction`` and the norm, per leaf or block, from ``magnitude``.

    Both transforms see the same input. For every block $b$ (the whole leaf by default):

    $$u_b = \begin{cases} d_b\,\dfrac{\|m_b\|}{\|d_b\|} & \|d_b\| > 0 \\[4pt]
    m_b & \|d_b\| = 0 \end{cases}$$

    with $d$ the output of ``direction`` and $m$ that of ``magnitude``. A zero direction
    means "no direction yet" (Shampoo before its first root): the magnitude transform's
    update is used as it is, which is Distributed Shampoo's behaviour before
    ``start_preconditioning_step``.

    Args:
      direction: the transform that gives the direction (gradtx or Optax).
      magnitude: the transform whose per-block norm is kept (gradtx or Optax).
      block_size: take norms per block of this size, cut as Shampoo's blocks are (see
        :func:`~gradtx.transforms._kronecker.plan_leaf`); ``None``: per leaf.
      max_precond_dim: the merging bound of the blocks (as in Shampoo).
      batch_dims: leading axes that index a stack of independent leaves, whose norms are
        taken member by member (see :mod:`~gradtx.transforms._batch_dims`).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`GraftState`.

    References:
      Agarwal, Anil, Hazan, Koren & Zhang, "Disentangling Adaptive Gradient Methods from
      Learning Rates", 2020, arXiv:2002.11803; Anil et al., "Scalable Second Order
      Optimization for Deep Learning", 2020, arXiv:2002.09018.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.graft(gradtx.scale_by_sign(), gradtx.scale(-2.0))
      >>> u, _ = tx.update(jnp.array([3.0, -4.0]), tx.init(jnp.zeros(2)))  # |m| = 10
      >>> [round(x, 4) for x in u.tolist()]
      [7.0711, -7.0711]
    """
    direction = as_transform(direction, "graft: direction")
    magnitude = as_transform(magnitude, "graft: magnitude")
    check_kronecker_args(block_size, max_precond_dim)
    check_batch_dims(batch_dims)

    def init(params):
        kron.leaf_plans(params, block_size, max_precond_dim, "graft", batch_dims)  # errors now
        return GraftState(direction.init(params), magnitude.init(params))

    def update(updates, state, params=None, **extra):
        check_state_type(state, GraftState, "graft")
        d, d_state = direction.update(updates, state.direction, params, **extra)
        m, m_state = magnitude.update(updates, state.magnitude, params, **extra)
        plans = kron.leaf_plans(updates, block_size, max_precond_dim, "graft", batch_dims)
        out = []
        for dl, ml, plan in zip(_tree.leaves_with_none(d), _tree.leaves_with_none(m), plans):
            if plan is None:
                out.append(dl)
                continue
            dtype = kron.work_dtype(dl)
            db = kron.to_blocks(dl.astype(dtype), plan)
            mb = kron.to_blocks(ml.astype(dtype), plan)
            dn, mn = _block_norms(db), _block_norms(mb)
            ub = jnp.where(dn > 0, db * (mn / jnp.where(dn > 0, dn, 1)), mb)
            out.append(kron.from_blocks(ub, plan).astype(dl.dtype))
        return _tree.replace_leaves(updates, out), GraftState(d_state, m_state)

    return GradientTransformation(init, update)
