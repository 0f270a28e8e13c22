"""Polyak's step size, computed from the loss ``value`` passed to ``update``."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import EmptyState, GradientTransformation

# Optax's threshold below which |g|^2 + eps counts as zero (float64 machine epsilon).
_TINY = float(jnp.finfo(jnp.float64).eps)


def scale_by_polyak(
    f_min: Any = 0.0, max_learning_rate: Any = 1.0, eps: Any = 0.0, variant: str = "sps"
) -> GradientTransformation:
    r"""Multiply by Polyak's step size $\gamma_t$, from the loss value and the update norm.

    $$\gamma_t = \min\Big(\frac{f(w_t) - f^\star}{\lVert u_t\rVert^2 + \epsilon},\
    \gamma_{\max}\Big),\qquad u_t \leftarrow \gamma_t\, u_t$$

    $f(w_t)$ is the ``value`` keyword of ``update`` (the loss at the current parameters,
    required), $f^\star$ = ``f_min``, $\gamma_{\max}$ = ``max_learning_rate``, $\epsilon$ =
    ``eps``; $\lVert u\rVert$ is the l2 norm over all leaves. With ``variant="sps+"`` the gap
    $f(w_t) - f^\star$ is replaced by its positive part. Where
    $\lVert u_t\rVert^2 + \epsilon \le 2.2 \cdot 10^{-16}$ the step is 0, as in Optax.

    Args:
      f_min: $f^\star$, a lower bound on (a guess of) the optimal loss.
      max_learning_rate: $\gamma_{\max} \ge 0$.
      eps: $\epsilon \ge 0$.
      variant: ``"sps"`` (Loizou et al.) or ``"sps+"`` (Garrigos et al.).

    Returns:
      A stateless :class:`~gradtx.GradientTransformation`; its ``update`` needs ``value``.

    References:
      Loizou, Vaswani, Laradji & Lacoste-Julien, "Stochastic Polyak Step-size for SGD: An
      Adaptive Learning Rate for Fast Convergence", AISTATS 2021, arXiv:2002.10542;
      Garrigos, Gower & Schaipp, "Function Value Learning: Adaptive Learning Rates Based on
      the Polyak Stepsize and Function Splitting in ERM", 2023, arXiv:2307.14528.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms.polyak import scale_by_polyak
      >>> tx = scale_by_polyak()
      >>> g = jnp.array([2.0, 0.0])                  # f = 2, |g|^2 = 4: step 0.5
      >>> tx.update(g, tx.init(g), value=jnp.array(2.0))[0].tolist()
      [1.0, 0.0]
    """
    _validate.check_finite("f_min", f_min)
    _validate.check_nonnegative("max_learning_rate", max_learning_rate)
    _validate.check_nonnegative("eps", eps)
    _validate.check_choice("variant", variant, ("sps", "sps+"))

    def update(updates, state, params=None, **extra):
        del params
        value = extra.get("value")
        if value is None:
            raise ValueError(
                "scale_by_polyak needs the loss: call update(updates, state, params, "
                "value=loss_value)."
            )
        sq_norm = _tree.tree_sum_of_squares(updates)
        dtype = sq_norm.dtype
        gap = jnp.asarray(value, dtype) - jnp.asarray(f_min, dtype)
        if variant == "sps+":
            gap = jnp.maximum(gap, 0)
        denominator = sq_norm + jnp.asarray(eps, dtype)
        tiny = denominator <= _TINY
        step = jnp.minimum(
            gap / jnp.where(tiny, 1, denominator), jnp.asarray(max_learning_rate, dtype)
        )
        scalars = _tree.Scalars(step=jnp.where(tiny, 0, step))
        return _tree.leafwise(lambda u: u * scalars(u).step, updates), state

    return GradientTransformation(lambda params: EmptyState(), update)
