"""Per-block clipping and constraints: block RMS, adaptive (unit-wise) clipping, non-negativity.

All three are stateless and act on one leaf (one "block": a weight matrix, a bias) at a
time, so they compose with any optimizer in a :func:`gradtx.chain`.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx import _extra, _tree, _validate
from gradtx._base import EmptyState, GradientTransformation, Scalar


def clip_by_block_rms(threshold: Scalar) -> GradientTransformation:
    r"""Rescale each leaf (block) so that its root-mean-square is at most ``threshold``.

    $$u \leftarrow \frac{u}{\max\!\big(1,\ \mathrm{rms}(u)/\tau\big)},\qquad
    \mathrm{rms}(u) = \Big(\tfrac{1}{n}\sum_{i=1}^{n} |u_i|^2\Big)^{1/2},\ \tau = \text{threshold}$$

    A block is one leaf of the updates tree: the gradient of a weight matrix or a bias.

    Args:
      threshold: $\tau > 0$, the largest allowed RMS of a block.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import clip_by_block_rms
      >>> tx = clip_by_block_rms(1.0)
      >>> u, _ = tx.update({"w": jnp.array([3.0, 4.0]), "b": jnp.array([0.5])}, tx.init(None))
      >>> [round(x, 4) for x in u["w"].tolist()], u["b"].tolist()
      ([0.8485, 1.1314], [0.5])
    """
    _validate.check_positive("threshold", threshold)

    def update(updates, state, params=None, **extra):
        del params, extra

        def step(u):
            if u.size == 0:
                return u
            rms = jnp.sqrt(jnp.mean(_tree.abs_sq(u)))
            tau = jnp.asarray(threshold, rms.dtype)
            return u / jnp.maximum(1, rms / tau).astype(u.dtype)

        return _tree.leafwise(step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)


def _unitwise_norm(x: Any, axis: Any) -> Any:
    """The l2 norm of each unit of ``x``, broadcast to ``x``'s shape (Optax's conventions)."""
    if axis is not None:
        sq = jnp.sum(_tree.abs_sq(x), axis=axis, keepdims=True)
    elif jnp.squeeze(x).ndim <= 1:  # scalars and vectors: the whole leaf
        sq = jnp.sum(_tree.abs_sq(x), keepdims=True)
    elif x.ndim in (2, 3):  # dense (in, out) or multi-head dense: per output unit
        sq = jnp.sum(_tree.abs_sq(x), axis=0, keepdims=True)
    elif x.ndim == 4:  # conv kernel HWIO
        sq = jnp.sum(_tree.abs_sq(x), axis=(0, 1, 2), keepdims=True)
    elif x.ndim == 5:  # 3-D conv kernel DHWIO
        sq = jnp.sum(_tree.abs_sq(x), axis=(0, 1, 2, 3), keepdims=True)
    else:
        raise ValueError(
            f"adaptive_grad_clip: cannot infer the units of a leaf of shape {x.shape}; "
            "pass `axis` (the axes to reduce over)."
        )
    return jnp.broadcast_to(jnp.sqrt(sq), x.shape)


def adaptive_grad_clip(
    clipping: Scalar, eps: Scalar = 1e-3, axis: Any = None
) -> GradientTransformation:
    r"""Adaptive gradient clipping (AGC): clip each unit's update relative to its weights' norm.

    $$u_i \leftarrow \begin{cases}
      u_i & \lVert u_i\rVert < \lambda \max(\lVert w_i\rVert, \epsilon) \\
      \lambda \dfrac{\max(\lVert w_i\rVert, \epsilon)}{\max(\lVert u_i\rVert, 10^{-6})}\, u_i
      & \text{otherwise}\end{cases}
      \qquad \lambda = \text{clipping},\ \epsilon = \text{eps}$$

    A unit $i$ is one output unit: a column of a dense kernel ``(in, out)``, the ``(H, W,
    I)`` slice of a conv kernel ``HWIO``; a vector or scalar is one unit. The norms are
    l2 norms over the unit. The $10^{-6}$ floor only prevents a division by zero, as in
    Optax.

    Args:
      clipping: $\lambda > 0$, the largest allowed ratio of a unit's update norm to its
        weight norm.
      eps: $\epsilon \ge 0$, so that zero-initialised weights (biases) can still move.
      axis: the axes of a unit's norm; ``None`` infers them from the rank as above.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``.

    References:
      Brock, De, Smith & Simonyan, "High-Performance Large-Scale Image Recognition Without
      Normalization", ICML 2021, arXiv:2102.06171.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import adaptive_grad_clip
      >>> tx = adaptive_grad_clip(0.1)
      >>> w = jnp.array([3.0, 4.0])                     # ||w|| = 5: updates at most 0.5
      >>> u, _ = tx.update(jnp.array([6.0, 8.0]), tx.init(w), w)
      >>> [round(x, 4) for x in u.tolist()]
      [0.3, 0.4]
    """
    _validate.check_positive("clipping", clipping)
    _validate.check_nonnegative("eps", eps)

    def update(updates, state, params=None, **extra):
        del extra
        _extra.require_params(params, "adaptive_grad_clip")

        def step(u, p):
            g_norm = _unitwise_norm(u, axis)
            p_norm = _unitwise_norm(p, axis).astype(g_norm.dtype)
            lam = jnp.asarray(clipping, g_norm.dtype)
            max_norm = lam * jnp.maximum(p_norm, jnp.asarray(eps, g_norm.dtype))
            clipped = u * (max_norm / jnp.maximum(g_norm, jnp.asarray(1e-6, g_norm.dtype)))
            return jnp.where(g_norm < max_norm, u, clipped.astype(u.dtype))

        return _tree.leafwise(step, updates, params, names=("updates", "params")), state

    return GradientTransformation(lambda params: EmptyState(), update)


def keep_params_nonnegative() -> GradientTransformation:
    r"""Shorten the updates so that no parameter becomes negative.

    $$u \leftarrow \begin{cases} -w & w + u < 0 \\ u & \text{otherwise}\end{cases}$$

    Place it last in a chain (after the learning rate), so that it sees the final update.
    A parameter that is already negative is moved to 0.

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``params``
      (real-valued: a complex parameter raises ``ValueError``).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.wrappers import keep_params_nonnegative
      >>> tx = keep_params_nonnegative()
      >>> w = jnp.array([1.0, 1.0])
      >>> tx.update(jnp.array([-3.0, -0.5]), tx.init(w), w)[0].tolist()
      [-1.0, -0.5]
    """

    def update(updates, state, params=None, **extra):
        del extra
        _extra.require_params(params, "keep_params_nonnegative")

        def step(u, p):
            if jnp.iscomplexobj(u) or jnp.iscomplexobj(p):
                raise ValueError("keep_params_nonnegative needs real parameters, got complex.")
            return jnp.where(p + u < 0, -p, u).astype(u.dtype)

        return _tree.leafwise(step, updates, params, names=("updates", "params")), state

    return GradientTransformation(lambda params: EmptyState(), update)
