"""D-adaptation primitives: Adam whose step grows with an estimate of the distance to travel.

:func:`scale_by_prodigy` and :func:`scale_by_dadapt_adam` are Adam whose step grows with
$d_t$, a lower bound on the distance to the solution. Both need ``params``. Sums over the
tree are accumulated in at least float32, scalar state is in JAX's default float dtype
(Optax 0.2.8: the parameters' lowest).
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate, _vectors
from gradtx._base import (
    DTypeLike,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    check_state_type,
)
from gradtx.transforms._momentum import one_minus_power
from gradtx.transforms._scaling import value_at


def _adam_terms(betas: tuple[Any, Any], count: jax.Array, dtype: Any) -> SimpleNamespace:
    """$\\beta_i$, $1-\\beta_i$, $\\sqrt{\\beta_2}$, $1-\\sqrt{\\beta_2}$ and Optax's factor
    $\\sqrt{1-\\beta_2^t}/(1-\\beta_1^t)$ in ``dtype``, formed in float64 from Python betas
    (fixed at construction, they are not rounded first as live hyperparameters are)."""

    def terms(b):
        v = _validate.concrete_value(b)
        if v is None:  # a traced beta
            b = jnp.asarray(b, dtype)
            return b, 1 - b, one_minus_power(b, count), jnp.sqrt(b), 1 - jnp.sqrt(b)
        power = -jnp.expm1(count.astype(dtype) * math.log(v)) if v > 0 else 1.0
        return [jnp.asarray(x, dtype) for x in (v, 1 - v, power, v**0.5, 1 - v**0.5)]

    (b1, om1, c1, _, _), (b2, om2, c2, root, om_root) = terms(betas[0]), terms(betas[1])
    return SimpleNamespace(b1=b1, om1=om1, b2=b2, om2=om2, root=root, om_root=om_root,
                           bc=jnp.sqrt(c2) / c1)  # fmt: skip


class DAdaptationState(NamedTuple):
    """Adam's moments, the weighted gradient sum $s$ (float32 for float16 leaves), the start
    $x_0$ (Prodigy; else ``None`` leaves), the estimate $d_t$ and its running numerator."""

    count: jax.Array
    exp_avg: Any
    exp_avg_sq: Any
    grad_sum: Any
    params0: Any
    estim_lr: jax.Array
    numerator_weighted: jax.Array


def _d_adaptation(who, learning_rate, betas, eps, estim_lr0, weight_decay, prodigy, rule,
                  mu_dtype=None, nu_dtype=None):  # fmt: skip
    """Prodigy and D-Adapt Adam: ``rule(...)`` gives ``moments(g, m, v, s)``, the numerator
    $r_t$ and $\\hat d$ as a function of $\\lVert s_t\\rVert_1$. $d$ is kept if that is 0 (Optax
    0.2.8 divides 0 by 0 and its $d$ becomes NaN; the authors' code skips the step).
    ``mu_dtype`` stores $m$ and $s$, ``nu_dtype`` stores $v$ (``None``: as below)."""
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (b1, b2), got {betas!r}.")
    _validate.check_decay("betas[0]", betas[0])
    _validate.check_decay("betas[1]", betas[1])
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_nonnegative("eps", eps)
    _validate.check_positive("estim_lr0", estim_lr0)
    _validate.check_nonnegative("weight_decay", weight_decay)
    mu_dtype = _validate.check_dtype("mu_dtype", mu_dtype)
    nu_dtype = _validate.check_dtype("nu_dtype", nu_dtype)

    def init(params):  # float16 rounds the d-scaled statistics (1e-6 g) to 0: float32 for those
        f32 = lambda p: jnp.float32 if getattr(p, "dtype", None) == jnp.float16 else None
        z = lambda dt, r=False: jax.tree.map(
            lambda p: _tree.zeros_like(p, f32(p) if dt is None else dt, real=r), params
        )
        m, v, s = z(mu_dtype), z(nu_dtype, True), z(mu_dtype)
        start = _tree.copy_trainable(params) if prodigy else jax.tree.map(lambda _: None, m)
        d0 = jnp.asarray(estim_lr0, jnp.result_type(float))
        return DAdaptationState(_tree.zero_count(), m, v, s, start, d0, 0 * d0)

    def update(updates, state, params=None, **extra):
        del extra
        check_state_type(state, DAdaptationState, who)
        _extra.require_params(params, who)
        count, d = _tree.safe_increment(state.count), state.estim_lr
        lr = jnp.asarray(value_at(learning_rate, state.count), d.dtype)
        k = _adam_terms(betas, count, d.dtype)
        dlr = d * lr * k.bc
        moments, num, estimate = rule(state, updates, params, k, d, dlr)
        _, m, v, g_sum = _tree.leafwise(
            lambda g, m, v, s: (g, *moments(g, m, v, s)),
            updates, state.exp_avg, state.exp_avg_sq, state.grad_sum,
            names=("updates", "exp_avg", "exp_avg_sq", "grad_sum"), n_out=4,
        )  # fmt: skip
        l1 = _tree.tree_total(jnp.abs, g_sum)
        d_new = jnp.maximum(d, jnp.where(l1 > 0, estimate(jnp.where(l1 > 0, l1, 1)), d))
        c = _tree.Scalars(dlr=dlr, wd=weight_decay, eps=d_new * eps if prodigy else eps)

        def step(g, m, v, p):  # Prodigy's m carries d, D-Adapt's carries dlr
            s = c(g)
            return s.wd * s.dlr * p + (s.dlr * m if prodigy else m) / (jnp.sqrt(v) + s.eps)

        names = ("updates", "exp_avg", "exp_avg_sq", "params")
        updates = _tree.leafwise(step, updates, m, v, params, names=names)
        return updates, DAdaptationState(count, m, v, g_sum, state.params0, d_new, num)

    return GradientTransformation(init, update)


def scale_by_prodigy(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    beta3: Scalar | None = None,
    eps: Scalar = 1e-8,
    estim_lr0: Scalar = 1e-6,
    estim_lr_coef: Scalar = 1.0,
    weight_decay: Scalar = 0.0,
    safeguard_warmup: bool = False,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""Prodigy's step: Adam on $d_t g_t$, scaled by the distance estimate $d_t$ (positive).

    $$\gamma_t = \eta_t d_t \tfrac{\sqrt{1-\beta_2^t}}{1-\beta_1^t},\quad
    m_t = \beta_1 m_{t-1} + (1-\beta_1) d_t g_t,\quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) d_t^2 g_t^2,\quad
    s_t = \beta_3 s_{t-1} + \tfrac{d_t}{d_0}\gamma_t g_t,$$
    $$r_t = \beta_3 r_{t-1} + \tfrac{d_t}{d_0}\gamma_t \langle g_t, x_0 - x_t\rangle,\quad
    d_{t+1} = \max\Big(d_t, \frac{c\, r_t}{\lVert s_t\rVert_1}\Big),\quad
    u_t = \gamma_t\Big(\frac{m_t}{\sqrt{v_t} + d_{t+1}\epsilon} + \lambda x_t\Big)$$

    with $\eta$ = ``learning_rate``, $d_0$ = ``estim_lr0``, $c$ = ``estim_lr_coef``,
    $\lambda$ = ``weight_decay``, $\beta_3 = \sqrt{\beta_2}$ by default; ``safeguard_warmup``
    puts $d_t^2/d_0$ for $\tfrac{d_t}{d_0}\gamma_t$ in $s_t$. The bias correction in $\gamma_t$
    is Optax's (off by default in the authors' code); $s_t = 0$ keeps $d$ (Optax: NaN).

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      beta3: $\beta_3 \in [0, 1)$, or ``None`` for $\sqrt{\beta_2}$.
      eps: $\epsilon \ge 0$, scaled by $d_{t+1}$, outside the root.
      estim_lr0: $d_0 > 0$, the initial (under-)estimate.
      estim_lr_coef: $c > 0$.
      weight_decay: $\lambda \ge 0$, decoupled, scaled by $\gamma_t$.
      safeguard_warmup: leave $\eta_t$ out of $s_t$ (for warm-up schedules).
      mu_dtype: dtype of the stored first moments $m$ and $s$ (default: the parameter's,
        float32 for float16 parameters).
      nu_dtype: dtype of the stored $v$ (same default). The arithmetic is in at least
        float32, each rounded once on store; $x_0$ keeps the parameter's dtype.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DAdaptationState`; its
      ``update`` needs ``params`` and returns $u_t$ (to be negated).

    References:
      Mishchenko & Defazio, "Prodigy: An Expeditiously Adaptive Parameter-Free Learner",
      ICML 2024, arXiv:2306.06101, Algorithm 4.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_prodigy
      >>> tx, p = scale_by_prodigy(), jnp.ones(2)
      >>> round(float(tx.update(p, tx.init(p), p)[1].estim_lr), 12)  # d_1 = d_0: x_1 = x_0
      1e-06
    """
    if beta3 is not None:
        _validate.check_decay("beta3", beta3)
    _validate.check_positive("estim_lr_coef", estim_lr_coef)

    def rule(state, g, params, k, d, dlr):
        b3 = k.root if beta3 is None else jnp.asarray(beta3, d.dtype)
        gain = d if safeguard_warmup else dlr  # the weight of d g in s, over d0
        s = _tree.Scalars(**vars(k), d=d, b3=b3, gain=gain, d0=estim_lr0)

        def moments(g, m, v, g_sum):
            c = s(g)
            dg = c.d * g
            g_sum = c.b3 * g_sum + c.gain * dg / c.d0
            return c.b1 * m + c.om1 * dg, c.b2 * v + c.om2 * _tree.abs_sq(dg), g_sum

        acc = _tree.tree_total(
            lambda g, p0, p: _vectors.real_dot(g, p0 - p), g, state.params0, params
        )
        num = b3 * state.numerator_weighted + (d / estim_lr0) * dlr * acc
        return moments, num, lambda l1: estim_lr_coef * num / l1

    args = (learning_rate, betas, eps, estim_lr0, weight_decay, True, rule, mu_dtype, nu_dtype)
    return _d_adaptation("scale_by_prodigy", *args)


def scale_by_dadapt_adam(
    learning_rate: ScalarOrSchedule = 1.0,
    betas: tuple[Any, Any] = (0.9, 0.999),
    eps: Scalar = 1e-8,
    estim_lr0: Scalar = 1e-6,
    weight_decay: Scalar = 0.0,
    mu_dtype: DTypeLike | None = None,
    nu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""D-Adapted Adam's step (positive): Adam with the step $\gamma_t \propto d_t$ inside $m$.

    $$\gamma_t = \eta_t d_t \tfrac{\sqrt{1-\beta_2^t}}{1-\beta_1^t},\quad
    r_t = \sqrt{\beta_2} r_{t-1} + (1-\sqrt{\beta_2})\gamma_t
    \Big\langle g_t, \frac{s_{t-1}}{\sqrt{v_{t-1}} + \epsilon}\Big\rangle,$$
    $$m_t = \beta_1 m_{t-1} + (1-\beta_1)\gamma_t g_t,\quad
    v_t = \beta_2 v_{t-1} + (1-\beta_2) g_t^2,\quad
    s_t = \sqrt{\beta_2} s_{t-1} + (1-\sqrt{\beta_2})\gamma_t g_t,$$
    $$d_{t+1} = \max\Big(d_t, \frac{r_t}{(1-\sqrt{\beta_2})\lVert s_t\rVert_1}\Big),\qquad
    u_t = \frac{m_t}{\sqrt{v_t} + \epsilon} + \lambda\gamma_t x_t$$

    with $\eta$ = ``learning_rate``, $d_0$ = ``estim_lr0``, $\lambda$ = ``weight_decay``. The
    bias correction in $\gamma_t$ is Optax's (off by default in the authors' code); a step
    with $s_t = 0$ keeps $d$ (Optax's becomes NaN).

    Args:
      learning_rate: $\eta_t \ge 0$, the multiplier of the estimated step, or a schedule.
      betas: $(\beta_1, \beta_2)$, each in $[0, 1)$.
      eps: $\epsilon \ge 0$, outside the root.
      estim_lr0: $d_0 > 0$, the initial (under-)estimate.
      weight_decay: $\lambda \ge 0$, decoupled, scaled by $\gamma_t$.
      mu_dtype, nu_dtype: dtypes of the stored $m$, $s$ and of $v$, as in
        :func:`gradtx.scale_by_prodigy`.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`DAdaptationState`; its
      ``update`` needs ``params`` and returns $u_t$ (to be negated).

    References:
      Defazio & Mishchenko, "Learning-Rate-Free Learning by D-Adaptation", ICML 2023,
      arXiv:2301.07733 (Adam variant).

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_dadapt_adam
      >>> tx, p = scale_by_dadapt_adam(eps=0.0), jnp.ones(2)
      >>> round(float(tx.update(p, tx.init(p), p)[0][0]), 12)  # (1-b1) d0 bc / sqrt(1-b2)
      1e-06
    """

    def rule(state, g, params, k, d, dlr):
        s = _tree.Scalars(**vars(k), m_gain=k.om1 * dlr, s_gain=k.om_root * dlr)

        def moments(g, m, v, g_sum):
            c = s(g)
            v_new = c.b2 * v + c.om2 * _tree.abs_sq(g)
            return c.b1 * m + c.m_gain * g, v_new, c.root * g_sum + c.s_gain * g

        weighted = lambda g, g_sum, v: _vectors.real_dot(g, g_sum / (jnp.sqrt(v) + eps))
        acc = _tree.tree_total(weighted, g, state.grad_sum, state.exp_avg_sq)
        num = k.root * state.numerator_weighted + k.om_root * dlr * acc
        return moments, num, lambda l1: num / (k.om_root * l1)

    args = (learning_rate, betas, eps, estim_lr0, weight_decay, False, rule, mu_dtype, nu_dtype)
    return _d_adaptation("scale_by_dadapt_adam", *args)
