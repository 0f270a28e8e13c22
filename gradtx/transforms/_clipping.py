"""Clipping primitives: elementwise and by the global norm."""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import EmptyState, GradientTransformation, Scalar


def clip(max_delta: Scalar) -> GradientTransformation:
    r"""Clip every update elementwise to $[-\delta, \delta]$.

    $$u \leftarrow \min(\max(u, -\delta), \delta),\qquad \delta = \text{max\_delta}$$

    Args:
      max_delta: $\delta \ge 0$.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> gradtx.clip(1.0).update(jnp.array([-3.0, 0.5, 2.0]), gradtx.EmptyState())[0].tolist()
      [-1.0, 0.5, 1.0]
    """
    _validate.check_nonnegative("max_delta", max_delta)

    def update(updates, state, params=None, **extra):
        del params, extra

        scalars = _tree.Scalars(delta=max_delta)

        def step(u):
            d = scalars(u).delta
            return jnp.clip(u, -d, d)

        return _tree.leafwise(step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def clip_by_global_norm(max_norm: Scalar) -> GradientTransformation:
    r"""Rescale all updates together so that their joint l2 norm is at most ``max_norm``.

    $$u \leftarrow u \cdot \min\!\Big(1, \frac{c}{\lVert u \rVert_2}\Big),\qquad
    \lVert u\rVert_2 = \Big(\sum_\text{leaves}\sum_i |u_i|^2\Big)^{1/2},\ c = \text{max\_norm}$$

    The factor is one scalar, so the clip fuses into whatever follows it: it never writes a
    clipped copy of the gradient. A zero gradient stays zero (no 0/0).

    Args:
      max_norm: $c > 0$.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks",
      ICML 2013, arXiv:1211.5063.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.clip_by_global_norm(1.0)
      >>> tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))[0]["b"].tolist()
      [0.800000011920929]
    """
    _validate.check_positive("max_norm", max_norm)

    def update(updates, state, params=None, **extra):
        del params, extra
        norm = _tree.global_norm(updates)
        c = jnp.asarray(max_norm, norm.dtype)
        # c / max(norm, c) is 1 exactly when norm <= c, and ends in a division: XLA passes
        # the factor to each leaf's kernel instead of copying a select into every one.
        scalars = _tree.Scalars(factor=c / jnp.maximum(norm, c))
        return _tree.leafwise(lambda u: u * scalars(u).factor, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)
