"""Maximum-based second moments: AMSGrad's running maximum of Adam's second moment and
Adamax's exponentially weighted infinity norm.

Like :func:`gradtx.scale_by_rms` (whose helpers they share, in ``_adaptive.py``), each
accumulates a statistic of its *source* and divides its input by it; the statistic only
grows where the gradient's magnitude does, never falls back as an average would.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import _check_common, second_moment_step, statistic_source
from gradtx.transforms._momentum import ema_scalars


class ScaleByMaxRmsState(NamedTuple):
    """Step count, EMA of squared gradients, and its running maximum."""

    count: jax.Array
    nu: Any
    nu_max: Any


def scale_by_max_rms(
    decay: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    bias_correction: bool = True,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of the running *maximum* of the second moment (AMSGrad).

    $$\nu_t = \beta\nu_{t-1} + (1-\beta)|g_t|^2,\quad
    \nu^{\max}_t = \max(\nu^{\max}_{t-1}, \hat\nu_t),\quad
    u_t \leftarrow \frac{u_t}{\sqrt{\nu^{\max}_t + \epsilon_\text{root}} + \epsilon}$$

    $\hat\nu_t$ is bias-corrected when ``bias_correction`` (Optax's default; the paper does
    not correct). The maximum makes the effective step size non-increasing.

    Args:
      decay: $\beta \in [0, 1)$ (Adam's ``b2``).
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      bias_correction: correct $\nu_t$ before the maximum.
      source: ``"updates"`` or ``"gradient"``, as in :func:`scale_by_rms`.
      accumulator_dtype: dtype of $\nu$ and $\nu^{\max}$, as in :func:`scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByMaxRmsState`.

    References:
      Reddi, Kale & Kumar, "On the Convergence of Adam and Beyond", ICLR 2018,
      arXiv:1904.09237.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_max_rms(decay=0.0, eps=0.0)
      >>> s = tx.init(jnp.zeros(1))
      >>> _, s = tx.update(jnp.array([4.0]), s)
      >>> tx.update(jnp.array([1.0]), s)[0].tolist()
      [0.25]
    """
    _check_common(decay, eps, eps_root, source)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        nu = _tree.zeros_like(params, accumulator_dtype, real=True)
        nu_max = _tree.zeros_like(params, accumulator_dtype, real=True)
        return ScaleByMaxRmsState(_tree.zero_count(), nu, nu_max)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByMaxRmsState, "scale_by_max_rms")
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)

        scalars = ema_scalars(decay, count, eps=eps, eps_root=eps_root)

        def step(u, g, nu, nu_max):
            s = scalars(u)
            nu = second_moment_step(g, nu, s)
            nu_max = jnp.maximum(nu_max, nu / s.correction if bias_correction else nu)
            return u / (s.eps + jnp.sqrt(s.eps_root + nu_max)), nu, nu_max  # see scale_by_rms

        names = ("updates", "gradient", "nu", "nu_max")
        updates, nu, nu_max = _tree.leafwise(
            step, updates, stats, state.nu, state.nu_max, names=names, n_out=3
        )
        return updates, ScaleByMaxRmsState(count, nu, nu_max)

    return GradientTransformation(init, update)


class ScaleByInfinityNormState(NamedTuple):
    """Exponentially weighted infinity norm of past gradients."""

    nu: Any


def scale_by_infinity_norm(
    decay: Scalar = 0.999,
    eps: Scalar = 1e-8,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by an exponentially weighted infinity norm of the gradient (Adamax).

    $$\nu_t = \max(\beta\,\nu_{t-1},\ |g_t| + \epsilon),\qquad u_t \leftarrow u_t / \nu_t$$

    Args:
      decay: $\beta \in [0, 1)$ (Adamax's ``b2``).
      eps: $\epsilon \ge 0$, added to $|g|$ (Optax's placement).
      source: ``"updates"`` or ``"gradient"``, as in :func:`scale_by_rms`.
      accumulator_dtype: dtype of $\nu$, as in :func:`scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByInfinityNormState`.

    References:
      Kingma & Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015, section 7.1.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_infinity_norm(eps=0.0)
      >>> tx.update(jnp.array([-2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [-1.0]
    """
    _check_common(decay, eps, 0.0, source)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        return ScaleByInfinityNormState(_tree.zeros_like(params, accumulator_dtype, real=True))

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByInfinityNormState, "scale_by_infinity_norm")
        stats = statistic_source(updates, extra, source)

        scalars = _tree.Scalars(decay=decay, eps=eps)

        def step(u, g, nu):
            s = scalars(u)
            nu = jnp.maximum(jnp.abs(g) + s.eps, s.decay * nu)
            return u / nu, nu

        names = ("updates", "gradient", "nu")
        updates, nu = _tree.leafwise(step, updates, stats, state.nu, names=names, n_out=2)
        return updates, ScaleByInfinityNormState(nu)

    return GradientTransformation(init, update)
