"""Adaptive preconditioners: divide the updates by a running statistic of the gradient.

Each primitive here accumulates a statistic $s$ of its *source* and returns
$u / d(s)$. The source is either its own input (``source="updates"``, the Optax
behaviour) or the enclosing chain's input (``source="gradient"``), which is how Adam
divides the first moment by the second moment of the raw gradient; see
:func:`gradtx.chain`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._momentum import ema_scalars

_SOURCES = ("updates", "gradient")


def statistic_source(updates: Any, extra: dict, source: str) -> Any:
    """The tree a preconditioner accumulates: its input, or the enclosing chain's input."""
    if source == "gradient" and extra.get("gradient") is not None:
        return extra["gradient"]
    return updates


def second_moment_step(g: jax.Array, nu: jax.Array, s: Any) -> jax.Array:
    r"""One EMA step of the second moment: $(1-\beta)\,|g|^2 + \beta\,\nu$ (``s`` from
    ``ema_scalars`` in ``transforms/_momentum.py``)."""
    return s.one_minus * _tree.abs_sq(g) + s.decay * nu


def _check_common(decay: Any, eps: Any, eps_root: Any, source: str) -> None:
    _validate.check_decay("decay", decay)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("eps_root", eps_root)
    _validate.check_choice("source", source, _SOURCES)


class ScaleByRmsState(NamedTuple):
    """Step count and EMA of squared gradients."""

    count: jax.Array
    nu: Any


def scale_by_rms(
    decay: Scalar = 0.9,
    eps: Scalar = 1e-8,
    initial_scale: Scalar = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    eps_root: Scalar = 0.0,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of an EMA of squared gradients (RMSprop; Adam's denominator).

    $$\nu_t = \beta\,\nu_{t-1} + (1-\beta)\,|g_t|^2,\qquad
    \hat\nu_t = \nu_t / (1-\beta^t)\ \text{(if bias\_correction)}$$
    $$u_t \leftarrow \frac{u_t}{\sqrt{\hat\nu_t + \epsilon_\text{root} + \epsilon}}
    \ \text{(eps\_in\_sqrt)}\qquad\text{or}\qquad
    u_t \leftarrow \frac{u_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}$$

    $\beta$ = ``decay``, $\epsilon$ = ``eps``, $g$ is the ``source``. PyTorch's RMSprop puts
    eps outside the root (``eps_in_sqrt=False``); Optax's default puts it inside.

    Args:
      decay: $\beta \in [0, 1)$.
      eps: $\epsilon \ge 0$.
      initial_scale: initial value of $\nu$ (TensorFlow's RMSprop uses 1).
      eps_in_sqrt: where $\epsilon$ goes, see above.
      bias_correction: divide $\nu_t$ by $1-\beta^t$ (as Adam does).
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root (keeps meta-gradients finite).
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of the stored statistic (default: the parameter's real dtype),
        e.g. ``jnp.bfloat16`` to halve its memory; the arithmetic is done in at least
        float32 and the result rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByRmsState`.

    References:
      Tieleman & Hinton, "Lecture 6.5 - RMSProp", COURSERA: Neural Networks for Machine
      Learning, 2012.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_rms(decay=0.0, eps=0.0)
      >>> tx.update(jnp.array([-4.0, 2.0]), tx.init(jnp.zeros(2)))[0].tolist()
      [-1.0, 1.0]
    """
    _check_common(decay, eps, eps_root, source)
    _validate.check_nonnegative("initial_scale", initial_scale)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        nu = _tree.full_like(params, initial_scale, accumulator_dtype, real=True)
        return ScaleByRmsState(_tree.zero_count(), nu)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByRmsState, "scale_by_rms")
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)

        scalars = ema_scalars(decay, count, eps=eps, eps_root=eps_root)

        def step(u, g, nu):
            s = scalars(u)
            nu = second_moment_step(g, nu, s)
            nu_hat = nu / s.correction if bias_correction else nu
            if eps_in_sqrt:
                return u * jax.lax.rsqrt(nu_hat + s.eps_root + s.eps), nu
            # Scalars first: leaves of one shape then share one compiled kernel (see
            # tests/test_kernels.py); a sum of two terms rounds the same either way.
            return u / (s.eps + jnp.sqrt(s.eps_root + nu_hat)), nu

        names = ("updates", "gradient", "nu")
        updates, nu = _tree.leafwise(step, updates, stats, state.nu, names=names, n_out=2)
        return updates, ScaleByRmsState(count, nu)

    return GradientTransformation(init, update)


class ScaleByStddevState(NamedTuple):
    """Step count, EMA of gradients and EMA of squared gradients."""

    count: jax.Array
    mu: Any
    nu: Any


def scale_by_stddev(
    decay: Scalar = 0.9,
    eps: Scalar = 1e-8,
    initial_scale: Scalar = 0.0,
    eps_in_sqrt: bool = True,
    bias_correction: bool = False,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by a running standard deviation of the gradient (centred RMSprop).

    $$\mu_t = \beta\mu_{t-1} + (1-\beta)g_t,\quad \nu_t = \beta\nu_{t-1} + (1-\beta)|g_t|^2,
    \quad u_t \leftarrow \frac{u_t}{\sqrt{\hat\nu_t - |\hat\mu_t|^2 + \epsilon}}$$

    (or $\epsilon$ outside the root when ``eps_in_sqrt=False``); hats are bias-corrected
    when ``bias_correction``. Arguments as in :func:`scale_by_rms` (``accumulator_dtype`` is
    the dtype of both $\mu$ and $\nu$).

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByStddevState`.

    References:
      Graves, "Generating Sequences With Recurrent Neural Networks", 2013, arXiv:1308.0850,
      eq. (38)-(41).

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_stddev(decay=0.5, eps=0.0)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()
      [2.0]
    """
    _check_common(decay, eps, 0.0, source)
    _validate.check_nonnegative("initial_scale", initial_scale)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        mu = (  # a complex leaf keeps a complex mean
            _tree.zeros_like(params)
            if accumulator_dtype is None
            else _tree.accumulator_copy(params, accumulator_dtype, zeros=True)
        )
        nu = _tree.full_like(params, initial_scale, accumulator_dtype, real=True)
        return ScaleByStddevState(_tree.zero_count(), mu, nu)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByStddevState, "scale_by_stddev")
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)

        scalars = ema_scalars(decay, count, eps=eps)

        def step(u, g, mu, nu):
            s = scalars(u)
            mu, nu = s.one_minus * g + s.decay * mu, second_moment_step(g, nu, s)
            mu_hat, nu_hat = mu, nu
            if bias_correction:
                mu_hat, nu_hat = mu / s.correction, nu / s.correction
            var = nu_hat - _tree.abs_sq(mu_hat)
            out = u * jax.lax.rsqrt(var + s.eps) if eps_in_sqrt else u / (jnp.sqrt(var) + s.eps)
            return out, mu, nu

        names = ("updates", "gradient", "mu", "nu")
        updates, mu, nu = _tree.leafwise(
            step, updates, stats, state.mu, state.nu, names=names, n_out=3
        )
        return updates, ScaleByStddevState(count, mu, nu)

    return GradientTransformation(init, update)


class ScaleByRssState(NamedTuple):
    """Sum of all squared gradients so far."""

    sum_of_squares: Any


def scale_by_rss(
    initial_accumulator_value: Scalar = 0.1,
    eps: Scalar = 1e-7,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of the sum of all squared gradients (AdaGrad).

    $$G_t = G_{t-1} + |g_t|^2,\qquad u_t \leftarrow \frac{u_t}{\sqrt{G_t + \epsilon}}
    \quad (0 \text{ where } G_t = 0)$$

    Args:
      initial_accumulator_value: $G_0 \ge 0$.
      eps: $\epsilon \ge 0$, inside the root (Optax's convention; PyTorch adds it outside).
      source: ``"updates"`` or ``"gradient"``, as in :func:`scale_by_rms`.
      accumulator_dtype: dtype of $G$, as in :func:`scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByRssState`.

    References:
      Duchi, Hazan & Singer, "Adaptive Subgradient Methods for Online Learning and
      Stochastic Optimization", JMLR 12, 2011.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> tx = gradtx.scale_by_rss(initial_accumulator_value=0.0, eps=0.0)
      >>> tx.update(jnp.array([3.0, 0.0]), tx.init(jnp.zeros(2)))[0].tolist()
      [1.0, 0.0]
    """
    _validate.check_nonnegative("initial_accumulator_value", initial_accumulator_value)
    _validate.check_nonnegative("eps", eps)
    _validate.check_choice("source", source, _SOURCES)
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        acc = _tree.full_like(params, initial_accumulator_value, accumulator_dtype, real=True)
        return ScaleByRssState(acc)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, ScaleByRssState, "scale_by_rss")
        stats = statistic_source(updates, extra, source)

        scalars = _tree.Scalars(eps=eps)

        def step(u, g, acc):
            acc = acc + _tree.abs_sq(g)
            inv = jnp.where(acc > 0, jax.lax.rsqrt(acc + scalars(u).eps), 0)
            return u * inv, acc

        names = ("updates", "gradient", "sum_of_squares")
        updates, acc = _tree.leafwise(
            step, updates, stats, state.sum_of_squares, names=names, n_out=2
        )
        return updates, ScaleByRssState(acc)

    return GradientTransformation(init, update)
