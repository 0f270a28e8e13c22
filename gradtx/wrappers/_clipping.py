"""Per-block clipping and constraints: block RMS, adaptive (unit-wise) clipping, non-negativity.

The three transforms are stateless and act on one leaf (one "block": a weight matrix, a bias)
at a time, so they compose with any optimizer in a :func:`gradtx.chain`. Also here, Optax's
two steps of adaptive clipping: :func:`unitwise_norm` and :func:`unitwise_clip`.
"""

from __future__ import annotations

from typing import Any

import jax
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


def unitwise_norm(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    r"""The l2 norm of each unit (output neuron) of ``x``, broadcast back to ``x``'s shape.

    $$n_{i} = \Big(\sum_{j \in \text{unit } i} |x_j|^2\Big)^{1/2}$$

    A unit is a slice of ``x`` over the axes ``axis``; ``None`` infers them from the rank
    (Optax's conventions): a scalar or vector is one unit, a dense kernel ``(in, out)`` or a
    multi-head kernel of rank 3 is reduced over axis 0, a conv kernel ``HWIO`` over
    ``(0, 1, 2)`` and a 3-D conv kernel ``DHWIO`` over ``(0, 1, 2, 3)``.

    Args:
      x: an array.
      axis: an axis or a tuple of axes to reduce over, or ``None`` (a rank of 6 or more then
        raises ``ValueError``).

    Returns:
      An array of ``x``'s shape holding each entry's unit norm (real for complex ``x``).

    References:
      Brock, De, Smith & Simonyan, "High-Performance Large-Scale Image Recognition Without
      Normalization", ICML 2021, arXiv:2102.06171.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import unitwise_norm
      >>> unitwise_norm(jnp.array([[3.0, 1.0], [4.0, 0.0]])).tolist()  # one norm per column
      [[5.0, 1.0], [5.0, 1.0]]
    """
    x = jnp.asarray(x)
    if axis is None:
        if jnp.squeeze(x).ndim <= 1:  # scalars and vectors: the whole leaf
            axis = tuple(range(x.ndim))
        elif x.ndim in (2, 3):  # dense (in, out) or multi-head dense: per output unit
            axis = 0
        elif x.ndim in (4, 5):  # conv kernel HWIO, 3-D conv kernel DHWIO
            axis = tuple(range(x.ndim - 1))
        else:
            raise ValueError(
                f"unitwise_norm: cannot infer the units of an array of shape {x.shape}; "
                "pass `axis` (the axes to reduce over)."
            )
    sq = jnp.sum(_tree.abs_sq(x), axis=axis, keepdims=True)
    return jnp.broadcast_to(jnp.sqrt(sq), x.shape)


def unitwise_clip(
    g_norm: jax.typing.ArrayLike,
    max_norm: jax.typing.ArrayLike,
    grad: jax.typing.ArrayLike,
    div_eps: Scalar = 1e-6,
) -> jax.Array:
    r"""Rescale each unit of ``grad`` whose norm is at least ``max_norm`` down to ``max_norm``.

    $$g \leftarrow \begin{cases} g & n_g < n_\text{max} \\
      \dfrac{n_\text{max}}{\max(n_g, \delta)}\, g & \text{otherwise}\end{cases}$$

    with $n_g$ = ``g_norm`` (from :func:`unitwise_norm`), $n_\text{max}$ = ``max_norm`` and
    $\delta$ = ``div_eps``, which only prevents a division by zero. The step of
    :func:`adaptive_grad_clip`.

    Args:
      g_norm: the unit norms of ``grad``, with ``grad``'s shape.
      max_norm: the largest allowed norm of each unit, with ``grad``'s shape.
      grad: the array to clip.
      div_eps: $\delta > 0$.

    Returns:
      ``grad`` with its too-large units rescaled.

    Raises:
      ValueError: if the three arrays do not have the same shape.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import unitwise_clip, unitwise_norm
      >>> g = jnp.array([6.0, 8.0])
      >>> unitwise_clip(unitwise_norm(g), jnp.full(2, 5.0), g).tolist()
      [3.0, 4.0]
    """
    shapes = [jnp.shape(a) for a in (g_norm, max_norm, grad)]
    if len(set(shapes)) != 1:
        raise ValueError(
            f"unitwise_clip: g_norm, max_norm and grad must have the same shape, got {shapes}."
        )
    clipped = grad * (max_norm / jnp.maximum(g_norm, div_eps))
    return jnp.where(g_norm < max_norm, grad, clipped)


def adaptive_grad_clip(
    clipping: Scalar, eps: Scalar = 1e-3, axis: Any = None
) -> GradientTransformation:
    r"""Adaptive gradient clipping (AGC): clip each unit's update relative to its weights' norm.

    $$u_i \leftarrow \begin{cases}
      u_i & \lVert u_i\rVert < \lambda \max(\lVert w_i\rVert, \epsilon) \\
      \lambda \dfrac{\max(\lVert w_i\rVert, \epsilon)}{\max(\lVert u_i\rVert, 10^{-6})}\, u_i
      & \text{otherwise}\end{cases}
      \qquad \lambda = \text{clipping},\ \epsilon = \text{eps}$$

    A unit $i$ is one output unit (:func:`unitwise_norm`): a column of a dense kernel
    ``(in, out)``, the ``(H, W, I)`` slice of a conv kernel ``HWIO``; a vector or scalar is
    one unit. The norms are l2 norms over the unit. The $10^{-6}$ floor only prevents a
    division by zero, as in Optax.

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
            g_norm = unitwise_norm(u, axis)
            p_norm = unitwise_norm(p, axis).astype(g_norm.dtype)
            lam = jnp.asarray(clipping, g_norm.dtype)
            max_norm = lam * jnp.maximum(p_norm, jnp.asarray(eps, g_norm.dtype))
            return unitwise_clip(g_norm, max_norm, u, jnp.asarray(1e-6, g_norm.dtype))

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
