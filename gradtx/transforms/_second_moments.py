"""Second-moment preconditioners of the Adam variants: belief, additive (Yogi), rectified.

Like :func:`gradtx.scale_by_rms`, each accumulates a statistic of its *source* (its own
input, or with ``source="gradient"`` the enclosing chain's input) and divides its input by
the root of that statistic, so each variant is ``chain(ema(b1), <one of these>, lr)``:

* :func:`scale_by_belief_rms` (AdaBelief): the second moment of the prediction error
  $g - m$, where $m$ is the running average it receives as input;
* :func:`scale_by_additive_rms` (Yogi): a second moment that moves by an additive,
  sign-controlled step instead of a multiplicative one;
* :func:`scale_by_rectified_rms` (RAdam): Adam's second moment, applied only once its
  variance is tractable and then multiplied by the rectification term $r_t$.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _tree, _validate
from gradtx._base import DTypeLike, GradientTransformation, Scalar, check_state_type
from gradtx.transforms._adaptive import second_moment_step, statistic_source
from gradtx.transforms._momentum import ema_scalars

_SOURCES = ("updates", "gradient")


def _check(decay: Any, eps: Any, eps_root: Any, source: str) -> None:
    _validate.check_decay("decay", decay)
    _validate.check_nonnegative("eps", eps)
    _validate.check_nonnegative("eps_root", eps_root)
    _validate.check_choice("source", source, _SOURCES)


class SecondMomentState(NamedTuple):
    """Step count and the running second-moment statistic $\\nu$ (real dtype)."""

    count: jax.Array
    nu: Any


def _second_moment_transform(who, initial, step_fn, scalars_fn, source, accumulator_dtype):
    """A preconditioner from ``step_fn(u, g, nu, s) -> (u, nu)``; ``s = scalars_fn(count)``."""
    accumulator_dtype = _validate.check_dtype("accumulator_dtype", accumulator_dtype)

    def init(params):
        nu = _tree.full_like(params, initial, accumulator_dtype, real=True)
        return SecondMomentState(_tree.zero_count(), nu)

    def update(updates, state, params=None, **extra):
        del params
        check_state_type(state, SecondMomentState, who)
        count = _tree.safe_increment(state.count)
        stats = statistic_source(updates, extra, source)
        scalars = scalars_fn(count)
        updates, nu = _tree.leafwise(
            lambda u, g, nu: step_fn(u, g, nu, scalars(u)),
            updates,
            stats,
            state.nu,
            names=("updates", "gradient", "nu"),
            n_out=2,
        )
        return updates, SecondMomentState(count, nu)

    return GradientTransformation(init, update)


def scale_by_belief_rms(
    decay: Scalar = 0.999,
    eps: Scalar = 1e-16,
    eps_root: Scalar = 1e-16,
    bias_correction: bool = True,
    *,
    source: str = "gradient",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of the second moment of the *prediction error* (AdaBelief).

    $$s_t = \beta\, s_{t-1} + (1-\beta)\,|g_t - m_t|^2 + \epsilon_\text{root},\qquad
    \hat s_t = \frac{s_t}{1-\beta^t},\qquad
    u_t \leftarrow \frac{m_t}{\sqrt{\hat s_t} + \epsilon}$$

    $m_t$ is this member's input (the running average of an :func:`gradtx.ema` before it),
    $g_t$ the ``source`` (by default the chain's gradient), $\beta$ = ``decay``,
    $\epsilon$ = ``eps`` and $\epsilon_\text{root}$ = ``eps_root``, which is added to the
    stored $s_t$ as in the paper. Large when the gradient departs from its average
    ("little belief"), small when it follows it. The input should not be debiased yet:
    the prediction error is against the raw average, and a :func:`gradtx.bias_correction`
    after this member commutes with the division.

    Args:
      decay: $\beta \in [0, 1)$ (AdaBelief's ``b2``).
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, added to $s_t$ at every step.
      bias_correction: divide $s_t$ by $1-\beta^t$.
      source: ``"gradient"`` (the chain's input, the default: with ``"updates"`` the
        prediction error of the input against itself is zero).
      accumulator_dtype: dtype of the stored statistic, as in :func:`gradtx.scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SecondMomentState`.

    References:
      Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan, "AdaBelief Optimizer:
      Adapting Stepsizes by the Belief in Observed Gradients", NeurIPS 2020,
      arXiv:2010.07468, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp, gradtx
      >>> from gradtx import scale_by_belief_rms
      >>> tx = gradtx.chain(gradtx.ema(0.5, debias=False), scale_by_belief_rms(0.0, 0.0, 0.0))
      >>> tx.update(jnp.array([4.0]), tx.init(jnp.zeros(1)))[0].tolist()   # 2 / |4 - 2|
      [1.0]
    """
    _check(decay, eps, eps_root, source)

    def step(m, g, nu, s):
        nu = second_moment_step(g - m, nu, s) + s.eps_root
        nu_hat = nu / s.correction if bias_correction else nu
        return m / (jnp.sqrt(nu_hat) + s.eps), nu

    scalars = lambda count: ema_scalars(decay, count, eps=eps, eps_root=eps_root)
    return _second_moment_transform(
        "scale_by_belief_rms", 0.0, step, scalars, source, accumulator_dtype
    )


def scale_by_additive_rms(
    decay: Scalar = 0.999,
    eps: Scalar = 1e-3,
    eps_root: Scalar = 0.0,
    initial_accumulator_value: Scalar = 1e-6,
    bias_correction: bool = True,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Divide by the root of Yogi's additively updated second moment.

    $$\nu_t = \nu_{t-1} - (1-\beta)\,\operatorname{sign}(\nu_{t-1} - |g_t|^2)\,|g_t|^2,
    \qquad u_t \leftarrow \frac{u_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}$$

    with $\hat\nu_t = \nu_t / (1-\beta^t)$ when ``bias_correction`` (Optax's convention; the
    paper does not correct). Adam's $\nu_t - \nu_{t-1} = (1-\beta)(|g_t|^2 - \nu_{t-1})$
    shrinks $\nu$ by a fraction of itself; Yogi's step has the same sign but the size
    $(1-\beta)|g_t|^2$, so a burst of large gradients is forgotten more slowly.
    $\beta$ = ``decay``, $\epsilon$ = ``eps``, $g$ is the ``source``.

    Args:
      decay: $\beta \in [0, 1)$ (Yogi's ``b2``).
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      initial_accumulator_value: $\nu_0 \ge 0$.
      bias_correction: divide $\nu_t$ by $1-\beta^t$.
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of the stored statistic, as in :func:`gradtx.scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SecondMomentState`.

    References:
      Zaheer, Reddi, Sachan, Kale & Kumar, "Adaptive Methods for Nonconvex Optimization",
      NeurIPS 2018, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_additive_rms
      >>> tx = scale_by_additive_rms(0.5, eps=0.0, initial_accumulator_value=0.0,
      ...                            bias_correction=False)
      >>> tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))[0].tolist()   # 2 / sqrt(0.5 * 4)
      [1.4142135381698608]
    """
    _check(decay, eps, eps_root, source)
    _validate.check_nonnegative("initial_accumulator_value", initial_accumulator_value)

    def step(u, g, nu, s):
        g2 = _tree.abs_sq(g)
        # sign(nu - g2) by comparisons: at nu = g2 = inf (an overflowed |g|^2) the step is 0,
        # where sign(inf - inf) * inf would be NaN.
        step = s.one_minus * g2
        nu = jnp.where(nu > g2, nu - step, jnp.where(nu < g2, nu + step, nu))
        nu_hat = nu / s.correction if bias_correction else nu
        return u / (jnp.sqrt(nu_hat + s.eps_root) + s.eps), nu

    scalars = lambda count: ema_scalars(decay, count, eps=eps, eps_root=eps_root)
    return _second_moment_transform(
        "scale_by_additive_rms",
        initial_accumulator_value,
        step,
        scalars,
        source,
        accumulator_dtype,
    )


# Coefficients of K(x) = 1 - x/2 - x/expm1(x) = -sum_n B_2n x^2n / (2n)! (Bernoulli numbers).
_K_SERIES = (-1 / 12, 1 / 720, -1 / 30240, 1 / 1209600, -1 / 47900160, 691 / 1307674368000)


def _k(x: jax.Array) -> jax.Array:
    """$1 - x/2 - x/(e^x - 1)$ to full relative precision (a series below 1/4)."""
    x2 = x * x
    series = jnp.zeros_like(x)
    for c in reversed(_K_SERIES):
        series = series * x2 + c
    big = jnp.maximum(x, 0.25)
    return jnp.where(x < 0.25, series * x2, 1 - big / 2 - big / jnp.expm1(big))


def rectification(
    decay: Scalar, count: jax.Array, threshold: Scalar
) -> tuple[jax.Array, jax.Array]:
    r"""RAdam's length of the approximated SMA $\rho_t$ and rectification term $r_t$.

    $$\rho_\infty = \frac{2}{1-\beta} - 1,\qquad
    \rho_t = \rho_\infty - \frac{2t\beta^t}{1-\beta^t},\qquad
    r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}$$

    Returns ``(apply, r)``: whether $\rho_t \ge$ ``threshold``, and $r_t$ (1 where not
    applied). The direct formula subtracts two numbers near $2/(1-\beta)$ and loses
    $\log_{10}(2/(1-\beta))$ digits: in float32 with $\beta = 0.999$ it is off by 1e-4
    absolute (Optax's, which also forms $1-\beta^t$ directly, by 1e-2). While
    $y = t\log(1/\beta) < 1$ this uses instead, with $\ell = \log(1/\beta)$ and
    $K(x) = 1 - x/2 - x/(e^x-1)$ (a smooth function computed by its series),
    $\rho_t = t + \frac{2}{\ell}\big(K(t\ell) - K(\ell)\big)$, exact to a few ulps.

    Args:
      decay: $\beta \in [0, 1)$.
      count: the step $t \ge 1$ (int32).
      threshold: the smallest $\rho_t$ that is rectified.

    Returns:
      ``(apply, r)``, two scalars.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx.transforms._second_moments import rectification
      >>> [(bool(a), round(float(r), 4)) for a, r in
      ...  (rectification(0.999, jnp.int32(t), 5.0) for t in (5, 6))]   # rho = 4.99, 5.99
      [(False, 1.0), (True, 0.0258)]
    """
    decay = jnp.asarray(decay)
    t = jnp.asarray(count).astype(decay.dtype)
    positive = decay > 0
    ell = -jnp.log(jnp.where(positive, decay, 0.5))
    y = t * ell
    rho_inf = (1 + decay) / (1 - decay)
    small = t + 2 / ell * (_k(jnp.minimum(y, 1.0)) - _k(ell))
    direct = rho_inf - 2 * t * jnp.exp(-y) / -jnp.expm1(-y)
    rho = jnp.where(positive, jnp.where(y < 1, small, direct), 1.0)
    ratio = (rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho)
    apply = rho >= threshold
    return apply, jnp.where(apply, jnp.sqrt(jnp.where(apply, ratio, 1.0)), 1.0)


def scale_by_rectified_rms(
    decay: Scalar = 0.999,
    eps: Scalar = 1e-8,
    eps_root: Scalar = 0.0,
    threshold: Scalar = 5.0,
    *,
    source: str = "updates",
    accumulator_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Adam's denominator, rectified: used only once its variance is tractable (RAdam).

    $$\nu_t = \beta\nu_{t-1} + (1-\beta)|g_t|^2,\qquad
    u_t \leftarrow \begin{cases}
    r_t\, \dfrac{u_t}{\sqrt{\hat\nu_t + \epsilon_\text{root}} + \epsilon}
      & \rho_t \ge \tau \\ u_t & \text{otherwise}\end{cases}$$

    with $\hat\nu_t = \nu_t/(1-\beta^t)$, and $\rho_t$, $r_t$ from :func:`rectification`.
    $\beta$ = ``decay``, $\epsilon$ = ``eps``, $\tau$ = ``threshold``, $g$ the ``source``.
    In the first steps (with $\beta = 0.999$ the first five) the update passes through:
    preceded by :func:`gradtx.ema`, that is SGD with momentum.

    Args:
      decay: $\beta \in [0, 1)$ (RAdam's ``b2``).
      eps: $\epsilon \ge 0$, outside the root.
      eps_root: $\epsilon_\text{root} \ge 0$, inside the root.
      threshold: $\tau$, the smallest $\rho_t$ that is rectified (the paper: 4; its code
        and Optax: 5).
      source: ``"updates"`` (this member's input) or ``"gradient"`` (the chain's input).
      accumulator_dtype: dtype of the stored statistic, as in :func:`gradtx.scale_by_rms`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`SecondMomentState`.

    References:
      Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive Learning Rate
      and Beyond", ICLR 2020, arXiv:1908.03265, Algorithm 2.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_rectified_rms
      >>> tx = scale_by_rectified_rms()
      >>> tx.update(jnp.array([3.0]), tx.init(jnp.zeros(1)))[0].tolist()   # rho_1 = 1
      [3.0]
    """
    _check(decay, eps, eps_root, source)
    _validate.check_finite("threshold", threshold)

    def scalars(count):
        apply, r = rectification(decay, count, threshold)
        return ema_scalars(decay, count, eps=eps, eps_root=eps_root, apply=apply, r=r)

    def step(u, g, nu, s):
        nu = second_moment_step(g, nu, s)
        rectified = s.r * u / (jnp.sqrt(nu / s.correction + s.eps_root) + s.eps)
        return jnp.where(s.apply > 0, rectified, u), nu

    return _second_moment_transform(
        "scale_by_rectified_rms", 0.0, step, scalars, source, accumulator_dtype
    )
