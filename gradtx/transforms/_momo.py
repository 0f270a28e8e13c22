r"""MoMo: a Polyak step size computed from a model built from momentum.

MoMo averages the gradients $g_s$, the losses $f(w_s)$ and the products
$\langle g_s, w_s\rangle$ of past steps; together they define a model of the loss,
$f(w) \approx \bar f_t + \langle d_t, w - w_t\rangle + \langle d_t, w_t\rangle - \gamma_t$,
whose step towards a lower bound $f^\star$ is Polyak's step size
(:func:`~gradtx.transforms._stepsize.polyak_step_size`, also used by
:func:`gradtx.scale_by_polyak`), capped by the learning rate. A diagonal preconditioner
(Adam's second moment, :func:`gradtx.scale_by_rms`) turns it into MoMo-Adam.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gradtx import _extra, _tree, _validate, _vectors
from gradtx._base import (
    DTypeLike,
    EmptyState,
    GradientTransformation,
    Scalar,
    ScalarOrSchedule,
    as_transform,
    check_state_type,
)
from gradtx.transforms._momentum import ema_update, one_minus_power
from gradtx.transforms._scaling import value_at
from gradtx.transforms._stepsize import polyak_step_size


class ScaleByMomoState(NamedTuple):
    r"""Step count, the averages of the model, its lower bound and the preconditioner's state.

    Attributes:
      count: the int32 step count.
      exp_avg: $d_t$, the average of the gradients (a tree).
      barf: $\bar f_t$, the average of the losses.
      gamma: $\gamma_t$, the average of $\langle g_s, w_s\rangle$.
      lb: the current lower bound $f^\star_t$ of the loss.
      preconditioner: the state of the preconditioner (``EmptyState()`` without one).
    """

    count: jax.Array
    exp_avg: Any
    barf: jax.Array
    gamma: jax.Array
    lb: jax.Array
    preconditioner: Any


def _scalar_dtype(params: Any) -> Any:
    """The dtype of the scalar state: the lowest float dtype of the parameters, at least
    float32 (Optax keeps the lowest, which rounds a bfloat16 loss average to 3 digits)."""
    dtypes = [_tree.real_dtype(x.dtype) for x in _vectors.trainable_leaves(params)]
    lowest = min(dtypes, key=lambda d: jnp.finfo(d).bits, default=jnp.dtype(jnp.float32))
    return jnp.promote_types(lowest, jnp.float32)


def _dot(a: Any, b: Any, dtype: Any) -> jax.Array:
    r"""$\langle a, b\rangle$ over the trainable leaves, in at least float32, as ``dtype``."""
    return _tree.tree_total(lambda x, y: x * y, a, b).astype(dtype)


def scale_by_momo(
    learning_rate: ScalarOrSchedule = 1.0,
    beta: Scalar = 0.9,
    lower_bound: Scalar = 0.0,
    weight_decay: ScalarOrSchedule | None = 0.0,
    adapt_lower_bound: bool = False,
    *,
    debias: bool = False,
    preconditioner: GradientTransformation | None = None,
    mu_dtype: DTypeLike | None = None,
) -> GradientTransformation:
    r"""MoMo's step: momentum times a Polyak step size from the model of the loss.

    With $\beta_t = \beta$ (``debias=True``, then $\rho_t = 1-\beta^t$) or $\beta_1 = 0,
    \beta_{t>1} = \beta$ (the averages start at the first values; then $\rho_t = 1$):
    $$d_t = \beta_t d_{t-1} + (1-\beta_t) g_t,\quad
    \bar f_t = \beta_t \bar f_{t-1} + (1-\beta_t) f(w_t),\quad
    \gamma_t = \beta_t \gamma_{t-1} + (1-\beta_t)\langle g_t, w_t\rangle,$$
    $$p_t = D_t^{-1} d_t,\qquad
    \tau_t = \min\!\Big(\frac{\alpha_t}{\rho_t},\ \frac{\big[(1+\alpha_t\lambda)
    (\bar f_t - \rho_t f^\star - \gamma_t) + \langle d_t, w_t\rangle\big]_+}
    {\langle d_t, p_t\rangle}\Big),\qquad
    u_t = \frac{\alpha_t\lambda}{1+\alpha_t\lambda}\, w_t + \tau_t\, p_t$$

    $f(w_t)$ is the ``value`` keyword of ``update`` (required, with ``params``),
    $\alpha_t$ = ``learning_rate``, $\lambda$ = ``weight_decay``, $f^\star$ =
    ``lower_bound``, $D_t^{-1}$ the ``preconditioner`` applied to $d_t$ (the identity by
    default); $\tau_t = 0$ where $\langle d_t, p_t\rangle \le 2.2\cdot 10^{-16}$. The output
    is the step to *subtract* (follow it with ``scale(-1)``). With
    ``adapt_lower_bound`` the bound starts at ``lower_bound`` and is re-estimated each step
    from the model (never below ``lower_bound``), for when no good bound is known.

    Args:
      learning_rate: $\alpha \ge 0$, the largest step (a constant or a schedule).
      beta: $\beta \in [0, 1)$, the decay of the three averages.
      lower_bound: $f^\star$, a lower bound of the loss (0 for most losses).
      weight_decay: $\lambda \ge 0$ (or ``None``: none).
      adapt_lower_bound: re-estimate the lower bound online.
      debias: start the averages at zero and correct them by $1-\beta^t$ (MoMo-Adam) rather
        than at the first values (MoMo).
      preconditioner: a transform that maps $d_t$ to $D_t^{-1} d_t$; it receives the
        gradient as the ``gradient`` keyword (e.g. ``scale_by_rms(b2, eps,
        eps_in_sqrt=False, bias_correction=True, source="gradient")``, Adam's).
      mu_dtype: dtype of the stored momentum $d_t$ (default: the parameter's); the
        arithmetic is in at least float32, rounded once on store.

    Returns:
      A :class:`~gradtx.GradientTransformation` with a :class:`ScaleByMomoState`; its
      ``update`` needs ``params`` and ``value``.

    References:
      Schaipp, Ohana, Eickenberg, Defazio & Gower, "MoMo: Momentum Models for Adaptive
      Learning Rates", ICML 2024, arXiv:2305.07583.

    Example:
      >>> import jax.numpy as jnp
      >>> from gradtx import scale_by_momo
      >>> tx = scale_by_momo(learning_rate=10.0)
      >>> w = jnp.array([1.0, 2.0])                  # f = |w|^2 = 5, g = 2w
      >>> u, _ = tx.update(2 * w, tx.init(w), w, value=jnp.array(5.0))
      >>> u.tolist()                                 # Polyak: 5 / |g|^2 = 0.25, times g
      [0.5, 1.0]
    """
    _validate.check_schedule_or_range("learning_rate", learning_rate, _validate.check_nonnegative)
    _validate.check_decay("beta", beta)
    _validate.check_finite("lower_bound", lower_bound)
    if weight_decay is not None:
        _validate.check_schedule_or_range("weight_decay", weight_decay, _validate.check_nonnegative)
    pre = None if preconditioner is None else as_transform(preconditioner, "preconditioner")
    mu_dtype = _validate.check_dtype("mu_dtype", mu_dtype)

    def init(params):
        dtype = _scalar_dtype(params)
        return ScaleByMomoState(
            count=_tree.zero_count(),
            exp_avg=_tree.zeros_like(params, mu_dtype),
            barf=jnp.zeros([], dtype),
            gamma=jnp.zeros([], dtype),
            lb=jnp.asarray(lower_bound, dtype),
            preconditioner=EmptyState() if pre is None else pre.init(params),
        )

    def update(updates, state, params=None, **extra):
        check_state_type(state, ScaleByMomoState, "scale_by_momo")
        params = _extra.require_params(params, "scale_by_momo")
        value = _extra.require(extra, "value", "scale_by_momo")
        dtype = state.barf.dtype
        count = _tree.safe_increment(state.count)
        if debias:
            b = jnp.asarray(beta, dtype)
            rho = one_minus_power(b, count).astype(dtype)
        else:
            b = jnp.where(state.count == 0, 0, jnp.asarray(beta, dtype))
            rho = jnp.ones([], dtype)
        ema = _tree.Scalars(decay=b, one_minus=1 - b)
        twice = lambda x: (x, x)  # as an update (untrained leaves pass) and as the state
        d, exp_avg = _tree.leafwise(
            lambda g, m: twice(ema_update(m, g, ema(g))), updates, state.exp_avg,
            names=("updates", "exp_avg"), n_out=2,
        )  # fmt: skip
        average = lambda old, new: b * old + (1 - b) * new.astype(dtype)
        barf = average(state.barf, jnp.asarray(value))
        gamma = average(state.gamma, _dot(updates, params, dtype))
        if pre is None:
            direction, pre_state = d, state.preconditioner
        else:
            pre_extra = {**extra, "gradient": updates}
            direction, pre_state = pre.update(d, state.preconditioner, params, **pre_extra)
        sq_norm = _dot(d, direction, dtype)
        iprod = _dot(d, params, dtype)
        alpha = jnp.asarray(value_at(learning_rate, state.count), dtype)
        lam = 0.0 if weight_decay is None else value_at(weight_decay, state.count)
        decay = 1 + alpha * jnp.asarray(lam, dtype)
        lb = state.lb
        if adapt_lower_bound:
            cap = decay * (barf - gamma) + iprod
            lb = jnp.where(
                cap < decay * rho * lb, jnp.maximum(cap / (2 * rho * decay), lower_bound), lb
            )
        gap = jnp.maximum(decay * (barf - rho * lb - gamma) + iprod, 0)
        tau = polyak_step_size(gap, sq_norm, alpha / rho)
        if adapt_lower_bound:
            model = barf + iprod - gamma - tau * sq_norm / 2
            lb = jnp.maximum(model / rho, lower_bound).astype(dtype)
        else:
            lb = state.lb
        scalars = _tree.Scalars(decayed=(decay - 1) / decay, tau=tau)
        out = _tree.leafwise(
            lambda p, w: scalars(p).decayed * w + scalars(p).tau * p, direction, params,
            names=("updates", "params"),
        )  # fmt: skip
        return out, ScaleByMomoState(count, exp_avg, barf, gamma, lb, pre_state)

    return GradientTransformation(init, update)
