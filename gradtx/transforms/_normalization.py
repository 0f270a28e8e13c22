r"""Normalizations of the update: remove its mean (gradient centralization), divide by its norm.

:func:`centralize` subtracts from each weight's update its mean over the non-leading axes;
:func:`normalize_by_update_norm` divides the whole update by its global l2 norm (plus a
floor). Both are stateless and Optax's. SAM's ascent direction, the update over its norm
with no floor and no factor, is :func:`gradtx.normalize`.
"""

from __future__ import annotations

import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import EmptyState, GradientTransformation, Scalar


def centralize() -> GradientTransformation:
    r"""Subtract from each leaf of rank two or more its mean over every axis but the first.

    $$u_{i,j} \leftarrow u_{i,j} - \frac{1}{|J|}\sum_{j' \in J} u_{i,j'}$$

    where $i$ indexes the leading axis of a leaf and $j \in J$ all its other axes together;
    scalars and vectors (biases) are left unchanged. This is Optax's ``centralize``: for
    Flax's ``(in, out)`` kernels it centres each input row.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Yong, Huang, Hua & Zhang, "Gradient Centralization: A New Optimization Technique for
      Deep Neural Networks", ECCV 2020, arXiv:2004.01461.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import centralize
      >>> tx = centralize()
      >>> g = {"w": jnp.array([[1.0, 2.0, 3.0], [4.0, 6.0, 8.0]]), "b": jnp.array([1.0, 2.0])}
      >>> u, _ = tx.update(g, tx.init(g))
      >>> u["w"].tolist(), u["b"].tolist()
      ([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0]], [1.0, 2.0])
    """

    def update(updates, state, params=None, **extra):
        del params, extra

        def step(u):
            if u.ndim < 2:
                return u
            return u - jnp.mean(u, axis=tuple(range(1, u.ndim)), keepdims=True)

        return _tree.leafwise(step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def normalize_by_update_norm(
    scale_factor: Scalar = 1.0, eps: Scalar = 1e-6
) -> GradientTransformation:
    r"""Divide the updates by their global l2 norm (normalized gradient descent).

    $$u \leftarrow \frac{s\,u}{\lVert u\rVert_2 + \epsilon},\qquad
    \lVert u\rVert_2 = \Big(\sum_\text{leaves}\sum_i |u_i|^2\Big)^{1/2}$$

    with $s$ = ``scale_factor`` and $\epsilon$ = ``eps``; the norm is accumulated in at least
    float32. With ``scale_factor=-lr`` it is a normalized descent step of length about
    ``lr``.

    Args:
      scale_factor: $s$, any finite real (negative for a descent direction).
      eps: $\epsilon \ge 0$, keeps a zero update zero.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    References:
      Hazan, Levy & Shalev-Shwartz, "Beyond Convexity: Stochastic Quasi-Convex
      Optimization", NeurIPS 2015, arXiv:1507.02030 (normalized gradient descent).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import normalize_by_update_norm
      >>> tx = normalize_by_update_norm(scale_factor=-1.0, eps=0.0)
      >>> g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
      >>> u, _ = tx.update(g, tx.init(g))
      >>> [round(float(x), 6) for x in (u["a"][0], u["b"][0])]
      [-0.6, -0.8]
    """
    _validate.check_finite("scale_factor", scale_factor)
    _validate.check_nonnegative("eps", eps)

    def update(updates, state, params=None, **extra):
        del params, extra
        norm = _tree.global_norm(updates)
        scalars = _tree.Scalars(denominator=(norm + eps) / scale_factor)
        return _tree.leafwise(lambda u: u / scalars(u).denominator, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)
